//! `/api/v1/auth/groups`: groups (administrators).

use daas_common::model::{Group, SubjectKind};
use daas_plugin_api::{
    poem_openapi::{param::Path, payload::Json, types::Example, Object, OpenApi},
    sdk::{Caller, Created, Done, Failure},
};

use super::{name_of, taken, AdminApi};

/// What only administrators do here, for the 403's message.
const WHAT: &str = "manage groups";

/// A group of users.
#[derive(Object, Debug, Clone)]
#[oai(rename = "Group")]
pub struct GroupView {
    /// Id, made by the server.
    id: i64,
    /// Name, unique.
    name: String,
    /// Free text (may be empty).
    description: String,
    /// Static groups are evaluated before the others and cached (seed §3.3.4).
    is_static: bool,
    /// When it was created.
    created_at: chrono::DateTime<chrono::Utc>,
}

impl From<Group> for GroupView {
    fn from(g: Group) -> Self {
        GroupView { id: g.id, name: g.name, description: g.description, is_static: g.is_static, created_at: g.created_at }
    }
}

/// A new group. The server makes the id.
#[derive(Object)]
#[oai(example, deny_unknown_fields, skip_serializing_if_is_none)]
struct NewGroup {
    /// Name, unique: 1 to 128 characters, no control characters, not only spaces
    /// (leading and trailing spaces are dropped).
    #[oai(
        deserialize_with = "daas_plugin_api::sdk::text",
        validator(min_length = 1, max_length = 128, pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$")
    )]
    name: String,
    /// Free text (absent: empty).
    #[oai(deserialize_with = "daas_plugin_api::sdk::maybe_text", validator(max_length = 1024, pattern = r"^[^\x00]*$"))]
    description: Option<String>,
    /// Static groups are evaluated before the others and cached (absent: no).
    #[oai(deserialize_with = "daas_plugin_api::sdk::present")]
    is_static: Option<bool>,
}

impl Example for NewGroup {
    fn example() -> Self {
        NewGroup { name: "students".into(), description: Some("this term's course".into()), is_static: None }
    }
}

/// Changes to a group; only the fields given change.
#[derive(Object)]
#[oai(example, deny_unknown_fields, skip_serializing_if_is_none)]
struct GroupPatch {
    /// Name: 1 to 128 characters, no control characters.
    #[oai(
        deserialize_with = "daas_plugin_api::sdk::maybe_text",
        validator(min_length = 1, max_length = 128, pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$")
    )]
    name: Option<String>,
    /// Free text.
    #[oai(deserialize_with = "daas_plugin_api::sdk::maybe_text", validator(max_length = 1024, pattern = r"^[^\x00]*$"))]
    description: Option<String>,
    /// Static.
    #[oai(deserialize_with = "daas_plugin_api::sdk::present")]
    is_static: Option<bool>,
}

impl Example for GroupPatch {
    fn example() -> Self {
        GroupPatch { name: None, description: Some("last term's course".into()), is_static: None }
    }
}

/// The groups part of the admin API.
pub struct GroupsApi(pub AdminApi);

#[OpenApi]
impl GroupsApi {
    /// List groups
    ///
    /// Every group, by id (administrators).
    #[oai(path = "/groups", method = "get", operation_id = "list_groups")]
    async fn list_groups(&self, caller: Caller) -> Result<Json<Vec<GroupView>>, Failure> {
        caller.admin(WHAT)?;
        let mut groups: Vec<Group> = self.0.db.find(vec![]).await?;
        groups.sort_by_key(|g| g.id);
        Ok(Json(groups.into_iter().map(GroupView::from).collect()))
    }

    /// Create a group
    ///
    /// A group of users (administrators); 409 when the name is taken.
    #[oai(path = "/groups", method = "post", operation_id = "create_group")]
    async fn create_group(&self, caller: Caller, body: Json<NewGroup>) -> Result<Created<GroupView>, Failure> {
        caller.admin(WHAT)?;
        let name = name_of(&body.name, "group")?;
        let group = Group {
            name: name.clone(),
            description: body.description.clone().unwrap_or_default(),
            is_static: body.is_static.unwrap_or(false),
            ..Default::default()
        };
        let stored = self.0.db.insert(&group).await.map_err(taken("group", &name))?;
        self.0.changed();
        Ok(Created::Created(Json(stored.into())))
    }

    /// Get a group
    ///
    /// One group (administrators).
    #[oai(path = "/groups/:id", method = "get", operation_id = "get_group")]
    async fn get_group(
        &self,
        caller: Caller,
        /// The group's id.
        id: Path<i64>,
    ) -> Result<Json<GroupView>, Failure> {
        caller.admin(WHAT)?;
        Ok(Json(self.0.group(id.0).await?.into()))
    }

    /// Change a group
    ///
    /// Name, description, static (administrators); only the fields given change.
    #[oai(path = "/groups/:id", method = "patch", operation_id = "update_group")]
    async fn update_group(
        &self,
        caller: Caller,
        /// The group's id.
        id: Path<i64>,
        body: Json<GroupPatch>,
    ) -> Result<Json<GroupView>, Failure> {
        caller.admin(WHAT)?;
        let mut group = self.0.group(id.0).await?;
        if let Some(name) = &body.name {
            group.name = name_of(name, "group")?;
        }
        if let Some(description) = &body.description {
            group.description = description.clone();
        }
        if let Some(is_static) = body.is_static {
            group.is_static = is_static;
        }
        let name = group.name.clone();
        self.0.db.update(&group).await.map_err(taken("group", &name))?;
        self.0.changed();
        Ok(Json(group.into()))
    }

    /// Delete a group
    ///
    /// The group with its memberships and privilege entries (administrators).
    #[oai(path = "/groups/:id", method = "delete", operation_id = "delete_group")]
    async fn delete_group(
        &self,
        caller: Caller,
        /// The group's id.
        id: Path<i64>,
    ) -> Result<Done, Failure> {
        caller.admin(WHAT)?;
        let group = self.0.group(id.0).await?;
        let deleted = async {
            super::privileges::drop_privileges_of(&self.0, SubjectKind::Group, group.id).await?;
            Ok::<_, Failure>(self.0.db.delete::<Group>(group.id).await?)
        };
        // Forgotten even when the delete failed half-way: some entries may be gone.
        let deleted = deleted.await;
        self.0.changed();
        deleted?;
        Ok(Done::Done)
    }
}
