//! Engine cases written once over a [`Backend`] and run on LocalKms (tests/kms_conformance.rs)
//! and on AwsKms against moto (tests/aws_kms/against_moto.rs): seal and open through the engine
//! with the `aws-kms` encrypted data key, and how the engine reports each KMS refusal.
#![allow(dead_code)]

use super::kms_cases::{unique_alias, Backend};
use fragseal::crypto::DataKey;
use fragseal::engine::{Engine, EngineConfig, OpenRequest, RetryPolicy, SealRequest};
use fragseal::error::{KeyringError, OpenError, SealError};
use fragseal::format::EncryptedDataKey;
use fragseal::identity::IdentityCheck;
use fragseal::keyring::KmsKeyring;
use fragseal::kms::{DataKeySpec, KmsErrorKind};
use fragseal::message::{self, MessageHeader, OpenLimits, SealParams};
use fragseal::EncryptionContext;
use std::sync::Arc;

/// A strict KMS keyring of `key` (an ARN or an alias, resolved now) for the backend's caller.
fn keyring(b: &dyn Backend, key: &str) -> Arc<KmsKeyring> {
    Arc::new(
        KmsKeyring::strict(b.kms(), &b.caller(), &[key])
            .unwrap_or_else(|e| panic!("{}: keyring: {e}", b.name())),
    )
}

fn engine_with(b: &dyn Backend, key: &str, config: EngineConfig) -> Engine {
    Engine::new(keyring(b, key), config).unwrap_or_else(|e| panic!("{}: engine: {e}", b.name()))
}

fn engine(b: &dyn Backend, key: &str) -> Engine {
    engine_with(
        b,
        key,
        EngineConfig::default()
            .with_frame_length(4096)
            .with_retry(RetryPolicy::none()),
    )
}

fn skip(m: &[u8]) -> OpenRequest {
    OpenRequest::new(m.to_vec(), IdentityCheck::Skip)
}

fn stream_context() -> EncryptionContext {
    EncryptionContext::new().with(
        "aws:kinesisvideo:arn",
        "arn:aws:kinesisvideo:us-east-1:123456789012:stream/engine/1",
    )
}

fn fragment(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i * 31 + j * 7) as u8).collect()
}

fn kms_kind(
    b: &dyn Backend,
    what: &str,
    r: Result<impl core::fmt::Debug, SealError>,
) -> KmsErrorKind {
    match r {
        Err(SealError::Keyring(KeyringError::Kms(e))) => e.kind(),
        other => panic!("{}: {what}: expected a KMS error, got {other:?}", b.name()),
    }
}

fn open_kms_kind(
    b: &dyn Backend,
    what: &str,
    r: Result<impl core::fmt::Debug, OpenError>,
) -> KmsErrorKind {
    match r {
        Err(OpenError::AllKeysFailed(errors)) if errors.len() == 1 => match errors[0].kms() {
            Some(e) => e.kind(),
            None => panic!("{}: {what}: expected a KMS error, got {errors:?}", b.name()),
        },
        other => panic!("{}: {what}: expected a KMS error, got {other:?}", b.name()),
    }
}

/// Seal under an alias, open with a fresh engine: one KMS call per side for many fragments, and
/// the message carries the `aws-kms` EDK with the key ARN as provider info.
pub fn seal_and_open(b: &dyn Backend) {
    let arn = b.create_key();
    let alias = unique_alias("engine");
    b.create_alias(&alias, &arn);
    let caller = b.caller();
    let sealer = engine(b, &alias);
    let fragments: Vec<Vec<u8>> = (0..5).map(|i| fragment(i, 1000 + i * 3000)).collect();
    let sealed: Vec<_> = fragments
        .iter()
        .map(|f| {
            sealer
                .seal(&caller, &SealRequest::new(stream_context(), f.clone()))
                .unwrap_or_else(|e| panic!("{}: seal: {e}", b.name()))
        })
        .collect();
    let stats = sealer.stats(&caller).expect("stats");
    assert_eq!(
        stats.kms_calls,
        1,
        "{}: one GenerateDataKey for all fragments",
        b.name()
    );

    for m in &sealed {
        let header = MessageHeader::parse(m, &OpenLimits::default()).expect("header");
        let edks = header.encrypted_data_keys();
        assert_eq!(edks.len(), 1);
        assert_eq!(edks[0].provider_id, "aws-kms");
        assert_eq!(
            edks[0].provider_info,
            arn.as_bytes(),
            "provider info is the key ARN"
        );
        assert_eq!(header.encryption_context(), &stream_context());
    }

    let opener = engine(b, &arn);
    for (m, f) in sealed.iter().zip(&fragments) {
        let opened = opener
            .open(&caller, &skip(m))
            .unwrap_or_else(|e| panic!("{}: open: {e}", b.name()));
        assert_eq!(opened.plaintext.as_ref(), f.as_slice());
        assert_eq!(opened.header.key_id(), arn, "the key that opened");
    }
    let stats = opener.stats(&caller).expect("stats");
    assert_eq!(
        stats.kms_calls,
        1,
        "{}: one Decrypt for all fragments",
        b.name()
    );

    // Strict mode with another trusted key: the EDK is never sent to KMS.
    let strict = engine(b, &format!("{arn}-not-this-one"));
    assert!(matches!(
        strict.open(&caller, &skip(&sealed[0])),
        Err(OpenError::NoTrustedKey)
    ));
}

/// The EDK is bound to the encryption context by KMS: a message that reuses a genuine data key
/// and EDK under another context does not open.
pub fn context_swap_rejected(b: &dyn Backend) {
    let arn = b.create_key();
    let caller = b.caller();
    let kms = b.kms();
    let original = stream_context();
    let g = kms
        .generate_data_key(&caller, &arn, DataKeySpec::Aes256, &original)
        .unwrap_or_else(|e| panic!("{}: generate: {e}", b.name()));
    let data_key = DataKey::try_from(g.plaintext).expect("32-byte key");
    let edk = EncryptedDataKey {
        provider_id: "aws-kms".into(),
        provider_info: arn.clone().into_bytes(),
        ciphertext: g.ciphertext_blob,
    };
    let edks = [edk];
    // Control: under the original context the hand-made message opens.
    let good =
        message::seal(&data_key, &SealParams::new(&original, &edks), b"payload").expect("seal");
    let opened = engine(b, &arn)
        .open(&caller, &skip(&good))
        .expect("control opens");
    assert_eq!(opened.plaintext.as_ref(), b"payload");
    // Same key and EDK, other context: KMS refuses the EDK.
    let other = original.clone().with("tenant", "intruder");
    let swapped =
        message::seal(&data_key, &SealParams::new(&other, &edks), b"payload").expect("seal");
    let kind = open_kms_kind(
        b,
        "open with swapped context",
        engine(b, &arn).open(&caller, &skip(&swapped)),
    );
    assert_eq!(kind, KmsErrorKind::InvalidCiphertext, "{}", b.name());
}

/// Sealing under an unknown key fails with NotFound after exactly one (non-retried) call; a
/// strict keyring of an unknown alias is refused at construction (DescribeKey).
pub fn unknown_key(b: &dyn Backend) {
    let caller = b.caller();
    let alias = KmsKeyring::strict(b.kms(), &caller, &["alias/fragseal-engine-no-such-key"]);
    match alias {
        Err(KeyringError::Kms(e)) => assert_eq!(e.kind(), KmsErrorKind::NotFound, "{}", b.name()),
        other => panic!(
            "{}: strict keyring of an unknown alias: {other:?}",
            b.name()
        ),
    }
    let arn = b.create_key();
    let unknown = format!(
        "{}00",
        arn.trim_end_matches(|c: char| c.is_ascii_hexdigit())
    );
    let e = engine_with(b, &unknown, EngineConfig::default()); // default retries
    let r = e.seal(&caller, &SealRequest::new(stream_context(), vec![1u8; 10]));
    assert_eq!(
        kms_kind(b, "seal under unknown key", r),
        KmsErrorKind::NotFound
    );
    assert_eq!(
        e.stats(&caller).expect("stats").kms_calls,
        1,
        "final errors are not retried"
    );
}

/// A message whose `aws-kms` EDK is garbage fails with a final KMS error.
pub fn garbage_edk(b: &dyn Backend) {
    let arn = b.create_key();
    let caller = b.caller();
    let ec = stream_context();
    let edks = [EncryptedDataKey {
        provider_id: "aws-kms".into(),
        provider_info: arn.clone().into_bytes(),
        ciphertext: vec![0x5a; 150],
    }];
    let m = message::seal(&DataKey::generate(), &SealParams::new(&ec, &edks), b"x").expect("seal");
    let e = engine_with(b, &arn, EngineConfig::default());
    let kind = open_kms_kind(b, "open garbage EDK", e.open(&caller, &skip(&m)));
    if b.emulates_ciphertext_errors() {
        assert_eq!(kind, KmsErrorKind::InvalidCiphertext, "{}", b.name());
    } else {
        assert!(!kind.is_retryable(), "{}: {kind:?}", b.name());
    }
    assert_eq!(e.stats(&caller).expect("stats").kms_calls, 1, "not retried");
}

/// A disabled key: new seals and opens fail with Disabled (fresh caches), then work again once
/// the key is re-enabled.
pub fn disabled_key(b: &dyn Backend) {
    let arn = b.create_key();
    let caller = b.caller();
    let request = SealRequest::new(stream_context(), vec![7u8; 5000]);
    let sealed = engine(b, &arn).seal(&caller, &request).expect("seal");
    b.disable_key(&arn);
    let seal = engine(b, &arn).seal(&caller, &request);
    let open = engine(b, &arn).open(&caller, &skip(&sealed));
    if b.emulates_key_states() {
        assert_eq!(
            kms_kind(b, "seal, key disabled", seal),
            KmsErrorKind::Disabled
        );
        assert_eq!(
            open_kms_kind(b, "open, key disabled", open),
            KmsErrorKind::Disabled
        );
    } else {
        eprintln!(
            "{}: disabled key not emulated (seal ok: {}, open ok: {}); covered on LocalKms",
            b.name(),
            seal.is_ok(),
            open.is_ok()
        );
    }
    b.enable_key(&arn);
    engine(b, &arn)
        .open(&caller, &skip(&sealed))
        .expect("open after enable");
}

/// A key pending deletion: seals and opens fail with KMSInvalidState.
pub fn pending_deletion(b: &dyn Backend) {
    let arn = b.create_key();
    let caller = b.caller();
    let request = SealRequest::new(stream_context(), vec![7u8; 5000]);
    let sealed = engine(b, &arn).seal(&caller, &request).expect("seal");
    b.schedule_deletion(&arn);
    let seal = engine(b, &arn).seal(&caller, &request);
    let open = engine(b, &arn).open(&caller, &skip(&sealed));
    if b.emulates_key_states() {
        assert_eq!(
            kms_kind(b, "seal, pending deletion", seal),
            KmsErrorKind::InvalidState
        );
        assert_eq!(
            open_kms_kind(b, "open, pending deletion", open),
            KmsErrorKind::InvalidState
        );
    } else {
        eprintln!(
            "{}: pending deletion not emulated (seal ok: {}, open ok: {}); covered on LocalKms",
            b.name(),
            seal.is_ok(),
            open.is_ok()
        );
    }
}

/// Batches over rayon share one engine and one backend: one KMS call per side (single flight).
pub fn batches_on_many_threads(b: &dyn Backend) {
    let arn = b.create_key();
    let caller = b.caller();
    let fragments: Vec<Vec<u8>> = (0..32).map(|i| fragment(i, 2000 + i * 500)).collect();
    let sealer = engine(b, &arn);
    let sealed: Vec<_> = sealer
        .seal_batch(
            &caller,
            fragments
                .iter()
                .map(|f| SealRequest::new(stream_context(), f.clone()))
                .collect(),
        )
        .into_iter()
        .map(|r| r.unwrap_or_else(|f| panic!("{}: seal_batch: {f}", b.name())))
        .collect();
    assert_eq!(sealer.stats(&caller).expect("stats").kms_calls, 1);
    let opener = engine(b, &arn);
    let opened = opener.open_batch(
        &caller,
        sealed
            .into_iter()
            .map(|m| OpenRequest::new(m, IdentityCheck::Skip))
            .collect(),
    );
    for (r, f) in opened.into_iter().zip(&fragments) {
        let p = r.unwrap_or_else(|e| panic!("{}: open_batch: {e}", b.name()));
        assert_eq!(p.plaintext.as_ref(), f.as_slice());
    }
    assert_eq!(opener.stats(&caller).expect("stats").kms_calls, 1);
}
