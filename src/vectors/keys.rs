//! Keys manifests (`features/0002-keys.md`, versions 1 to 3): raw key material by name.
//!
//! A key is `symmetric` (AES, base64), `private` / `public` (RSA, PEM: PKCS #8 or PKCS #1
//! private keys, SubjectPublicKeyInfo or PKCS #1 public keys), or `aws-kms` (a KMS key id, no
//! material). `material` is one string, or a list of lines joined with `line-separator`
//! (version 1). The keys are public test keys by definition; fragseal still holds their bytes
//! in its secret types.

use super::json::{self, Obj};
use super::VectorError;
use crate::crypto::SecretBytes;
use base64::Engine as _;
use core::fmt;
use serde_json::Value;
use std::collections::BTreeMap;

/// The keys manifest versions this module reads.
pub const KEYS_VERSIONS: [u64; 3] = [1, 2, 3];

/// A parsed keys manifest.
#[derive(Debug)]
pub struct KeysManifest {
    /// Its `manifest.version`.
    pub version: u64,
    /// The keys by name.
    pub keys: BTreeMap<String, KeyEntry>,
}

/// One key of a keys manifest.
pub struct KeyEntry {
    /// The key's `key-id` (the name when absent, as version 1 manifests have it).
    pub key_id: String,
    /// Whether the key may encrypt.
    pub encrypt: bool,
    /// Whether the key may decrypt.
    pub decrypt: bool,
    /// The material.
    pub material: KeyMaterial,
}

impl fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEntry")
            .field("key_id", &self.key_id)
            .field("encrypt", &self.encrypt)
            .field("decrypt", &self.decrypt)
            .field("material", &self.material.kind())
            .finish()
    }
}

/// A key's material, by type.
pub enum KeyMaterial {
    /// An AES key (16, 24 or 32 bytes).
    Symmetric(SecretBytes),
    /// An RSA private key, PEM text.
    RsaPrivate(SecretBytes),
    /// An RSA public key, PEM text.
    RsaPublic(String),
    /// An AWS KMS key: its id only.
    AwsKms,
    /// A key type this module does not read (`ecc` keys, `static-material`, ...).
    Unsupported(String),
}

impl KeyMaterial {
    /// The key type's name, as the manifest spells it.
    pub fn kind(&self) -> &str {
        match self {
            KeyMaterial::Symmetric(_) => "symmetric",
            KeyMaterial::RsaPrivate(_) => "private",
            KeyMaterial::RsaPublic(_) => "public",
            KeyMaterial::AwsKms => "aws-kms",
            KeyMaterial::Unsupported(t) => t,
        }
    }
}

impl KeysManifest {
    /// Parses a keys manifest.
    ///
    /// # Errors
    /// [`VectorError::Manifest`] for a document that is not a keys manifest of a supported
    /// version, or a key that is malformed.
    pub fn parse(bytes: &[u8]) -> Result<Self, VectorError> {
        let doc = json::parse(bytes, "keys manifest")?;
        let top = Obj::new(&doc, "keys manifest")?;
        let version = json::manifest_header(&top, "keys", &KEYS_VERSIONS)?;
        let keys_obj = top.obj("keys")?;
        let mut keys = BTreeMap::new();
        for (name, value) in keys_obj.entries() {
            let entry = Obj::new(value, name)?;
            keys.insert(name.clone(), parse_key(name, &entry)?);
        }
        Ok(Self { version, keys })
    }

    /// The key named `name`.
    ///
    /// # Errors
    /// [`VectorError::Manifest`] when there is none.
    pub fn get(&self, name: &str) -> Result<&KeyEntry, VectorError> {
        self.keys
            .get(name)
            .ok_or_else(|| VectorError::manifest(format!("no key {name:?} in the keys manifest")))
    }
}

fn parse_key(name: &str, e: &Obj<'_>) -> Result<KeyEntry, VectorError> {
    let key_type = e.str("type")?;
    let key_id = e.opt_str("key-id")?.unwrap_or(name).to_owned();
    let encrypt = e.opt_bool("encrypt")?.unwrap_or(true);
    let decrypt = e.opt_bool("decrypt")?.unwrap_or(true);
    let material = match key_type {
        "aws-kms" => KeyMaterial::AwsKms,
        "symmetric" | "private" | "public" => {
            let text = material_text(name, e)?;
            let encoding = e.str("encoding")?;
            match (key_type, encoding) {
                ("symmetric", "base64") => {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(text.trim())
                        .map_err(|_| {
                            VectorError::manifest(format!("key {name:?}: material is not base64"))
                        })?;
                    if ![16, 24, 32].contains(&bytes.len()) {
                        return Err(VectorError::manifest(format!(
                            "key {name:?}: an AES key of {} bytes",
                            bytes.len()
                        )));
                    }
                    if let Some(bits) = e.opt_u64("bits")? {
                        if bits != 8 * bytes.len() as u64 {
                            return Err(VectorError::manifest(format!(
                                "key {name:?}: bits {bits} but {} bytes of material",
                                bytes.len()
                            )));
                        }
                    }
                    KeyMaterial::Symmetric(SecretBytes::new(bytes))
                }
                ("private", "pem") => KeyMaterial::RsaPrivate(SecretBytes::new(text.into_bytes())),
                ("public", "pem") => KeyMaterial::RsaPublic(text),
                _ => KeyMaterial::Unsupported(format!("{key_type} key in {encoding} encoding")),
            }
        }
        other => KeyMaterial::Unsupported(other.to_owned()),
    };
    if matches!(
        material,
        KeyMaterial::RsaPrivate(_) | KeyMaterial::RsaPublic(_)
    ) {
        let algorithm = e.opt_str("algorithm")?.unwrap_or("rsa");
        if algorithm != "rsa" {
            return Ok(KeyEntry {
                key_id,
                encrypt,
                decrypt,
                material: KeyMaterial::Unsupported(format!("{algorithm} {key_type} key")),
            });
        }
    }
    Ok(KeyEntry {
        key_id,
        encrypt,
        decrypt,
        material,
    })
}

/// The `material` field as one string: a string, or (version 1) lines joined with
/// `line-separator`.
fn material_text(name: &str, e: &Obj<'_>) -> Result<String, VectorError> {
    match e.get("material") {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(lines)) => {
            let sep = e.opt_str("line-separator")?.unwrap_or("");
            let mut parts = Vec::with_capacity(lines.len());
            for line in lines {
                parts.push(line.as_str().ok_or_else(|| {
                    VectorError::manifest(format!("key {name:?}: a material line is not a string"))
                })?);
            }
            Ok(parts.join(sep))
        }
        _ => Err(VectorError::manifest(format!(
            "key {name:?}: no material (a string or a list of lines)"
        ))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn version_1_lines_and_version_3_strings() {
        let doc = br#"{"manifest":{"type":"keys","version":1},"keys":{
            "aes-128":{"encrypt":true,"decrypt":true,"algorithm":"aes","type":"symmetric",
                "bits":128,"encoding":"base64","line-separator":"",
                "material":["AAECAwQFBgcICRAREhMUFQ=="]},
            "kms":{"type":"aws-kms","key-id":"arn:aws:kms:us-west-2:111122223333:key/k"},
            "pub":{"type":"public","algorithm":"rsa","encoding":"pem","line-separator":"\n",
                "material":["-----BEGIN PUBLIC KEY-----","AAAA","-----END PUBLIC KEY-----"]}}}"#;
        let m = KeysManifest::parse(doc).unwrap();
        assert_eq!(m.version, 1);
        let aes = m.get("aes-128").unwrap();
        assert_eq!(aes.key_id, "aes-128");
        assert!(matches!(&aes.material, KeyMaterial::Symmetric(k) if k.len() == 16));
        assert!(matches!(
            m.get("kms").unwrap().material,
            KeyMaterial::AwsKms
        ));
        assert!(matches!(&m.get("pub").unwrap().material,
            KeyMaterial::RsaPublic(p) if p.contains("KEY-----\nAAAA\n-----END")));
        assert!(m.get("nope").is_err());
        // A wrong type, an unsupported version, an AES key of a bad length.
        assert!(KeysManifest::parse(
            br#"{"manifest":{"type":"awses-decrypt","version":1},"keys":{}}"#
        )
        .is_err());
        assert!(
            KeysManifest::parse(br#"{"manifest":{"type":"keys","version":9},"keys":{}}"#).is_err()
        );
        assert!(KeysManifest::parse(
            br#"{"manifest":{"type":"keys","version":3},"keys":{"k":{"type":"symmetric","encoding":"base64","material":"AAEC"}}}"#
        )
        .is_err());
    }
}
