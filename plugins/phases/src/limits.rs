//! Per-owner resource limits (seed `RessourceInfo`, table `limits`) on starting
//! instances.
//!
//! Why here: the db plugin owns the `limits` table but knows nothing of what runs; the
//! phases plugin starts every instance (containers and VMs), so it is the one place where
//! "how much does this owner use now" and "may this start happen" are answered together,
//! under one lock per owner (see `instances::reserve`), without a race between plugins. The limit row is read through the db backend (the owner's
//! own, else the global one, owner -1); -1 (or no row) means unlimited.
//!
//! Use is counted from the owner's instances and the objects they run: containers or
//! VMs (one per instance, a phase's in-progress instance too), CPU cores and memory (the
//! objects' `hw_cpus`, `hw_memory`), objects (the owner's objects).
//!
//! Where it is enforced: every instance's start checks `container_max`/`vm_max`,
//! `cpu_max` and `mem_max` here (only the start knows which app, and so how much it needs); the `limits`
//! layer refuses creating an object past `obj_max` (a layer sees the route, not the
//! body, and one more object is all a create adds); other plugins ask the `limits`
//! backend ([`daas_common::protocols::Limits`]) before they add what they know.

use daas_common::{
    model::{DaasObject, Instance, RessourceInfo},
    protocols::{DbClient, LimitsRequest, LimitsResponse},
};
use daas_plugin_api::{
    abi::{BackendError, BackendErrorKind, LayerRequest, LayerVerdict},
    futures::future::BoxFuture,
    identity::Identity,
    sdk::{Attributes, Layer},
    ApiError,
};

/// The operation (in the merged document) whose requests create an object.
const CREATE_OBJECT: &str = "db_create_object";

/// What an owner uses now, in the units of [`RessourceInfo`].
pub async fn usage(db: &DbClient, owner: i64) -> Result<RessourceInfo, BackendError> {
    let instances: Vec<Instance> = db.instances_by_owner(owner).await?;
    let objects: Vec<DaasObject> = db.objects_by_owner(owner).await?;
    let mut use_ = RessourceInfo { id_owner: owner, obj_max: objects.len() as i64, ..Default::default() };
    for i in &instances {
        let app = match objects.iter().find(|o| o.id == i.id_app) {
            Some(o) => Some(o.clone()),
            None => db.get::<DaasObject>(&i.id_app).await?,
        };
        let Some(app) = app else { continue };
        if app.object_type == "vm" {
            use_.vm_max += 1;
        } else {
            use_.container_max += 1;
        }
        use_.cpu_max += app.hw_cpus.max(0);
        use_.mem_max += app.hw_memory.max(0);
        use_.dsk_max += app.hw_disksize.max(0);
    }
    Ok(use_)
}

/// Refuse (403, naming the limit, its value and the current use) when starting an
/// instance of `object` for `owner` would exceed one of the owner's limits.
pub async fn check_start(db: &DbClient, owner: i64, object: &DaasObject) -> Result<(), BackendError> {
    let Some(limit) = db.limit_for(owner).await? else { return Ok(()) };
    let now = usage(db, owner).await?;
    let machines = if object.object_type == "vm" {
        RessourceInfo { vm_max: 1, ..Default::default() }
    } else {
        RessourceInfo { container_max: 1, ..Default::default() }
    };
    let wanted =
        RessourceInfo { cpu_max: object.hw_cpus.max(0), mem_max: object.hw_memory.max(0), dsk_max: object.hw_disksize.max(0), ..machines };
    exceeded(&limit, &now, &wanted).map_or(Ok(()), |why| Err(forbidden(why)))
}

fn forbidden(why: String) -> BackendError {
    BackendError::new(BackendErrorKind::Forbidden, why)
}

/// Serve the `limits` backend.
pub async fn serve(db: &DbClient, request: LimitsRequest) -> Result<LimitsResponse, BackendError> {
    match request {
        LimitsRequest::Usage { owner } => Ok(LimitsResponse::Usage { limit: db.limit_for(owner).await?, usage: usage(db, owner).await? }),
        LimitsRequest::Check { owner, wanted } => {
            let Some(limit) = db.limit_for(owner).await? else { return Ok(LimitsResponse::Fits) };
            match exceeded(&limit, &usage(db, owner).await?, &wanted) {
                None => Ok(LimitsResponse::Fits),
                Some(why) => Err(forbidden(why)),
            }
        }
    }
}

/// The `limits` layer: refuses creating an object past the caller's `obj_max` (403,
/// naming the limit and the use). Put it after the auth layer, which gives the caller.
pub struct LimitLayer {
    pub db: DbClient,
}

impl Layer for LimitLayer {
    fn before(&self, request: LayerRequest) -> BoxFuture<'static, LayerVerdict> {
        let go_on = || LayerVerdict::Continue(Default::default());
        if request.operation_id.as_str() != CREATE_OBJECT {
            return Box::pin(async move { go_on() });
        }
        let attributes = Attributes(request.attributes.iter().map(|t| (t.0.to_string(), t.1.to_string())).collect());
        let Some(caller) = Identity::from_attributes(&attributes) else {
            // No caller: the route itself answers 401.
            return Box::pin(async move { go_on() });
        };
        let db = self.db.clone();
        Box::pin(async move {
            let wanted = RessourceInfo { obj_max: 1, ..Default::default() };
            let reject = |status: u16, code: &str, message: String| LayerVerdict::Reject(ApiError::new(code, message, "").to_ffi(status));
            match serve(&db, LimitsRequest::Check { owner: caller.user_id, wanted }).await {
                Ok(_) => go_on(),
                Err(e) if e.kind == BackendErrorKind::Forbidden => reject(403, "limit_reached", e.message.to_string()),
                Err(e) => reject(e.kind.status(), e.kind.code(), format!("the limits could not be checked: {}", e.message)),
            }
        })
    }
}

/// The first limit that `now + wanted` would exceed, described for people.
pub fn exceeded(limit: &RessourceInfo, now: &RessourceInfo, wanted: &RessourceInfo) -> Option<String> {
    let checks = [
        ("container_max", "containers", limit.container_max, now.container_max, wanted.container_max),
        ("vm_max", "virtual machines", limit.vm_max, now.vm_max, wanted.vm_max),
        ("obj_max", "objects", limit.obj_max, now.obj_max, wanted.obj_max),
        ("cpu_max", "CPU cores", limit.cpu_max, now.cpu_max, wanted.cpu_max),
        ("mem_max", "bytes of memory", limit.mem_max, now.mem_max, wanted.mem_max),
        ("dsk_max", "bytes of disk", limit.dsk_max, now.dsk_max, wanted.dsk_max),
    ];
    checks.into_iter().find(|(_, _, max, used, more)| *max >= 0 && *more > 0 && used + more > *max).map(|(key, unit, max, used, more)| {
        format!(
            "limit {key} = {max} reached: owner {} uses {used} {unit} and this needs {more} more; stop an instance or ask an administrator to raise the limit",
            limit.id_owner
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_exceeded_limit_is_named_with_the_use() {
        let limit = RessourceInfo {
            id_owner: 7,
            container_max: 2,
            cpu_max: 4,
            mem_max: -1,
            vm_max: -1,
            obj_max: -1,
            dsk_max: -1,
            deleted_at: None,
        };
        let now = RessourceInfo { container_max: 1, cpu_max: 3, ..Default::default() };
        assert_eq!(exceeded(&limit, &now, &RessourceInfo { container_max: 1, cpu_max: 1, ..Default::default() }), None);
        let why = exceeded(&limit, &now, &RessourceInfo { container_max: 1, cpu_max: 2, ..Default::default() }).unwrap();
        assert!(why.starts_with("limit cpu_max = 4 reached: owner 7 uses 3 CPU cores"), "{why}");
        let full = RessourceInfo { container_max: 2, ..Default::default() };
        assert!(exceeded(&limit, &full, &RessourceInfo { container_max: 1, ..Default::default() }).unwrap().contains("container_max = 2"));
        // Unlimited (-1) never refuses.
        let huge = RessourceInfo { mem_max: 1 << 40, ..Default::default() };
        assert_eq!(exceeded(&limit, &now, &huge), None);
    }
}
