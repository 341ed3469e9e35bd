//! KMS conformance cases written once over `Arc<dyn Kms>` and run against every backend:
//! LocalKms (tests/kms_conformance.rs) and AwsKms against moto (tests/aws_kms/against_moto.rs).
//!
//! moto 5.2.5 gets some behaviours wrong (it answers `AccessDeniedException` for garbage
//! ciphertext and for a wrong expected key, and ignores disabled and pending-deletion key states).
//! A backend declares which behaviours it emulates; where it does not, the case asserts moto's
//! documented deviation instead (so a change in moto is noticed), and the exact AWS behaviour is
//! checked on LocalKms.
#![allow(dead_code)]

use fragseal::kms::{Credential, DataKeySpec, KeyState, Kms, KmsError, KmsErrorKind};
use fragseal::EncryptionContext;
use std::sync::Arc;

/// A KMS backend under test with its administrative operations.
pub trait Backend: Send + Sync {
    /// Name for messages.
    fn name(&self) -> &'static str;
    /// The backend as the engine sees it.
    fn kms(&self) -> Arc<dyn Kms>;
    /// A caller allowed to use every key the fixture creates.
    fn caller(&self) -> Credential;
    /// Creates a symmetric key; returns its ARN.
    fn create_key(&self) -> String;
    /// Creates `alias` (`alias/...`) for `key_arn`.
    fn create_alias(&self, alias: &str, key_arn: &str);
    /// Disables the key.
    fn disable_key(&self, key_arn: &str);
    /// Enables the key.
    fn enable_key(&self, key_arn: &str);
    /// Schedules the key's deletion (7 days).
    fn schedule_deletion(&self, key_arn: &str);
    /// Whether cryptographic calls honour Disabled / PendingDeletion (moto: no).
    fn emulates_key_states(&self) -> bool;
    /// Whether garbage ciphertext and a wrong expected key get AWS's error codes (moto: no).
    fn emulates_ciphertext_errors(&self) -> bool;
}

/// A unique alias name.
pub fn unique_alias(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "alias/{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn stream_context(n: u32) -> EncryptionContext {
    EncryptionContext::new()
        .with(
            "aws:kinesisvideo:arn",
            format!("arn:aws:kinesisvideo:us-east-1:123456789012:stream/s{n}/1"),
        )
        .with("tenant", "t1")
}

fn expect_kind<T: core::fmt::Debug>(
    backend: &dyn Backend,
    what: &str,
    r: Result<T, KmsError>,
    kind: KmsErrorKind,
) -> KmsError {
    match r {
        Ok(v) => panic!(
            "{}: {what}: expected {kind:?}, got Ok({v:?})",
            backend.name()
        ),
        Err(e) => {
            assert_eq!(e.kind(), kind, "{}: {what}: {e}", backend.name());
            e
        }
    }
}

/// Generate under an ARN and under an alias, decrypt with and without the expected key.
pub fn generate_and_decrypt(b: &dyn Backend) {
    let kms = b.kms();
    let caller = b.caller();
    let arn = b.create_key();
    let alias = unique_alias("roundtrip");
    b.create_alias(&alias, &arn);
    let ec = stream_context(1);
    for key_id in [arn.as_str(), alias.as_str()] {
        let g = kms
            .generate_data_key(&caller, key_id, DataKeySpec::Aes256, &ec)
            .unwrap_or_else(|e| panic!("{}: generate under {key_id}: {e}", b.name()));
        assert_eq!(
            g.key_id,
            arn,
            "{}: GenerateDataKey answers the key ARN",
            b.name()
        );
        assert_eq!(g.plaintext.len(), 32);
        assert!(!g.ciphertext_blob.is_empty());
        for expected in [None, Some(arn.as_str())] {
            let d = kms
                .decrypt(&caller, &g.ciphertext_blob, &ec, expected)
                .unwrap_or_else(|e| panic!("{}: decrypt ({expected:?}): {e}", b.name()));
            assert_eq!(d.key_id, arn);
            assert_eq!(d.plaintext, g.plaintext, "{}: same data key back", b.name());
        }
    }
    // Other sizes and the empty context.
    let g = kms
        .generate_data_key(
            &caller,
            &arn,
            DataKeySpec::Bytes(64),
            &EncryptionContext::new(),
        )
        .unwrap_or_else(|e| panic!("{}: 64-byte key: {e}", b.name()));
    assert_eq!(g.plaintext.len(), 64);
    let d = kms
        .decrypt(&caller, &g.ciphertext_blob, &EncryptionContext::new(), None)
        .unwrap_or_else(|e| panic!("{}: decrypt 64-byte key: {e}", b.name()));
    assert_eq!(d.plaintext, g.plaintext);
}

/// DescribeKey by ARN and alias.
pub fn describe(b: &dyn Backend) {
    let kms = b.kms();
    let arn = b.create_key();
    let alias = unique_alias("describe");
    b.create_alias(&alias, &arn);
    for key_id in [arn.as_str(), alias.as_str()] {
        let d = kms
            .describe_key(&b.caller(), key_id)
            .unwrap_or_else(|e| panic!("{}: describe {key_id}: {e}", b.name()));
        assert_eq!(d.arn, arn);
        assert!(
            arn.ends_with(&d.key_id),
            "{}: key id is the ARN's tail",
            b.name()
        );
        assert_eq!(d.state, KeyState::Enabled);
        assert_eq!(d.manager, "CUSTOMER");
        assert_eq!(d.deletion_date, None);
    }
}

/// A data key generated under one context does not decrypt under another.
pub fn wrong_context_rejected(b: &dyn Backend) {
    let kms = b.kms();
    let caller = b.caller();
    let arn = b.create_key();
    let g = kms
        .generate_data_key(&caller, &arn, DataKeySpec::Aes256, &stream_context(1))
        .unwrap_or_else(|e| panic!("{}: generate: {e}", b.name()));
    for wrong in [
        stream_context(2),
        EncryptionContext::new(),
        stream_context(1).with("extra", "pair"),
    ] {
        let e = expect_kind(
            b,
            "decrypt with another context",
            kms.decrypt(&caller, &g.ciphertext_blob, &wrong, None),
            KmsErrorKind::InvalidCiphertext,
        );
        assert!(!e.is_retryable());
    }
}

/// Unknown keys and aliases are NotFound for every operation.
pub fn unknown_key(b: &dyn Backend) {
    let kms = b.kms();
    let caller = b.caller();
    let arn = b.create_key();
    let unknown = match arn.rsplit_once('/') {
        Some((prefix, _)) => format!("{prefix}/00000000-1111-2222-3333-444444444444"),
        None => panic!("{}: key ARN without '/': {arn}", b.name()),
    };
    let ec = stream_context(1);
    for key_id in [unknown.as_str(), "alias/fragseal-does-not-exist"] {
        let e = expect_kind(
            b,
            "generate under unknown key",
            kms.generate_data_key(&caller, key_id, DataKeySpec::Aes256, &ec),
            KmsErrorKind::NotFound,
        );
        assert!(!e.is_retryable());
        expect_kind(
            b,
            "describe unknown key",
            kms.describe_key(&caller, key_id),
            KmsErrorKind::NotFound,
        );
    }
}

/// Garbage ciphertext is rejected as a final error.
pub fn garbage_ciphertext(b: &dyn Backend) {
    let kms = b.kms();
    let caller = b.caller();
    let ec = stream_context(1);
    let arn = b.create_key();
    let g = kms
        .generate_data_key(&caller, &arn, DataKeySpec::Aes256, &ec)
        .unwrap_or_else(|e| panic!("{}: generate: {e}", b.name()));
    let mut flipped = g.ciphertext_blob.clone();
    if let Some(last) = flipped.last_mut() {
        *last ^= 0x01;
    }
    // A tampered genuine blob: every backend must call it invalid.
    expect_kind(
        b,
        "decrypt tampered blob",
        kms.decrypt(&caller, &flipped, &ec, None),
        KmsErrorKind::InvalidCiphertext,
    );
    // Short and random blobs.
    for blob in [vec![0x01u8], vec![0x5a; 200]] {
        let r = kms.decrypt(&caller, &blob, &ec, None);
        if b.emulates_ciphertext_errors() {
            expect_kind(b, "decrypt garbage", r, KmsErrorKind::InvalidCiphertext);
        } else {
            // moto 5.2.5: a short blob is InvalidCiphertext, a longer one whose first 36 bytes
            // are not a key id is AccessDenied. Both final.
            let e = r.expect_err("garbage must not decrypt");
            assert!(
                matches!(
                    e.kind(),
                    KmsErrorKind::InvalidCiphertext | KmsErrorKind::AccessDenied
                ),
                "{}: {e}",
                b.name()
            );
            assert!(!e.is_retryable());
        }
    }
}

/// Decrypt naming another key than the one the blob was made under.
pub fn wrong_expected_key(b: &dyn Backend) {
    let kms = b.kms();
    let caller = b.caller();
    let ec = stream_context(1);
    let arn = b.create_key();
    let other = b.create_key();
    let g = kms
        .generate_data_key(&caller, &arn, DataKeySpec::Aes256, &ec)
        .unwrap_or_else(|e| panic!("{}: generate: {e}", b.name()));
    let r = kms.decrypt(&caller, &g.ciphertext_blob, &ec, Some(&other));
    let expected = if b.emulates_ciphertext_errors() {
        KmsErrorKind::IncorrectKey
    } else {
        // moto 5.2.5 answers AccessDeniedException here (documented deviation).
        KmsErrorKind::AccessDenied
    };
    let e = expect_kind(b, "decrypt under the wrong key", r, expected);
    assert!(!e.is_retryable());
}

/// Disabled keys refuse GenerateDataKey and Decrypt; re-enabling restores them.
pub fn disabled_key(b: &dyn Backend) {
    let kms = b.kms();
    let caller = b.caller();
    let ec = stream_context(1);
    let arn = b.create_key();
    let g = kms
        .generate_data_key(&caller, &arn, DataKeySpec::Aes256, &ec)
        .unwrap_or_else(|e| panic!("{}: generate: {e}", b.name()));
    b.disable_key(&arn);
    let d = kms
        .describe_key(&caller, &arn)
        .unwrap_or_else(|e| panic!("{}: describe: {e}", b.name()));
    assert_eq!(d.state, KeyState::Disabled, "{}", b.name());
    let generate = kms.generate_data_key(&caller, &arn, DataKeySpec::Aes256, &ec);
    let decrypt = kms.decrypt(&caller, &g.ciphertext_blob, &ec, None);
    if b.emulates_key_states() {
        let e = expect_kind(
            b,
            "generate under a disabled key",
            generate,
            KmsErrorKind::Disabled,
        );
        assert!(!e.is_retryable());
        expect_kind(
            b,
            "decrypt under a disabled key",
            decrypt,
            KmsErrorKind::Disabled,
        );
    } else {
        eprintln!(
            "{}: does not emulate disabled keys (generate ok: {}, decrypt ok: {}); \
             covered on LocalKms",
            b.name(),
            generate.is_ok(),
            decrypt.is_ok()
        );
    }
    b.enable_key(&arn);
    kms.decrypt(&caller, &g.ciphertext_blob, &ec, None)
        .unwrap_or_else(|e| panic!("{}: decrypt after enable: {e}", b.name()));
}

/// Keys pending deletion refuse cryptographic calls with KMSInvalidStateException.
pub fn pending_deletion(b: &dyn Backend) {
    let kms = b.kms();
    let caller = b.caller();
    let ec = stream_context(1);
    let arn = b.create_key();
    let g = kms
        .generate_data_key(&caller, &arn, DataKeySpec::Aes256, &ec)
        .unwrap_or_else(|e| panic!("{}: generate: {e}", b.name()));
    b.schedule_deletion(&arn);
    let d = kms
        .describe_key(&caller, &arn)
        .unwrap_or_else(|e| panic!("{}: describe: {e}", b.name()));
    assert_eq!(d.state, KeyState::PendingDeletion, "{}", b.name());
    assert!(d.deletion_date.is_some(), "{}: deletion date", b.name());
    let generate = kms.generate_data_key(&caller, &arn, DataKeySpec::Aes256, &ec);
    let decrypt = kms.decrypt(&caller, &g.ciphertext_blob, &ec, None);
    if b.emulates_key_states() {
        let e = expect_kind(
            b,
            "generate under a key pending deletion",
            generate,
            KmsErrorKind::InvalidState,
        );
        assert!(!e.is_retryable());
        expect_kind(
            b,
            "decrypt under a key pending deletion",
            decrypt,
            KmsErrorKind::InvalidState,
        );
    } else {
        eprintln!(
            "{}: does not emulate pending deletion (generate ok: {}, decrypt ok: {}); \
             covered on LocalKms",
            b.name(),
            generate.is_ok(),
            decrypt.is_ok()
        );
    }
}

/// Many threads share one backend: every answer is right.
pub fn many_threads(b: &dyn Backend) {
    let kms = b.kms();
    let caller = b.caller();
    let arn = b.create_key();
    std::thread::scope(|s| {
        for t in 0..8u32 {
            let kms = kms.clone();
            let caller = caller.clone();
            let arn = arn.clone();
            s.spawn(move || {
                for i in 0..6u32 {
                    let ec = stream_context(t * 100 + i);
                    let g = kms
                        .generate_data_key(&caller, &arn, DataKeySpec::Aes256, &ec)
                        .unwrap_or_else(|e| panic!("thread {t}: generate: {e}"));
                    let d = kms
                        .decrypt(&caller, &g.ciphertext_blob, &ec, Some(&arn))
                        .unwrap_or_else(|e| panic!("thread {t}: decrypt: {e}"));
                    assert_eq!(d.plaintext, g.plaintext);
                }
            });
        }
    });
}

/// `Encrypt` a data key under a second key; the blob opens with `Decrypt` under the same
/// context only, and names the key that encrypted it.
pub fn encrypt_and_decrypt(b: &dyn Backend) {
    let kms = b.kms();
    let caller = b.caller();
    let first = b.create_key();
    let second = b.create_key();
    let alias = unique_alias("encrypt");
    b.create_alias(&alias, &second);
    let ec = stream_context(7);
    let g = kms
        .generate_data_key(&caller, &first, DataKeySpec::Aes256, &ec)
        .unwrap_or_else(|e| panic!("{}: generate: {e}", b.name()));
    for key_id in [second.as_str(), alias.as_str()] {
        let wrapped = kms
            .encrypt(&caller, key_id, g.plaintext.expose_secret(), &ec)
            .unwrap_or_else(|e| panic!("{}: encrypt under {key_id}: {e}", b.name()));
        assert_eq!(
            wrapped.key_id,
            second,
            "{}: Encrypt answers the key ARN",
            b.name()
        );
        assert_ne!(wrapped.ciphertext_blob, g.ciphertext_blob);
        for expected in [None, Some(second.as_str())] {
            let d = kms
                .decrypt(&caller, &wrapped.ciphertext_blob, &ec, expected)
                .unwrap_or_else(|e| panic!("{}: decrypt ({expected:?}): {e}", b.name()));
            assert_eq!(d.key_id, second);
            assert_eq!(d.plaintext, g.plaintext, "{}: same data key back", b.name());
        }
        let other = stream_context(8);
        expect_kind(
            b,
            "decrypt an Encrypt blob under another context",
            kms.decrypt(&caller, &wrapped.ciphertext_blob, &other, None)
                .map(|d| d.key_id),
            KmsErrorKind::InvalidCiphertext,
        );
    }
    // The largest plaintext KMS takes, and one byte more.
    let max = vec![0x5a; fragseal::kms::MAX_ENCRYPT_PLAINTEXT];
    let wrapped = kms
        .encrypt(&caller, &second, &max, &ec)
        .unwrap_or_else(|e| panic!("{}: 4096-byte plaintext: {e}", b.name()));
    let d = kms
        .decrypt(&caller, &wrapped.ciphertext_blob, &ec, None)
        .unwrap_or_else(|e| panic!("{}: decrypt 4096 bytes: {e}", b.name()));
    assert_eq!(d.plaintext.expose_secret(), max.as_slice());
    for n in [0, max.len() + 1] {
        expect_kind(
            b,
            &format!("encrypt {n} bytes"),
            kms.encrypt(&caller, &second, &vec![1; n], &ec),
            KmsErrorKind::InvalidRequest,
        );
    }
}
