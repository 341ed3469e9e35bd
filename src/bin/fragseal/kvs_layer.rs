//! The KVS layer of a `fragseal kvs` command, and who calls it.
//!
//! - `--kms local` (the default): the local KMS state file is both the data-plane KMS
//!   (through `kms:ViaService`) and the authority of the `kinesisvideo:` decisions (its
//!   identity policies); the caller is `--principal` (default: the account root).
//! - `--kms aws --endpoint-url URL --iam FILE`: GenerateDataKey / Decrypt / DescribeKey go to
//!   the remote KMS (a `fragseal kms serve` listener, or any AWS-compatible KMS), signed with
//!   the environment's access keys or the `--assume-role` session. The `kinesisvideo:`
//!   decisions come from the identity policies of FILE, the server's own IAM file, and the
//!   caller is the principal FILE declares the environment's access key for (its secret
//!   checked against the file's), or the role session STS answered with. Without `--iam` the
//!   command is refused: nothing would decide the stream actions (fail closed).
//!
//! With `--assume-role`, PutMedia, GetMedia and `get-media --follow` run for the role's
//! refreshing provider ([`provider`]): a session that expires during a long put-media or
//! follow is replaced by a new session of the same role (one `AssumeRole`), and the fragment
//! retried once; the stream action is authorized once, at the start.

use crate::backend::Backend;
use crate::error::{CliError, CliResult, Exit};
use crate::kvs::{kvs_error, KvsArgs};
use fragseal::kms::{Credential, CredentialProvider};
use fragseal::kvs::{DirStore, Kvs, KvsBuilder, Store};
use std::path::Path;
use std::sync::Arc;

fn store(a: &KvsArgs) -> CliResult<Arc<dyn Store>> {
    Ok(Arc::new(DirStore::open(&a.store).map_err(|e| {
        CliError::new(
            Exit::Local,
            format!("cannot use the store {}: {e}", a.store.display()),
        )
    })?))
}

/// The layer and the caller of `a`.
pub fn open(a: &KvsArgs) -> CliResult<(Kvs, Credential)> {
    let (builder, caller) = match a.kms.backend {
        Backend::Local => {
            if let Some(p) = &a.iam {
                return Err(CliError::usage(format!(
                    "--iam {} is for --kms aws: the local KMS's identity policies are in its \
                     state file (--kms-state)",
                    p.display()
                )));
            }
            let kms = a.kms.local(true)?;
            let caller = a.caller.credential(&a.kms)?;
            (Kvs::builder(kms, store(a)?), caller)
        }
        Backend::Aws => {
            let path = a.iam.as_ref().ok_or_else(|| {
                CliError::usage(
                    "`fragseal kvs --kms aws` needs --iam FILE (the IAM file of the `fragseal kms \
                     serve` endpoint): its identity policies decide the kinesisvideo: actions, \
                     and nothing else may",
                )
                .with_hint("pass the same file as the server's `kms serve --iam FILE`")
            })?;
            remote(a, path)?
        }
    };
    let kvs = builder.build().map_err(kvs_error)?;
    Ok((kvs, caller))
}

/// The `--assume-role` sessions' provider, shared with the KMS client that signs with them
/// (`None` without `--assume-role`: the caller of [`open`] is used as given).
pub fn provider(a: &KvsArgs) -> CliResult<Option<Arc<dyn CredentialProvider>>> {
    Ok(a.kms.assumed()?.map(|r| r.provider()))
}

#[cfg(feature = "aws")]
fn remote(a: &KvsArgs, path: &Path) -> CliResult<(KvsBuilder, Credential)> {
    use fragseal::kvs::remote::{authority_from_iam, caller_of_access_key};
    use fragseal::server::IamConfig;
    let iam = IamConfig::load(path)
        .map_err(|e| CliError::input(format!("--iam {}: {e}", path.display())))?;
    let caller = match a.kms.assumed()? {
        // The session STS answered with; its role's identity policies are in the file.
        Some(_) => a.caller.credential(&a.kms)?,
        None => {
            if let Some(p) = &a.caller.principal {
                return Err(CliError::usage(format!(
                    "--principal {} contradicts --kms aws: the caller is the principal the IAM \
                     file declares the environment's access key for",
                    crate::text::escape(p)
                )));
            }
            let keys = crate::sts_client::AccessKeys::from_env()
                .map_err(|e| CliError::usage(format!("--kms aws: {e}")))?;
            if keys.session_token.is_some() {
                return Err(CliError::usage(
                    "AWS_SESSION_TOKEN is set: a session's access key is not in the IAM file, so \
                     its principal is unknown",
                )
                .with_hint("use long-term keys with --assume-role ROLE_ARN instead"));
            }
            caller_of_access_key(&iam, &keys.access_key_id, keys.secret_access_key.expose())
                .map_err(kvs_error)?
        }
    };
    let authority = authority_from_iam(&a.kms.region, &a.kms.account, &iam).map_err(kvs_error)?;
    let data = a.kms.open()?.kms;
    Ok((Kvs::builder(authority, store(a)?).data_kms(data), caller))
}

#[cfg(not(feature = "aws"))]
fn remote(_a: &KvsArgs, _path: &Path) -> CliResult<(KvsBuilder, Credential)> {
    Err(CliError::usage(
        "this fragseal was built without the AWS KMS backend; rebuild with `--features aws`",
    ))
}
