//! Persistence of a local KMS to a state file.
//!
//! **The state file is secret**: it holds every key's material (hex) in the clear, like an
//! HSM backup without the HSM. It is written with owner-only permissions (0600) and should
//! live on a private path.
//!
//! Format: one JSON object
//! `{"format": "fragseal-localkms-state", "version": 1, "region", "account", "keys": [...],
//! "aliases": {...}, "identityPolicies": {...}}`. It is written atomically: a temporary file
//! in the same directory (created 0600), `fsync`, `rename` over the old file, `fsync` of the
//! directory. Loading checks everything; a file that does not parse, has another format or
//! version, or belongs to another region or account is refused with a clear error and is
//! never overwritten (the KMS is not built).

use super::{IdentityPolicy, Inner, KeyRecord, Manager};
use crate::crypto::DataKey;
use crate::kms::local::policy::{Policy, PolicyKind};
use crate::kms::KeyState;
use core::fmt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The `format` value of a state file.
pub const FORMAT: &str = "fragseal-localkms-state";
/// The `version` written and accepted.
pub const VERSION: u32 = 1;
/// Largest state file read (bytes).
pub const MAX_STATE_LEN: u64 = 256 * 1024 * 1024;

/// Why a local KMS could not be set up.
#[derive(Debug)]
#[non_exhaustive]
pub enum SetupError {
    /// The region or account is not well-formed.
    InvalidConfig(String),
    /// The state file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The state file is not a valid state file (left untouched).
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The state file belongs to another format version, region or account (left untouched).
    Foreign {
        /// The file.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::InvalidConfig(m) => write!(f, "invalid local KMS configuration: {m}"),
            SetupError::Io { path, source } => {
                write!(f, "local KMS state file {}: {source}", path.display())
            }
            SetupError::Corrupt { path, reason } => write!(
                f,
                "local KMS state file {} is corrupt ({reason}); it was left untouched",
                path.display()
            ),
            SetupError::Foreign { path, reason } => write!(
                f,
                "local KMS state file {} belongs to another KMS ({reason}); it was left untouched",
                path.display()
            ),
        }
    }
}

impl std::error::Error for SetupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SetupError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StoredKey {
    id: String,
    state: String,
    description: String,
    manager: String,
    policy: String,
    created: u64,
    deletion_date: Option<u64>,
    /// The key material, hex. Zeroized on drop.
    material: String,
    // s3-grants: the key's tags (absent when it has none, so older loaders read the file).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[zeroize(skip)]
    tags: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StateFile {
    format: String,
    version: u32,
    region: String,
    account: String,
    keys: Vec<StoredKey>,
    aliases: BTreeMap<String, String>,
    identity_policies: BTreeMap<String, Vec<String>>,
    // s3-grants: the grants (absent when there are none, so older loaders read the file).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    grants: Vec<super::grants::stored::StoredGrant>,
}

fn state_name(s: KeyState) -> &'static str {
    s.as_str()
}

fn parse_state(s: &str) -> Option<KeyState> {
    Some(match s {
        "Enabled" => KeyState::Enabled,
        "Disabled" => KeyState::Disabled,
        "PendingDeletion" => KeyState::PendingDeletion,
        _ => return None,
    })
}

/// Writes `inner` to `path` atomically with mode 0600.
pub(super) fn save(
    path: &Path,
    region: &str,
    account: &str,
    inner: &Inner,
) -> Result<(), std::io::Error> {
    let file = StateFile {
        format: FORMAT.to_owned(),
        version: VERSION,
        region: region.to_owned(),
        account: account.to_owned(),
        keys: inner
            .keys
            .values()
            .map(|k| StoredKey {
                id: k.id.clone(),
                state: state_name(k.state).to_owned(),
                description: k.description.clone(),
                manager: k.manager.as_str().to_owned(),
                policy: k.policy_json.clone(),
                created: k.created,
                deletion_date: k.deletion_date,
                material: hex::encode(k.material.expose_secret()),
                tags: k.tags.clone(),
            })
            .collect(),
        aliases: inner.aliases.clone(),
        identity_policies: inner
            .identity
            .iter()
            .map(|(arn, l)| (arn.clone(), l.iter().map(|p| p.json.clone()).collect()))
            .collect(),
        // s3-grants
        grants: super::grants::stored::store(&inner.grants, |id| inner.keys.contains_key(id)),
    };
    // Sized up front so that growing the buffer leaves no stray copies of key material.
    let estimate = 4096
        + inner
            .keys
            .values()
            .map(|k| 1024 + 2 * k.policy_json.len() + k.description.len())
            .sum::<usize>()
        + inner
            .identity
            .values()
            .flatten()
            .map(|p| 256 + 2 * p.json.len())
            .sum::<usize>();
    let mut bytes = Zeroizing::new(Vec::with_capacity(estimate));
    serde_json::to_writer_pretty(&mut *bytes, &file).map_err(std::io::Error::other)?;
    drop(file);
    write_atomic(path, &bytes)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), std::io::Error> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("the state file path has no file name"))?;
    let mut suffix = [0u8; 8];
    crate::crypto::fill_random(&mut suffix);
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        hex::encode(suffix)
    ));
    let result = (|| {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let mut f = o.open(&tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // Make the rename durable.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Loads and validates the state file at `path` for `region`/`account`.
pub(super) fn load(path: &Path, region: &str, account: &str) -> Result<Inner, super::SetupError> {
    let io = |source| SetupError::Io {
        path: path.to_path_buf(),
        source,
    };
    let corrupt = |reason: String| SetupError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_STATE_LEN {
        return Err(corrupt(format!("larger than {MAX_STATE_LEN} bytes")));
    }
    let bytes = Zeroizing::new(std::fs::read(path).map_err(io)?);
    // Check the header fields first so that a foreign file is reported as such. Only these
    // fields are decoded here (serde skips the rest, key material included, without copying).
    #[derive(Deserialize)]
    struct Header {
        format: Option<serde_json::Value>,
        version: Option<serde_json::Value>,
        region: Option<serde_json::Value>,
        account: Option<serde_json::Value>,
    }
    let header: Header =
        serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("not JSON: {e}")))?;
    let show = |v: &Option<serde_json::Value>| {
        v.as_ref()
            .map_or_else(|| "missing".to_owned(), ToString::to_string)
    };
    let foreign = |reason: String| SetupError::Foreign {
        path: path.to_path_buf(),
        reason,
    };
    if header.format.as_ref().and_then(|v| v.as_str()) != Some(FORMAT) {
        return Err(foreign(format!(
            "format is {}, expected {FORMAT:?}",
            show(&header.format)
        )));
    }
    if header.version.as_ref().and_then(serde_json::Value::as_u64) != Some(u64::from(VERSION)) {
        return Err(foreign(format!(
            "version is {}, expected {VERSION}",
            show(&header.version)
        )));
    }
    if header.region.as_ref().and_then(|v| v.as_str()) != Some(region)
        || header.account.as_ref().and_then(|v| v.as_str()) != Some(account)
    {
        return Err(foreign(format!(
            "it is for region {} account {}, not {region} / {account}",
            show(&header.region),
            show(&header.account)
        )));
    }
    let file: StateFile =
        serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("bad structure: {e}")))?;
    let mut inner = Inner::default();
    for (i, k) in file.keys.iter().enumerate() {
        let at = |what: &str| corrupt(format!("keys[{i}]: {what}"));
        if k.id.is_empty()
            || k.id.len() > super::blob::MAX_KEY_ID_LEN
            || !k.id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        {
            return Err(at("bad id"));
        }
        let state = parse_state(&k.state).ok_or_else(|| at("unknown state"))?;
        if (state == KeyState::PendingDeletion) != k.deletion_date.is_some() {
            return Err(at("deletionDate does not match the state"));
        }
        let manager = match k.manager.as_str() {
            "CUSTOMER" => Manager::Customer,
            "AWS" => Manager::Aws,
            _ => return Err(at("unknown manager")),
        };
        let policy = Policy::parse(&k.policy, PolicyKind::Key)
            .map_err(|e| at(&format!("bad policy: {e}")))?;
        let mut raw = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(&k.material, &mut raw[..])
            .map_err(|_| at("material is not 64 hex digits"))?;
        let material = DataKey::from_bytes(*raw);
        let arn = format!("arn:aws:kms:{region}:{account}:key/{}", k.id);
        let rec = KeyRecord {
            id: k.id.clone(),
            arn,
            material: Arc::new(material),
            state,
            description: k.description.clone(),
            manager,
            policy_json: k.policy.clone(),
            policy: Arc::new(policy),
            created: k.created,
            deletion_date: k.deletion_date,
            // s3-grants
            tags: k.tags.clone(),
        };
        if inner.keys.insert(k.id.clone(), rec).is_some() {
            return Err(at("duplicate id"));
        }
    }
    for (name, id) in &file.aliases {
        if !name.starts_with("alias/") || !inner.keys.contains_key(id) {
            return Err(corrupt(format!("alias {name:?} is invalid or dangling")));
        }
    }
    inner.aliases = file.aliases.clone();
    for (arn, list) in &file.identity_policies {
        let mut parsed = Vec::with_capacity(list.len());
        for (i, json) in list.iter().enumerate() {
            let policy = Policy::parse(json, PolicyKind::Identity)
                .map_err(|e| corrupt(format!("identityPolicies[{arn:?}][{i}]: bad policy: {e}")))?;
            parsed.push(IdentityPolicy {
                json: json.clone(),
                policy: Arc::new(policy),
            });
        }
        inner.identity.insert(arn.clone(), parsed);
    }
    // s3-grants
    inner.grants =
        super::grants::stored::load(&file.grants, |id| inner.keys.get(id).map(|k| k.arn.clone()))
            .map_err(corrupt)?;
    Ok(inner)
}
