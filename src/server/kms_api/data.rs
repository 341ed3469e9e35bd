//! Cryptographic operations: `GenerateDataKey`, `Encrypt`, `Decrypt`.
//!
//! Plaintexts are decoded into zeroizing buffers and their base64 form is built in one; the
//! response body handed to hyper is an ordinary buffer (see docs/SERVER.md, "Differences").

use super::input::Input;
use super::{grant_tokens, no_dry_run, Call, Reply, KEY_ID_MAX};
use crate::format::EncryptionContext;
use crate::kms::{DataKeySpec, Kms, KmsErrorKind, MAX_ENCRYPT_PLAINTEXT};
use crate::server::errors::{ApiError, VALIDATION};
use base64::Engine as _;
use serde::Serialize;
use zeroize::Zeroizing;

/// `CiphertextType`: 1 to 6144 bytes.
const CIPHERTEXT_MAX: usize = 6144;
/// `EncryptionAlgorithmSpec`.
const ALGORITHMS: &[&str] = &[
    "SYMMETRIC_DEFAULT",
    "RSAES_OAEP_SHA_1",
    "RSAES_OAEP_SHA_256",
    "SM2PKE",
];

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn b64_secret(bytes: &[u8]) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::with_capacity(bytes.len().div_ceil(3) * 4));
    base64::engine::general_purpose::STANDARD.encode_string(bytes, &mut s);
    s
}

fn context(input: &mut Input, member: &str) -> Result<EncryptionContext, ApiError> {
    Ok(input
        .string_map(member)?
        .map(EncryptionContext::from)
        .unwrap_or_default())
}

fn no_recipient(input: &mut Input) -> Result<(), ApiError> {
    if input.structure("Recipient")?.is_some() {
        return Err(ApiError::unsupported(
            "Recipient (Nitro Enclaves attestation) is not supported by this server.",
        ));
    }
    Ok(())
}

/// Checks `EncryptionAlgorithm`: only `SYMMETRIC_DEFAULT` fits a symmetric key.
fn algorithm(input: &mut Input, member: &str) -> Result<(), ApiError> {
    if let Some(a) = input.enumeration(member, ALGORITHMS)? {
        input.finish()?;
        if a != "SYMMETRIC_DEFAULT" {
            return Err(ApiError::kms(
                KmsErrorKind::InvalidKeyUsage,
                format!("{a} is not a valid encryption algorithm for a SYMMETRIC_DEFAULT key."),
            ));
        }
    }
    Ok(())
}

/// `KeySpec` / `NumberOfBytes` of the data-key calls: exactly one of them.
pub(super) fn data_key_spec(input: &mut Input) -> Result<DataKeySpec, ApiError> {
    let n = input.integer("NumberOfBytes", 1, 1024)?;
    let spec = input.enumeration("KeySpec", &["AES_256", "AES_128"])?;
    input.finish()?;
    match (spec.as_deref(), n) {
        (Some("AES_256"), None) => Ok(DataKeySpec::Aes256),
        (Some(_), None) => Ok(DataKeySpec::Bytes(16)),
        (None, Some(n)) => Ok(DataKeySpec::Bytes(u16::try_from(n).unwrap_or(0))),
        _ => Err(ApiError::client(
            VALIDATION,
            "Please specify either number of bytes or key spec.",
        )),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DataKeyReply<'a> {
    ciphertext_blob: &'a str,
    plaintext: &'a str,
    key_id: &'a str,
}

pub(super) fn generate_data_key(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let key = input.required_string("KeyId", 1, KEY_ID_MAX)?;
    let ec = context(input, "EncryptionContext")?;
    grant_tokens(input)?;
    no_recipient(input)?;
    no_dry_run(input)?;
    let spec = data_key_spec(input)?;
    let dk = call.kms.generate_data_key(call.caller, &key, spec, &ec)?;
    let plaintext = b64_secret(dk.plaintext.expose_secret());
    let body = serde_json::to_vec(&DataKeyReply {
        ciphertext_blob: &b64(&dk.ciphertext_blob),
        plaintext: &plaintext,
        key_id: &dk.key_id,
    })
    .map_err(|e| ApiError::internal(format!("cannot write the answer: {e}")))?;
    Ok(Reply(body))
}

pub(super) fn encrypt(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let key = input.required_string("KeyId", 1, KEY_ID_MAX)?;
    let plaintext = input.required_blob("Plaintext", 1, MAX_ENCRYPT_PLAINTEXT)?;
    let ec = context(input, "EncryptionContext")?;
    grant_tokens(input)?;
    no_dry_run(input)?;
    input.finish()?;
    algorithm(input, "EncryptionAlgorithm")?;
    let out = call.kms.encrypt(call.caller, &key, &plaintext, &ec)?;
    Ok(Reply::json(&serde_json::json!({
        "CiphertextBlob": b64(&out.ciphertext_blob),
        "KeyId": out.key_id,
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    })))
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DecryptReply<'a> {
    key_id: &'a str,
    plaintext: &'a str,
    encryption_algorithm: &'a str,
}

pub(super) fn decrypt(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let blob = input.required_blob("CiphertextBlob", 1, CIPHERTEXT_MAX)?;
    let ec = context(input, "EncryptionContext")?;
    let key = input.string("KeyId", 1, KEY_ID_MAX)?;
    grant_tokens(input)?;
    no_recipient(input)?;
    no_dry_run(input)?;
    input.finish()?;
    algorithm(input, "EncryptionAlgorithm")?;
    let out = call.kms.decrypt(call.caller, &blob, &ec, key.as_deref())?;
    let plaintext = b64_secret(out.plaintext.expose_secret());
    let body = serde_json::to_vec(&DecryptReply {
        key_id: &out.key_id,
        plaintext: &plaintext,
        encryption_algorithm: "SYMMETRIC_DEFAULT",
    })
    .map_err(|e| ApiError::internal(format!("cannot write the answer: {e}")))?;
    Ok(Reply(body))
}

pub(super) fn generate_data_key_without_plaintext(
    call: &Call<'_>,
    input: &mut Input,
) -> Result<Reply, ApiError> {
    let key = input.required_string("KeyId", 1, KEY_ID_MAX)?;
    let ec = context(input, "EncryptionContext")?;
    grant_tokens(input)?;
    no_dry_run(input)?;
    let spec = data_key_spec(input)?;
    let out = call
        .kms
        .generate_data_key_without_plaintext(call.caller, &key, spec, &ec)?;
    Ok(Reply::json(&serde_json::json!({
        "CiphertextBlob": b64(&out.ciphertext_blob),
        "KeyId": out.key_id,
    })))
}

pub(super) fn re_encrypt(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let blob = input.required_blob("CiphertextBlob", 1, CIPHERTEXT_MAX)?;
    let source_ec = context(input, "SourceEncryptionContext")?;
    let source_key = input.string("SourceKeyId", 1, KEY_ID_MAX)?;
    let destination = input.required_string("DestinationKeyId", 1, KEY_ID_MAX)?;
    let destination_ec = context(input, "DestinationEncryptionContext")?;
    grant_tokens(input)?;
    no_dry_run(input)?;
    input.finish()?;
    algorithm(input, "SourceEncryptionAlgorithm")?;
    algorithm(input, "DestinationEncryptionAlgorithm")?;
    let out = call.kms.re_encrypt(
        call.caller,
        &blob,
        &source_ec,
        source_key.as_deref(),
        &destination,
        &destination_ec,
    )?;
    Ok(Reply::json(&serde_json::json!({
        "CiphertextBlob": b64(&out.ciphertext_blob),
        "SourceKeyId": out.source_key_id,
        "KeyId": out.key_id,
        "SourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "DestinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    })))
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RandomReply<'a> {
    plaintext: &'a str,
}

pub(super) fn generate_random(call: &Call<'_>, input: &mut Input) -> Result<Reply, ApiError> {
    let n = input.integer("NumberOfBytes", 1, 1024)?;
    if input.string("CustomKeyStoreId", 1, 64)?.is_some() {
        return Err(ApiError::unsupported(
            "Custom key stores are not supported by this server.",
        ));
    }
    no_recipient(input)?;
    let Some(n) = n else {
        input.fail_null("NumberOfBytes");
        input.finish()?;
        return Err(ApiError::client(VALIDATION, "NumberOfBytes is required."));
    };
    input.finish()?;
    let bytes = call.kms.generate_random(call.caller, n)?;
    let plaintext = b64_secret(bytes.expose_secret());
    let body = serde_json::to_vec(&RandomReply {
        plaintext: &plaintext,
    })
    .map_err(|e| ApiError::internal(format!("cannot write the answer: {e}")))?;
    Ok(Reply(body))
}
