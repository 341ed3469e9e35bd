//! Identifiers STS hands out: the stable unique ids of users and roles (`AIDA…`, `AROA…`,
//! derived from the ARN so they survive a restart) and a session's random access key id,
//! secret access key and session token.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The base-32 alphabet of AWS identifiers (`A-Z`, `2-7`).
const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// The characters of a secret access key.
const SECRET_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `prefix` followed by `n` base-32 characters of `bytes` (5 bits each, `bytes` long enough).
fn base32(prefix: &str, bytes: &[u8], n: usize) -> String {
    let mut out = String::with_capacity(prefix.len() + n);
    out.push_str(prefix);
    let (mut acc, mut bits, mut it) = (0u32, 0u32, bytes.iter());
    while out.len() < prefix.len() + n {
        if bits < 5 {
            acc = (acc << 8) | u32::from(*it.next().unwrap_or(&0));
            bits += 8;
        }
        bits -= 5;
        out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
    }
    out
}

/// The unique id of the IAM user or role `arn` (`AIDA` / `AROA` + 17 characters), as
/// `aws:userid` shows it; stable, derived from the ARN.
pub(crate) fn unique_id(prefix: &str, arn: &str) -> String {
    base32(prefix, &Sha256::digest(arn.as_bytes()), 17)
}

/// A fresh session access key id: `ASIA` + 16 random characters (20 in all).
pub(crate) fn session_access_key_id() -> String {
    let mut b = [0u8; 10];
    crate::crypto::fill_random(&mut b);
    base32("ASIA", &b, 16)
}

/// A fresh secret access key: 40 random characters (240 bits).
pub(crate) fn session_secret() -> Zeroizing<String> {
    let mut b = Zeroizing::new([0u8; 40]);
    crate::crypto::fill_random(&mut b[..]);
    let mut s = Zeroizing::new(String::with_capacity(40));
    for x in b.iter() {
        s.push(char::from(SECRET_ALPHABET[usize::from(x & 63)]));
    }
    s
}

/// A fresh session token: 64 random bytes, base64 (88 characters).
pub(crate) fn session_token() -> Zeroizing<String> {
    use base64::Engine as _;
    let mut b = Zeroizing::new([0u8; 64]);
    crate::crypto::fill_random(&mut b[..]);
    Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&b[..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_aws_shapes() {
        let id = session_access_key_id();
        assert_eq!(id.len(), 20);
        assert!(id.starts_with("ASIA"));
        assert!(id.bytes().all(|b| ALPHABET.contains(&b)));
        assert_ne!(id, session_access_key_id());
        let u = unique_id("AROA", "arn:aws:iam::111122223333:role/r");
        assert_eq!(u.len(), 21);
        assert_eq!(u, unique_id("AROA", "arn:aws:iam::111122223333:role/r"));
        assert_ne!(u, unique_id("AROA", "arn:aws:iam::111122223333:role/s"));
        assert_eq!(session_secret().len(), 40);
        assert_eq!(session_token().len(), 88);
        assert_ne!(*session_token(), *session_token());
        assert_eq!(base32("", &[0xff, 0x00], 3), "74AA"[..3].to_owned());
    }
}
