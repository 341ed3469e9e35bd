//! Reading a JSON 1.1 request body, as AWS's front end does:
//! - the body is one JSON object (an empty body is `{}`), with no member twice at any depth;
//!   anything else is `SerializationException`, as is a member of the wrong JSON type or a blob
//!   that is not base64;
//! - `null` is the same as an absent member; unknown members are ignored (as AWS ignores
//!   members a newer client sends);
//! - constraint failures (required, length, range, enum, pattern) are collected and reported
//!   together as one `ValidationException` in AWS's wording: `N validation error(s) detected:
//!   Value 'V' at 'memberName' failed to satisfy constraint: Member must ...`, the values of
//!   sensitive members left out.

use crate::server::errors::{ApiError, VALIDATION};
use base64::Engine as _;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// A request body's members, and the constraint failures found so far.
pub(crate) struct Input {
    members: Map<String, Value>,
    errors: Vec<String>,
}

/// The member name as AWS writes it in validation messages (`KeyId` → `keyId`).
fn wire_name(member: &str) -> String {
    let mut c = member.chars();
    match c.next() {
        Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// A value as quoted in a validation message: control characters escaped, at most 256 chars.
fn quoted(v: &str) -> String {
    let mut s: String = v.chars().take(256).flat_map(char::escape_default).collect();
    if v.chars().count() > 256 {
        s.push_str("...");
    }
    s
}

impl Input {
    /// Parses `body`.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self {
                members: Map::new(),
                errors: Vec::new(),
            });
        }
        let value = crate::strict_json::from_slice(body, |k| {
            format!("member '{}' appears more than once", quoted(k))
        })
        .map_err(|e| ApiError::serialization(format!("The request body is not valid JSON: {e}")))?;
        match value {
            Value::Object(members) => Ok(Self {
                members,
                errors: Vec::new(),
            }),
            _ => Err(ApiError::serialization(
                "Start of structure or map expected: the request body must be a JSON object.",
            )),
        }
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.members.get(name).filter(|v| !v.is_null())
    }

    fn wrong_type(name: &str, expected: &str) -> ApiError {
        ApiError::serialization(format!("'{name}' must be {expected}."))
    }

    /// Records a constraint failure for `name`: `Value 'V' at 'name' failed to satisfy
    /// constraint: Member must ...` (`value` None: a sensitive member, the value left out).
    pub(crate) fn fail(&mut self, name: &str, value: Option<&str>, constraint: &str) {
        let v = match value {
            Some(v) => format!("Value '{}' at", quoted(v)),
            None => "Value at".to_owned(),
        };
        self.errors.push(format!(
            "{v} '{}' failed to satisfy constraint: Member must {constraint}",
            wire_name(name)
        ));
    }

    /// Records that the required member `name` is missing.
    pub(crate) fn fail_null(&mut self, name: &str) {
        self.errors.push(format!(
            "Value null at '{}' failed to satisfy constraint: Member must not be null",
            wire_name(name)
        ));
    }

    fn check_len(&mut self, name: &str, shown: Option<&str>, len: usize, min: usize, max: usize) {
        if len < min {
            self.fail(
                name,
                shown,
                &format!("have length greater than or equal to {min}"),
            );
        } else if len > max {
            self.fail(
                name,
                shown,
                &format!("have length less than or equal to {max}"),
            );
        }
    }

    /// An optional string member of length `min..=max` (in characters, as AWS counts).
    pub(crate) fn string(
        &mut self,
        name: &str,
        min: usize,
        max: usize,
    ) -> Result<Option<String>, ApiError> {
        let s = match self.get(name) {
            None => return Ok(None),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(Self::wrong_type(name, "a string")),
        };
        self.check_len(name, Some(&s), s.chars().count(), min, max);
        Ok(Some(s))
    }

    /// A required string member.
    pub(crate) fn required_string(
        &mut self,
        name: &str,
        min: usize,
        max: usize,
    ) -> Result<String, ApiError> {
        match self.string(name, min, max)? {
            Some(s) => Ok(s),
            None => {
                self.fail_null(name);
                Ok(String::new())
            }
        }
    }

    /// An optional string member that must be one of `allowed`.
    pub(crate) fn enumeration(
        &mut self,
        name: &str,
        allowed: &[&str],
    ) -> Result<Option<String>, ApiError> {
        let s = match self.get(name) {
            None => return Ok(None),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(Self::wrong_type(name, "a string")),
        };
        if !allowed.contains(&s.as_str()) {
            self.fail(
                name,
                Some(&s),
                &format!("satisfy enum value set: [{}]", allowed.join(", ")),
            );
        }
        Ok(Some(s))
    }

    /// Records a pattern failure unless every byte of `value` satisfies `ok`.
    pub(crate) fn pattern(&mut self, name: &str, value: &str, pattern: &str, ok: fn(u8) -> bool) {
        if !value.is_empty() && !value.bytes().all(ok) {
            self.fail(
                name,
                Some(value),
                &format!("satisfy regular expression pattern: {pattern}"),
            );
        }
    }

    /// An optional integer member in `min..=max`.
    pub(crate) fn integer(
        &mut self,
        name: &str,
        min: i64,
        max: i64,
    ) -> Result<Option<i64>, ApiError> {
        let n = match self.get(name) {
            None => return Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .ok_or_else(|| Self::wrong_type(name, "an integer"))?,
            Some(_) => return Err(Self::wrong_type(name, "an integer")),
        };
        if n < min {
            self.fail(
                name,
                Some(&n.to_string()),
                &format!("have value greater than or equal to {min}"),
            );
        } else if n > max {
            self.fail(
                name,
                Some(&n.to_string()),
                &format!("have value less than or equal to {max}"),
            );
        }
        Ok(Some(n))
    }

    /// An optional boolean member.
    pub(crate) fn boolean(&mut self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Self::wrong_type(name, "a boolean")),
        }
    }

    /// An optional blob member (base64 text) of `min..=max` bytes, decoded into a zeroizing
    /// buffer. `sensitive`: the value is never quoted in messages.
    pub(crate) fn blob(
        &mut self,
        name: &str,
        min: usize,
        max: usize,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, ApiError> {
        let text = match self.get(name) {
            None => return Ok(None),
            Some(Value::String(s)) => s,
            Some(_) => return Err(Self::wrong_type(name, "a base64 string")),
        };
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map_err(|_| ApiError::serialization(format!("'{name}' is not valid base64.")))?,
        );
        self.check_len(name, None, bytes.len(), min, max);
        Ok(Some(bytes))
    }

    /// A required blob member (an empty buffer, with the failure recorded, when absent).
    pub(crate) fn required_blob(
        &mut self,
        name: &str,
        min: usize,
        max: usize,
    ) -> Result<Zeroizing<Vec<u8>>, ApiError> {
        match self.blob(name, min, max)? {
            Some(b) => Ok(b),
            None => {
                self.fail_null(name);
                Ok(Zeroizing::new(Vec::new()))
            }
        }
    }

    /// An optional map of strings to strings (an encryption context, grant constraints).
    pub(crate) fn string_map(
        &mut self,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>, ApiError> {
        let m = match self.get(name) {
            None => return Ok(None),
            Some(Value::Object(m)) => m,
            Some(_) => return Err(Self::wrong_type(name, "a map of strings")),
        };
        let mut out = BTreeMap::new();
        for (k, v) in m {
            let Value::String(v) = v else {
                return Err(Self::wrong_type(name, "a map of strings"));
            };
            out.insert(k.clone(), v.clone());
        }
        Ok(Some(out))
    }

    /// An optional nested structure, as its own [`Input`] (its errors are this one's).
    pub(crate) fn structure(&mut self, name: &str) -> Result<Option<Input>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(Input {
                members: m.clone(),
                errors: Vec::new(),
            })),
            Some(_) => Err(Self::wrong_type(name, "a structure")),
        }
    }

    /// Takes over the constraint failures of a nested structure.
    pub(crate) fn absorb(&mut self, nested: Input) {
        self.errors.extend(nested.errors);
    }

    /// An optional list of structures.
    pub(crate) fn structure_list(&mut self, name: &str) -> Result<Option<Vec<Input>>, ApiError> {
        let items = match self.get(name) {
            None => return Ok(None),
            Some(Value::Array(items)) => items.clone(),
            Some(_) => return Err(Self::wrong_type(name, "a list")),
        };
        items
            .into_iter()
            .map(|v| match v {
                Value::Object(m) => Ok(Input {
                    members: m,
                    errors: Vec::new(),
                }),
                _ => Err(Self::wrong_type(name, "a list of structures")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// An optional list of strings with at most `max_items` items, each `min..=max` long.
    pub(crate) fn string_list(
        &mut self,
        name: &str,
        max_items: usize,
        min: usize,
        max: usize,
    ) -> Result<Option<Vec<String>>, ApiError> {
        let items = match self.get(name) {
            None => return Ok(None),
            Some(Value::Array(items)) => items.clone(),
            Some(_) => return Err(Self::wrong_type(name, "a list of strings")),
        };
        let mut out = Vec::with_capacity(items.len());
        for v in items {
            let Value::String(s) = v else {
                return Err(Self::wrong_type(name, "a list of strings"));
            };
            out.push(s);
        }
        if out.len() > max_items {
            self.fail(
                name,
                None,
                &format!("have length less than or equal to {max_items}"),
            );
        }
        for s in &out {
            self.check_len(name, Some(s), s.chars().count(), min, max);
        }
        Ok(Some(out))
    }

    /// Ends validation: one `ValidationException` listing every failure, if any.
    pub(crate) fn finish(&mut self) -> Result<(), ApiError> {
        match self.errors.len() {
            0 => Ok(()),
            n => {
                let plural = if n == 1 { "error" } else { "errors" };
                let e = ApiError::client(
                    VALIDATION,
                    format!(
                        "{n} validation {plural} detected: {}",
                        self.errors.join("; ")
                    ),
                );
                self.errors.clear();
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(body: &[u8]) -> Input {
        match Input::parse(body) {
            Ok(i) => i,
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn bodies_that_are_not_one_json_object_are_serialization_errors() {
        for body in [
            &b"{"[..],
            b"[]",
            b"\"x\"",
            b"{\"KeyId\":\"a\",\"KeyId\":\"b\"}",
            b"{\"A\":{\"x\":1,\"x\":2}}",
        ] {
            let e = Input::parse(body).err().expect("refused");
            assert_eq!(e.code, "SerializationException", "{body:?}");
        }
        assert!(Input::parse(b"").is_ok());
        assert!(Input::parse(b"{}").is_ok());
    }

    #[test]
    fn wrong_types_are_serialization_errors_and_constraints_validation_errors() {
        let mut i = parsed(br#"{"KeyId": 5}"#);
        assert_eq!(
            i.required_string("KeyId", 1, 2048).expect_err("type").code,
            "SerializationException"
        );
        let mut i = parsed(br#"{"NumberOfBytes": 0, "Plaintext": ""}"#);
        i.required_string("KeyId", 1, 2048)
            .expect("absent is fine here");
        i.integer("NumberOfBytes", 1, 1024).expect("int");
        i.blob("Plaintext", 1, 4096).expect("blob");
        let e = i.finish().expect_err("invalid");
        assert_eq!(e.code, "ValidationException");
        assert_eq!(
            e.message,
            "3 validation errors detected: Value null at 'keyId' failed to satisfy constraint: \
             Member must not be null; Value '0' at 'numberOfBytes' failed to satisfy constraint: \
             Member must have value greater than or equal to 1; Value at 'plaintext' failed to \
             satisfy constraint: Member must have length greater than or equal to 1"
        );
        let mut i = parsed(br#"{"KeySpec": "AES_512", "KeyId": null}"#);
        i.enumeration("KeySpec", &["AES_256", "AES_128"])
            .expect("str");
        assert_eq!(i.string("KeyId", 1, 2048).expect("null is absent"), None);
        assert_eq!(
            i.finish().expect_err("enum").message,
            "1 validation error detected: Value 'AES_512' at 'keySpec' failed to satisfy \
             constraint: Member must satisfy enum value set: [AES_256, AES_128]"
        );
        let mut i = parsed(br#"{"CiphertextBlob": "***"}"#);
        assert_eq!(
            i.blob("CiphertextBlob", 1, 6144).expect_err("b64").code,
            "SerializationException"
        );
    }
}
