//! DANGER — sealing with a caller-chosen message id, for known-answer test vectors only
//! (`internal` feature).

use super::{seal_impl, sealed_len, signed_sealed_len, SealParams};
use crate::crypto::kdf::MESSAGE_ID_LEN;
use crate::crypto::sign::SigningKey;
use crate::crypto::DataKey;
use crate::identity::RANDOM_LEN;
use crate::SealError;

/// DANGER — for known-answer test vectors only. Seals with a caller-chosen message id, which
/// makes the output deterministic. Reusing a message id with the same data key reuses the
/// derived key *and* every frame IV: it destroys confidentiality and integrity. Never use this
/// outside vector generation. With `params.identity` set, `random_half` is the random half of
/// the id and the MAC half is computed; otherwise the id is `random_half` repeated twice.
/// Unlike [`seal`](super::seal), it does not apply [`check_seal_context`](super::check_seal_context), so that tests can build the
/// messages an older or hostile sealer would. Only with the `internal` feature, as
/// `fragseal::internal::danger::danger_seal_with_fixed_message_id_for_vectors`.
///
/// # Errors
/// As [`seal`](super::seal), without the context checks.
pub fn danger_seal_with_fixed_message_id_for_vectors(
    data_key: &DataKey,
    params: &SealParams<'_>,
    random_half: &[u8; RANDOM_LEN],
    plaintext: &[u8],
) -> Result<Vec<u8>, SealError> {
    let message_id = fixed_message_id(data_key, params, random_half)?;
    let mut out = Vec::with_capacity(sealed_len(params, plaintext.len())?);
    seal_impl(data_key, None, params, &message_id, plaintext, &mut out)?;
    Ok(out)
}

/// DANGER — as [`danger_seal_with_fixed_message_id_for_vectors`], with the signed suite
/// `0x0578` and `signer` (the signature itself is randomized, so the output is deterministic
/// up to the footer). Only with the `internal` feature.
///
/// # Errors
/// As [`seal_signed`](super::seal_signed), without the context checks.
pub fn danger_seal_signed_with_fixed_message_id_for_vectors(
    data_key: &DataKey,
    signer: &SigningKey,
    params: &SealParams<'_>,
    random_half: &[u8; RANDOM_LEN],
    plaintext: &[u8],
) -> Result<Vec<u8>, SealError> {
    let message_id = fixed_message_id(data_key, params, random_half)?;
    let mut out = Vec::with_capacity(signed_sealed_len(params, plaintext.len())?);
    seal_impl(
        data_key,
        Some(signer),
        params,
        &message_id,
        plaintext,
        &mut out,
    )?;
    Ok(out)
}

fn fixed_message_id(
    data_key: &DataKey,
    params: &SealParams<'_>,
    random_half: &[u8; RANDOM_LEN],
) -> Result<[u8; MESSAGE_ID_LEN], SealError> {
    Ok(match params.identity {
        Some(identity) => identity.message_id(data_key, random_half)?,
        None => {
            let mut id = [0u8; MESSAGE_ID_LEN];
            for (i, b) in id.iter_mut().enumerate() {
                *b = random_half.get(i % RANDOM_LEN).copied().unwrap_or(0);
            }
            id
        }
    })
}
