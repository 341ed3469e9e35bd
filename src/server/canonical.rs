//! The SigV4 signature of the requests every client sends (`POST /`, no query string, signed
//! headers), computed here with the derived signing key cached, as the AWS SDKs cache it on
//! the signing side; every other request shape goes to the `aws-sigv4` crate
//! ([`super::sigv4`]), which is also the oracle of this module's tests.
//!
//! - Canonical request: `POST`, `/`, an empty query, then each header of `SignedHeaders` (the
//!   client's list: lowercase, sorted, each once, `host` and `x-amz-date` among them, checked by
//!   `sigv4::parse_authorization`) as `name:value`, its values with leading and trailing spaces
//!   removed and runs of spaces collapsed to one (spaces only, as `aws-sigv4` and S3 do), several
//!   values joined by `,`; then the `SignedHeaders` list and the hex SHA-256 of the body as
//!   received. `x-amz-date` is the client's value, which `sigv4::verify` has parsed as exactly
//!   `YYYYMMDDTHHMMSSZ` (what `aws-sigv4` canonicalizes: the time formatted back).
//! - Signing key: `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service),
//!   "aws4_request")`, kept per (access key, date, service) beside a digest of the secret it
//!   came from (a key whose secret differs is derived again); the region is the server's (a
//!   request scoped to another one is refused before). At most [`MAX_KEYS`] are kept; when full,
//!   those of other dates go first, then all. Keys are boxed and zeroized when dropped.
//! - The signature is compared with the client's in constant time (`subtle`). This path only
//!   accepts: when it does not reproduce the client's signature, `sigv4::verify` asks
//!   `aws-sigv4`, so a request is never refused for a difference between the two
//!   canonicalizations (a refused request costs both).

use super::sigv4::Service;
use hmac::{Hmac, Mac};
use http::request::Parts;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Most signing keys kept at once.
pub(crate) const MAX_KEYS: usize = 4096;

/// The SigV4 algorithm name.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// A derived signing key (`kSigning`), boxed, zeroized when dropped; neither `Clone` nor
/// `Debug`.
struct SigningKey(Box<Zeroizing<[u8; 32]>>);

impl SigningKey {
    fn derive(secret: &str, date: &str, region: &str, service: &str) -> Self {
        let mut k_secret = Zeroizing::new(String::with_capacity(4 + secret.len()));
        k_secret.push_str("AWS4");
        k_secret.push_str(secret);
        let mut key = Box::new(Zeroizing::new([0u8; 32]));
        let k_date = hmac_sha256(k_secret.as_bytes(), date.as_bytes());
        let k_region = hmac_sha256(k_date.as_slice(), region.as_bytes());
        let k_service = hmac_sha256(k_region.as_slice(), service.as_bytes());
        let k_signing = hmac_sha256(k_service.as_slice(), b"aws4_request");
        key.copy_from_slice(k_signing.as_slice());
        SigningKey(key)
    }
}

#[allow(
    clippy::missing_panics_doc,
    reason = "HMAC accepts a key of any length: new_from_slice cannot fail"
)]
fn hmac_sha256(key: &[u8], data: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// A digest of a secret access key, to check that a cached key came from the same secret
/// without keeping another copy of the secret.
fn secret_digest(secret: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"fragseal sigv4 signing-key cache\0");
    h.update(secret.as_bytes());
    h.finalize().into()
}

struct Entry {
    date: [u8; 8],
    secret: [u8; 32],
    key: Arc<SigningKey>,
}

/// The signing keys derived so far, per access key id and service (see the module doc).
#[derive(Default)]
pub(crate) struct KeyCache {
    keys: Mutex<HashMap<String, [Option<Entry>; 2]>>,
}

impl KeyCache {
    /// How many keys are cached.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.keys
            .lock()
            .map_or(0, |m| m.values().map(|e| e.iter().flatten().count()).sum())
    }

    /// The signing key of `access_key_id` with `secret` on `date` (`YYYYMMDD`) for `service`
    /// in `region`: cached, or derived and cached.
    fn key(
        &self,
        access_key_id: &str,
        secret: &str,
        date: &str,
        region: &str,
        service: Service,
    ) -> Arc<SigningKey> {
        let slot = usize::from(service == Service::Sts);
        let digest = secret_digest(secret);
        let date_bytes: [u8; 8] = date.as_bytes().try_into().unwrap_or([0; 8]);
        if let Ok(map) = self.keys.lock() {
            if let Some(Some(e)) = map.get(access_key_id).map(|e| &e[slot]) {
                if e.date == date_bytes && bool::from(e.secret[..].ct_eq(&digest[..])) {
                    return Arc::clone(&e.key);
                }
            }
        }
        let key = Arc::new(SigningKey::derive(secret, date, region, service.name()));
        if let Ok(mut map) = self.keys.lock() {
            if !map.contains_key(access_key_id) && map.len() >= MAX_KEYS {
                map.retain(|_, e| e.iter().flatten().any(|k| k.date == date_bytes));
                if map.len() >= MAX_KEYS {
                    map.clear();
                }
            }
            map.entry(access_key_id.to_owned()).or_default()[slot] = Some(Entry {
                date: date_bytes,
                secret: digest,
                key: Arc::clone(&key),
            });
        }
        key
    }
}

/// What the fast path needs of a parsed `Authorization` header.
pub(crate) struct Signed<'a> {
    pub(crate) access_key_id: &'a str,
    pub(crate) signed_headers: &'a [&'a str],
    pub(crate) signature: &'a str,
    /// `X-Amz-Date`, exactly `YYYYMMDDTHHMMSSZ`.
    pub(crate) amz_date: &'a str,
    /// The scope's date, equal to `amz_date[..8]`.
    pub(crate) date: &'a str,
}

/// Why the fast path did not decide.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fallback {
    /// Not `POST /` without a query string: canonicalize with `aws-sigv4`.
    Shape,
    /// A signed header is absent or not visible ASCII (the caller reports it as `aws-sigv4`'s
    /// path does).
    Header,
}

/// `Some(Ok(matches))` when the request has the common shape: whether the client's signature
/// is the one computed with `secret`; `Err(Fallback)` otherwise.
pub(crate) fn verify(
    cache: &KeyCache,
    parts: &Parts,
    signed: &Signed<'_>,
    body_hash: &str,
    secret: &str,
    region: &str,
    service: Service,
) -> Result<bool, Fallback> {
    let creq = canonical_request(parts, signed, body_hash)?;
    let creq_hash = hex::encode(Sha256::digest(creq.as_bytes()));
    let mut sts = String::with_capacity(ALGORITHM.len() + 96 + region.len());
    // Writing to a String cannot fail.
    let _ = write!(
        sts,
        "{ALGORITHM}\n{}\n{}/{region}/{}/aws4_request\n{creq_hash}",
        signed.amz_date,
        signed.date,
        service.name()
    );
    let key = cache.key(signed.access_key_id, secret, signed.date, region, service);
    let mac = hmac_sha256(key.0.as_slice(), sts.as_bytes());
    let mut expected = [0u8; 64];
    // 32 bytes always encode to 64 hex digits.
    let _ = hex::encode_to_slice(mac.as_slice(), &mut expected);
    Ok(bool::from(expected[..].ct_eq(signed.signature.as_bytes())))
}

/// The canonical request (see the module doc), or why this request is not for the fast path.
fn canonical_request(
    parts: &Parts,
    signed: &Signed<'_>,
    body_hash: &str,
) -> Result<String, Fallback> {
    if parts.method != http::Method::POST || parts.uri.path() != "/" || parts.uri.query().is_some()
    {
        return Err(Fallback::Shape);
    }
    let mut creq = String::with_capacity(512);
    creq.push_str("POST\n/\n\n");
    for name in signed.signed_headers {
        creq.push_str(name);
        creq.push(':');
        if *name == "x-amz-date" {
            creq.push_str(signed.amz_date);
        } else {
            let mut any = false;
            for v in parts.headers.get_all(*name) {
                let v = v.to_str().map_err(|_| Fallback::Header)?;
                if any {
                    creq.push(',');
                }
                push_trimmed(&mut creq, v);
                any = true;
            }
            if !any {
                return Err(Fallback::Header);
            }
        }
        creq.push('\n');
    }
    creq.push('\n');
    for (i, name) in signed.signed_headers.iter().enumerate() {
        if i > 0 {
            creq.push(';');
        }
        creq.push_str(name);
    }
    creq.push('\n');
    creq.push_str(body_hash);
    Ok(creq)
}

/// Appends `v` without leading and trailing spaces, each run of spaces as one.
fn push_trimmed(out: &mut String, v: &str) {
    let mut space = false;
    for c in v.trim_matches(' ').chars() {
        if c == ' ' {
            if !space {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
}

#[cfg(test)]
#[path = "canonical_tests.rs"]
mod tests;
