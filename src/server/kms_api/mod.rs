//! The KMS JSON 1.1 operations: each reads its members as botocore's KMS model declares them
//! (names, required members, lengths, ranges, enums), calls [`LocalKms`] as the verified caller,
//! and writes the model's response shape. Management calls in `keys`, cryptographic calls in
//! `data`, grants and tags in `grants`.

mod data;
mod grants;
pub(crate) mod input;
mod keys;

use crate::kms::local::{LocalKms, Operation};
use crate::kms::{Credential, KeyDescription, KeyState};
use crate::server::errors::ApiError;
use input::Input;
use serde_json::{json, Value};

/// `KeyIdType`: 1 to 2048 characters.
pub(crate) const KEY_ID_MAX: usize = 2048;
/// `GrantTokenList`: at most 10 tokens of 1 to 8192 characters.
pub(crate) const GRANT_TOKENS_MAX: usize = 10;
/// `GrantTokenType` maximum length.
pub(crate) const GRANT_TOKEN_MAX: usize = 8192;

/// A successful answer: the JSON body (empty for operations without output).
pub(crate) struct Reply(pub(crate) Vec<u8>);

impl Reply {
    pub(crate) fn json(v: &Value) -> Self {
        Reply(v.to_string().into_bytes())
    }

    pub(crate) fn empty() -> Self {
        Reply(Vec::new())
    }
}

/// What a handler gets: the KMS and the verified caller.
pub(crate) struct Call<'a> {
    pub(crate) kms: &'a LocalKms,
    pub(crate) caller: &'a Credential,
}

type Handler = fn(&Call<'_>, &mut Input) -> Result<Reply, ApiError>;

/// The operations this server answers, by `X-Amz-Target` suffix.
const OPERATIONS: &[(Operation, Handler)] = &[
    (Operation::CreateKey, keys::create_key),
    (Operation::DescribeKey, keys::describe_key),
    (Operation::ListKeys, keys::list_keys),
    (Operation::ListAliases, keys::list_aliases),
    (Operation::CreateAlias, keys::create_alias),
    (Operation::DeleteAlias, keys::delete_alias),
    (Operation::EnableKey, keys::enable_key),
    (Operation::DisableKey, keys::disable_key),
    (Operation::ScheduleKeyDeletion, keys::schedule_key_deletion),
    (Operation::CancelKeyDeletion, keys::cancel_key_deletion),
    (Operation::GetKeyPolicy, keys::get_key_policy),
    (Operation::PutKeyPolicy, keys::put_key_policy),
    (Operation::GenerateDataKey, data::generate_data_key),
    (Operation::Encrypt, data::encrypt),
    (Operation::Decrypt, data::decrypt),
    (
        Operation::GenerateDataKeyWithoutPlaintext,
        data::generate_data_key_without_plaintext,
    ),
    (Operation::ReEncrypt, data::re_encrypt),
    (Operation::GenerateRandom, data::generate_random),
    (Operation::CreateGrant, grants::create_grant),
    (Operation::ListGrants, grants::list_grants),
    (
        Operation::ListRetirableGrants,
        grants::list_retirable_grants,
    ),
    (Operation::RetireGrant, grants::retire_grant),
    (Operation::RevokeGrant, grants::revoke_grant),
    (Operation::TagResource, grants::tag_resource),
    (Operation::UntagResource, grants::untag_resource),
    (Operation::ListResourceTags, grants::list_resource_tags),
];

/// The operation named `name` (`GenerateDataKey`, ...), if this server answers it.
pub(crate) fn operation(name: &str) -> Option<Operation> {
    OPERATIONS
        .iter()
        .find(|(op, _)| op.name() == name)
        .map(|(op, _)| *op)
}

/// Runs `op` with the request body `body` as `caller`.
pub(crate) fn dispatch(
    kms: &LocalKms,
    caller: &Credential,
    op: Operation,
    body: &mut Input,
) -> Result<Reply, ApiError> {
    let handler = OPERATIONS
        .iter()
        .find(|(o, _)| *o == op)
        .map(|(_, h)| *h)
        .ok_or_else(|| ApiError::internal(format!("no handler for {}", op.name())))?;
    handler(&Call { kms, caller }, body)
}

/// Reads the optional `GrantTokens` member (validated; grant tokens are checked by the KMS).
pub(crate) fn grant_tokens(input: &mut Input) -> Result<Vec<String>, ApiError> {
    Ok(input
        .string_list("GrantTokens", GRANT_TOKENS_MAX, 1, GRANT_TOKEN_MAX)?
        .unwrap_or_default())
}

/// Refuses `DryRun: true` for a call whose dry run this server cannot perform without effect.
pub(crate) fn no_dry_run(input: &mut Input) -> Result<(), ApiError> {
    if input.boolean("DryRun")? == Some(true) {
        return Err(ApiError::unsupported(
            "DryRun is not supported for this operation by this server.",
        ));
    }
    Ok(())
}

/// Seconds since the epoch as the JSON 1.1 timestamp (a number of seconds).
pub(crate) fn timestamp(secs: u64) -> Value {
    // Exact for every date before the year 287 million.
    #[allow(
        clippy::cast_precision_loss,
        reason = "seconds below 2^53 are exact in f64"
    )]
    Value::from(secs as f64)
}

/// `KeyMetadata` for a symmetric encryption key.
pub(crate) fn key_metadata(d: &KeyDescription) -> Value {
    let mut m = json!({
        "AWSAccountId": d.account,
        "KeyId": d.key_id,
        "Arn": d.arn,
        "Enabled": d.state == KeyState::Enabled,
        "Description": d.description,
        "KeyUsage": "ENCRYPT_DECRYPT",
        "KeyState": d.state.as_str(),
        "Origin": "AWS_KMS",
        "KeyManager": d.manager,
        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "KeySpec": "SYMMETRIC_DEFAULT",
        "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
        "MultiRegion": false,
    });
    if let (Some(date), Some(obj)) = (d.deletion_date, m.as_object_mut()) {
        obj.insert("DeletionDate".into(), timestamp(date));
    }
    m
}
