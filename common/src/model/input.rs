//! What the request bodies of the REST API (`NewX`, `XPatch`) share: a strict reading of
//! their fields, and the macro that declares them.
//!
//! poem-openapi alone reads a string field given `123` as `"123"` and a field given
//! `null` as left out. A body declared with [`request_body!`] refuses both with a 400
//! that names the field: a wrong JSON type is the client's mistake, and `null` is
//! accepted only where the schema says `nullable` (a [`MaybeUndefined`] field, where it
//! clears the value). The fields a client left out are absent from the body's JSON
//! ([`Strict::is_absent`]), so a create lays the given ones over the defaults and an
//! update changes only them.

use poem_openapi::{
    registry::MetaSchemaRef,
    types::{MaybeUndefined, ParseError, ParseFromJSON, ParseResult, Type},
};
use serde_json::Value;

/// A field of a request body, read strictly (see the module).
pub trait Strict: Type + Sized {
    /// The field `name`'s value, or an error naming it.
    fn strict(name: &str, value: Option<Value>) -> ParseResult<Self>;
    /// Whether the client left the field out.
    fn is_absent(&self) -> bool;
}

/// Whether `value` has the JSON type `schema` declares (strings, arrays of strings,
/// objects; numbers and booleans poem-openapi checks itself).
fn conforms(schema: &MetaSchemaRef, value: &Value) -> bool {
    let MetaSchemaRef::Inline(schema) = schema else { return true };
    match schema.ty {
        "string" => value.is_string(),
        "array" => match (value, &schema.items) {
            (Value::Array(items), Some(item)) => items.iter().all(|v| conforms(item, v)),
            (Value::Array(_), None) => true,
            _ => false,
        },
        "object" => value.is_object(),
        _ => true,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn expected(schema: &MetaSchemaRef) -> String {
    match schema {
        MetaSchemaRef::Inline(s) if s.ty == "array" => match s.items.as_deref() {
            Some(MetaSchemaRef::Inline(item)) => format!("an array of {}s", item.ty),
            _ => "an array".into(),
        },
        MetaSchemaRef::Inline(s) => format!("a JSON {}", s.ty),
        MetaSchemaRef::Reference(name) => format!("a {name}"),
    }
}

/// The value of a field whose type is `T`, checked and parsed.
fn given<T: ParseFromJSON, O: Type>(name: &str, value: Value) -> Result<T, ParseError<O>> {
    let schema = T::schema_ref();
    if !conforms(&schema, &value) {
        return Err(ParseError::custom(format!("`{name}`: expected {}, got {}", expected(&schema), kind(&value))));
    }
    T::parse_from_json(Some(value)).map_err(|e| ParseError::custom(format!("`{name}`: {}", e.into_message())))
}

impl<T: ParseFromJSON> Strict for Option<T> {
    fn strict(name: &str, value: Option<Value>) -> ParseResult<Self> {
        match value {
            None => Ok(None),
            Some(Value::Null) => Err(ParseError::custom(format!("`{name}`: null is not a value of this field; leave it out instead"))),
            Some(value) => given::<T, Self>(name, value).map(Some),
        }
    }
    fn is_absent(&self) -> bool {
        self.is_none()
    }
}

impl<T: ParseFromJSON> Strict for MaybeUndefined<T> {
    fn strict(name: &str, value: Option<Value>) -> ParseResult<Self> {
        match value {
            None => Ok(MaybeUndefined::Undefined),
            Some(Value::Null) => Ok(MaybeUndefined::Null),
            Some(value) => given::<T, Self>(name, value).map(MaybeUndefined::Value),
        }
    }
    fn is_absent(&self) -> bool {
        self.is_undefined()
    }
}

macro_rules! required {
    ($($ty:ty),*) => {$(
        impl Strict for $ty {
            fn strict(name: &str, value: Option<Value>) -> ParseResult<Self> {
                match value {
                    None | Some(Value::Null) => Err(ParseError::custom(format!("`{name}` is required"))),
                    Some(value) => given::<$ty, Self>(name, value),
                }
            }
            fn is_absent(&self) -> bool {
                false
            }
        }
    )*};
}
required!(String, i64, super::lifecycle::Transition);

/// For `#[serde(skip_serializing_if)]`: the fields a client left out are not in the
/// body's JSON.
pub fn absent<T: Strict>(value: &T) -> bool {
    value.is_absent()
}

/// Declares a request body: a poem-openapi `Object` (and serde `Serialize`) whose every
/// field is read by [`Strict`] under its own name, and left out of the JSON when the
/// client left it out. Write it as the struct itself; the fields must be `pub`.
macro_rules! request_body {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                pub $field:ident : $ty:ty
            ),* $(,)?
        }
    ) => {
        #[derive(Debug, Clone, PartialEq, Default, ::serde::Serialize, ::poem_openapi::Object)]
        #[oai(deny_unknown_fields, skip_serializing_if_is_none)]
        $(#[$meta])*
        pub struct $name {
            $(
                $(#[$field_meta])*
                #[oai(deserialize_with = Self::$field)]
                #[serde(skip_serializing_if = "crate::model::input::absent")]
                pub $field: $ty,
            )*
        }

        #[allow(clippy::wrong_self_convention)]
        impl $name {
            $(
                #[doc(hidden)]
                fn $field(value: ::std::option::Option<::serde_json::Value>) -> ::poem_openapi::types::ParseResult<$ty> {
                    <$ty as crate::model::input::Strict>::strict(stringify!($field), value)
                }
            )*

            /// The fields the client gave, as JSON (`null` only where it clears a
            /// nullable field).
            pub fn given(&self) -> ::serde_json::Map<::std::string::String, ::serde_json::Value> {
                match ::serde_json::to_value(self) {
                    Ok(::serde_json::Value::Object(map)) => map,
                    _ => ::serde_json::Map::new(),
                }
            }
        }
    };
}

pub(crate) use request_body;
