//! Sealing with the signed suite `0x0578`: the header names the suite, the context carries the
//! signer's public key, the keyring (KMS) was asked for a data key bound to that context, the
//! footer's signature over header and body verifies (checked here with the `p384` crate
//! directly, independently of fragseal's own verifier), one key pair per cache entry, and the
//! reserved context key is refused from callers.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod signed_support;

use base64::Engine as _;
use bytes::Bytes;
use fragseal::cache::CacheLimits;
use fragseal::crypto::{AeadBackend, DataKey, SecretBytes, SigningBackend, SigningKey};
use fragseal::engine::{Engine, EngineConfig, SealRequest};
use fragseal::error::{KeyringError, SealError};
use fragseal::format::EncryptedDataKey;
use fragseal::keyring::{EncryptionMaterials, Keyring, KmsKeyring, RawAesKeyring, UnwrappedKey};
use fragseal::kms::local::{audit::Operation, LocalKms};
use fragseal::kms::Credential;
use fragseal::message::{
    self, SealParams, SealSuite, EC_PUBLIC_KEY_FIELD, FOOTER_LEN, SIGNATURE_LEN, SIGNED_SUITE_ID,
};
use fragseal::EncryptionContext;
use p384::ecdsa::signature::Verifier;
use signed_support::{footer_verifies, signed_parts};
use std::sync::{Arc, Mutex};

const ACCOUNT: &str = "111122223333";
const STREAM: &str = "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-1/1";

fn root() -> Credential {
    Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), "AKIAROOT").unwrap()
}

fn ec() -> EncryptionContext {
    EncryptionContext::new().with("aws:kinesisvideo:arn", STREAM)
}

/// A raw AES keyring that records the contexts it is asked to generate for.
#[derive(Debug)]
struct Recording {
    inner: RawAesKeyring,
    generated_for: Mutex<Vec<EncryptionContext>>,
}

impl Recording {
    fn new() -> Self {
        Self {
            inner: RawAesKeyring::new("ns", "k", SecretBytes::from_slice(&[7; 32])).unwrap(),
            generated_for: Mutex::new(Vec::new()),
        }
    }

    fn contexts(&self) -> Vec<EncryptionContext> {
        self.generated_for.lock().unwrap().clone()
    }
}

impl Keyring for Recording {
    fn generate(
        &self,
        caller: &Credential,
        ec: &EncryptionContext,
    ) -> Result<EncryptionMaterials, KeyringError> {
        self.generated_for.lock().unwrap().push(ec.clone());
        self.inner.generate(caller, ec)
    }
    fn wrap(
        &self,
        caller: &Credential,
        ec: &EncryptionContext,
        data_key: &DataKey,
    ) -> Result<EncryptedDataKey, KeyringError> {
        self.inner.wrap(caller, ec, data_key)
    }
    fn accepts(&self, edk: &EncryptedDataKey) -> bool {
        self.inner.accepts(edk)
    }
    fn unwrap(
        &self,
        caller: &Credential,
        ec: &EncryptionContext,
        edk: &EncryptedDataKey,
    ) -> Result<UnwrappedKey, KeyringError> {
        self.inner.unwrap(caller, ec, edk)
    }
}

fn signed_config(backend: AeadBackend) -> EngineConfig {
    EngineConfig::default()
        .with_backend(backend)
        .with_frame_length(4096)
        .with_seal_suite(SealSuite::AesGcmHkdfSha512CommitKeyEcdsaP384)
}

#[test]
fn engine_seals_0x0578_with_the_public_key_bound_before_the_keyring_call() {
    for backend in [AeadBackend::Ring, AeadBackend::RustCrypto] {
        let keyring = Arc::new(Recording::new());
        let engine = Engine::new(keyring.clone(), signed_config(backend)).unwrap();
        let plaintext = Bytes::from(vec![0x5a; 10_000]);
        let sealed = engine
            .seal(&root(), &SealRequest::new(ec(), plaintext.clone()))
            .unwrap();
        let parts = signed_parts(&sealed);
        assert_eq!(parts.suite, SIGNED_SUITE_ID);
        assert_eq!(parts.signature.len(), SIGNATURE_LEN);
        assert!(footer_verifies(&sealed), "{backend:?}");
        // The keyring was asked for exactly the context the header stores.
        let asked = keyring.contexts();
        assert_eq!(asked.len(), 1);
        assert_eq!(
            asked[0].get(EC_PUBLIC_KEY_FIELD),
            Some(parts.public_key_b64.as_str())
        );
        assert_eq!(asked[0].get("aws:kinesisvideo:arn"), Some(STREAM));
        // The exact length is known up front.
        let edks = vec![EncryptedDataKey {
            provider_id: "ns".into(),
            provider_info: vec![0; parts.first_edk_info_len],
            ciphertext: vec![0; parts.first_edk_ciphertext_len],
        }];
        let ctx = ec();
        let params = SealParams {
            frame_length: 4096,
            ..SealParams::new(&ctx, &edks)
        };
        assert_eq!(
            message::signed_sealed_len(&params, plaintext.len()).unwrap(),
            sealed.len()
        );
        // Flipping one body byte breaks the signature (whatever the tags say).
        let mut tampered = sealed.to_vec();
        let at = tampered.len() - FOOTER_LEN - 20;
        tampered[at] ^= 1;
        assert!(!footer_verifies(&tampered));
    }
}

#[test]
fn one_key_pair_per_cache_entry() {
    let keyring = Arc::new(Recording::new());
    let engine = Engine::new(
        keyring.clone(),
        signed_config(AeadBackend::Ring).with_cache(CacheLimits::default().with_max_fragments(3)),
    )
    .unwrap();
    let other = EncryptionContext::new().with("aws:kinesisvideo:arn", format!("{STREAM}-b"));
    let keys: Vec<String> = (0..5)
        .map(|i| {
            let ctx = if i == 4 { other.clone() } else { ec() };
            let sealed = engine
                .seal(&root(), &SealRequest::new(ctx, vec![i as u8; 100]))
                .unwrap();
            assert!(footer_verifies(&sealed));
            signed_parts(&sealed).public_key_b64
        })
        .collect();
    // Fragments 0..3 share the entry (limit 3), fragment 3 gets a new entry and a new pair,
    // fragment 4 (another context) its own entry and pair.
    assert_eq!(keys[0], keys[1]);
    assert_eq!(keys[1], keys[2]);
    assert_ne!(keys[2], keys[3]);
    assert_ne!(keys[3], keys[4]);
    assert_ne!(keys[0], keys[4]);
    let asked: Vec<_> = keyring
        .contexts()
        .iter()
        .map(|c| c.get(EC_PUBLIC_KEY_FIELD).unwrap().to_owned())
        .collect();
    assert_eq!(
        asked,
        vec![keys[0].clone(), keys[3].clone(), keys[4].clone()]
    );
}

#[test]
fn the_default_suite_stays_0x0478_without_a_public_key() {
    let keyring = Arc::new(Recording::new());
    let engine = Engine::new(keyring.clone(), EngineConfig::default()).unwrap();
    let sealed = engine
        .seal(&root(), &SealRequest::new(ec(), vec![1; 100]))
        .unwrap();
    assert_eq!(
        u16::from_be_bytes([sealed[1], sealed[2]]),
        message::SUITE_ID
    );
    assert_eq!(keyring.contexts()[0].get(EC_PUBLIC_KEY_FIELD), None);
}

#[test]
fn a_caller_context_with_the_reserved_key_is_refused_before_any_keyring_call() {
    let keyring = Arc::new(Recording::new());
    let engine = Engine::new(keyring.clone(), signed_config(AeadBackend::Ring)).unwrap();
    let forged_key = SigningKey::generate(SigningBackend::Ring).unwrap();
    let stored = ec().with(EC_PUBLIC_KEY_FIELD, forged_key.public_key_base64());
    let err = engine
        .seal(&root(), &SealRequest::new(stored, vec![1; 10]))
        .unwrap_err();
    assert!(
        matches!(&err, SealError::ReservedContextKey { key } if key == EC_PUBLIC_KEY_FIELD),
        "{err:?}"
    );
    let only = SealRequest::new(ec(), vec![1; 10])
        .authenticate_only(EC_PUBLIC_KEY_FIELD, forged_key.public_key_base64());
    assert!(matches!(
        engine.seal(&root(), &only).unwrap_err(),
        SealError::ReservedContextKey { .. }
    ));
    assert!(keyring.contexts().is_empty());
    // The message API refuses it as well.
    let data_key = DataKey::generate();
    let edks = [EncryptedDataKey {
        provider_id: "p".into(),
        provider_info: vec![1],
        ciphertext: vec![2],
    }];
    let stored = ec().with(EC_PUBLIC_KEY_FIELD, "x");
    assert!(matches!(
        message::seal_signed(
            &data_key,
            &forged_key,
            &SealParams::new(&stored, &edks),
            b"x"
        ),
        Err(SealError::ReservedContextKey { .. })
    ));
}

#[test]
fn kms_binds_the_public_key_in_generate_data_key() {
    let kms = Arc::new(LocalKms::new("us-east-1", ACCOUNT));
    let key = kms.create_key(&root(), None, "fragments").unwrap().arn;
    let keyring = KmsKeyring::strict(kms.clone(), &root(), &[key.as_str()]).unwrap();
    let engine = Engine::new(Arc::new(keyring), signed_config(AeadBackend::Ring)).unwrap();
    let sealed = engine
        .seal(&root(), &SealRequest::new(ec(), vec![9; 3000]))
        .unwrap();
    let parts = signed_parts(&sealed);
    assert!(footer_verifies(&sealed));
    let generated: Vec<_> = kms
        .audit()
        .events()
        .into_iter()
        .filter(|r| r.operation == Operation::GenerateDataKey)
        .collect();
    assert_eq!(generated.len(), 1);
    let bound = generated[0].encryption_context.as_ref().unwrap();
    assert_eq!(
        bound.get(EC_PUBLIC_KEY_FIELD),
        Some(parts.public_key_b64.as_str())
    );
}

#[test]
fn message_api_signs_with_each_backend() {
    let data_key = DataKey::generate();
    let edks = [EncryptedDataKey {
        provider_id: "p".into(),
        provider_info: vec![1],
        ciphertext: vec![2; 40],
    }];
    let ctx = ec();
    let backends = [
        SigningBackend::Ring,
        SigningBackend::RustCrypto,
        #[cfg(feature = "aws-lc")]
        SigningBackend::AwsLc,
    ];
    for backend in backends {
        let signer = SigningKey::generate(backend).unwrap();
        let params = SealParams::new(&ctx, &edks);
        let sealed = message::seal_signed(&data_key, &signer, &params, &[3; 70_000]).unwrap();
        assert_eq!(
            sealed.len(),
            message::signed_sealed_len(&params, 70_000).unwrap()
        );
        let parts = signed_parts(&sealed);
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(&parts.public_key_b64)
                .unwrap(),
            signer.public_key()
        );
        let vk = p384::ecdsa::VerifyingKey::from_sec1_bytes(signer.public_key()).unwrap();
        let sig = p384::ecdsa::Signature::from_der(&parts.signature).unwrap();
        assert!(vk
            .verify(&sealed[..sealed.len() - FOOTER_LEN], &sig)
            .is_ok());
        // seal_signed_into appends after what is there.
        let mut out = b"prefix".to_vec();
        message::seal_signed_into(&data_key, &signer, &params, b"abc", &mut out).unwrap();
        assert!(out.starts_with(b"prefix"));
        assert!(footer_verifies(&out[6..]));
    }
}
