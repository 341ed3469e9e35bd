//! Persistence of a local KMS to a state file.
//!
//! **The state file is secret**: it holds every key's material (hex) in the clear, like an
//! HSM backup without the HSM. It is written with owner-only permissions (0600) and should
//! live on a private path.
//!
//! Format (version 2): one JSON object
//! `{"format": "fragseal-localkms-state", "version": 2, "region", "keys": [{"id", "account",
//! ...}], "aliases": {ACCOUNT: {"alias/NAME": KEY_ID}}, "identityPolicies": {...}}`: every key
//! carries the account that owns it, aliases are per account. Version 1 (one account:
//! `"account"` at the top, keys without one, `"aliases": {"alias/NAME": KEY_ID}`) is still
//! read; the next write turns it into version 2. It is written atomically: a temporary file
//! in the same directory (created 0600), `fsync`, `rename` over the old file, `fsync` of the
//! directory. Loading checks everything; a file that does not parse, has another format or
//! version, belongs to another region, or holds a key or alias of an account this KMS does
//! not serve is refused with a clear error and is never overwritten (the KMS is not built).

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
/// The `version` written (version 1, single-account, is read too).
pub const VERSION: u32 = 2;
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
    /// The owner (version 2; absent in version 1, where the file's account owns every key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    state: String,
    description: String,
    manager: String,
    policy: String,
    created: u64,
    deletion_date: Option<u64>,
    /// The key material, hex. Zeroized on drop.
    material: String,
    /// The key's tags (absent when it has none).
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
    keys: Vec<StoredKey>,
    /// account → `alias/NAME` → key id.
    aliases: BTreeMap<String, BTreeMap<String, String>>,
    identity_policies: BTreeMap<String, Vec<String>>,
    /// The grants (absent when there are none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    grants: Vec<super::grants::stored::StoredGrant>,
}

/// Version 1: one account.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StateFileV1 {
    #[allow(dead_code, reason = "checked in the header")]
    format: String,
    #[allow(dead_code, reason = "checked in the header")]
    version: u32,
    #[allow(dead_code, reason = "checked in the header")]
    region: String,
    account: String,
    keys: Vec<StoredKey>,
    aliases: BTreeMap<String, String>,
    identity_policies: BTreeMap<String, Vec<String>>,
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

/// Writes `inner` to `path` atomically with mode 0600 (without identity policies unless
/// `with_identity`).
pub(super) fn save(
    path: &Path,
    region: &str,
    with_identity: bool,
    inner: &Inner,
) -> Result<(), std::io::Error> {
    let mut aliases: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for ((account, name), id) in &inner.aliases {
        aliases
            .entry(account.clone())
            .or_default()
            .insert(name.clone(), id.clone());
    }
    let file = StateFile {
        format: FORMAT.to_owned(),
        version: VERSION,
        region: region.to_owned(),
        keys: inner
            .keys
            .values()
            .map(|k| StoredKey {
                id: k.id.clone(),
                account: Some(k.account.clone()),
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
        aliases,
        identity_policies: if with_identity {
            inner
                .identity
                .iter()
                .map(|(arn, l)| (arn.clone(), l.iter().map(|p| p.json.clone()).collect()))
                .collect()
        } else {
            BTreeMap::new()
        },
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

/// Loads and validates the state file at `path` for `region` and the served `accounts`
/// (identity policies are skipped unless `with_identity`).
pub(super) fn load(
    path: &Path,
    region: &str,
    accounts: &[String],
    with_identity: bool,
) -> Result<Inner, super::SetupError> {
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
    let version = header.version.as_ref().and_then(serde_json::Value::as_u64);
    if version != Some(1) && version != Some(u64::from(VERSION)) {
        return Err(foreign(format!(
            "version is {}, expected 1 or {VERSION}",
            show(&header.version)
        )));
    }
    if header.region.as_ref().and_then(|v| v.as_str()) != Some(region) {
        return Err(foreign(format!(
            "it is for region {}, not {region}",
            show(&header.region)
        )));
    }
    let served = |a: &str| accounts.iter().any(|s| s == a);
    let file: StateFile = if version == Some(1) {
        let v1: StateFileV1 =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("bad structure: {e}")))?;
        if !served(&v1.account) {
            return Err(foreign(format!(
                "it is for account {}, which is not served here ({})",
                v1.account,
                accounts.join(", ")
            )));
        }
        let mut keys = v1.keys;
        for (i, k) in keys.iter_mut().enumerate() {
            if k.account.is_some() {
                return Err(corrupt(format!(
                    "keys[{i}]: a version 1 key has no \"account\""
                )));
            }
            k.account = Some(v1.account.clone());
        }
        let mut aliases = BTreeMap::new();
        aliases.insert(v1.account.clone(), v1.aliases);
        StateFile {
            format: FORMAT.to_owned(),
            version: 1,
            region: region.to_owned(),
            keys,
            aliases,
            identity_policies: v1.identity_policies,
            grants: Vec::new(),
        }
    } else {
        if header.account.is_some() {
            return Err(corrupt(
                "a version 2 file has no top-level \"account\"".to_owned(),
            ));
        }
        serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("bad structure: {e}")))?
    };
    let mut inner = Inner::default();
    for (i, k) in file.keys.iter().enumerate() {
        let at = |what: &str| corrupt(format!("keys[{i}]: {what}"));
        if k.id.is_empty()
            || k.id.len() > super::blob::MAX_KEY_ID_LEN
            || !k.id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        {
            return Err(at("bad id"));
        }
        let account = k.account.clone().ok_or_else(|| at("no account"))?;
        if !served(&account) {
            return Err(foreign(format!(
                "keys[{i}] belongs to account {account:?}, which is not served here ({})",
                accounts.join(", ")
            )));
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
            account,
            arn,
            material: Arc::new(material),
            state,
            description: k.description.clone(),
            manager,
            policy_json: k.policy.clone(),
            policy: Arc::new(policy),
            created: k.created,
            deletion_date: k.deletion_date,
            tags: k.tags.clone(),
        };
        if inner.keys.insert(k.id.clone(), rec).is_some() {
            return Err(at("duplicate id"));
        }
    }
    for (account, names) in &file.aliases {
        if !served(account) {
            return Err(foreign(format!(
                "it holds aliases of account {account:?}, which is not served here"
            )));
        }
        for (name, id) in names {
            if !name.starts_with("alias/")
                || inner.keys.get(id).is_none_or(|k| k.account != *account)
            {
                return Err(corrupt(format!(
                    "alias {name:?} of {account} is invalid or dangling"
                )));
            }
            inner
                .aliases
                .insert((account.clone(), name.clone()), id.clone());
        }
    }
    if !with_identity {
        return Ok(inner);
    }
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
    inner.grants =
        super::grants::stored::load(&file.grants, |id| inner.keys.get(id).map(|k| k.arn.clone()))
            .map_err(corrupt)?;
    Ok(inner)
}
