//! Duplicate keys in JSON request bodies. JSON parsers disagree on `{"name":"a","name":"b"}`
//! (serde keeps the last, others the first), so a layer or a proxy in front may read
//! another request than the handler does; the host refuses such a body once, before
//! any plugin sees it.

use std::collections::HashSet;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};

/// A key found twice in one object, and where that object is (a JSON Pointer).
#[derive(Debug, PartialEq, Eq)]
pub struct Duplicate {
    pub key: String,
    pub pointer: String,
}

/// Whether a request with these headers carries JSON (`application/json`, `*/*+json`).
pub fn is_json(headers: &poem::http::HeaderMap) -> bool {
    headers.get(poem::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        let media = v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
    })
}

/// The first key that occurs twice in one object of `body`. A body that is not valid
/// JSON has none: its handler refuses it with its own message.
pub fn find_duplicate(body: &[u8]) -> Option<Duplicate> {
    let mut path = Vec::new();
    let mut found = None;
    let mut de = serde_json::Deserializer::from_slice(body);
    let _ = Check { path: &mut path, found: &mut found }.deserialize(&mut de);
    found
}

struct Check<'a> {
    path: &'a mut Vec<String>,
    found: &'a mut Option<Duplicate>,
}

impl Check<'_> {
    fn child(&mut self) -> Check<'_> {
        Check { path: self.path, found: self.found }
    }
}

impl<'de> DeserializeSeed<'de> for Check<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        for index in 0.. {
            self.path.push(index.to_string());
            let more = seq.next_element_seed(self.child())?;
            self.path.pop();
            if more.is_none() {
                break;
            }
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        let mut keys = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !keys.insert(key.clone()) {
                let pointer = self.path.iter().map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1"))).collect();
                *self.found = Some(Duplicate { key, pointer });
                // Ends the walk: one is enough to refuse the body.
                return Err(A::Error::custom("duplicate key"));
            }
            self.path.push(key);
            map.next_value_seed(self.child())?;
            self.path.pop();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dup(json: &str) -> Option<(String, String)> {
        find_duplicate(json.as_bytes()).map(|d| (d.key, d.pointer))
    }

    #[test]
    fn duplicates_are_found_with_where_they_are() {
        assert_eq!(dup(r#"{"name":"a","name":"b"}"#), Some(("name".into(), "".into())));
        assert_eq!(dup(r#"{"a":[1,{"x":{"k":1,"k":2}}]}"#), Some(("k".into(), "/a/1/x".into())));
        assert_eq!(dup(r#"{"a/b":{"~":{"k":1,"k":2}}}"#), Some(("k".into(), "/a~1b/~0".into())));
        // The same key in different objects is no duplicate; escapes are compared decoded.
        assert_eq!(dup(r#"[{"k":1},{"k":2}]"#), None);
        assert_eq!(dup(r#"{"k":1,"\u006b":2}"#), Some(("k".into(), "".into())));
        for fine in [r#"{"a":1,"b":[true,null,"s",1.5,-3]}"#, "[]", "3", "not json", r#"{"a":"#] {
            assert_eq!(dup(fine), None, "{fine}");
        }
    }

    #[test]
    fn json_is_known_by_its_media_type() {
        let with = |ct: &str| {
            let mut h = poem::http::HeaderMap::new();
            h.insert("content-type", ct.parse().unwrap());
            is_json(&h)
        };
        assert!(with("application/json") && with("Application/JSON; charset=utf-8") && with("application/merge-patch+json"));
        assert!(!with("text/plain") && !with("application/x-www-form-urlencoded") && !with("application/jsonx"));
    }
}
