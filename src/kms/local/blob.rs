//! The local KMS's ciphertext blob.
//!
//! ```text
//! blob = version:u8 (0x01)
//!      ‖ key_id_len:u8 ‖ key_id           (the key's UUID, 1..=MAX_KEY_ID_LEN ASCII bytes)
//!      ‖ nonce:[u8; 12]
//!      ‖ ciphertext ‖ tag:[u8; 16]         (AES-256-GCM; ciphertext 1..=MAX_PLAINTEXT_LEN bytes)
//! ```
//!
//! The AES-GCM additional authenticated data binds the version, the key's full ARN and the
//! encryption context through an unambiguous, length-prefixed encoding:
//!
//! ```text
//! aad = "fragseal-localkms-blob" ‖ version:u8
//!     ‖ arn_len:u32 ‖ key_arn
//!     ‖ ec_len:u32 ‖ EncryptionContext::serialize()   (itself canonical and length-prefixed)
//! ```
//!
//! so a blob decrypts only under the key that made it and with exactly the encryption context
//! it was made with. Any failure to parse or to authenticate is `InvalidCiphertextException`
//! (opaque; never a panic).
//!
//! The nonce is 12 bytes from the operating system's generator (`getrandom`), drawn for each
//! blob: a KMS key may seal many blobs over its life, and a userspace generator (reseeded from
//! the OS, but copied across a `fork`) could repeat a nonce under the same key.

use crate::crypto::SecretBytes;
use crate::format::EncryptionContext;
use crate::kms::{KmsError, KmsErrorKind};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use zeroize::Zeroizing;

/// The blob format version written and accepted.
pub const VERSION: u8 = 0x01;
/// Longest key id carried in a blob.
pub const MAX_KEY_ID_LEN: usize = 64;
/// Longest data key (AWS KMS's `NumberOfBytes` maximum).
pub const MAX_DATA_KEY_LEN: usize = 1024;
/// Longest plaintext a blob carries (AWS KMS's `Encrypt` maximum).
pub const MAX_PLAINTEXT_LEN: usize = crate::kms::MAX_ENCRYPT_PLAINTEXT;
const TAG_LEN: usize = 16;
const AAD_LABEL: &[u8] = b"fragseal-localkms-blob";

/// A parsed (not yet authenticated) blob.
#[derive(Debug, PartialEq, Eq)]
pub struct ParsedBlob<'a> {
    /// The key id the blob names.
    pub key_id: &'a str,
    nonce: [u8; NONCE_LEN],
    sealed: &'a [u8],
}

fn invalid() -> KmsError {
    KmsError::new(
        KmsErrorKind::InvalidCiphertext,
        "the ciphertext is invalid or does not match the key or encryption context",
    )
}

/// A bounded reader over untrusted bytes.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.rest.len() < n {
            return None;
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
}

/// Parses a blob's envelope.
///
/// # Errors
/// `InvalidCiphertext` for anything that is not a well-formed blob.
pub fn parse(blob: &[u8]) -> Result<ParsedBlob<'_>, KmsError> {
    let mut r = Reader { rest: blob };
    if r.u8().ok_or_else(invalid)? != VERSION {
        return Err(invalid());
    }
    let id_len = usize::from(r.u8().ok_or_else(invalid)?);
    if id_len == 0 || id_len > MAX_KEY_ID_LEN {
        return Err(invalid());
    }
    let id = r.take(id_len).ok_or_else(invalid)?;
    let key_id = core::str::from_utf8(id).map_err(|_| invalid())?;
    if !key_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(invalid());
    }
    let nonce: [u8; NONCE_LEN] = r
        .take(NONCE_LEN)
        .ok_or_else(invalid)?
        .try_into()
        .map_err(|_| invalid())?;
    let sealed = r.rest;
    if sealed.len() <= TAG_LEN || sealed.len() > MAX_PLAINTEXT_LEN + TAG_LEN {
        return Err(invalid());
    }
    Ok(ParsedBlob {
        key_id,
        nonce,
        sealed,
    })
}

fn aad(key_arn: &str, ec: &EncryptionContext) -> Result<Vec<u8>, KmsError> {
    let ec_bytes = ec.serialize().ok_or_else(|| {
        KmsError::new(
            KmsErrorKind::InvalidRequest,
            "the encryption context is too large to serialize",
        )
    })?;
    let arn_len = u32::try_from(key_arn.len()).map_err(|_| invalid())?;
    let ec_len = u32::try_from(ec_bytes.len()).map_err(|_| invalid())?;
    let mut out = Vec::with_capacity(AAD_LABEL.len() + 9 + key_arn.len() + ec_bytes.len());
    out.extend_from_slice(AAD_LABEL);
    out.push(VERSION);
    out.extend_from_slice(&arn_len.to_be_bytes());
    out.extend_from_slice(key_arn.as_bytes());
    out.extend_from_slice(&ec_len.to_be_bytes());
    out.extend_from_slice(&ec_bytes);
    Ok(out)
}

fn aead_key(material: &[u8; 32]) -> Result<LessSafeKey, KmsError> {
    let unbound = UnboundKey::new(&AES_256_GCM, material)
        .map_err(|_| KmsError::new(KmsErrorKind::Internal, "AES key setup failed"))?;
    Ok(LessSafeKey::new(unbound))
}

/// Encrypts `plaintext` (a data key) under the KMS key `(key_id, key_arn, material)`.
///
/// # Errors
/// `InvalidRequest` for an empty or oversized plaintext or an unserializable context,
/// `Internal` if the cipher fails.
pub fn seal(
    key_id: &str,
    key_arn: &str,
    material: &[u8; 32],
    plaintext: &[u8],
    ec: &EncryptionContext,
) -> Result<Vec<u8>, KmsError> {
    let id_len = u8::try_from(key_id.len())
        .ok()
        .filter(|&n| n > 0 && usize::from(n) <= MAX_KEY_ID_LEN)
        .ok_or_else(|| KmsError::new(KmsErrorKind::Internal, "key id too long for a blob"))?;
    if plaintext.is_empty() || plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(KmsError::new(
            KmsErrorKind::InvalidRequest,
            format!("the plaintext must be 1 to {MAX_PLAINTEXT_LEN} bytes"),
        ));
    }
    let aad = aad(key_arn, ec)?;
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::getrandom(&mut nonce).map_err(|e| {
        KmsError::new(
            KmsErrorKind::Internal,
            format!("the operating system's random generator failed: {e}"),
        )
    })?;
    let mut out = Vec::with_capacity(2 + key_id.len() + NONCE_LEN + plaintext.len() + TAG_LEN);
    out.push(VERSION);
    out.push(id_len);
    out.extend_from_slice(key_id.as_bytes());
    out.extend_from_slice(&nonce);
    let start = out.len();
    out.extend_from_slice(plaintext);
    let sealed = aead_key(material).and_then(|key| {
        key.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&aad),
            &mut out[start..],
        )
        .map_err(|_| KmsError::new(KmsErrorKind::Internal, "AES-GCM seal failed"))
    });
    match sealed {
        Ok(tag) => {
            out.extend_from_slice(tag.as_ref());
            Ok(out)
        }
        Err(e) => {
            // The buffer may still hold the plaintext data key.
            zeroize::Zeroize::zeroize(&mut out);
            Err(e)
        }
    }
}

/// Decrypts a parsed blob with the material of the key it names.
///
/// # Errors
/// `InvalidCiphertext` when authentication fails (wrong key, context or bytes).
pub fn open(
    parsed: &ParsedBlob<'_>,
    key_arn: &str,
    material: &[u8; 32],
    ec: &EncryptionContext,
) -> Result<SecretBytes, KmsError> {
    let aad = aad(key_arn, ec).map_err(|_| invalid())?;
    let key = aead_key(material)?;
    let mut buf = Zeroizing::new(parsed.sealed.to_vec());
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key(parsed.nonce),
            Aad::from(&aad),
            &mut buf,
        )
        .map_err(|_| invalid())?;
    Ok(SecretBytes::from_slice(plain))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    const ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
    const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn round_trip_and_binding() {
        let m = [7u8; 32];
        let ec = EncryptionContext::new().with("a", "b");
        let blob = seal(ID, ARN, &m, &[1, 2, 3], &ec).unwrap();
        let p = parse(&blob).unwrap();
        assert_eq!(p.key_id, ID);
        assert_eq!(open(&p, ARN, &m, &ec).unwrap().expose_secret(), &[1, 2, 3]);
        // Other context, other ARN, other material: opaque InvalidCiphertext.
        for (arn, mat, ec2) in [
            (ARN, m, EncryptionContext::new().with("a", "c")),
            (ARN, m, EncryptionContext::new()),
            ("arn:aws:kms:us-east-1:111122223333:key/x", m, ec.clone()),
            (ARN, [8u8; 32], ec.clone()),
        ] {
            let e = open(&p, arn, &mat, &ec2).unwrap_err();
            assert_eq!(e.kind(), KmsErrorKind::InvalidCiphertext);
        }
    }

    #[test]
    fn plaintext_sizes_up_to_encrypt_maximum() {
        let m = [7u8; 32];
        let ec = EncryptionContext::new();
        let big = vec![3u8; MAX_PLAINTEXT_LEN];
        let blob = seal(ID, ARN, &m, &big, &ec).unwrap();
        let p = parse(&blob).unwrap();
        assert_eq!(
            open(&p, ARN, &m, &ec).unwrap().expose_secret(),
            big.as_slice()
        );
        for n in [0, MAX_PLAINTEXT_LEN + 1] {
            let e = seal(ID, ARN, &m, &vec![1; n], &ec).unwrap_err();
            assert_eq!(e.kind(), KmsErrorKind::InvalidRequest);
        }
        // A blob longer than the largest plaintext is not parsed.
        let mut long = seal(ID, ARN, &m, &big, &ec).unwrap();
        long.push(0);
        assert_eq!(
            parse(&long).unwrap_err().kind(),
            KmsErrorKind::InvalidCiphertext
        );
    }

    #[test]
    fn nonces_differ_between_blobs() {
        let m = [7u8; 32];
        let ec = EncryptionContext::new();
        let nonces: std::collections::HashSet<[u8; NONCE_LEN]> = (0..64)
            .map(|_| {
                parse(&seal(ID, ARN, &m, &[1; 32], &ec).unwrap())
                    .unwrap()
                    .nonce
            })
            .collect();
        assert_eq!(nonces.len(), 64);
    }

    #[test]
    fn ambiguous_contexts_differ() {
        // ("ab","c") vs ("a","bc"): a concatenating encoding would collide.
        let m = [7u8; 32];
        let ec1 = EncryptionContext::new().with("ab", "c");
        let ec2 = EncryptionContext::new().with("a", "bc");
        let blob = seal(ID, ARN, &m, &[9; 32], &ec1).unwrap();
        let p = parse(&blob).unwrap();
        assert!(open(&p, ARN, &m, &ec2).is_err());
    }

    #[test]
    fn every_truncation_and_bit_flip_is_rejected() {
        let m = [7u8; 32];
        let ec = EncryptionContext::new();
        let blob = seal(ID, ARN, &m, &[5; 32], &ec).unwrap();
        for n in 0..blob.len() {
            let r = parse(&blob[..n]).and_then(|p| open(&p, ARN, &m, &ec));
            assert_eq!(r.unwrap_err().kind(), KmsErrorKind::InvalidCiphertext);
        }
        for i in 0..blob.len() {
            let mut b = blob.clone();
            b[i] ^= 0x01;
            let r = parse(&b).and_then(|p| {
                if p.key_id == ID {
                    open(&p, ARN, &m, &ec)
                } else {
                    Err(invalid())
                }
            });
            assert!(r.is_err(), "flip at {i} accepted");
        }
    }
}
