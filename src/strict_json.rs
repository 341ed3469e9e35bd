//! The one JSON reader that refuses a repeated object key at any depth.
//!
//! JSON leaves the meaning of a repeated key open and `serde_json::Value` silently keeps the
//! last one, so a document like `"Effect":"Deny", ..., "Effect":"Allow"` would mean different
//! things to different readers. Policy documents and the server's request bodies are decoded
//! here instead; each caller words the refusal itself.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Parses `bytes` as one JSON value, refusing an object that repeats a key; the refusal is a
/// data error (`serde_json::error::Category::Data`) whose message is `on_repeat(key)`.
pub(crate) fn from_slice(bytes: &[u8], on_repeat: fn(&str) -> String) -> serde_json::Result<Value> {
    let mut d = serde_json::Deserializer::from_slice(bytes);
    let value = Strict(on_repeat).deserialize(&mut d)?;
    d.end()?;
    Ok(value)
}

#[derive(Clone, Copy)]
struct Strict(fn(&str) -> String);

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // Same as serde_json's own `Value`: JSON text has no NaN or infinity.
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom((self.0)(&key)));
            }
            let v = map.next_value_seed(self)?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::from_slice;

    fn repeated(key: &str) -> String {
        format!("repeated {key}")
    }

    #[test]
    fn repeated_keys_are_refused_at_any_depth() {
        for doc in [&br#"{"a":1,"a":2}"#[..], br#"{"x":[{"b":{"a":1,"a":1}}]}"#] {
            let e = from_slice(doc, repeated).unwrap_err();
            assert_eq!(e.classify(), serde_json::error::Category::Data);
            assert!(e.to_string().starts_with("repeated a"), "{e}");
        }
        let v = from_slice(br#"{"a":{"a":[1,2.5,"s",null,true]},"b":1}"#, repeated).unwrap();
        assert_eq!(v["a"]["a"][2], "s");
        assert!(from_slice(b"{} x", repeated).is_err());
    }
}
