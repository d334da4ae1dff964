//! The REST API's schema states what the server checks: every text field of a request
//! body (`NewX` and `XPatch`) is as long as its column holds, ids and references to ids
//! have [`ID_PATTERN`], so that `/openapi.json` and the server never disagree.

use daas_common::model::ID_PATTERN;
use daas_plugin_api::poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef, Registry},
    types::Type,
};
use daas_plugin_db::{
    api::{crud::Resource, resources::*},
    table::Table,
};
use sea_orm::{sea_query::StringLen, ColumnTrait, ColumnType, EntityTrait, IdenStatic, Iterable};

/// Fields that hold the id of one of the db plugin's rows.
const ID_FIELDS: [&str; 5] = ["id", "id_object", "id_app", "id_file", "id_template"];

fn schema<B: Type>() -> MetaSchema {
    let mut registry = Registry::new();
    <B as Type>::register(&mut registry);
    let MetaSchemaRef::Reference(name) = <B as Type>::schema_ref() else { panic!("a body is a named schema") };
    registry.schemas.remove(&name).unwrap()
}

fn check<R: Resource>(not_in_the_model: &[&str]) {
    check_body::<R, R::New>(not_in_the_model, &[]);
    // The path names the row an update changes: its key is not in the body.
    let key: &[&str] = if <R::T as Table>::SPEC.table == daas_common::protocols::TableName::Limits { &["id_owner"] } else { &["id"] };
    check_body::<R, R::Patch>(not_in_the_model, key);
}

fn check_body<R: Resource, B: Type>(not_in_the_model: &[&str], keys: &[&str]) {
    let schema = schema::<B>();
    let table = <R::T as Table>::SPEC.table;
    let property = |name: &str| {
        schema.properties.iter().find(|(p, _)| *p == name).map(|(_, s)| match s {
            MetaSchemaRef::Inline(s) => (**s).clone(),
            MetaSchemaRef::Reference(r) => panic!("{table}.{name} is a reference to {r}"),
        })
    };
    for col in <<R::T as Table>::Entity as EntityTrait>::Column::iter() {
        let ColumnType::String(StringLen::N(max)) = *col.def().get_column_type() else { continue };
        let name = col.as_str();
        match property(name) {
            Some(p) => assert_eq!(p.max_length, Some(max as usize), "{table}.{name}: the schema's maxLength is the column's length"),
            None => assert!(
                not_in_the_model.contains(&name) || keys.contains(&name),
                "{table}.{name} has a length but no field in the schema {}",
                B::name()
            ),
        }
    }
    for name in ID_FIELDS {
        if let Some(p) = property(name).filter(|p| p.ty == "string") {
            assert_eq!(p.pattern.as_deref(), Some(ID_PATTERN), "{table}.{name}: ids and references have ID_PATTERN");
        }
    }
}

#[test]
fn every_request_body_states_the_lengths_and_id_patterns_the_server_checks() {
    // The parent is the lifecycle's to set (the phases plugin), never a client's.
    check::<ObjectResource>(&["id_parent"]);
    check::<EnvironmentResource>(&[]);
    check::<ApplicationResource>(&[]);
    check::<FileResource>(&[]);
    check::<LimitResource>(&[]);
    // A grant's `volume` is stored as three columns (`source:target:mode`).
    check::<GrantResource>(&["volume_source", "volume_target", "volume_mode"]);
    check::<NodeResource>(&[]);
}

#[test]
fn the_id_pattern_refuses_what_is_unsafe_in_a_path_or_a_log() {
    let re = regex::Regex::new(ID_PATTERN).unwrap();
    for ok in ["", "a1", "0b6e7f5c-9f3e-4a4e-8d8e-0c1f2a3b4c5d", "demo-desktop", "win10DummyFile", "w0_1"] {
        assert!(re.is_match(ok), "{ok:?}");
    }
    for bad in ["a/b", "..", "a..b", "a\0b", "a\u{7}b", "a\nb", "a\u{202e}b", "a\u{2066}b", "a b", "a.b", "ä"] {
        assert!(!re.is_match(bad), "{bad:?}");
    }
}
