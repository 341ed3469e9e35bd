//! Which keys `seal` seals under and `open` trusts (`--key`, `--discovery`,
//! `--raw-key-file`), and the engines over those keyrings that seal and open.
//!
//! The trust decision of `open` is made in ONE place, [`OpenKeyOpts::opener`].

use crate::backend::{KmsHandle, KmsOpts};
use crate::error::{CliError, CliResult};
use crate::files;
use bytes::Bytes;
use clap::Args;
use fragseal::crypto::SecretBytes;
use fragseal::engine::{Engine, EngineConfig, OpenRequest, SealRequest};
use fragseal::identity::{FragmentIdentity, IdentityCheck};
use fragseal::keyring::{DiscoveryFilter, KmsKeyring, RawAesKeyring};
use fragseal::kms::{Credential, Kms};
use fragseal::message::SealSuite;
use fragseal::EncryptionContext;
use fragseal::SignaturePolicy;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::{Zeroize, Zeroizing};

/// The keys of `seal`: one KMS key, or a raw AES key from a key file.
#[derive(Debug, Args)]
#[group(id = "seal_key", required = true, multiple = false)]
pub struct SealKeyOpts {
    /// The KMS key: key id, key ARN, alias name (alias/NAME) or alias ARN.
    #[arg(long)]
    pub key: Option<String>,
    /// A raw AES-256 wrapping key from a key file: JSON `{"namespace": ..., "name": ...,
    /// "key": "<base64 of 32 bytes>"}`, a regular file (not a symlink) with mode 0600.
    #[arg(long, value_name = "PATH")]
    pub raw_key_file: Option<PathBuf>,
}

/// The trust of `open`: exactly one of strict KMS keys, discovery, or a raw AES key file.
#[derive(Debug, Args)]
#[group(id = "open_key", required = true, multiple = false)]
pub struct OpenKeyOpts {
    /// Strict: only encrypted data keys of this KMS key are tried (repeatable; key ARN, key id,
    /// alias name or alias ARN; aliases and ids are resolved to key ARNs with DescribeKey).
    #[arg(long = "key", value_name = "KEY")]
    pub keys: Vec<String>,
    /// Discovery: any KMS key ARN found in the message is tried, limited to the accounts of
    /// --discovery-account when given.
    #[arg(long)]
    pub discovery: bool,
    /// A raw AES-256 wrapping key from a key file (see `seal --raw-key-file`).
    #[arg(long, value_name = "PATH")]
    pub raw_key_file: Option<PathBuf>,
}

/// Options of discovery mode (outside the group above: they only refine --discovery).
#[derive(Debug, Args)]
pub struct DiscoveryOpts {
    /// With --discovery: only keys of this 12-digit account (repeatable).
    #[arg(long = "discovery-account", value_name = "ID", requires = "discovery")]
    pub accounts: Vec<String>,
    /// With --discovery-account: the AWS partition of those accounts.
    #[arg(
        long = "discovery-partition",
        value_name = "PARTITION",
        default_value = "aws",
        requires = "discovery"
    )]
    pub partition: String,
}

/// Largest raw key file read.
const MAX_KEY_FILE: u64 = 4096;

/// Reads a raw AES key file: a regular file, not a symlink, with no group or other permission
/// bits; JSON `{"namespace", "name", "key": base64 of 32 bytes}`. The JSON buffer and the
/// base64 text are zeroized; the key bytes go straight into a [`SecretBytes`].
pub fn read_raw_key_file(path: &Path) -> CliResult<RawAesKeyring> {
    let bad = |why: String| {
        CliError::usage(format!("raw key file {}: {why}", path.display())).with_hint(
            "write it with `umask 077`, e.g. {\"namespace\": \"ns\", \"name\": \"k1\", \
             \"key\": \"<base64 of 32 random bytes>\"}, and chmod 600 it",
        )
    };
    let link = std::fs::symlink_metadata(path).map_err(|e| CliError::read(path, &e))?;
    if link.file_type().is_symlink() {
        return Err(bad("is a symlink; give the key file itself".into()));
    }
    let (mut file, _) = files::open_regular(path, MAX_KEY_FILE, "a raw key file")?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = file.metadata().map_err(|e| CliError::read(path, &e))?;
        // The file opened must be the one checked (no swap for a symlink in between).
        if meta.dev() != link.dev() || meta.ino() != link.ino() {
            return Err(bad("changed while it was opened".into()));
        }
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(bad(format!(
                "has mode {mode:04o}; it must be readable by its owner only (0600)"
            )));
        }
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX_KEY_FILE as usize));
    {
        use std::io::Read;
        (&mut file)
            .take(MAX_KEY_FILE + 1)
            .read_to_end(&mut buf)
            .map_err(|e| CliError::read(path, &e))?;
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct KeyFile {
        namespace: String,
        name: String,
        key: String,
    }
    let mut kf: KeyFile = serde_json::from_slice(&buf)
        .map_err(|_| bad("is not JSON {\"namespace\", \"name\", \"key\"}".into()))?;
    let mut raw = Zeroizing::new([0u8; 64]);
    let decoded = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.decode_slice(kf.key.trim(), &mut raw[..])
    };
    kf.key.zeroize();
    let key = match decoded {
        Ok(32) => SecretBytes::from_slice(&raw[..32]),
        Ok(n) => return Err(bad(format!("the key is {n} bytes; it must be 32"))),
        Err(_) => return Err(bad("the key is not base64 of 32 bytes".into())),
    };
    RawAesKeyring::new(kf.namespace, kf.name, key).map_err(|e| bad(e.to_string()))
}

/// Seals with the chosen key, through the engine (and its data-key cache) over one keyring:
/// a strict KMS keyring naming `--key`, or the raw AES keyring of `--raw-key-file`.
pub struct Sealer {
    engine: Engine,
    handle: Option<KmsHandle>,
}

impl SealKeyOpts {
    /// The engine to seal with for `credential`: reads the key file, or opens the KMS and
    /// builds a strict keyring on `--key` (an alias is resolved to its key ARN once, when the
    /// caller may DescribeKey it).
    pub fn sealer(
        &self,
        kms: &KmsOpts,
        credential: &Credential,
        frame_length: u32,
        suite: SealSuite,
    ) -> CliResult<Sealer> {
        let config = EngineConfig::default()
            .with_frame_length(frame_length)
            .with_seal_suite(suite);
        match (&self.key, &self.raw_key_file) {
            (Some(key), None) => {
                let handle = kms.open()?;
                let keyring =
                    KmsKeyring::strict(Arc::clone(&handle.kms), credential, &[key.as_str()])?;
                Ok(Sealer {
                    engine: handle.with_provider(Engine::new(Arc::new(keyring), config)?),
                    handle: Some(handle),
                })
            }
            (None, Some(path)) => Ok(Sealer {
                engine: Engine::new(Arc::new(read_raw_key_file(path)?), config)?,
                handle: None,
            }),
            _ => Err(CliError::usage("give --key KEY or --raw-key-file PATH")),
        }
    }

    /// How the key is named in index.json.
    pub fn label(&self) -> String {
        match (&self.key, &self.raw_key_file) {
            (Some(k), _) => k.clone(),
            (None, Some(p)) => format!("raw-aes:{}", p.display()),
            (None, None) => String::new(),
        }
    }
}

/// One fragment to seal or open, and its identity (`None`: `--no-identity`).
pub struct Item {
    pub bytes: Bytes,
    pub identity: Option<FragmentIdentity>,
}

/// `" N"` for a fragment with identity number N, empty otherwise.
pub fn fragment_label(identity: Option<&FragmentIdentity>) -> String {
    identity.map_or_else(String::new, |i| format!(" {}", i.fragment_number))
}

/// The stated identity decision for an item: `--no-identity` is the explicit skip.
fn identity_check(identity: Option<FragmentIdentity>) -> IdentityCheck {
    identity.map_or(IdentityCheck::Skip, IdentityCheck::Expect)
}

/// KMS calls `engine` made for `credential` so far; with `--assume-role` sessions, for every
/// session (a refreshed session is another credential).
fn kms_calls(engine: &Engine, credential: &Credential) -> u64 {
    if engine.credential_provider().is_some() {
        return engine
            .all_stats()
            .map(|all| all.iter().map(|(_, s)| s.kms_calls).sum())
            .unwrap_or(0);
    }
    engine.stats(credential).map(|s| s.kms_calls).unwrap_or(0)
}

fn check_handle_audit(handle: Option<&KmsHandle>) -> CliResult<()> {
    handle.map_or(Ok(()), KmsHandle::check_audit)
}

impl Sealer {
    /// Seals `items` in parallel, in order; the first failure is returned, naming its fragment.
    pub fn seal_batch(
        &self,
        credential: &Credential,
        ec: &EncryptionContext,
        items: Vec<Item>,
    ) -> CliResult<Vec<Bytes>> {
        let requests = items
            .into_iter()
            .map(|i| {
                let r = SealRequest::new(ec.clone(), i.bytes);
                match i.identity {
                    Some(id) => r.with_identity(id),
                    None => r,
                }
            })
            .collect();
        // With --assume-role: for the current session, refreshed once on ExpiredToken.
        let results = if self.engine.credential_provider().is_some() {
            self.engine
                .seal_batch_current(requests)
                .map_err(|e| CliError::kms(&e.error))?
        } else {
            self.engine.seal_batch(credential, requests)
        };
        results
            .into_iter()
            .map(|r| {
                r.map_err(|f| {
                    let which = fragment_label(f.request.identity.as_ref());
                    CliError::from(f.error).context(format!("sealing fragment{which}"))
                })
            })
            .collect()
    }

    /// KMS calls made for `credential` so far (0 for a raw key).
    pub fn kms_calls(&self, credential: &Credential) -> u64 {
        if self.handle.is_none() {
            return 0;
        }
        kms_calls(&self.engine, credential)
    }

    /// See [`KmsHandle::check_audit`].
    pub fn check_audit(&self) -> CliResult<()> {
        check_handle_audit(self.handle.as_ref())
    }
}

/// Opens with the chosen trust, through the engine over one keyring.
pub struct Opener {
    engine: Engine,
    handle: Option<KmsHandle>,
}

impl OpenKeyOpts {
    /// THE trust decision of `open`: strict (`--key`: a strict KMS keyring, aliases resolved
    /// to key ARNs once), discovery (`--discovery`: a discovery keyring limited to the
    /// `--discovery-account`s, or to the caller's own account when none is given), or a raw
    /// AES key. There is no default.
    pub fn opener(
        &self,
        discovery: &DiscoveryOpts,
        kms: &KmsOpts,
        credential: &Credential,
        policy: SignaturePolicy,
    ) -> CliResult<Opener> {
        let config = EngineConfig::default().with_signature_policy(policy);
        if let Some(path) = &self.raw_key_file {
            let keyring = read_raw_key_file(path)?;
            return Ok(Opener {
                engine: Engine::new(Arc::new(keyring), config)?,
                handle: None,
            });
        }
        if self.keys.is_empty() && !self.discovery {
            return Err(CliError::usage(
                "give --key KEY (repeatable), --discovery or --raw-key-file PATH",
            ));
        }
        for a in &discovery.accounts {
            if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
                return Err(CliError::usage(format!(
                    "--discovery-account {a:?} is not a 12-digit account id"
                )));
            }
        }
        let handle = kms.open()?;
        let keyring = if self.keys.is_empty() {
            let accounts = if discovery.accounts.is_empty() {
                vec![credential.account().to_owned()]
            } else {
                discovery.accounts.clone()
            };
            KmsKeyring::discovery(
                Arc::clone(&handle.kms),
                DiscoveryFilter::new(discovery.partition.clone(), accounts),
            )
        } else {
            // Resolved here rather than inside the keyring, so that a caller who may not
            // DescribeKey an alias learns why at once (a keyring keeps such an alias
            // unresolved, and it then trusts no encrypted data key).
            let mut arns = Vec::with_capacity(self.keys.len());
            for k in &self.keys {
                arns.push(resolve_key_arn(handle.kms.as_ref(), credential, k)?);
            }
            KmsKeyring::strict(Arc::clone(&handle.kms), credential, &arns)?
        };
        Ok(Opener {
            engine: handle.with_provider(Engine::new(Arc::new(keyring), config)?),
            handle: Some(handle),
        })
    }
}

/// A key ARN is used as given; a key id, alias name or alias ARN is resolved with DescribeKey.
fn resolve_key_arn(kms: &dyn Kms, credential: &Credential, key: &str) -> CliResult<String> {
    if fragseal::arn::KmsKeyArn::parse(key).is_some() {
        return Ok(key.to_owned());
    }
    kms.describe_key(credential, key)
        .map(|d| d.arn)
        .map_err(|e| {
            CliError::kms(&e)
                .context(format!("resolving --key {key} to a key ARN (DescribeKey)"))
                .with_hint("give the key ARN itself (arn:aws:kms:REGION:ACCOUNT:key/ID)")
        })
}

impl Opener {
    /// Opens one message against `identity` (none: `--no-identity`).
    pub fn open_one(
        &self,
        credential: &Credential,
        message: Bytes,
        identity: Option<FragmentIdentity>,
    ) -> CliResult<Bytes> {
        let request = OpenRequest::new(message, identity_check(identity));
        if self.engine.credential_provider().is_some() {
            return Ok(self.engine.open_current(&request)?.plaintext);
        }
        Ok(self.engine.open(credential, &request)?.plaintext)
    }

    /// Opens `items` in parallel, in order, each against its identity (or none with
    /// `--no-identity`); the first failure is returned, naming its fragment.
    pub fn open_batch(&self, credential: &Credential, items: Vec<Item>) -> CliResult<Vec<Bytes>> {
        let requests = items
            .into_iter()
            .map(|i| OpenRequest::new(i.bytes, identity_check(i.identity)))
            .collect();
        let results = if self.engine.credential_provider().is_some() {
            self.engine
                .open_batch_current(requests)
                .map_err(|e| CliError::kms(&e.error))?
        } else {
            self.engine.open_batch(credential, requests)
        };
        results
            .into_iter()
            .map(|r| {
                r.map(|opened| opened.plaintext).map_err(|f| {
                    let which = fragment_label(f.request.options.identity.expected());
                    CliError::from(f.error).context(format!("opening fragment{which}"))
                })
            })
            .collect()
    }

    /// KMS calls made for `credential` so far (0 for a raw key).
    pub fn kms_calls(&self, credential: &Credential) -> u64 {
        if self.handle.is_none() {
            return 0;
        }
        kms_calls(&self.engine, credential)
    }

    /// See [`KmsHandle::check_audit`].
    pub fn check_audit(&self) -> CliResult<()> {
        check_handle_audit(self.handle.as_ref())
    }
}
