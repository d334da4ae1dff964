//! `/api/v1/auth/rules`, `/roles`, `/users/{id}/roles`: the rule catalogue, roles and
//! their assignment to users (administrators; see [`crate::rbac`]). Built-in roles are
//! listed with the rules they hold now and cannot be changed or deleted.

use std::sync::Arc;

use daas_common::model::{Role, UserRole};
use daas_plugin_api::{
    abi::BackendErrorKind,
    identity::Identity,
    permissions::Rule,
    poem_openapi::{param::Path, payload::Json, types::Example, Object, OpenApi},
    sdk::{Caller, Created, Done, Failure},
};

use crate::{
    admin::{name_of, taken, AdminApi},
    rbac::{Catalogue, Rbac, BUILTIN},
};

/// What only administrators do here, for the 403's message.
const WHAT: &str = "manage roles and rules";

/// The roles API.
pub struct RolesApi {
    /// Users and the db backend.
    pub admin: AdminApi,
    /// Roles, rules and their caches.
    pub rbac: Arc<Rbac>,
}

/// A rule of the catalogue.
#[derive(Object, Debug, Clone)]
#[oai(rename = "Rule")]
pub struct RuleView {
    /// Its id, `<resource>:<scope>:<operation>`.
    rule: String,
    /// The resource.
    resource: String,
    /// `own`, `group` or `global`.
    scope: String,
    /// `view`, `create`, `edit`, `delete`, `start` or `stop`.
    operation: String,
    /// What it is for (may be empty).
    description: String,
    /// The plugin registering it.
    plugin: String,
    /// The operations that need it, or a wider one's holder (merged operation ids).
    operations: Vec<String>,
}

/// A role with the rules it holds.
#[derive(Object, Debug, Clone)]
#[oai(rename = "Role")]
pub struct RoleView {
    /// Id, made by the server.
    id: i64,
    /// Name.
    name: String,
    /// Free text.
    description: String,
    /// Built-in (`admin`, `user`, `viewer`): its rules follow the registered ones.
    builtin: bool,
    /// Rule ids.
    rules: Vec<String>,
}

/// A user's roles.
#[derive(Object, Debug, Clone)]
pub struct UserRoles {
    /// The roles in effect.
    roles: Vec<RoleView>,
    /// None is assigned: the roles are the default of the user's admin flag.
    default: bool,
}

/// A new role. The server makes the id.
#[derive(Object)]
#[oai(example, deny_unknown_fields, skip_serializing_if_is_none)]
struct NewRole {
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
    /// Rule ids, `<resource>:<own|group|global>:<view|create|edit|delete|start|stop>`,
    /// each registered by a loaded plugin (`GET /api/v1/auth/rules`; absent: none).
    #[oai(
        deserialize_with = "daas_plugin_api::sdk::present",
        validator(pattern = r"^\s*[a-z0-9_]+:(own|group|global):(view|create|edit|delete|start|stop)\s*$", max_items = 1000)
    )]
    rules: Option<Vec<String>>,
}

impl Example for NewRole {
    fn example() -> Self {
        NewRole {
            name: "operators".into(),
            description: Some("start and stop everyone's instances".into()),
            rules: Some(vec!["instance:global:start".into(), "instance:global:stop".into()]),
        }
    }
}

/// Changes to a role; only the fields given change.
#[derive(Object)]
#[oai(example, deny_unknown_fields, skip_serializing_if_is_none)]
struct RolePatch {
    /// Name: 1 to 128 characters, no control characters.
    #[oai(
        deserialize_with = "daas_plugin_api::sdk::maybe_text",
        validator(min_length = 1, max_length = 128, pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$")
    )]
    name: Option<String>,
    /// Free text.
    #[oai(deserialize_with = "daas_plugin_api::sdk::maybe_text", validator(max_length = 1024, pattern = r"^[^\x00]*$"))]
    description: Option<String>,
    /// The new rule ids (they replace the old ones).
    #[oai(
        deserialize_with = "daas_plugin_api::sdk::present",
        validator(pattern = r"^\s*[a-z0-9_]+:(own|group|global):(view|create|edit|delete|start|stop)\s*$", max_items = 1000)
    )]
    rules: Option<Vec<String>>,
}

impl Example for RolePatch {
    fn example() -> Self {
        RolePatch { name: None, description: None, rules: Some(vec!["object:own:view".into()]) }
    }
}

fn view(role: &Role, catalogue: &Catalogue) -> RoleView {
    RoleView {
        id: role.id,
        name: role.name.clone(),
        description: role.description.clone(),
        builtin: BUILTIN.contains(&role.name.as_str()),
        rules: Rbac::rules_of(role, catalogue).iter().map(Rule::to_string).collect(),
    }
}

fn builtin_conflict(name: &str) -> Failure {
    Failure::conflict(format!("`{name}` is a built-in role: its rules follow the rules the plugins register"))
        .with_detail("create a role of your own instead")
}

impl RolesApi {
    async fn catalogue(&self) -> Result<Arc<Catalogue>, Failure> {
        self.rbac.catalogue().await.ok_or_else(|| Failure::unavailable("the permission rules are not known yet"))
    }

    async fn role(&self, id: i64) -> Result<Role, Failure> {
        self.rbac.roles().await?.iter().find(|r| r.id == id).cloned().ok_or_else(|| Failure::not_found(format!("role {id} does not exist")))
    }

    /// Rule ids, each parsed and registered by a loaded plugin; sorted, no repeats.
    async fn rules(&self, ids: &[String]) -> Result<Vec<String>, Failure> {
        let catalogue = self.catalogue().await?;
        let mut out = Vec::new();
        for id in ids {
            let rule: Rule = id.trim().parse().map_err(Failure::bad)?;
            if !catalogue.has(&rule) {
                return Err(Failure::not_found(format!("no loaded plugin registers the rule `{rule}`; GET /api/v1/auth/rules lists them")));
            }
            out.push(rule);
        }
        out.sort();
        out.dedup();
        Ok(out.iter().map(Rule::to_string).collect())
    }

    /// Administrators change other users' roles only: one who took their own admin role
    /// away could not give it back.
    fn not_self(who: &Identity, user_id: i64) -> Result<(), Failure> {
        if who.user_id == user_id {
            return Err(Failure::conflict("you cannot change your own roles").with_detail("ask another administrator"));
        }
        Ok(())
    }
}

#[OpenApi]
impl RolesApi {
    /// List the permission rules
    ///
    /// Every permission rule the loaded plugins register, with the operations that need
    /// it (administrators). 503 until the server's start is complete.
    #[oai(path = "/rules", method = "get", operation_id = "list_rules")]
    async fn list_rules(&self, caller: Caller) -> Result<Json<Vec<RuleView>>, Failure> {
        caller.admin(WHAT)?;
        let catalogue = self.catalogue().await?;
        let mut out = Vec::new();
        for (rule, info) in &catalogue.rules {
            let mut operations: Vec<String> =
                catalogue.operations.iter().filter(|(_, required)| rule.satisfies(required)).map(|(op, _)| op.clone()).collect();
            operations.sort();
            out.push(RuleView {
                rule: rule.to_string(),
                resource: rule.resource.clone(),
                scope: rule.scope.as_str().into(),
                operation: rule.operation.as_str().into(),
                description: info.description.clone(),
                plugin: info.plugin.clone(),
                operations,
            });
        }
        Ok(Json(out))
    }

    /// List roles
    ///
    /// Every role with its rules, the built-in ones included (administrators).
    #[oai(path = "/roles", method = "get", operation_id = "list_roles")]
    async fn list_roles(&self, caller: Caller) -> Result<Json<Vec<RoleView>>, Failure> {
        caller.admin(WHAT)?;
        let catalogue = self.catalogue().await?;
        Ok(Json(self.rbac.roles().await?.iter().map(|r| view(r, &catalogue)).collect()))
    }

    /// Create a role
    ///
    /// A role from rule ids that loaded plugins register (administrators); 409 when the
    /// name is taken.
    #[oai(path = "/roles", method = "post", operation_id = "create_role")]
    async fn create_role(&self, caller: Caller, body: Json<NewRole>) -> Result<Created<RoleView>, Failure> {
        caller.admin(WHAT)?;
        let name = name_of(&body.name, "role")?;
        let rules = self.rules(body.rules.as_deref().unwrap_or_default()).await?;
        let role = Role { name: name.clone(), description: body.description.clone().unwrap_or_default(), rules, ..Default::default() };
        // The built-in rows exist before a name can collide with them.
        self.rbac.roles().await?;
        let stored = self.admin.db.insert(&role).await.map_err(taken("role", &name))?;
        self.admin.changed();
        Ok(Created::Created(Json(view(&stored, &*self.catalogue().await?))))
    }

    /// Get a role
    ///
    /// One role with its rules (administrators).
    #[oai(path = "/roles/:id", method = "get", operation_id = "get_role")]
    async fn get_role(
        &self,
        caller: Caller,
        /// The role's id.
        id: Path<i64>,
    ) -> Result<Json<RoleView>, Failure> {
        caller.admin(WHAT)?;
        Ok(Json(view(&self.role(id.0).await?, &*self.catalogue().await?)))
    }

    /// Change a role
    ///
    /// Its name, description or rules; only the fields given change (administrators;
    /// built-in roles cannot change: 409).
    #[oai(path = "/roles/:id", method = "patch", operation_id = "update_role")]
    async fn update_role(
        &self,
        caller: Caller,
        /// The role's id.
        id: Path<i64>,
        body: Json<RolePatch>,
    ) -> Result<Json<RoleView>, Failure> {
        caller.admin(WHAT)?;
        let mut role = self.role(id.0).await?;
        if BUILTIN.contains(&role.name.as_str()) {
            return Err(builtin_conflict(&role.name));
        }
        if let Some(name) = &body.name {
            role.name = name_of(name, "role")?;
        }
        if let Some(description) = &body.description {
            role.description = description.clone();
        }
        if let Some(rules) = &body.rules {
            role.rules = self.rules(rules).await?;
        }
        let name = role.name.clone();
        self.admin.db.update(&role).await.map_err(taken("role", &name))?;
        self.admin.changed();
        Ok(Json(view(&role, &*self.catalogue().await?)))
    }

    /// Delete a role
    ///
    /// Its users lose it (administrators; built-in roles cannot be deleted: 409).
    #[oai(path = "/roles/:id", method = "delete", operation_id = "delete_role")]
    async fn delete_role(
        &self,
        caller: Caller,
        /// The role's id.
        id: Path<i64>,
    ) -> Result<Done, Failure> {
        caller.admin(WHAT)?;
        let role = self.role(id.0).await?;
        if BUILTIN.contains(&role.name.as_str()) {
            return Err(builtin_conflict(&role.name));
        }
        self.admin.db.delete::<Role>(role.id).await?;
        self.admin.changed();
        Ok(Done::Done)
    }

    /// List a user's roles
    ///
    /// The roles in effect for a user: the assigned ones, or the default of the user's
    /// admin flag (administrators).
    #[oai(path = "/users/:id/roles", method = "get", operation_id = "list_user_roles")]
    async fn list_user_roles(
        &self,
        caller: Caller,
        /// The user's id.
        id: Path<i64>,
    ) -> Result<Json<UserRoles>, Failure> {
        caller.admin(WHAT)?;
        let user = self.admin.user(id.0).await?;
        let held = self.rbac.held(user.id, user.admin).await?;
        let catalogue = self.catalogue().await?;
        let roles = self.rbac.roles().await?.iter().filter(|r| held.roles.contains(&r.name)).map(|r| view(r, &catalogue)).collect();
        Ok(Json(UserRoles { roles, default: !held.assigned }))
    }

    /// Assign a role to a user
    ///
    /// Idempotent (administrators; not to themselves: 409). The first role assigned
    /// replaces the default role of the user's admin flag.
    #[oai(path = "/users/:id/roles/:role_id", method = "put", operation_id = "assign_role")]
    async fn assign_role(
        &self,
        caller: Caller,
        /// The user's id.
        id: Path<i64>,
        /// The role's id.
        role_id: Path<i64>,
    ) -> Result<Done, Failure> {
        let who = caller.admin(WHAT)?;
        let user = self.admin.user(id.0).await?;
        Self::not_self(&who, user.id)?;
        let role = self.role(role_id.0).await?;
        match self.admin.db.insert(&UserRole { id_user: user.id, id_role: role.id }).await {
            Err(e) if e.kind != BackendErrorKind::Conflict => return Err(e.into()),
            _ => {}
        }
        self.admin.changed();
        Ok(Done::Done)
    }

    /// Take a role from a user
    ///
    /// (Administrators; not from themselves: 409.) A user left without roles has the
    /// default role of their admin flag again.
    #[oai(path = "/users/:id/roles/:role_id", method = "delete", operation_id = "unassign_role")]
    async fn unassign_role(
        &self,
        caller: Caller,
        /// The user's id.
        id: Path<i64>,
        /// The role's id.
        role_id: Path<i64>,
    ) -> Result<Done, Failure> {
        let who = caller.admin(WHAT)?;
        let user = self.admin.user(id.0).await?;
        Self::not_self(&who, user.id)?;
        self.admin.db.delete::<UserRole>(serde_json::json!([user.id, role_id.0])).await.map_err(|e| match e.kind {
            BackendErrorKind::NotFound => Failure::not_found(format!("user {} does not have role {}", user.id, role_id.0)),
            _ => e.into(),
        })?;
        self.admin.changed();
        Ok(Done::Done)
    }
}
