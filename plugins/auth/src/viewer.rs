//! Viewer links: `/instance/{id}?token={viewer_token}` opens that instance's remote
//! desktop without a login (seed `GuacamoleConnection.viewer_token`; the connection's
//! `viewer_url`).
//!
//! The check is here, in the auth layer, rather than in the proxy plugin: it is
//! authentication (who may call), and the layer is where every route's caller is
//! decided. The proxy's routes therefore stay non-public: a request reaches them only
//! with a session or with a token this module accepted, and the attribute it attaches
//! ([`ATTR_VIEWER_INSTANCE`]) scopes the request to exactly that instance, no identity
//! and no other route. A wrong token, or one of an instance that is gone (the token
//! expires with its instance row), answers 404 like an unknown instance: no hint which
//! part was wrong. Only requests without a session come here; with one, the proxy
//! checks the instance's owner.

use daas_common::{
    model::{GuacamoleConnection, Instance},
    protocols::DbClient,
};
use daas_plugin_api::{
    abi::{LayerRequest, LayerVerdict},
    identity::ATTR_VIEWER_INSTANCE,
    ApiError,
};

use crate::tokens;

/// Tokens shorter than this never match: a viewer token has at least 128 random bits
/// (22 characters of base64, 32 of hex).
pub const MIN_TOKEN_LEN: usize = 22;

/// The instance id and token of a viewer link (`GET /instance/{id}?token=...`, the
/// page or its WebSocket), if this request is one. The token is compared as it stands
/// in the URL: whoever creates the connection makes it of URL-safe characters.
pub fn link(req: &LayerRequest) -> Option<(&str, &str)> {
    if req.method() != "GET" {
        return None;
    }
    let (path, query) = req.uri().split_once('?')?;
    let id = path.strip_prefix("/instance/").filter(|id| !id.is_empty() && !id.contains('/'))?;
    let token = query.split('&').find_map(|kv| kv.strip_prefix("token="))?;
    Some((id, token))
}

/// Whether `token` is the viewer token of instance `id`'s connection.
async fn matches(db: &DbClient, id: &str, token: &str) -> Result<bool, String> {
    let Some(instance) = db.get::<Instance>(id).await.map_err(|e| e.to_string())? else { return Ok(false) };
    let Some(con_id) = instance.id_con.filter(|c| !c.is_empty()) else { return Ok(false) };
    let Some(connection) = db.get::<GuacamoleConnection>(con_id.as_str()).await.map_err(|e| e.to_string())? else { return Ok(false) };
    Ok(connection.viewer_token.len() >= MIN_TOKEN_LEN && tokens::same(&connection.viewer_token, token))
}

/// The verdict on a viewer link without a session: scoped to the instance, or 404.
pub async fn verdict(db: &DbClient, req: &LayerRequest) -> LayerVerdict {
    let Some((id, token)) = link(req) else {
        return LayerVerdict::Reject(ApiError::new("not_found", "no such instance", "").to_ffi(404));
    };
    match matches(db, id, token).await {
        Ok(true) => LayerVerdict::Continue(vec![(ATTR_VIEWER_INSTANCE.into(), id.into()).into()].into()),
        Ok(false) => LayerVerdict::Reject(
            ApiError::new(
                "not_found",
                "no such instance, or the viewer link is not valid",
                "check the link; a viewer link ends with its instance",
            )
            .to_ffi(404),
        ),
        Err(e) => {
            tracing::error!(error = %e, "auth: viewer link could not be checked");
            LayerVerdict::Reject(
                ApiError::new("unavailable", "the viewer link cannot be checked: the user store does not answer", "try again shortly")
                    .to_ffi(503),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, uri: &str) -> LayerRequest {
        LayerRequest::new::<[(&str, &str); 0], _, _>(method, uri, [])
    }

    #[test]
    fn only_get_of_an_instance_with_a_token_is_a_viewer_link() {
        assert_eq!(link(&req("GET", "/instance/abc?token=t0k")), Some(("abc", "t0k")));
        assert_eq!(link(&req("GET", "/instance/abc?GUAC_WIDTH=1&token=t0k&x=1")), Some(("abc", "t0k")));
        assert_eq!(link(&req("GET", "/instance/abc")), None);
        assert_eq!(link(&req("GET", "/instance/abc?tokens=x")), None);
        assert_eq!(link(&req("DELETE", "/instance/abc?token=t0k")), None);
        assert_eq!(link(&req("GET", "/instance/abc/x?token=t0k")), None);
        assert_eq!(link(&req("GET", "/instance/?token=t0k")), None);
        assert_eq!(link(&req("GET", "/api/v1/db/instances/abc?token=t0k")), None);
    }
}
