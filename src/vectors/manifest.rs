//! `awses-decrypt` manifests (`features/0004-awses-message-decryption.md`), every version the
//! framework and the ESDKs publish:
//!
//! | version | test shape |
//! |---|---|
//! | 1 | `plaintext`, `ciphertext`, `master-keys` (positive only; the Python 1.x archives) |
//! | 2, 3 | `ciphertext`, `master-keys`, `result.output.plaintext` or `result.error`; 3 adds `decryption-method` |
//! | 4 | as 3, plus `cmm` and `encryption-context` (the Python / .NET ESDKs with the MPL) |
//! | 5 | `decryption-scenario`: `type`, `ciphertext`, `result`, `decryptKeyDescription`, `reproduced-encryption-context` (the Dafny-generated ESDKs) |
//!
//! Master keys (`features/0005-awses-master-key.md`) and version 5 key descriptions become one
//! [`KeyDescription`].

use super::json::{self, Obj};
use super::VectorError;
use crate::keyring::raw_rsa::RsaPadding;
use serde_json::Value;

/// The `awses-decrypt` versions this module reads.
pub const DECRYPT_VERSIONS: [u64; 5] = [1, 2, 3, 4, 5];

/// A parsed `awses-decrypt` manifest.
#[derive(Debug)]
pub struct DecryptManifest {
    /// Its `manifest.version`.
    pub version: u64,
    /// `client.name` and `client.version`, when present.
    pub client: Option<(String, String)>,
    /// The keys manifest link.
    pub keys: String,
    /// The tests, in name order.
    pub tests: Vec<DecryptTest>,
}

/// One test of a decrypt manifest.
#[derive(Debug, Clone)]
pub struct DecryptTest {
    /// The test's id.
    pub name: String,
    /// Its description, if any.
    pub description: Option<String>,
    /// The ciphertext link.
    pub ciphertext: String,
    /// What decryption must do.
    pub expect: Expectation,
    /// The keys the decryptor holds.
    pub keys: KeyDescription,
    /// `decryption-method` (version 3+), e.g. `streaming-unsigned-only`.
    pub decryption_method: Option<String>,
    /// Encryption context the decryptor supplies (version 4 `encryption-context` with the
    /// required-context CMM, version 5 `reproduced-encryption-context`).
    pub reproduced_context: Vec<(String, String)>,
    /// The CMM named by a version 4 test (`Default`, `RequiredEncryptionContext`).
    pub cmm: Option<String>,
}

/// What a test expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    /// Decryption succeeds with the plaintext at this link.
    Plaintext(String),
    /// Decryption fails (the description is documentation only).
    Error(String),
}

/// Which keys a decryptor holds (or an encryptor wraps for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyDescription {
    /// A raw keyring / master key: provider id, key name in the keys manifest, algorithm.
    Raw {
        /// Key provider id (namespace).
        provider_id: String,
        /// The key's name in the keys manifest.
        key: String,
        /// AES or RSA with a padding.
        algorithm: RawAlgorithm,
    },
    /// An AWS KMS key, by its name in the keys manifest.
    AwsKms {
        /// The key's name in the keys manifest.
        key: String,
    },
    /// Several keys, any of which may decrypt (a master key list, a multi-keyring).
    Multi(Vec<KeyDescription>),
    /// A key type this module does not run (named as the manifest names it).
    Unsupported(String),
}

/// A raw key's algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawAlgorithm {
    /// The raw AES keyring.
    Aes,
    /// The raw RSA keyring with this padding.
    Rsa(RsaPadding),
}

impl DecryptManifest {
    /// Parses a decrypt manifest.
    ///
    /// # Errors
    /// [`VectorError::Manifest`] / [`VectorError::UnsupportedVersion`] for a document that is
    /// not a decrypt manifest of a supported version, or a malformed test.
    pub fn parse(bytes: &[u8]) -> Result<Self, VectorError> {
        let doc = json::parse(bytes, "decrypt manifest")?;
        let top = Obj::new(&doc, "decrypt manifest")?;
        let version = json::manifest_header(&top, "awses-decrypt", &DECRYPT_VERSIONS)?;
        let client = match top.opt_obj("client")? {
            Some(c) => Some((c.str("name")?.to_owned(), c.str("version")?.to_owned())),
            None => None,
        };
        let keys = top.str("keys")?.to_owned();
        let mut tests = Vec::new();
        for (name, value) in top.obj("tests")?.entries() {
            let t = Obj::new(value, name)?;
            tests.push(match version {
                1 => parse_v1(name, &t)?,
                5 => parse_v5(name, &t)?,
                _ => parse_v2_to_v4(name, &t)?,
            });
        }
        Ok(Self {
            version,
            client,
            keys,
            tests,
        })
    }
}

fn base(name: &str, t: &Obj<'_>, expect: Expectation, keys: KeyDescription) -> DecryptTest {
    DecryptTest {
        name: name.to_owned(),
        description: t.opt_str("description").ok().flatten().map(str::to_owned),
        ciphertext: String::new(),
        expect,
        keys,
        decryption_method: None,
        reproduced_context: Vec::new(),
        cmm: None,
    }
}

fn parse_v1(name: &str, t: &Obj<'_>) -> Result<DecryptTest, VectorError> {
    let keys = master_keys(t.array("master-keys")?, name)?;
    let mut test = base(
        name,
        t,
        Expectation::Plaintext(t.str("plaintext")?.to_owned()),
        keys,
    );
    test.ciphertext = t.str("ciphertext")?.to_owned();
    Ok(test)
}

fn parse_v2_to_v4(name: &str, t: &Obj<'_>) -> Result<DecryptTest, VectorError> {
    let keys = master_keys(t.array("master-keys")?, name)?;
    let result = t.obj("result")?;
    let expect = match (result.opt_obj("output")?, result.opt_obj("error")?) {
        (Some(o), None) => Expectation::Plaintext(o.str("plaintext")?.to_owned()),
        (None, Some(e)) => {
            Expectation::Error(e.opt_str("error-description")?.unwrap_or("").to_owned())
        }
        _ => {
            return Err(VectorError::manifest(format!(
                "test {name:?}: result must hold exactly one of output and error"
            )))
        }
    };
    let mut test = base(name, t, expect, keys);
    test.ciphertext = t.str("ciphertext")?.to_owned();
    test.decryption_method = t.opt_str("decryption-method")?.map(str::to_owned);
    test.cmm = t.opt_str("cmm")?.map(str::to_owned);
    test.reproduced_context = t.string_map("encryption-context")?;
    Ok(test)
}

fn parse_v5(name: &str, outer: &Obj<'_>) -> Result<DecryptTest, VectorError> {
    let t = outer.obj("decryption-scenario")?;
    let kind = t.str("type")?;
    let keys = key_description(t.get("decryptKeyDescription").unwrap_or(&Value::Null), name)?;
    let expect = if kind.starts_with("positive") {
        Expectation::Plaintext(t.str("result")?.to_owned())
    } else if kind.starts_with("negative") {
        let why = [
            "errorDescription",
            "decryptErrorDescription",
            "error-description",
        ]
        .iter()
        .find_map(|k| t.opt_str(k).ok().flatten())
        .unwrap_or("");
        Expectation::Error(why.to_owned())
    } else {
        return Err(VectorError::manifest(format!(
            "test {name:?}: unknown scenario type {kind:?}"
        )));
    };
    let mut test = base(name, &t, expect, keys);
    test.ciphertext = t.str("ciphertext")?.to_owned();
    test.decryption_method = t.opt_str("decryption-method")?.map(str::to_owned);
    test.reproduced_context = t.string_map("reproduced-encryption-context")?;
    Ok(test)
}

/// A master key list (versions 1 to 4): one key alone, or any of several.
pub(crate) fn master_keys(list: &[Value], test: &str) -> Result<KeyDescription, VectorError> {
    let mut keys = Vec::with_capacity(list.len());
    for v in list {
        keys.push(key_description(v, test)?);
    }
    Ok(match keys.len() {
        1 => keys.remove(0),
        _ => KeyDescription::Multi(keys),
    })
}

/// One master key (versions 1 to 4) or key description (version 5).
pub(crate) fn key_description(v: &Value, test: &str) -> Result<KeyDescription, VectorError> {
    let what = format!("test {test:?} key");
    let o = Obj::new(v, &what)?;
    let kind = o.str("type")?;
    Ok(match kind {
        "raw" => {
            let provider_id = o.str("provider-id")?.to_owned();
            let key = o.str("key")?.to_owned();
            let algorithm = match o.str("encryption-algorithm")? {
                "aes" => RawAlgorithm::Aes,
                "rsa" => {
                    let padding = o.str("padding-algorithm")?;
                    match rsa_padding(padding, o.opt_str("padding-hash")?) {
                        Some(p) => RawAlgorithm::Rsa(p),
                        None => {
                            return Ok(KeyDescription::Unsupported(format!(
                                "raw RSA padding {padding} {}",
                                o.opt_str("padding-hash")?.unwrap_or("")
                            )))
                        }
                    }
                }
                other => return Ok(KeyDescription::Unsupported(format!("raw {other}"))),
            };
            KeyDescription::Raw {
                provider_id,
                key,
                algorithm,
            }
        }
        "aws-kms" => KeyDescription::AwsKms {
            key: o.str("key")?.to_owned(),
        },
        "multi-keyring" => {
            let mut all = Vec::new();
            if let Some(g) = o.get("generator").filter(|g| !g.is_null()) {
                all.push(key_description(g, test)?);
            }
            if o.has("childKeyrings") {
                for c in o.array("childKeyrings")? {
                    all.push(key_description(c, test)?);
                }
            }
            KeyDescription::Multi(all)
        }
        other => KeyDescription::Unsupported(other.to_owned()),
    })
}

/// The padding named by `padding-algorithm` / `padding-hash`.
pub fn rsa_padding(algorithm: &str, hash: Option<&str>) -> Option<RsaPadding> {
    match (algorithm, hash) {
        ("pkcs1", _) => Some(RsaPadding::Pkcs1),
        ("oaep-mgf1", Some("sha1")) => Some(RsaPadding::OaepSha1),
        ("oaep-mgf1", Some("sha256")) => Some(RsaPadding::OaepSha256),
        ("oaep-mgf1", Some("sha384")) => Some(RsaPadding::OaepSha384),
        ("oaep-mgf1", Some("sha512")) => Some(RsaPadding::OaepSha512),
        _ => None,
    }
}

/// `padding-algorithm` and `padding-hash` for `p`.
pub fn rsa_padding_names(p: RsaPadding) -> (&'static str, Option<&'static str>) {
    match p {
        RsaPadding::Pkcs1 => ("pkcs1", None),
        RsaPadding::OaepSha1 => ("oaep-mgf1", Some("sha1")),
        RsaPadding::OaepSha256 => ("oaep-mgf1", Some("sha256")),
        RsaPadding::OaepSha384 => ("oaep-mgf1", Some("sha384")),
        RsaPadding::OaepSha512 => ("oaep-mgf1", Some("sha512")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn every_version_parses() {
        let v1 = br#"{"manifest":{"type":"awses-decrypt","version":1},"keys":"file://keys.json",
            "client":{"name":"aws/aws-encryption-sdk-python","version":"1.3.5"},
            "tests":{"a":{"plaintext":"file://p","ciphertext":"file://c",
                "master-keys":[{"type":"aws-kms","key":"k1"},{"type":"aws-kms","key":"k2"}]}}}"#;
        let m = DecryptManifest::parse(v1).unwrap();
        assert_eq!(m.tests[0].expect, Expectation::Plaintext("file://p".into()));
        assert!(matches!(&m.tests[0].keys, KeyDescription::Multi(k) if k.len() == 2));

        let v3 = br#"{"manifest":{"type":"awses-decrypt","version":3},"keys":"file://keys.json",
            "tests":{"b":{"ciphertext":"file://c","decryption-method":"streaming-unsigned-only",
                "master-keys":[{"type":"raw","provider-id":"p","key":"rsa","encryption-algorithm":"rsa",
                    "padding-algorithm":"oaep-mgf1","padding-hash":"sha256"}],
                "result":{"error":{"error-description":"bad"}}}}}"#;
        let m = DecryptManifest::parse(v3).unwrap();
        let t = &m.tests[0];
        assert_eq!(t.expect, Expectation::Error("bad".into()));
        assert_eq!(
            t.decryption_method.as_deref(),
            Some("streaming-unsigned-only")
        );
        assert!(matches!(
            t.keys,
            KeyDescription::Raw {
                algorithm: RawAlgorithm::Rsa(RsaPadding::OaepSha256),
                ..
            }
        ));

        let v5 = br#"{"manifest":{"type":"awses-decrypt","version":5},"keys":"file://keys.json",
            "tests":{"c":{"decryption-scenario":{"type":"positive-esdk","ciphertext":"file://c",
                "result":"file://p","algorithmSuiteId":"0478","frame-size":512,"description":"d",
                "reproduced-encryption-context":{"k":"v"},
                "decryptKeyDescription":{"type":"multi-keyring",
                    "generator":{"type":"raw","encryption-algorithm":"aes","provider-id":"p","key":"aes-256"},
                    "childKeyrings":[{"type":"aws-kms-hierarchy","key":"h"}]}}}}}"#;
        let m = DecryptManifest::parse(v5).unwrap();
        let t = &m.tests[0];
        assert_eq!(t.reproduced_context, vec![("k".to_owned(), "v".to_owned())]);
        assert!(matches!(&t.keys, KeyDescription::Multi(k)
            if k.len() == 2 && k[1] == KeyDescription::Unsupported("aws-kms-hierarchy".into())));

        assert!(matches!(
            DecryptManifest::parse(
                br#"{"manifest":{"type":"awses-decrypt","version":6},"keys":"x","tests":{}}"#
            ),
            Err(VectorError::UnsupportedVersion { version: 6, .. })
        ));
        // A result with both output and error.
        assert!(DecryptManifest::parse(
            br#"{"manifest":{"type":"awses-decrypt","version":2},"keys":"x","tests":{"t":{"ciphertext":"file://c",
            "master-keys":[{"type":"aws-kms","key":"k"}],"result":{"output":{"plaintext":"file://p"},"error":{}}}}}"#
        )
        .is_err());
    }
}
