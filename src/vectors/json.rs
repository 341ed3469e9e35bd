//! Reading manifest JSON: the strict reader (a repeated key is refused), and typed field
//! access whose errors name the object and the field.

use super::VectorError;
use serde_json::{Map, Value};

/// Parses one JSON document, refusing repeated keys.
pub(crate) fn parse(bytes: &[u8], what: &str) -> Result<Value, VectorError> {
    crate::strict_json::from_slice(bytes, |k| format!("the key {k:?} appears twice"))
        .map_err(|e| VectorError::manifest(format!("{what}: {e}")))
}

/// A JSON object and the name it is reported under.
#[derive(Clone, Copy)]
pub(crate) struct Obj<'a> {
    map: &'a Map<String, Value>,
    name: &'a str,
}

impl<'a> Obj<'a> {
    pub(crate) fn new(v: &'a Value, name: &'a str) -> Result<Self, VectorError> {
        v.as_object()
            .map(|map| Self { map, name })
            .ok_or_else(|| VectorError::manifest(format!("{name}: not a JSON object")))
    }

    pub(crate) fn get(&self, k: &str) -> Option<&'a Value> {
        self.map.get(k)
    }

    pub(crate) fn has(&self, k: &str) -> bool {
        self.map.contains_key(k)
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = (&'a String, &'a Value)> {
        self.map.iter()
    }

    fn wrong(&self, k: &str, expected: &str) -> VectorError {
        VectorError::manifest(format!("{}: field {k:?} must be {expected}", self.name))
    }

    pub(crate) fn str(&self, k: &str) -> Result<&'a str, VectorError> {
        self.opt_str(k)?.ok_or_else(|| self.wrong(k, "a string"))
    }

    pub(crate) fn opt_str(&self, k: &str) -> Result<Option<&'a str>, VectorError> {
        match self.map.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.wrong(k, "a string")),
        }
    }

    pub(crate) fn opt_bool(&self, k: &str) -> Result<Option<bool>, VectorError> {
        match self.map.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.wrong(k, "a boolean")),
        }
    }

    pub(crate) fn opt_u64(&self, k: &str) -> Result<Option<u64>, VectorError> {
        match self.map.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.wrong(k, "a non-negative integer")),
        }
    }

    pub(crate) fn obj(&self, k: &str) -> Result<Obj<'a>, VectorError> {
        self.opt_obj(k)?.ok_or_else(|| self.wrong(k, "an object"))
    }

    pub(crate) fn opt_obj(&self, k: &str) -> Result<Option<Obj<'a>>, VectorError> {
        match self.map.get_key_value(k) {
            None | Some((_, Value::Null)) => Ok(None),
            Some((name, Value::Object(map))) => Ok(Some(Obj { map, name })),
            Some(_) => Err(self.wrong(k, "an object")),
        }
    }

    pub(crate) fn array(&self, k: &str) -> Result<&'a [Value], VectorError> {
        match self.map.get(k) {
            Some(Value::Array(a)) => Ok(a),
            _ => Err(self.wrong(k, "an array")),
        }
    }

    /// A `{string: string}` object (an encryption context), absent = empty.
    pub(crate) fn string_map(&self, k: &str) -> Result<Vec<(String, String)>, VectorError> {
        let Some(o) = self.opt_obj(k)? else {
            return Ok(Vec::new());
        };
        o.entries()
            .map(|(key, v)| {
                v.as_str()
                    .map(|s| (key.clone(), s.to_owned()))
                    .ok_or_else(|| self.wrong(k, "an object of strings"))
            })
            .collect()
    }
}

/// Checks `manifest.type` and `manifest.version`; returns the version.
pub(crate) fn manifest_header(
    top: &Obj<'_>,
    expected_type: &str,
    versions: &[u64],
) -> Result<u64, VectorError> {
    let m = top.obj("manifest")?;
    let t = m.str("type")?;
    if t != expected_type {
        return Err(VectorError::manifest(format!(
            "manifest type {t:?}, expected {expected_type:?}"
        )));
    }
    let v = m
        .opt_u64("version")?
        .ok_or_else(|| VectorError::manifest("manifest.version missing".to_owned()))?;
    if !versions.contains(&v) {
        return Err(VectorError::UnsupportedVersion {
            manifest: expected_type.to_owned(),
            version: v,
        });
    }
    Ok(v)
}
