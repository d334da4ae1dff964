//! The authorization matrix: every operation of the merged OpenAPI document (plugins'
//! API routes, browser routes, WebSocket routes and the host's own) called as anonymous,
//! as user A, as user B on A's objects, and as the administrator, each cell against the
//! status the product's rules give: a non-public route answers 401 without a caller;
//! another user's row is 404, never 403; what only administrators do is 403 for users;
//! public routes and testbackend's deliberately failing routes answer as documented.
//!
//! The table below says, per operation id, which fixture fills the path parameters, the
//! body, and the four expected statuses. An operation of the document the table does not
//! cover, or an entry whose operation is gone, fails the test, as does every mismatching
//! cell; all of them are reported at once under the whole matrix. Operations that
//! destroy or change their row get a fresh fixture per cell, so that no cell depends on
//! another's order. After the matrix, B's listings must show none of A's rows.
//!
//! The container plugin talks to an engine socket that does not exist, so no container
//! ever starts: a cell whose caller the route lets through (authenticated, owner or
//! administrator) gets the engine's 503.

mod common;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    fmt::Write as _,
    time::Instant,
};

use common::*;
use reqwest::{
    blocking::{Client, RequestBuilder},
    redirect::Policy,
};
use serde_json::{json, Value};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// A privilege id of this server, for the privilege entries the admin API manages.
const PRIVILEGE: &str = "testbackend_hello";
/// A permission rule of this server, for the roles the admin API manages.
const RULE: &str = "object:own:view";
/// A's instance (imported: instances and connections have no REST routes).
const INSTANCE: &str = "matrix-inst";

fn site(auth_toml: &str) -> TempSite {
    TempSite::new(&[
        ("auth.toml", auth_toml),
        (
            "extensions.toml",
            r#"[extensions]
layers = ["auth"]

[[extensions.plugin]]
name = "db"

[[extensions.plugin]]
name = "auth"

[[extensions.plugin]]
name = "info"

[[extensions.plugin]]
name = "testbackend"

[[extensions.plugin]]
name = "container"

[[extensions.plugin]]
name = "phases"

[[extensions.plugin]]
name = "proxy"
"#,
        ),
        // No engine answers there, so no container ever starts: a caller the route lets
        // through gets the engine's 503.
        ("container.toml", "[container_request]\nhost = \"unix:///nonexistent/podman.sock\"\ntimeout_ms = 2000\n"),
        (
            "proxy.toml",
            &format!(
                "[viewer]\nwebroot = \"{}\"\n\n[guacd]\naddress = \"127.0.0.1:9\"\ntimeout_ms = 2000\n",
                workspace().join("webroot").display()
            ),
        ),
        (
            "db.toml",
            &format!("[db]\ndb_type = \"sqlite\"\ndata_path = \"data\"\nsecret_key = \"{KEY}\"\nadmin_credentials = \"admin:s3cret!\"\n"),
        ),
    ])
}

// ---- callers ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Who {
    Anon,
    A,
    B,
    Admin,
}

const CALLERS: [Who; 4] = [Who::Anon, Who::A, Who::B, Who::Admin];

impl Who {
    fn label(self) -> &'static str {
        match self {
            Who::Anon => "anonymous",
            Who::A => "A",
            Who::B => "B on A's",
            Who::Admin => "admin",
        }
    }

    fn credentials(self) -> Option<(&'static str, &'static str)> {
        match self {
            Who::Anon => None,
            Who::A => Some(("ann", "ann-pw-1")),
            Who::B => Some(("bob", "bob-pw-1")),
            Who::Admin => Some(("admin", "s3cret!")),
        }
    }
}

// ---- the table's vocabulary -------------------------------------------------------------

/// Rows made once before the matrix, for operations that neither destroy nor change them.
#[derive(Clone, Copy, Debug)]
enum Fx {
    /// A's object.
    Object,
    /// A's grant (made by the admin).
    Grant,
    /// A node (the admin's).
    Node,
    /// User A's id.
    UserA,
    /// User C's id: a user without a password the admin cells change.
    UserC,
    /// A group (the admin's).
    Group,
    /// A role (the admin's).
    Role,
    /// An event topic.
    Topic,
    /// A's container app (an object of type `container` naming an image).
    App,
    /// A's instance of that app, with a container name and a connection (imported).
    Instance,
    /// A's task: a start of a shared app, failed (no engine answers).
    Task,
    /// A file of the proxy's web assets.
    Asset,
}

/// A db resource of `/api/v1/db`.
#[derive(Clone, Copy, Debug)]
enum Res {
    Object,
    Environment,
    Application,
    File,
    Limit,
    Grant,
    Node,
}

impl Res {
    fn many(self) -> &'static str {
        match self {
            Res::Object => "objects",
            Res::Environment => "environments",
            Res::Application => "applications",
            Res::File => "files",
            Res::Limit => "limits",
            Res::Grant => "grants",
            Res::Node => "nodes",
        }
    }

    fn one(self) -> &'static str {
        match self {
            Res::Object => "object",
            Res::Environment => "environment",
            Res::Application => "application",
            Res::File => "file",
            Res::Limit => "limit",
            Res::Grant => "grant",
            Res::Node => "node",
        }
    }

    /// Who makes (and trashes) the fixture: A's rows are A's own; limits, grants and
    /// nodes only the admin makes (limits and grants for A).
    fn maker(self) -> Who {
        match self {
            Res::Object | Res::Environment | Res::Application | Res::File => Who::A,
            Res::Limit | Res::Grant | Res::Node => Who::Admin,
        }
    }
}

/// A fixture made anew for each cell.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// A live row (A's, or for A); limits: A's limit, made live again.
    Live(Res),
    /// The same, moved to the trash.
    Trashed(Res),
    /// An access token of A.
    AccessToken,
    /// A user (no password).
    User,
    /// A user with an entry for [`PRIVILEGE`]: `{id}`, `{privilege}`.
    UserPrivilege,
    /// A group.
    Group,
    /// A group with user C in it: `{id}`, `{user_id}`.
    Member,
    /// A group with an entry for [`PRIVILEGE`]: `{id}`, `{privilege}`.
    GroupPrivilege,
    /// A role.
    Role,
    /// A user with a role: `{id}`, `{role_id}`.
    UserRole,
}

/// What fills the path parameters, in the template's order.
#[derive(Clone, Copy, Debug)]
enum Fill {
    None,
    Shared(&'static [Fx]),
    Fresh(Kind),
}

/// What is sent.
#[derive(Clone, Copy)]
enum Body {
    None,
    Json(fn(&mut Ctx) -> Value),
    Bytes(&'static str),
    /// The login form with A's credentials and the double-submit token of `GET /login`.
    LoginForm,
    /// The logout form with the cookie session's CSRF token ([`As::FreshCookie`]).
    LogoutForm,
    /// A WebSocket upgrade with this subprotocol; an open socket counts as 101, a refusal
    /// in the first close frame (4000 + status) as that status.
    WebSocket(&'static str),
}

/// How the caller authenticates.
#[derive(Clone, Copy, PartialEq, Eq)]
enum As {
    /// The caller's bearer token of the setup.
    Bearer,
    /// A bearer token of a login made for this cell (the operation ends it).
    FreshBearer,
    /// A browser session cookie of a login made for this cell.
    FreshCookie,
}

struct Row {
    op: String,
    fill: Fill,
    query: &'static str,
    body: Body,
    auth: As,
    /// Sent as a browser would (`Accept: text/html`): an anonymous caller is sent to the
    /// login page (303) instead of 401.
    html: bool,
    /// anonymous, A, B on A's, admin.
    expect: [u16; 4],
}

fn row(op: &str, fill: Fill, body: Body, expect: [u16; 4]) -> Row {
    Row { op: op.to_string(), fill, query: "", body, auth: As::Bearer, html: false, expect }
}

impl Row {
    fn query(mut self, q: &'static str) -> Row {
        self.query = q;
        self
    }

    fn html(mut self) -> Row {
        self.html = true;
        self
    }

    fn auth(mut self, a: As) -> Row {
        self.auth = a;
        self
    }
}

/// The expected statuses of a db resource's eight routes.
#[derive(Clone, Copy)]
struct DbRules {
    /// The listing and the trash's listing.
    list: [u16; 4],
    create: [u16; 4],
    get: [u16; 4],
    /// PATCH.
    change: [u16; 4],
    /// DELETE, restore, purge.
    remove: [u16; 4],
}

/// The eight routes of a db resource.
fn db_resource(t: &mut Vec<Row>, res: Res, create: fn(&mut Ctx) -> Value, update: fn(&mut Ctx) -> Value, r: DbRules) {
    let (one, many) = (res.one(), res.many());
    // The setup's rows where it has them; otherwise a row per cell (A's limit, for one,
    // is made live again for each cell: the trash cells purge it).
    let get = match res {
        Res::Object => Fill::Shared(&[Fx::Object]),
        Res::Grant => Fill::Shared(&[Fx::Grant]),
        Res::Node => Fill::Shared(&[Fx::Node]),
        _ => Fill::Fresh(Kind::Live(res)),
    };
    t.push(row(&format!("db_list_{many}"), Fill::None, Body::None, r.list));
    t.push(row(&format!("db_create_{one}"), Fill::None, Body::Json(create), r.create));
    t.push(row(&format!("db_get_{one}"), get, Body::None, r.get));
    t.push(row(&format!("db_update_{one}"), Fill::Fresh(Kind::Live(res)), Body::Json(update), r.change));
    t.push(row(&format!("db_delete_{one}"), Fill::Fresh(Kind::Live(res)), Body::None, r.remove));
    t.push(row(&format!("db_list_trashed_{many}"), Fill::None, Body::None, r.list));
    t.push(row(&format!("db_restore_{one}"), Fill::Fresh(Kind::Trashed(res)), Body::None, r.remove));
    t.push(row(&format!("db_purge_{one}"), Fill::Fresh(Kind::Trashed(res)), Body::None, r.remove));
}

// ---- the table --------------------------------------------------------------------------

/// Every operation of the document: how to call it and what each caller gets.
fn table() -> Vec<Row> {
    use Fill::{Fresh, Shared};
    let none = Fill::None;
    let mut t = vec![
        // The host.
        row("host_healthz", none, Body::None, [200, 200, 200, 200]),
        row("host_readyz", none, Body::None, [200, 200, 200, 200]),
        row("host_plugins", none, Body::None, [401, 200, 200, 200]),
        // auth: logins and the caller's own session, tokens and second factor.
        row("auth_token", none, Body::Json(|_| json!({"username": "ann", "password": "ann-pw-1"})), [200, 200, 200, 200]),
        row("auth_revoke_token", none, Body::None, [401, 204, 204, 204]).auth(As::FreshBearer),
        row("auth_me", none, Body::None, [401, 200, 200, 200]),
        row("auth_setup_totp", none, Body::Json(|_| json!({})), [401, 200, 200, 200]),
        row("auth_remove_totp", none, Body::Json(|_| json!({})), [401, 204, 204, 204]),
        row("auth_list_access_tokens", none, Body::None, [401, 200, 200, 200]),
        row("auth_create_access_token", none, Body::Json(|c| json!({"description": c.uniq("matrix")})), [401, 201, 201, 201]),
        row("auth_revoke_access_token", Fresh(Kind::AccessToken), Body::None, [401, 204, 404, 204]),
        row("auth_list_privileges", none, Body::None, [401, 200, 200, 200]),
        // auth: the browser routes.
        row("auth_login_page", none, Body::None, [200, 200, 200, 200]),
        row("auth_login", none, Body::LoginForm, [303, 303, 303, 303]),
        row("auth_logout", none, Body::LogoutForm, [401, 303, 303, 303]).auth(As::FreshCookie),
        // auth: administration (users, groups, privileges); 403 for users.
        row("auth_list_users", none, Body::None, [401, 403, 403, 200]),
        row("auth_create_user", none, Body::Json(|c| json!({"name": c.uniq("user")})), [401, 403, 403, 201]),
        row("auth_get_user", Shared(&[Fx::UserA]), Body::None, [401, 403, 403, 200]),
        row("auth_update_user", Shared(&[Fx::UserA]), Body::Json(|_| json!({"email": "ann@example.org"})), [401, 403, 403, 200]),
        row("auth_delete_user", Fresh(Kind::User), Body::None, [401, 403, 403, 204]),
        row("auth_list_user_privileges", Shared(&[Fx::UserA]), Body::None, [401, 403, 403, 200]),
        row(
            "auth_add_user_privilege",
            Fresh(Kind::User),
            Body::Json(|_| json!({"privilege": PRIVILEGE, "effect": "deny"})),
            [401, 403, 403, 201],
        ),
        row("auth_remove_user_privilege", Fresh(Kind::UserPrivilege), Body::None, [401, 403, 403, 204]),
        row("auth_list_groups", none, Body::None, [401, 403, 403, 200]),
        row("auth_create_group", none, Body::Json(|c| json!({"name": c.uniq("group")})), [401, 403, 403, 201]),
        row("auth_get_group", Shared(&[Fx::Group]), Body::None, [401, 403, 403, 200]),
        row("auth_update_group", Shared(&[Fx::Group]), Body::Json(|_| json!({"description": "changed"})), [401, 403, 403, 200]),
        row("auth_delete_group", Fresh(Kind::Group), Body::None, [401, 403, 403, 204]),
        row("auth_list_members", Shared(&[Fx::Group]), Body::None, [401, 403, 403, 200]),
        row("auth_add_member", Shared(&[Fx::Group, Fx::UserC]), Body::None, [401, 403, 403, 204]),
        row("auth_remove_member", Fresh(Kind::Member), Body::None, [401, 403, 403, 204]),
        row("auth_list_group_privileges", Shared(&[Fx::Group]), Body::None, [401, 403, 403, 200]),
        row(
            "auth_add_group_privilege",
            Fresh(Kind::Group),
            Body::Json(|_| json!({"privilege": PRIVILEGE, "effect": "accept"})),
            [401, 403, 403, 201],
        ),
        row("auth_remove_group_privilege", Fresh(Kind::GroupPrivilege), Body::None, [401, 403, 403, 204]),
        // auth: rules and roles; 403 for users.
        row("auth_list_rules", none, Body::None, [401, 403, 403, 200]),
        row("auth_list_roles", none, Body::None, [401, 403, 403, 200]),
        row("auth_create_role", none, Body::Json(|c| json!({"name": c.uniq("role"), "rules": [RULE]})), [401, 403, 403, 201]),
        row("auth_get_role", Shared(&[Fx::Role]), Body::None, [401, 403, 403, 200]),
        row("auth_update_role", Shared(&[Fx::Role]), Body::Json(|_| json!({"description": "changed"})), [401, 403, 403, 200]),
        row("auth_delete_role", Fresh(Kind::Role), Body::None, [401, 403, 403, 204]),
        row("auth_list_user_roles", Shared(&[Fx::UserA]), Body::None, [401, 403, 403, 200]),
        row("auth_assign_role", Shared(&[Fx::UserC, Fx::Role]), Body::None, [401, 403, 403, 204]),
        row("auth_unassign_role", Fresh(Kind::UserRole), Body::None, [401, 403, 403, 204]),
        // db.
        row("db_status", none, Body::None, [401, 403, 403, 200]),
        // info.
        row("info_system", none, Body::None, [401, 200, 200, 200]),
        row("info_events", none, Body::None, [401, 200, 200, 200]),
        // testbackend: health and its page are public; the failing routes fail as documented.
        row("testbackend_health", none, Body::None, [200, 200, 200, 200]),
        row("testbackend_hello", none, Body::None, [401, 200, 200, 200]),
        row("testbackend_sum", none, Body::Json(|_| json!({"a": 1, "b": 2})), [401, 200, 200, 200]),
        row("testbackend_whoami", none, Body::None, [401, 200, 200, 200]),
        row("testbackend_observed", none, Body::None, [401, 200, 200, 200]),
        row("testbackend_system", none, Body::None, [401, 200, 200, 200]),
        row("testbackend_publish", Shared(&[Fx::Topic]), Body::None, [401, 200, 200, 200]),
        row("testbackend_slow", none, Body::None, [401, 200, 200, 200]).query("ms=1"),
        row("testbackend_request", none, Body::Bytes("matrix"), [401, 200, 200, 200]),
        // Off unless the site turns it on (`db_bench`): it writes to the database.
        row("testbackend_bench_db", none, Body::None, [401, 403, 403, 403]).query("op=get&n=1&warmup=0"),
        // A request the db backend cannot decode: the backend's error, as 503.
        row("testbackend_absent_backend", none, Body::None, [401, 503, 503, 503]),
        row("testbackend_backend_panic", none, Body::None, [401, 503, 503, 503]),
        row("testbackend_panic", none, Body::None, [401, 500, 500, 500]),
        row("testbackend_page", none, Body::None, [200, 200, 200, 200]),
        row("testbackend_page_post", none, Body::None, [401, 303, 303, 303]),
        row("testbackend_ws_echo", none, Body::WebSocket("echo"), [401, 101, 101, 101]),
        // container: no engine answers (site()), so a caller the route lets through gets
        // the engine's 503; another user's app or instance is 404; the engine's facts
        // and images are the administrator's.
        row("container_info", none, Body::None, [401, 403, 403, 503]),
        row("container_images", none, Body::None, [401, 403, 403, 503]),
        // phases: A's object and app were made by hand, not by the lifecycle, so every
        // step on them is a 409 (the administrator's too: an app of A's made by hand has
        // no artifact of the lifecycle); the administrator never derives from A's object
        // (403); B reaches none of A's (404). Stopping A's instance asks the engine (503).
        row("phases_transition", Shared(&[Fx::Object]), Body::Json(|_| json!({"transition": "clone_template"})), [401, 409, 404, 403]),
        row("phases_finish", Shared(&[Fx::Object]), Body::None, [401, 409, 404, 409]),
        row("phases_app_start", Shared(&[Fx::App]), Body::None, [401, 409, 404, 409]),
        row("phases_tasks", none, Body::None, [401, 200, 200, 200]),
        row("phases_task", Shared(&[Fx::Task]), Body::None, [401, 200, 404, 200]),
        row("phases_task_cancel", Shared(&[Fx::Task]), Body::None, [401, 409, 404, 409]),
        row("phases_instances", none, Body::None, [401, 200, 200, 200]),
        row("phases_instance", Shared(&[Fx::Instance]), Body::None, [401, 200, 404, 200]),
        row("phases_instance_stop", Shared(&[Fx::Instance]), Body::None, [401, 503, 404, 503]),
        row("phases_limits", none, Body::None, [401, 200, 200, 200]),
        row("phases_ws_events", none, Body::WebSocket("daas-events"), [401, 101, 101, 101]),
        // proxy: the browser routes send anonymous pages to the login page.
        row("proxy_apps", none, Body::None, [303, 200, 200, 200]).html(),
        row("proxy_app_start", Shared(&[Fx::App]), Body::None, [401, 409, 404, 409]),
        row("proxy_instance_stop", Shared(&[Fx::Instance]), Body::None, [401, 503, 404, 503]),
        row("proxy_static", Shared(&[Fx::Asset]), Body::None, [200, 200, 200, 200]),
        // The viewer page and its socket are one operation of `GET /instance/{id}`: the
        // row tries the socket, UNDOCUMENTED the page. A's tunnel opens (guacd is absent:
        // it reports that inside the tunnel); B is refused in the close frame (4404).
        row("proxy_viewer", Shared(&[Fx::Instance]), Body::WebSocket("guacamole"), [401, 101, 404, 101]),
    ];

    // Objects, applications and files are their owner's; environments follow their
    // object. A foreign row is 404; a reference to one in a body is reported as missing
    // (400).
    let owned = |create_b: u16| DbRules {
        list: [401, 200, 200, 200],
        create: [401, 201, create_b, 201],
        get: [401, 200, 404, 200],
        change: [401, 200, 404, 200],
        remove: [401, 204, 404, 204],
    };
    db_resource(
        &mut t,
        Res::Object,
        |_| json!({"object_type": "container"}),
        |_| json!({"object_type": "vm", "object_state": "x"}),
        owned(201),
    );
    db_resource(
        &mut t,
        Res::Environment,
        |c| json!({"id_object": c.fx.object, "name": c.uniq("env")}),
        |c| json!({"id_object": c.fx.object, "name": c.uniq("env")}),
        owned(404),
    );
    db_resource(
        &mut t,
        Res::Application,
        |c| json!({"name": c.uniq("app"), "id_file": c.fx.file, "id_template": c.fx.object}),
        |c| json!({"name": c.uniq("app"), "version": "2"}),
        owned(404),
    );
    db_resource(&mut t, Res::File, |c| json!({"name": c.uniq("file")}), |_| json!({"name": "renamed", "version": "2"}), owned(201));
    // Limits and grants: the user sees theirs; only the admin makes and changes them.
    let admin_written = DbRules {
        list: [401, 200, 200, 200],
        create: [401, 403, 403, 201],
        get: [401, 200, 404, 200],
        change: [401, 403, 404, 200],
        remove: [401, 403, 404, 204],
    };
    db_resource(
        &mut t,
        Res::Limit,
        |c| {
            let owner = 100_000 + c.next();
            json!({"id_owner": owner, "vm_max": 1})
        },
        |_| json!({"vm_max": 3}),
        admin_written,
    );
    db_resource(
        &mut t,
        Res::Grant,
        |c| {
            let app = c.new_row(Res::Object);
            json!({"id_app": app, "id_user": c.fx.user_a})
        },
        |c| json!({"id_app": c.extra["app"], "id_user": c.fx.user_a, "allow_view": true}),
        admin_written,
    );
    // Nodes: the admin's alone, 403 for users.
    db_resource(
        &mut t,
        Res::Node,
        |c| json!({"authid": c.uniq("authid"), "pubkey": c.uniq("pubkey")}),
        |c| json!({"authid": c.uniq("authid"), "pubkey": c.uniq("pubkey"), "label": "changed"}),
        DbRules {
            list: [401, 403, 403, 200],
            create: [401, 403, 403, 201],
            get: [401, 403, 403, 200],
            change: [401, 403, 403, 200],
            remove: [401, 403, 403, 204],
        },
    );
    t
}

/// Routes served that the document does not list: the host's document and docs (public),
/// and the proxy's viewer page of A's instance ([`INSTANCE`]), hidden behind the
/// WebSocket of the same method and path.
const UNDOCUMENTED: &[(&str, &str, [u16; 4])] = &[
    ("GET", "/openapi.json", [200, 200, 200, 200]),
    ("GET", "/docs", [200, 200, 200, 200]),
    // The viewer page of `proxy_viewer`, whose row tries its WebSocket.
    ("GET", "/instance/matrix-inst", [401, 200, 404, 200]),
];

// ---- the client side --------------------------------------------------------------------

#[derive(Default)]
struct Fixtures {
    user_a: i64,
    user_c: i64,
    object: String,
    file: String,
    grant: String,
    node: String,
    group: i64,
    role: i64,
    app: String,
    task: String,
}

impl Fixtures {
    fn get(&self, fx: Fx) -> String {
        match fx {
            Fx::Object => self.object.clone(),
            Fx::Grant => self.grant.clone(),
            Fx::Node => self.node.clone(),
            Fx::UserA => self.user_a.to_string(),
            Fx::UserC => self.user_c.to_string(),
            Fx::Group => self.group.to_string(),
            Fx::Role => self.role.to_string(),
            Fx::Topic => "test.matrix".into(),
            Fx::App => self.app.clone(),
            Fx::Instance => INSTANCE.into(),
            Fx::Task => self.task.clone(),
            Fx::Asset => "build/novnc.js".into(),
        }
    }
}

struct Ctx {
    server: Server,
    http: Client,
    rt: tokio::runtime::Runtime,
    tokens: HashMap<Who, String>,
    fx: Fixtures,
    n: u64,
    /// What a fresh fixture made besides its path parameters (a grant's app).
    extra: HashMap<&'static str, String>,
    /// Every row made for A (ids), for the sweep of B's listings at the end.
    a_rows: BTreeSet<String>,
}

fn id_of(v: &Value) -> String {
    match &v["id"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("no id in {v} ({other})"),
    }
}

impl Ctx {
    fn next(&mut self) -> u64 {
        self.n += 1;
        self.n
    }

    fn uniq(&mut self, prefix: &str) -> String {
        format!("{prefix}-{}", self.next())
    }

    fn with_auth(&self, r: RequestBuilder, who: Who) -> RequestBuilder {
        match self.tokens.get(&who) {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    fn call(&self, who: Who, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self.with_auth(self.http.request(method.parse().unwrap(), self.server.url(path)), who);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// A call of the setup that must answer `expect`.
    fn must(&self, who: Who, method: &str, path: &str, body: Value, expect: u16) -> Value {
        let body = if body.is_null() { None } else { Some(body) };
        let (status, answer) = self.call(who, method, path, body.clone());
        assert_eq!(status, expect, "setup: {method} {path} as {who:?} with {body:?}: {answer}");
        answer
    }

    fn login(&self, who: Who) -> String {
        let (user, password) = who.credentials().unwrap();
        let v = self.must(Who::Anon, "POST", "/api/v1/auth/token", json!({"username": user, "password": password}), 200);
        v["token"].as_str().unwrap().to_string()
    }

    /// `GET /login`'s double-submit token.
    fn login_csrf(&self) -> String {
        let page = self.http.get(self.server.url("/login")).send().unwrap();
        cookie_value(&page, "daas_login_csrf").expect("GET /login sets the login CSRF cookie")
    }

    /// A browser login: the session cookie and its CSRF token.
    fn cookie_session(&self, who: Who) -> (String, String) {
        let (user, password) = who.credentials().unwrap();
        browser_login(&self.server, user, password)
    }

    /// A new row of a db resource, A's (or the admin's for A, or the admin's node).
    fn new_row(&mut self, res: Res) -> String {
        let path = format!("/api/v1/db/{}", res.many());
        let id = match res {
            Res::Object => id_of(&self.must(Who::A, "POST", &path, json!({"object_type": "container"}), 201)),
            Res::Environment => {
                let body = json!({"id_object": self.fx.object, "name": self.uniq("env")});
                id_of(&self.must(Who::A, "POST", &path, body, 201))
            }
            Res::Application => {
                let body = json!({"name": self.uniq("app"), "id_file": self.fx.file});
                id_of(&self.must(Who::A, "POST", &path, body, 201))
            }
            Res::File => {
                let body = json!({"name": self.uniq("file")});
                id_of(&self.must(Who::A, "POST", &path, body, 201))
            }
            Res::Limit => {
                // One limit per owner: A's, made live and fresh again.
                let a = self.fx.user_a;
                for (method, p) in [("DELETE", format!("{path}/{a}")), ("DELETE", format!("/api/v1/db/trash/limits/{a}"))] {
                    let (status, body) = self.call(Who::Admin, method, &p, None);
                    assert!(status == 204 || status == 404, "setup: {method} {p}: {status} {body}");
                }
                self.must(Who::Admin, "POST", &path, json!({"id_owner": a, "vm_max": 1, "container_max": 2}), 201);
                a.to_string()
            }
            Res::Grant => {
                let app = self.new_row(Res::Object);
                self.extra.insert("app", app.clone());
                id_of(&self.must(Who::Admin, "POST", &path, json!({"id_app": app, "id_user": self.fx.user_a, "allow_home": true}), 201))
            }
            Res::Node => {
                let body = json!({"authid": self.uniq("authid"), "pubkey": self.uniq("pubkey")});
                id_of(&self.must(Who::Admin, "POST", &path, body, 201))
            }
        };
        if res.maker() == Who::A || matches!(res, Res::Grant) {
            self.a_rows.insert(id.clone());
        }
        id
    }

    fn new_user(&mut self) -> i64 {
        let name = self.uniq("user");
        self.must(Who::Admin, "POST", "/api/v1/auth/users", json!({"name": name}), 201)["id"].as_i64().unwrap()
    }

    fn new_group(&mut self) -> i64 {
        let name = self.uniq("group");
        self.must(Who::Admin, "POST", "/api/v1/auth/groups", json!({"name": name}), 201)["id"].as_i64().unwrap()
    }

    fn new_role(&mut self) -> i64 {
        let name = self.uniq("role");
        self.must(Who::Admin, "POST", "/api/v1/auth/roles", json!({"name": name, "rules": [RULE]}), 201)["id"].as_i64().unwrap()
    }

    /// The path parameters of a fresh fixture, in the template's order.
    fn fresh(&mut self, kind: Kind) -> Vec<String> {
        let entry = json!({"privilege": PRIVILEGE, "effect": "deny"});
        match kind {
            Kind::Live(res) => vec![self.new_row(res)],
            Kind::Trashed(res) => {
                let id = self.new_row(res);
                self.must(res.maker(), "DELETE", &format!("/api/v1/db/{}/{id}", res.many()), Value::Null, 204);
                vec![id]
            }
            Kind::AccessToken => {
                let body = json!({"description": self.uniq("token")});
                let created = self.must(Who::A, "POST", "/api/v1/auth/access-tokens", body, 201);
                vec![created["access_token"]["id"].as_str().unwrap().to_string()]
            }
            Kind::User => vec![self.new_user().to_string()],
            Kind::UserPrivilege => {
                let user = self.new_user();
                self.must(Who::Admin, "POST", &format!("/api/v1/auth/users/{user}/privileges"), entry, 201);
                vec![user.to_string(), PRIVILEGE.into()]
            }
            Kind::Group => vec![self.new_group().to_string()],
            Kind::Member => {
                let (group, user) = (self.new_group(), self.fx.user_c);
                self.must(Who::Admin, "PUT", &format!("/api/v1/auth/groups/{group}/members/{user}"), Value::Null, 204);
                vec![group.to_string(), user.to_string()]
            }
            Kind::GroupPrivilege => {
                let group = self.new_group();
                self.must(Who::Admin, "POST", &format!("/api/v1/auth/groups/{group}/privileges"), entry, 201);
                vec![group.to_string(), PRIVILEGE.into()]
            }
            Kind::Role => vec![self.new_role().to_string()],
            Kind::UserRole => {
                let (user, role) = (self.new_user(), self.new_role());
                self.must(Who::Admin, "PUT", &format!("/api/v1/auth/users/{user}/roles/{role}"), Value::Null, 204);
                vec![user.to_string(), role.to_string()]
            }
        }
    }

    /// A static group accepting every privilege id of the server, with A and B in it.
    fn grant_every_route(&mut self) {
        // Enforced indeed: without an entry, A is refused.
        let (status, answer) = self.call(Who::A, "GET", "/api/v1/testbackend/hello", None);
        assert_eq!(status, 403, "privileges are enforced before A is granted anything: {answer}");
        let group = self.must(Who::Admin, "POST", "/api/v1/auth/groups", json!({"name": "everyone", "is_static": true}), 201)["id"]
            .as_i64()
            .unwrap();
        let routes = self.must(Who::Admin, "GET", "/api/v1/auth/privileges", Value::Null, 200);
        for route in routes.as_array().unwrap().iter().filter(|r| r["public"] == false) {
            let entry = json!({"privilege": route["privilege"], "effect": "accept"});
            self.must(Who::Admin, "POST", &format!("/api/v1/auth/groups/{group}/privileges"), entry, 201);
        }
        for who in [Who::A, Who::B] {
            let (name, _) = who.credentials().unwrap();
            let users = self.must(Who::Admin, "GET", "/api/v1/auth/users", Value::Null, 200);
            let id = users.as_array().unwrap().iter().find(|u| u["name"] == name).unwrap()["id"].as_i64().unwrap();
            self.must(Who::Admin, "PUT", &format!("/api/v1/auth/groups/{group}/members/{id}"), Value::Null, 204);
        }
    }

    fn setup(&mut self, privileges: bool) {
        let admin = self.login(Who::Admin);
        self.tokens.insert(Who::Admin, admin);
        for who in [Who::A, Who::B] {
            let (name, password) = who.credentials().unwrap();
            let user = self.must(Who::Admin, "POST", "/api/v1/auth/users", json!({"name": name, "password": password}), 201);
            if who == Who::A {
                self.fx.user_a = user["id"].as_i64().unwrap();
            }
            let token = self.login(who);
            self.tokens.insert(who, token);
        }
        self.fx.user_c = self.must(Who::Admin, "POST", "/api/v1/auth/users", json!({"name": "carl"}), 201)["id"].as_i64().unwrap();
        if privileges {
            self.grant_every_route();
        }
        self.fx.object = self.new_row(Res::Object);
        self.fx.file = self.new_row(Res::File);
        self.fx.grant = self.new_row(Res::Grant);
        self.fx.node = self.new_row(Res::Node);
        self.fx.group = self.new_group();
        self.fx.role = self.new_role();
        let app = json!({"object_type": "container", "object_mode": "app", "id_docker": "localhost/daas-matrix:1"});
        self.fx.app = id_of(&self.must(Who::A, "POST", "/api/v1/db/objects", app, 201));
        self.a_rows.insert(self.fx.app.clone());
        // Shared rows exist too: users must see them, and still none of A's.
        self.must(Who::Admin, "POST", "/api/v1/db/objects", json!({"id_owner": 0, "object_type": "vm"}), 201);
        // A's task: a start of a shared app, which fails at once (no engine answers).
        let shared = json!({"id_owner": 0, "object_type": "container", "object_mode": "app", "id_docker": "localhost/daas-matrix:1"});
        let shared = id_of(&self.must(Who::Admin, "POST", "/api/v1/db/objects", shared, 201));
        self.fx.task = id_of(&self.must(Who::A, "POST", &format!("/api/v1/phases/apps/{shared}/start"), Value::Null, 202));
        let deadline = Instant::now() + std::time::Duration::from_secs(20);
        while self.must(Who::A, "GET", &format!("/api/v1/phases/tasks/{}", self.fx.task), Value::Null, 200)["state"] != "failed" {
            assert!(Instant::now() < deadline, "A's start of a shared app did not fail");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// A's instance [`INSTANCE`] of `app`, in a container the engine does not know, and its
/// connection, through `daas import` (the server runs on; SQLite takes the second
/// writer).
fn import_instance(site: &std::path::Path, a: i64, app: &str) {
    let yaml = format!(
        "instances:\n  - {{id: {INSTANCE}, id_owner: {a}, id_app: {app}, id_con: matrix-con, host: 127.0.0.1, container: daas-matrix-gone}}\n\
         guacamole_connections:\n  - {{id: matrix-con, user: ann, protocol: vnc, hostname: 127.0.0.1, port: 9, password: matrix-pw}}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rows.yaml");
    std::fs::write(&file, yaml).unwrap();
    let (code, out, err) = run(&["import", file.to_str().unwrap(), "--site", site.to_str().unwrap()]);
    assert_eq!(code, 0, "import of A's instance failed:\n{out}\n{err}");
}

// ---- the document ---------------------------------------------------------------------

struct DocOp {
    method: String,
    path: String,
    id: String,
    public: bool,
    websocket: bool,
}

fn operations(doc: &Value) -> Vec<DocOp> {
    const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("the document has paths") {
        for method in METHODS {
            let Some(op) = item.get(*method) else { continue };
            ops.push(DocOp {
                method: method.to_uppercase(),
                path: path.clone(),
                id: op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operation id")).to_string(),
                // Public operations need no security scheme (host/src/openapi.rs).
                public: op.get("security").is_some_and(|s| s.as_array().is_some_and(Vec::is_empty)),
                websocket: op["responses"].get("101").is_some(),
            });
        }
    }
    ops.sort_by(|a, b| (&a.path, &a.method).cmp(&(&b.path, &b.method)));
    ops
}

/// The template with its `{parameters}` replaced in order; the count must match.
fn fill_template(template: &str, params: &[String]) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    let mut given = params.iter();
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').map(|e| start + e).ok_or_else(|| format!("unclosed parameter in {template}"))?;
        out.push_str(&rest[..start]);
        out.push_str(given.next().ok_or_else(|| format!("the table fills {} parameter(s) of {template}", params.len()))?);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    if given.next().is_some() {
        return Err(format!("the table fills {} parameter(s), {template} has fewer", params.len()));
    }
    Ok(out)
}

// ---- one cell ---------------------------------------------------------------------------

/// A cell's status and the start of its answer, or why it could not be called.
type Outcome = Result<(u16, String), String>;

/// Call an operation as a caller; the status (101: the WebSocket opened) and the start
/// of the answer.
fn cell(ctx: &mut Ctx, op: &DocOp, row: &Row, who: Who) -> Outcome {
    ctx.extra.clear();
    let params = match row.fill {
        Fill::None => Vec::new(),
        Fill::Shared(fx) => fx.iter().map(|f| ctx.fx.get(*f)).collect(),
        Fill::Fresh(kind) => ctx.fresh(kind),
    };
    let mut path = fill_template(&op.path, &params)?;
    if !row.query.is_empty() {
        path = format!("{path}?{}", row.query);
    }

    if let Body::WebSocket(protocol) = row.body {
        return Ok((websocket(ctx, &path, protocol, ctx.tokens.get(&who).cloned()), String::new()));
    }

    let mut r = ctx.http.request(op.method.parse().unwrap(), ctx.server.url(&path));
    let mut session_csrf = None;
    if row.html {
        r = r.header("accept", "text/html");
    }
    match (row.auth, who) {
        (_, Who::Anon) => {}
        (As::Bearer, _) => r = ctx.with_auth(r, who),
        (As::FreshBearer, _) => r = r.bearer_auth(ctx.login(who)),
        (As::FreshCookie, _) => {
            let (session, csrf) = ctx.cookie_session(who);
            r = r.header("cookie", format!("daas_session={session}"));
            session_csrf = Some(csrf);
        }
    }
    r = match row.body {
        Body::None | Body::WebSocket(_) => r,
        Body::Json(f) => r.json(&f(ctx)),
        Body::Bytes(b) => r.header("content-type", "application/octet-stream").body(b),
        Body::LoginForm => {
            let csrf = ctx.login_csrf();
            r.header("cookie", format!("daas_login_csrf={csrf}")).form(&[
                ("username", "ann"),
                ("password", "ann-pw-1"),
                ("csrf", csrf.as_str()),
                ("next", "/"),
            ])
        }
        Body::LogoutForm => r.form(&[("csrf", session_csrf.as_deref().unwrap_or("none"))]),
    };
    let resp = r.send().map_err(|e| format!("{} {path}: {e}", op.method))?;
    let status = resp.status().as_u16();
    let text = resp.text().unwrap_or_default();
    Ok((status, text.chars().take(160).collect()))
}

fn websocket(ctx: &Ctx, path: &str, protocol: &str, bearer: Option<String>) -> u16 {
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Error};
    let mut req = ctx.server.ws_url(path).into_client_request().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", protocol.parse().unwrap());
    if let Some(t) = bearer {
        req.headers_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    ctx.rt.block_on(async {
        match tokio::time::timeout(std::time::Duration::from_secs(10), tokio_tungstenite::connect_async(req)).await {
            Err(_) => 0,
            Ok(Ok((mut ws, resp))) => {
                use futures::StreamExt;
                use tokio_tungstenite::tungstenite::Message;
                // A route that refuses after the upgrade says so in its first frame: a
                // close with 4000 + the HTTP status. A socket that stays quiet is open.
                let first = tokio::time::timeout(std::time::Duration::from_millis(300), ws.next()).await;
                let _ = ws.close(None).await;
                match first {
                    Ok(Some(Ok(Message::Close(Some(frame))))) if (4000..5000).contains(&u16::from(frame.code)) => {
                        u16::from(frame.code) - 4000
                    }
                    _ => resp.status().as_u16(),
                }
            }
            Ok(Err(Error::Http(resp))) => resp.status().as_u16(),
            Ok(Err(_)) => 0,
        }
    })
}

// ---- the test ---------------------------------------------------------------------------

#[test]
fn every_operation_answers_each_caller_as_the_rules_say() {
    matrix("", false);
}

/// The same matrix with the seed's privileges enforced (`[auth] enable_auth_endpoint`):
/// A and B are in a static group that accepts every privilege id the server lists, so
/// every cell must answer as without privileges. A route whose privilege id the layer
/// got wrong, or a check that misfires, shows as a 403 cell.
#[test]
fn the_matrix_holds_with_privileges_enforced_for_callers_granted_every_route() {
    matrix("[auth]\nenable_auth_endpoint = true\n", true);
}

fn matrix(auth_toml: &str, privileges: bool) {
    let started = Instant::now();
    let site = site(auth_toml);
    let server = Server::start(site.path());
    let http = Client::builder().redirect(Policy::none()).timeout(std::time::Duration::from_secs(20)).build().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut ctx =
        Ctx { server, http, rt, tokens: HashMap::new(), fx: Fixtures::default(), n: 0, extra: HashMap::new(), a_rows: BTreeSet::new() };
    ctx.setup(privileges);
    import_instance(site.path(), ctx.fx.user_a, &ctx.fx.app);

    let doc: Value = ctx.http.get(ctx.server.url("/openapi.json")).send().unwrap().json().unwrap();
    let ops = operations(&doc);
    let rows = table();
    let mut problems = Vec::new();

    // Coverage, both ways.
    let mut by_op: BTreeMap<&str, &Row> = BTreeMap::new();
    for r in &rows {
        if by_op.insert(r.op.as_str(), r).is_some() {
            problems.push(format!("the table has two entries for `{}`", r.op));
        }
    }
    let documented: BTreeSet<&str> = ops.iter().map(|o| o.id.as_str()).collect();
    for op in &ops {
        if !by_op.contains_key(op.id.as_str()) {
            problems.push(format!("not covered by the matrix: {} {} ({}): add it to table()", op.method, op.path, op.id));
        }
    }
    for op in by_op.keys() {
        if !documented.contains(op) {
            problems.push(format!("the table has `{op}`, which the document no longer has: remove it"));
        }
    }

    // The cells.
    struct Line {
        op: String,
        route: String,
        cells: Vec<(u16, Outcome)>,
    }
    let mut lines = Vec::new();
    for op in &ops {
        let Some(row) = by_op.get(op.id.as_str()) else { continue };
        // What the document says must agree with the table.
        let refuses_anonymous = row.expect[0] == 401 || (row.html && row.expect[0] == 303);
        if op.public == refuses_anonymous {
            problems.push(format!(
                "{}: the document marks it {}, the table expects {} for anonymous callers",
                op.id,
                if op.public { "public" } else { "non-public" },
                row.expect[0]
            ));
        }
        if op.websocket != matches!(row.body, Body::WebSocket(_)) {
            problems.push(format!("{}: WebSocket in the document: {}, in the table: {}", op.id, op.websocket, !op.websocket));
        }
        let cells = CALLERS.iter().zip(row.expect).map(|(&who, expect)| (expect, cell(&mut ctx, op, row, who))).collect();
        lines.push(Line { op: op.id.clone(), route: format!("{} {}", op.method, op.path), cells });
    }
    for (method, path, expect) in UNDOCUMENTED {
        let cells = CALLERS
            .iter()
            .zip(expect)
            .map(|(&who, &expect)| {
                let r = ctx.with_auth(ctx.http.request(method.parse().unwrap(), ctx.server.url(path)), who);
                let got = r.send().map(|resp| (resp.status().as_u16(), String::new())).map_err(|e| e.to_string());
                (expect, got)
            })
            .collect();
        lines.push(Line { op: "(not in the document)".into(), route: format!("{method} {path}"), cells });
    }

    // After everything the cells did, B still sees none of A's rows.
    for many in ["objects", "environments", "applications", "files", "limits", "grants"] {
        for list in [format!("/api/v1/db/{many}?limit=500"), format!("/api/v1/db/trash/{many}?limit=500")] {
            let (status, page) = ctx.call(Who::B, "GET", &list, None);
            let items = page["items"].as_array().cloned().unwrap_or_default();
            if status != 200 {
                problems.push(format!("B's GET {list}: {status} {page}"));
            }
            for item in items {
                let id = match &item["id"] {
                    Value::String(s) => s.clone(),
                    _ => String::new(),
                };
                let a = ctx.fx.user_a;
                if ctx.a_rows.contains(&id) || item["id_owner"] == a || item["id_user"] == a {
                    problems.push(format!("B's GET {list} shows a row of A's: {item}"));
                }
            }
        }
    }

    // Nor A's instance or task among the phases plugin's.
    for list in ["/api/v1/phases/instances", "/api/v1/phases/tasks"] {
        let (status, items) = ctx.call(Who::B, "GET", list, None);
        let theirs = items.as_array().cloned().unwrap_or_default();
        if status != 200 || theirs.iter().any(|i| i["id"] == INSTANCE || i["id"] == ctx.fx.task.as_str() || i["id_owner"] == ctx.fx.user_a)
        {
            problems.push(format!("B's GET {list}: {status} {items}"));
        }
    }

    // The matrix.
    let mut out = String::new();
    let w_op = lines.iter().map(|l| l.op.len()).max().unwrap_or(0);
    let w_route = lines.iter().map(|l| l.route.len()).max().unwrap_or(0);
    let _ = write!(out, "\n{:w_op$}  {:w_route$}", "operation", "route");
    for who in CALLERS {
        let _ = write!(out, "  {:>12}", who.label());
    }
    out.push('\n');
    let mut cells_total = 0;
    for line in &lines {
        let _ = write!(out, "{:w_op$}  {:w_route$}", line.op, line.route);
        for (who, (expect, got)) in CALLERS.iter().zip(&line.cells) {
            cells_total += 1;
            let text = match got {
                Ok((status, _)) if status == expect => format!("{status}"),
                Ok((status, answer)) => {
                    problems.push(format!("{} {} as {}: expected {expect}, got {status} {answer}", line.op, line.route, who.label()));
                    format!("{expect}≠{status} ✗")
                }
                Err(e) => {
                    problems.push(format!("{} {} as {}: {e}", line.op, line.route, who.label()));
                    "error ✗".into()
                }
            };
            let _ = write!(out, "  {text:>12}");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "{} operations ({} documented) × {} callers = {cells_total} cells in {:.1} s; expected≠actual marks a mismatch",
        lines.len(),
        ops.len(),
        CALLERS.len(),
        started.elapsed().as_secs_f64()
    );
    println!("{out}");
    assert!(problems.is_empty(), "{out}\n{} problem(s):\n  {}", problems.len(), problems.join("\n  "));
}
