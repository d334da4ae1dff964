//! The Rust client's flow (scripts/api-contract rust): the client progenitor generated
//! from the served /openapi.json (build.rs), against DAAS_URL. Log in, an object's whole
//! life (create, list with and without a filter, get, update, trash, restore, purge), a
//! user, a group, an access token and a call made with it, and a lifecycle task (a
//! transition asked twice with one Idempotency-Key, read back, listed). Exits non-zero
//! naming the step that failed.
//!
//! Bodies are written as JSON and read into the generated types (so a renamed or retyped
//! field fails here, and the code does not depend on the names typify gives constrained
//! strings); answers are read through the generated types.

#![cfg_attr(not(daas_client), allow(dead_code, unused_imports))]

mod client {
    include!(concat!(env!("OUT_DIR"), "/client.rs"));
}

#[cfg(daas_client)]
use client::{prelude::*, types};
use serde_json::{json, Value};
use std::{env, fmt::Debug, process::ExitCode};

type Step<T> = Result<T, String>;

/// A request body of the generated type `T`, from JSON.
fn body<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v} is not a {}: {e}", std::any::type_name::<T>()))
}

/// A value read from the server, as JSON (so a field typify made a newtype compares alike).
fn v<T: serde::Serialize>(x: &T) -> Value {
    serde_json::to_value(x).unwrap_or(Value::Null)
}

/// A value read from the server, as a string (ids).
fn text<T: serde::Serialize>(x: &T) -> String {
    match v(x) {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

#[cfg(daas_client)]
/// The answer of a call that must succeed, or the step's failure.
fn ok<T, E: Debug>(step: &str, r: Result<client::ResponseValue<T>, client::Error<E>>) -> Step<T> {
    r.map(client::ResponseValue::into_inner).map_err(|e| format!("{step}: {e:?}"))
}

#[cfg(daas_client)]
/// A call that must fail with `status`.
fn status<T: Debug, E: Debug>(step: &str, want: u16, r: Result<client::ResponseValue<T>, client::Error<E>>) -> Step<()> {
    match r {
        Err(e) if e.status().map(|s| s.as_u16()) == Some(want) => Ok(()),
        other => Err(format!("{step}: expected HTTP {want}, got {other:?}")),
    }
}

fn check(step: &str, ok: bool, detail: impl Debug) -> Step<()> {
    if ok {
        Ok(())
    } else {
        Err(format!("{step}: {detail:?}"))
    }
}

#[cfg(daas_client)]
fn authenticated(base: &str, token: &str) -> Step<Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = format!("Bearer {token}").parse().map_err(|e| format!("token header: {e}"))?;
    headers.insert(reqwest::header::AUTHORIZATION, value);
    let http = reqwest::Client::builder().default_headers(headers).build().map_err(|e| e.to_string())?;
    Ok(Client::new_with_client(base, http))
}

#[cfg(daas_client)]
async fn flow(base: &str, user: &str, password: &str) -> Step<()> {
    let tag = format!("flow-rs-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let anon = Client::new(base);
    let credentials: types::Credentials = body(json!({"username": user, "password": password}));
    let login = ok("log in", anon.auth_token().body(credentials).send().await)?;
    let api = authenticated(base, &text(&login.token))?;
    println!("ok: log in");

    let new_object: types::NewDaasObject = body(json!({"os_type": tag, "hw_cpus": 1}));
    let created: types::DaasObject = ok("create an object", api.db_create_object().body(new_object).send().await)?;
    check("create an object", v(&created.os_type) == tag, &created)?;
    let id = text(&created.id);
    println!("ok: create an object ({id})");

    let page = ok("list with a filter", api.db_list_objects().filter(vec![format!("os_type:{tag}")]).send().await)?;
    let ids: Vec<String> = page.items.iter().map(|o| text(&o.id)).collect();
    check("list with a filter", ids == [id.clone()], &ids)?;
    println!("ok: list with a filter");

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        // every page, without a filter
        let mut call = api.db_list_objects().limit(500u64);
        if let Some(c) = &cursor {
            call = call.cursor(c.clone());
        }
        let page = ok("list without a filter", call.send().await)?;
        seen.extend(page.items.iter().map(|o| text(&o.id)));
        cursor = page.next_cursor.as_ref().map(text);
        if cursor.is_none() {
            break;
        }
    }
    check("list without a filter", seen.contains(&id), format!("{id} not among {} objects", seen.len()))?;
    println!("ok: list without a filter ({} objects)", seen.len());

    let got = ok("get", api.db_get_object().id(&id).send().await)?;
    check("get", text(&got.id) == id && v(&got.hw_cpus) == 1, &got)?;
    println!("ok: get");

    let patch: types::DaasObjectPatch = body(json!({"hw_cpus": 2}));
    let updated = ok("update", api.db_update_object().id(&id).body(patch).send().await)?;
    check("update", v(&updated.hw_cpus) == 2 && v(&updated.os_type) == tag, &updated)?;
    println!("ok: update");

    let trash_filter = vec![format!("os_type:{tag}")];
    ok("trash", api.db_delete_object().id(&id).send().await)?;
    status("get a trashed object", 404, api.db_get_object().id(&id).send().await)?;
    let trash = ok("list the trash", api.db_list_trashed_objects().filter(trash_filter.clone()).send().await)?;
    check("list the trash", trash.items.len() == 1 && text(&trash.items[0].id) == id, &trash)?;
    println!("ok: trash");

    ok("restore", api.db_restore_object().id(&id).send().await)?;
    ok("get a restored object", api.db_get_object().id(&id).send().await)?;
    println!("ok: restore");

    ok("trash again", api.db_delete_object().id(&id).send().await)?;
    ok("purge", api.db_purge_object().id(&id).send().await)?;
    let after = ok("list the trash after purge", api.db_list_trashed_objects().filter(trash_filter).send().await)?;
    check("purge", after.items.is_empty(), &after)?;
    println!("ok: purge");

    let new_user: types::NewUser = body(json!({"name": tag, "password": "a long flow passphrase"}));
    let created_user: types::User = ok("create a user", api.auth_create_user().body(new_user).send().await)?;
    check("create a user", v(&created_user.name) == tag, &created_user)?;
    println!("ok: create a user ({})", v(&created_user.id));

    let new_group: types::NewGroup = body(json!({"name": tag}));
    let group: types::Group = ok("create a group", api.auth_create_group().body(new_group).send().await)?;
    check("create a group", v(&group.name) == tag, &group)?;
    println!("ok: create a group ({})", v(&group.id));

    let new_token: types::NewAccessToken = body(json!({"description": tag}));
    let created_token = ok("create an access token", api.auth_create_access_token().body(new_token).send().await)?;
    let access_token: &types::AccessToken = &created_token.access_token;
    check("create an access token", v(&access_token.description) == tag, access_token)?;
    println!("ok: create an access token ({})", text(&access_token.id));

    let with_token = authenticated(base, &text(&created_token.token))?;
    let me = ok("use the access token", with_token.auth_me().send().await)?;
    check("use the access token", v(&me.name) == user && v(&me.via) == "access_token", &me)?;
    ok("list with the access token", with_token.db_list_objects().limit(1u64).send().await)?;
    println!("ok: use the access token");

    // A transition of the demo's shared base image: 202 with the task; the same key
    // answers the same task (the contract's site runs no engine: the task then fails,
    // a state too).
    let ask = || {
        let transition: types::NewTransition = body(json!({"transition": "clone_template", "id_user": tag}));
        api.phases_transition().id("demo-desktop-base").idempotency_key(tag.as_str()).body(transition).send()
    };
    let task = ok("ask a transition", ask().await)?;
    check("ask a transition", v(&task.kind) == "clone_template", &task)?;
    let again = ok("ask it again", ask().await)?;
    check("ask it again", text(&again.id) == text(&task.id), (&again.id, &task.id))?;
    let read = ok("read the task", api.phases_task().id(text(&task.id)).send().await)?;
    check("read the task", text(&read.id) == text(&task.id), &read)?;
    let listed = ok("list the tasks", api.phases_tasks().limit(1000u32).send().await)?;
    check("list the tasks", listed.iter().any(|t| text(&t.id) == text(&task.id)), "not listed")?;
    println!("ok: a lifecycle task ({}, {})", text(&task.id), text(&read.state));
    Ok(())
}

/// Built without DAAS_OPENAPI (the dependencies only): nothing to run.
#[cfg(not(daas_client))]
fn main() -> ExitCode {
    eprintln!("built without DAAS_OPENAPI: no client generated");
    ExitCode::FAILURE
}

#[cfg(daas_client)]
#[tokio::main]
async fn main() -> ExitCode {
    let var = |name: &str| env::var(name).unwrap_or_else(|_| panic!("{name} is not set (scripts/api-contract sets it)"));
    match flow(&var("DAAS_URL"), &var("DAAS_USER"), &var("DAAS_PASSWORD")).await {
        Ok(()) => {
            println!("rust flow: every step passed");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("FAILED: rust flow: {e}");
            ExitCode::FAILURE
        }
    }
}
