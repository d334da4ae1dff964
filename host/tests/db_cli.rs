//! `daas db migrate|status`, `daas import` and `daas export` with the real binary and the
//! real db plugin, on SQLite (the repository suite runs the same backend requests on
//! MariaDB and PostgreSQL).

mod common;

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use common::{client, daas, run, Server, TempSite};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const OTHER_KEY: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const MIGRATIONS: [&str; 5] = [
    "m20261122_000001_daas_objects",
    "m20261122_000002_product_tables",
    "m20261125_000003_objects_datetime",
    "m20261125_000004_roles",
    "m20261204_000005_tasks",
];

/// A site with only the db plugin, on an SQLite file of its own.
fn site(db_extra: &str) -> TempSite {
    site_with_key(KEY, db_extra)
}

fn site_with_key(key: &str, db_extra: &str) -> TempSite {
    TempSite::new(&[
        ("extensions.toml", "[extensions]\n[[extensions.plugin]]\nname = \"db\"\n"),
        ("db.toml", &format!("[db]\nsecret_key = \"{key}\"\n{db_extra}")),
    ])
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `daas ARGS`, asserting its exit code; (stdout, stderr).
fn daas_ok(args: &[&str]) -> (String, String) {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "daas {args:?} failed:\n{out}\n{err}");
    (out, err)
}

/// A fixture outside any site directory (a site refuses unknown .toml files).
fn fixture(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The whole database as YAML (stdout).
fn export(site: &Path) -> String {
    daas_ok(&["export", "--site", s(site)]).0
}

/// Rows in most tables (parents and children), plaintext secrets, one object in the
/// trash, explicit ids and times.
const FIXTURE: &str = r#"
users:
  - id: 1
    name: ann
    admin: true
    password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"
    totp_secret: totp-plaintext
  - id: 7
    name: bob
groups:
  - {id: 3, name: staff, is_static: true}
group_memberships:
  - {id_group: 3, id_user: 7}
privileges:
  - {subject_kind: group, subject_id: 3, privilege: db.list_objects, effect: deny}
limits:
  - {id_owner: -1, vm_max: 2, container_max: 4}
files:
  - {id: f1, id_owner: 7, name: setup.exe, filesize: 79}
daas_objects:
  - id: app-1
    id_owner: 7
    object_type: container
    object_mode: app
    object_tasks: [{task: install}, "plain"]
    object_target: {cmd: xterm}
    vnc_password: vnc-plaintext
    os_password: os-plaintext
    created_at: 2026-01-02T03:04:05.123456Z
  - id: gone
    id_owner: 7
    deleted_at: 2026-02-01T00:00:00Z
template_applications:
  - {id: tpl-1, id_owner: 7, name: editor, id_file: f1, id_template: app-1}
environments:
  - {id: env-1, id_object: app-1, name: office, env_apps: [thunderbird]}
guacamole_connections:
  - {id: con-1, user: u, password: guac-plaintext, protocol: vnc, hostname: 10.0.0.5, port: 5901}
instances:
  - {id: inst-1, id_owner: 7, id_app: app-1, id_env: env-1, id_con: con-1, host: 10.0.0.5}
access_grants:
  - {id_app: app-1, id_user: 7, allow_home: true, volume: "/srv/data:/data:ro"}
usage_records:
  - {id_owner: 7, id_object: app-1, kind: container, cpu_seconds: 12.5}
nodes:
  - {authid: node-1, pubkey: ab12, label: rack 1, tags: [gpu, eu]}
"#;

const PLAINTEXT: [&str; 4] = ["totp-plaintext", "vnc-plaintext", "os-plaintext", "guac-plaintext"];

#[test]
fn status_shows_pending_migrations_until_migrate_applies_them() {
    let site = site("migrate = \"manual\"\n");
    // Pending migrations: exit status 5, so that scripts can tell.
    let (code, out, err) = run(&["db", "status", "--site", s(site.path())]);
    assert_eq!(code, 5, "{out}{err}");
    assert!(err.contains(&format!("5 migration(s) pending: run `daas db migrate --site {}`", s(site.path()))), "{err}");
    assert!(out.contains("database: sqlite"), "{out}");
    assert!(out.contains("applied migrations: 0"), "{out}");
    assert!(out.contains(&format!("pending migrations: 5 (apply them with `daas db migrate --site {}`)", s(site.path()))), "{out}");
    assert!(MIGRATIONS.iter().all(|m| out.contains(m)), "{out}");
    // Status changes nothing: still pending.
    assert!(run(&["db", "status", "--site", s(site.path())]).1.contains("pending migrations: 5"));

    let (out, _) = daas_ok(&["db", "migrate", "--site", s(site.path())]);
    assert!(out.starts_with("applied 5 migration(s):"), "{out}");
    assert!(MIGRATIONS.iter().all(|m| out.contains(m)), "{out}");

    let (out, _) = daas_ok(&["db", "status", "--site", s(site.path())]);
    assert!(out.contains("applied migrations: 5") && out.contains("pending migrations: none"), "{out}");
    let (out, _) = daas_ok(&["db", "migrate", "--site", s(site.path())]);
    assert!(out.contains("no migration pending"), "{out}");
}

#[test]
fn manual_migrations_refuse_serve_until_daas_db_migrate() {
    let site = site("migrate = \"manual\"\n");
    let mut child = daas()
        .args(["serve", "--site", s(site.path()), "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("daas serve did not refuse to start");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(3), "{err}");
    let dir = std::fs::canonicalize(site.path()).unwrap();
    let expected = format!("5 database migration(s) pending ({}): run `daas db migrate --site {}`", MIGRATIONS.join(", "), dir.display());
    assert!(err.contains(&expected), "expected {expected:?} in:\n{err}");

    daas_ok(&["db", "migrate", "--site", s(site.path())]);
    let server = Server::start(site.path());
    assert_eq!(client().get(server.url("/readyz")).send().unwrap().status(), 200, "{}", server.log());
}

#[test]
fn export_and_import_drop_all_restore_every_row_in_another_site() {
    let files = tempfile::tempdir().unwrap();
    let a = site("");
    let (out, _) = daas_ok(&["import", s(&fixture(&files, "fixture.yaml", FIXTURE)), "--site", s(a.path())]);
    assert!(out.starts_with("imported 16 row(s) from "), "{out}");
    assert!(out.contains("daas_objects") && out.contains("INSERTED"), "{out}");
    let original = export(a.path());

    // Secrets stay sealed: no plaintext secret is ever written to a file.
    for plain in PLAINTEXT {
        assert!(!original.contains(plain), "{plain} in the export:\n{original}");
    }
    assert_eq!(original.matches("enc:v1:").count(), 6, "the given secrets and the defaults of `gone`:\n{original}");
    assert!(original.contains("deleted_at: 2026-02-01T00:00:00Z"), "the trashed object is exported:\n{original}");
    assert!(original.contains("created_at: 2026-01-02T03:04:05.123456Z"), "given times are kept:\n{original}");

    // Into a site with other rows (removed by --drop-all) and the same key, from each
    // format: the export of the copy is the original's, byte for byte.
    for ext in ["yaml", "toml", "json"] {
        let file = files.path().join(format!("export.{ext}"));
        let (out, _) = daas_ok(&["export", s(&file), "--site", s(a.path())]);
        assert!(out.contains("exported 16 row(s) of 19 table(s)"), "{out}");
        let text = std::fs::read_to_string(&file).unwrap();
        for plain in PLAINTEXT {
            assert!(!text.contains(plain), "{plain} in {ext}");
        }
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600, "{ext}: owner only");

        let b = site("");
        daas_ok(&["import", s(&fixture(&files, "other.yaml", "users:\n  - {id: 1, name: someone-else}\n")), "--site", s(b.path())]);
        let (out, _) = daas_ok(&["import", s(&file), "--site", s(b.path()), "--drop-all"]);
        assert!(out.contains("after emptying every table"), "{out}");
        assert!(out.contains("REMOVED"), "{out}");
        assert_eq!(export(b.path()), original, "{ext}: the copy equals the original");
    }

    // The copy's database goes on: new rows get ids after the imported ones.
    let b = site("");
    daas_ok(&["import", s(&files.path().join("export.json")), "--site", s(b.path()), "--drop-all"]);
    daas_ok(&["import", s(&fixture(&files, "more.yaml", "users:\n  - {name: carol}\n")), "--site", s(b.path())]);
    let copy: serde_json::Value = serde_norway::from_str(&export(b.path())).unwrap();
    let carol = copy["users"].as_array().unwrap().iter().find(|u| u["name"] == "carol").unwrap();
    assert_eq!(carol["id"], 8, "new ids continue after the imported ones");
}

#[test]
fn a_malformed_fixture_names_table_row_and_field_and_changes_nothing() {
    let files = tempfile::tempdir().unwrap();
    let site = site("");
    daas_ok(&["import", s(&fixture(&files, "fixture.yaml", FIXTURE)), "--site", s(site.path())]);
    let before = export(site.path());

    // Rows that are not their model: every problem at once, before anything is written.
    let bad = fixture(&files, "bad.yaml", "users:\n  - {name: carl}\n  - {name: dora, admin: maybe}\nfiles:\n  - {id: f9, nmae: typo}\n");
    let (code, out, err) = run(&["import", s(&bad), "--site", s(site.path()), "--drop-all"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("nothing was imported"), "{err}");
    assert!(err.contains("table `users`, row 2: field `admin`: invalid type: string \"maybe\", expected a boolean"), "{err}");
    assert!(err.contains("table `files`, row 1: field `nmae`: unknown field"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(export(site.path()), before);

    // A row the database refuses after others went in (and after --drop-all emptied every
    // table): one transaction, so nothing changes.
    let dup = fixture(&files, "dup.toml", "[[users]]\nname = \"erin\"\n\n[[files]]\nid = \"f1\"\n\n[[files]]\nid = \"f1\"\n");
    let (code, out, err) = run(&["import", s(&dup), "--site", s(site.path()), "--drop-all"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("table `files`, row 2: file exists already"), "{err}");
    assert_eq!(export(site.path()), before, "the failed import changed nothing");

    // Files that are not fixtures.
    for (name, text, expected) in [
        ("unknown.yaml", "userz: []\n", "no table `userz`; the tables are users, groups"),
        ("scalar.yaml", "users: 3\n", "table `users` must be a list of rows"),
        ("broken.yaml", "users:\n  - name: [\n", "is not valid YAML"),
        ("broken.toml", "[[users]]\nname =\n", "is not valid TOML"),
        ("broken.json", "{\"users\": [", "is not valid JSON"),
        ("fixture.txt", "users: []\n", "cannot tell the format of"),
        ("not-a-row.yaml", "nodes:\n  - n1\n", "table `nodes`, row 1: a row must be a mapping"),
    ] {
        let (code, out, err) = run(&["import", s(&fixture(&files, name, text)), "--site", s(site.path())]);
        assert_eq!(code, 1, "{name}: {out}{err}");
        assert!(err.contains(expected), "{name}: expected {expected:?} in {err}");
    }
    assert_eq!(export(site.path()), before);
}

#[test]
fn sealed_secrets_are_refused_by_a_site_with_another_key() {
    let files = tempfile::tempdir().unwrap();
    let a = site("");
    daas_ok(&["import", s(&fixture(&files, "fixture.yaml", FIXTURE)), "--site", s(a.path())]);
    let file = files.path().join("export.yaml");
    daas_ok(&["export", s(&file), "--site", s(a.path())]);
    let other = site_with_key(OTHER_KEY, "");
    let (code, out, err) = run(&["import", s(&file), "--site", s(other.path()), "--drop-all"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("table `users`, row 1: field `totp_secret`: the secret is sealed (enc:v1:) with another secret_key"), "{err}");
}

#[test]
fn the_commands_need_a_db_plugin_and_a_loadable_site() {
    let no_db = TempSite::new(&[("extensions.toml", "[extensions]\n")]);
    for args in [vec!["db", "status"], vec!["db", "migrate"], vec!["export"]] {
        let mut args = args.clone();
        args.extend(["--site", s(no_db.path())]);
        let (code, _, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("loads no db plugin"), "{err}");
    }
    let broken = TempSite::new(&[
        ("extensions.toml", "[extensions]\n[[extensions.plugin]]\nname = \"db\"\n"),
        ("db.toml", "[db]\nmigrate = \"sometimes\"\n"),
    ]);
    let (code, _, err) = run(&["db", "status", "--site", s(broken.path())]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("db.toml:2: key `db.migrate`"), "{err}");
    // Without a secret key the plugin does not start: exit 3, the plugin's reason.
    let no_key = TempSite::new(&[("extensions.toml", "[extensions]\n[[extensions.plugin]]\nname = \"db\"\n")]);
    let (code, _, err) = run(&["export", "--site", s(no_key.path())]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("plugin `db` failed to start: no secret key"), "{err}");
}
