//! Who is calling: the identity an authentication layer attaches to a request.
//!
//! The auth layer (or, in tests, the `testing` layer) puts the caller's identity into
//! the request's [`Attributes`] under the keys below; a handler
//! reads it back with [`Identity::from_attributes`]. A route that needs a caller and
//! finds none answers 401: no identity means no authenticated layer ran, and a plugin
//! never guesses one.
//!
//! Ownership follows the original (`verify_entity_ownership`): an entity belongs to the
//! user whose id is its `id_owner`; owner `0` means shared with everyone, `-1` global
//! (limits); an admin reaches every entity.

use crate::sdk::Attributes;

/// Attribute key of the caller's user id (decimal).
pub const ATTR_USER_ID: &str = "auth.user_id";
/// Attribute key of the caller's user name.
pub const ATTR_USER_NAME: &str = "auth.user_name";
/// Attribute key that is `true` when the caller is an administrator.
pub const ATTR_ADMIN: &str = "auth.admin";
/// Attribute key with how the caller authenticated: `cookie`, `bearer`,
/// `access_token` or `remote`.
pub const ATTR_VIA: &str = "auth.via";
/// Attribute key with the session's CSRF token (cookie sessions only): a handler of a
/// browser form compares it with the form's field, since forms cannot send headers.
pub const ATTR_CSRF: &str = "auth.csrf";

/// Attribute key set instead of an identity when a request to `/instance/{id}` carries
/// that instance's viewer token (`?token=`): the instance id it is scoped to. Whoever
/// holds a viewer link may view that one desktop and nothing else.
pub const ATTR_VIEWER_INSTANCE: &str = "auth.viewer_instance";

/// Owner id of entities shared with every user.
pub const SHARED_OWNER: i64 = 0;
/// Owner id of global entities (limits that apply to everyone).
pub const GLOBAL_OWNER: i64 = -1;

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user's id (the `id_owner` of what they own).
    pub user_id: i64,
    /// The user's login name.
    pub user_name: String,
    /// Administrators see and change every user's entities.
    pub admin: bool,
}

impl Identity {
    /// The identity a layer attached, if any (a malformed user id counts as none).
    pub fn from_attributes(attributes: &Attributes) -> Option<Identity> {
        let user_id = attributes.get(ATTR_USER_ID)?.parse().ok()?;
        Some(Identity {
            user_id,
            user_name: attributes.get(ATTR_USER_NAME).unwrap_or_default().to_string(),
            admin: attributes.get(ATTR_ADMIN) == Some("true"),
        })
    }

    /// The attributes a layer returns to attach this identity.
    pub fn to_attributes(&self) -> Vec<(String, String)> {
        vec![
            (ATTR_USER_ID.to_string(), self.user_id.to_string()),
            (ATTR_USER_NAME.to_string(), self.user_name.clone()),
            (ATTR_ADMIN.to_string(), self.admin.to_string()),
        ]
    }

    /// Whether this caller may see an entity with this owner: their own, shared ones,
    /// global ones, or anything for an admin.
    pub fn can_see(&self, id_owner: i64) -> bool {
        self.admin || id_owner == self.user_id || id_owner == SHARED_OWNER || id_owner == GLOBAL_OWNER
    }

    /// Whether this caller may change or delete an entity with this owner: their own, or
    /// anything for an admin (shared and global entities are the admins').
    pub fn can_change(&self, id_owner: i64) -> bool {
        self.admin || id_owner == self.user_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> Attributes {
        Attributes(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn round_trips_through_attributes_and_rejects_garbage() {
        let id = Identity { user_id: 7, user_name: "ann".into(), admin: false };
        let back = Identity::from_attributes(&Attributes(id.to_attributes().into_iter().collect()));
        assert_eq!(back, Some(id));
        assert_eq!(Identity::from_attributes(&attrs(&[(ATTR_USER_ID, "seven")])), None);
        assert_eq!(Identity::from_attributes(&attrs(&[])), None);
    }

    #[test]
    fn ownership_rules_of_the_original() {
        let ann = Identity { user_id: 7, user_name: "ann".into(), admin: false };
        assert!(ann.can_see(7) && ann.can_see(SHARED_OWNER) && ann.can_see(GLOBAL_OWNER));
        assert!(!ann.can_see(8));
        assert!(ann.can_change(7) && !ann.can_change(SHARED_OWNER) && !ann.can_change(8));
        let admin = Identity { user_id: 1, user_name: "admin".into(), admin: true };
        assert!(admin.can_see(8) && admin.can_change(8));
    }
}
