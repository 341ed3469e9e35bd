//! The threat the signed suite addresses: a consumer whose credential holds only
//! `kms:Decrypt` (LocalKms identity policy) decrypts a legitimate fragment's encrypted data
//! key, then writes a fragment of its own with the data key it now holds.
//!
//! - Under `0x0478` the forgery opens, for the producer's and the consumer's engines alike,
//!   even with the fragment identity checked: the data key is all it takes to write a message
//!   (header tag, frames, identity MAC). These tests document the threat; they are meant to
//!   pass.
//! - Under `0x0578` each way of forging is refused: a new body under the genuine header needs a
//!   signature by the producer's private key, which never left the producer; replacing the
//!   public key (re-keying) changes the context KMS bound the data key to, so KMS refuses to
//!   decrypt the encrypted data key; downgrading to `0x0478` without the public key changes the
//!   context the same way, and keeping it is refused by the parser (`aws-crypto-public-key` is
//!   reserved outside the signed suites).
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod signed_support;

use fragseal::crypto::{AeadBackend, DataKey, SigningBackend, SigningKey};
use fragseal::engine::{Engine, EngineConfig, OpenRequest, SealRequest};
use fragseal::error::OpenError;
use fragseal::format::{ContentType, EncryptedDataKey, OpenLimits};
use fragseal::identity::{FragmentIdentity, IdentityCheck};
use fragseal::internal::crypto::kdf::derive_message_keys;
use fragseal::internal::danger::MessageBuilder;
use fragseal::internal::format::header::HeaderFields;
use fragseal::keyring::{Keyring, KmsKeyring};
use fragseal::kms::local::LocalKms;
use fragseal::kms::Credential;
use fragseal::message::{self, SealParams, SealSuite, EC_PUBLIC_KEY_FIELD, SUITE_ID};
use fragseal::{EncryptionContext, SignaturePolicy};
use signed_support::signed_parts;
use std::sync::Arc;

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "111122223333";
const STREAM: &str = "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam-1/1";
const FRAME: u32 = 1024;

fn root() -> Credential {
    Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), "AKIAROOT").unwrap()
}

fn role(name: &str) -> Credential {
    Credential::new(
        ACCOUNT,
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/{name}/session-1"),
        format!("ASIA{}", name.to_uppercase()),
    )
    .unwrap()
}

fn allow(actions: &[&str]) -> String {
    let list = actions
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":[{list}],"Resource":"*"}}]}}"#
    )
}

/// LocalKms with one key; `producer` may GenerateDataKey and Decrypt, `consumer` only Decrypt.
struct World {
    kms: Arc<LocalKms>,
    key: String,
}

impl World {
    fn new() -> Self {
        let kms = Arc::new(LocalKms::new(REGION, ACCOUNT));
        let key = kms.create_key(&root(), None, "fragments").unwrap().arn;
        let role_arn = |n: &str| format!("arn:aws:iam::{ACCOUNT}:role/{n}");
        kms.attach_identity_policy(
            &role_arn("producer"),
            &allow(&["kms:GenerateDataKey", "kms:Decrypt"]),
        )
        .unwrap();
        kms.attach_identity_policy(&role_arn("consumer"), &allow(&["kms:Decrypt"]))
            .unwrap();
        Self { kms, key }
    }

    fn keyring(&self) -> KmsKeyring {
        KmsKeyring::strict(self.kms.clone(), &root(), &[self.key.as_str()]).unwrap()
    }

    fn engine(&self, suite: SealSuite) -> Engine {
        let config = EngineConfig::default()
            .with_frame_length(FRAME)
            .with_seal_suite(suite);
        Engine::new(Arc::new(self.keyring()), config).unwrap()
    }

    /// What the consumer does with its `kms:Decrypt`: decrypt the fragment's encrypted data
    /// key under the fragment's own context.
    fn steal(&self, ec: &EncryptionContext, edk: &EncryptedDataKey) -> DataKey {
        let (data_key, _) = self
            .keyring()
            .unwrap(&role("consumer"), ec, edk)
            .unwrap()
            .into_parts();
        data_key
    }
}

fn identity() -> FragmentIdentity {
    FragmentIdentity {
        stream_arn: STREAM.into(),
        fragment_number: 42,
        producer_timestamp_ms: 1_700_000_000_000,
        track: 1,
    }
}

fn ec() -> EncryptionContext {
    EncryptionContext::new().with("aws:kinesisvideo:arn", STREAM)
}

fn genuine() -> Vec<u8> {
    (0..5000u32).map(|i| (i % 251) as u8).collect()
}

fn forged_plaintext() -> Vec<u8> {
    b"forged fragment: not what the producer sealed".repeat(50)
}

fn open_as(
    engine: &Engine,
    who: &Credential,
    m: &[u8],
    check: IdentityCheck,
) -> Result<Vec<u8>, OpenError> {
    engine
        .open(who, &OpenRequest::new(m.to_vec(), check))
        .map(|o| o.plaintext.to_vec())
}

#[test]
fn the_consumer_cannot_seal_for_itself() {
    let w = World::new();
    let engine = w.engine(SealSuite::default());
    assert!(engine
        .seal(&role("consumer"), &SealRequest::new(ec(), vec![1; 10]))
        .is_err());
}

#[test]
fn under_0x0478_a_decrypt_only_consumer_forges_fragments_that_open() {
    let w = World::new();
    let producer = w.engine(SealSuite::AesGcmHkdfSha512CommitKey);
    let consumer = w.engine(SealSuite::AesGcmHkdfSha512CommitKey);
    let request = SealRequest::new(ec(), genuine()).with_identity(identity());
    let legit = producer.seal(&role("producer"), &request).unwrap();
    let parsed = message::parse(&legit, &OpenLimits::default()).unwrap();
    let header = parsed.header();
    let edk = &header.encrypted_data_keys()[0];
    let stolen = w.steal(header.encryption_context(), edk);
    let expect = || IdentityCheck::Expect(identity());

    // 1. The genuine header (bytes as sealed) on a new body.
    let header_body = &legit[..header.header_len() - 16];
    let mut b = MessageBuilder::with_header_body(
        &stolen,
        AeadBackend::Ring,
        header.message_id(),
        header_body,
    );
    b.framed_body(&forged_plaintext(), FRAME as usize, false);
    let same_header = b.finish();
    assert_eq!(
        &same_header[..header.header_len()],
        &legit[..header.header_len()]
    );

    // 2. A whole new message (new message id, identity MAC and all) around the stolen EDK.
    let params = SealParams {
        frame_length: FRAME,
        identity: request.identity.as_ref(),
        ..SealParams::new(header.encryption_context(), header.encrypted_data_keys())
    };
    let new_id = message::seal(&stolen, &params, &forged_plaintext()).unwrap();

    for forged in [&same_header, &new_id] {
        for (engine, who) in [(&producer, role("producer")), (&consumer, role("consumer"))] {
            assert_eq!(
                open_as(engine, &who, forged, expect()).unwrap(),
                forged_plaintext(),
                "under 0x0478 the forgery opens"
            );
        }
    }
    assert_eq!(
        open_as(&consumer, &role("consumer"), &legit, expect()).unwrap(),
        genuine()
    );
}

#[test]
fn under_0x0578_rekeying_or_downgrading_changes_the_context_kms_bound() {
    let w = World::new();
    let producer = w.engine(SealSuite::AesGcmHkdfSha512CommitKeyEcdsaP384);
    let consumer = w.engine(SealSuite::AesGcmHkdfSha512CommitKey);
    let legit = producer
        .seal(&role("producer"), &SealRequest::new(ec(), genuine()))
        .unwrap();
    let parts = signed_parts(&legit);
    let edk = &parts.edks[0];
    // The consumer can still decrypt the EDK under the genuine context (it may read)...
    let stolen = w.steal(&parts.context, edk);
    let attacker = SigningKey::generate(SigningBackend::Ring).unwrap();

    // ...but not under a context with its own public key (re-keying): KMS refuses.
    let mut rekeyed_ec = parts.context.clone();
    rekeyed_ec.insert(EC_PUBLIC_KEY_FIELD, attacker.public_key_base64());
    assert!(w
        .keyring()
        .unwrap(&role("consumer"), &rekeyed_ec, edk)
        .is_err());
    // Nor without the public key (a downgrade to 0x0478).
    let mut stripped_ec = parts.context.clone();
    let mut map = stripped_ec.as_map().clone();
    map.remove(EC_PUBLIC_KEY_FIELD);
    stripped_ec = map.into_iter().collect();
    assert_eq!(stripped_ec, ec());
    assert!(w
        .keyring()
        .unwrap(&role("consumer"), &stripped_ec, edk)
        .is_err());

    // The downgraded message (0x0478, genuine EDK, context without the key) does not open.
    let params = SealParams {
        frame_length: FRAME,
        ..SealParams::new(&stripped_ec, &parts.edks)
    };
    let downgraded = message::seal(&stolen, &params, &forged_plaintext()).unwrap();
    assert!(matches!(
        open_as(
            &consumer,
            &role("consumer"),
            &downgraded,
            IdentityCheck::Skip
        ),
        Err(OpenError::AllKeysFailed(_))
    ));

    // A 0x0478 header that keeps the genuine context, public key included, is refused by the
    // parser before any key is asked for.
    let keys = derive_message_keys(AeadBackend::Ring, &stolen, SUITE_ID, &parts.message_id);
    let fields = HeaderFields {
        suite_id: SUITE_ID,
        message_id: &parts.message_id,
        encryption_context: &parts.context,
        encrypted_data_keys: &parts.edks,
        content_type: ContentType::Framed,
        frame_length: FRAME,
        commit_key: keys.commit_key.as_bytes(),
    };
    let mut b = MessageBuilder::new(&stolen, AeadBackend::Ring, &fields);
    b.framed_body(&forged_plaintext(), FRAME as usize, false);
    let kept_key = b.finish();
    assert!(matches!(
        open_as(&consumer, &role("consumer"), &kept_key, IdentityCheck::Skip),
        Err(OpenError::Format(_))
    ));
}

#[test]
fn under_0x0578_a_new_body_under_the_genuine_header_is_refused() {
    let w = World::new();
    let producer = w.engine(SealSuite::AesGcmHkdfSha512CommitKeyEcdsaP384);
    let consumer = w.engine(SealSuite::AesGcmHkdfSha512CommitKey);
    let legit = producer
        .seal(&role("producer"), &SealRequest::new(ec(), genuine()))
        .unwrap();
    // Positive control: the genuine signed fragment opens for the consumer.
    assert_eq!(
        open_as(&consumer, &role("consumer"), &legit, IdentityCheck::Skip).unwrap(),
        genuine()
    );
    let parts = signed_parts(&legit);
    let stolen = w.steal(&parts.context, &parts.edks[0]);
    let attacker = SigningKey::generate(SigningBackend::Ring).unwrap();
    let header_body = &legit[..parts.header_len - 16];
    let forge = |footer: &dyn Fn(&mut MessageBuilder)| {
        let mut b = MessageBuilder::with_header_body_for_suite(
            &stolen,
            AeadBackend::Ring,
            message::SIGNED_SUITE_ID,
            &parts.message_id,
            header_body,
        );
        b.framed_body(&forged_plaintext(), FRAME as usize, false);
        footer(&mut b);
        b.finish()
    };
    // The genuine header is reproduced byte for byte (the stolen key makes its tag).
    let with_old_footer = forge(&|b| {
        b.footer(&parts.signature);
    });
    assert_eq!(
        &with_old_footer[..parts.header_len],
        &legit[..parts.header_len]
    );
    let with_own_signature = forge(&|b| {
        b.sign(&attacker).unwrap();
    });
    for forged in [&with_old_footer, &with_own_signature] {
        for (engine, who) in [(&producer, role("producer")), (&consumer, role("consumer"))] {
            assert!(matches!(
                open_as(engine, &who, forged, IdentityCheck::Skip),
                Err(OpenError::Authentication(_))
            ));
        }
    }
}

#[test]
fn require_signed_refuses_a_forgery_under_an_older_unsigned_fragments_key() {
    let w = World::new();
    // The stream's producer sealed 0x0478 before it moved to 0x0578: that fragment's data key
    // is bound to a context without a public key, and the consumer can unwrap it.
    let old = w
        .engine(SealSuite::AesGcmHkdfSha512CommitKey)
        .seal(
            &role("producer"),
            &SealRequest::new(ec(), genuine()).with_identity(identity()),
        )
        .unwrap();
    let signed = w
        .engine(SealSuite::AesGcmHkdfSha512CommitKeyEcdsaP384)
        .seal(
            &role("producer"),
            &SealRequest::new(ec(), genuine()).with_identity(identity()),
        )
        .unwrap();
    let parsed = message::parse(&old, &OpenLimits::default()).unwrap();
    let header = parsed.header();
    let stolen = w.steal(
        header.encryption_context(),
        &header.encrypted_data_keys()[0],
    );
    // A new 0x0478 fragment (a later fragment number) around the stolen key.
    let later = FragmentIdentity {
        fragment_number: 43,
        ..identity()
    };
    let params = SealParams {
        frame_length: FRAME,
        identity: Some(&later),
        ..SealParams::new(header.encryption_context(), header.encrypted_data_keys())
    };
    let forged = message::seal(&stolen, &params, &forged_plaintext()).unwrap();
    let expect_later = || IdentityCheck::Expect(later.clone());

    // Positive control: an opener that allows unsigned messages accepts the forgery.
    let lenient = w.engine(SealSuite::AesGcmHkdfSha512CommitKey);
    assert_eq!(
        open_as(&lenient, &role("consumer"), &forged, expect_later()).unwrap(),
        forged_plaintext()
    );

    let strict = Engine::new(
        Arc::new(w.keyring()),
        EngineConfig::default()
            .with_frame_length(FRAME)
            .with_signature_policy(SignaturePolicy::RequireSigned),
    )
    .unwrap();
    for m in [&forged[..], &old[..]] {
        let e = open_as(&strict, &role("consumer"), m, IdentityCheck::Skip).unwrap_err();
        assert!(
            matches!(e, OpenError::SignaturePolicy { suite } if !suite.is_signed()),
            "{e:?}"
        );
        // Refused from the header alone: a credential KMS would refuse gets the same error,
        // because no keyring call is made.
        let e = open_as(&strict, &role("nobody"), m, IdentityCheck::Skip).unwrap_err();
        assert!(matches!(e, OpenError::SignaturePolicy { .. }), "{e:?}");
        let e = strict
            .open_stream(
                &role("consumer"),
                m,
                &fragseal::engine::OpenOptions::new(IdentityCheck::Skip),
            )
            .err()
            .unwrap();
        assert!(matches!(e, OpenError::SignaturePolicy { .. }), "{e:?}");
    }
    // The signed fragment opens under the strict policy.
    assert_eq!(
        open_as(
            &strict,
            &role("consumer"),
            &signed,
            IdentityCheck::Expect(identity())
        )
        .unwrap(),
        genuine()
    );
    // Only the signed fragment asked KMS for its key.
    assert_eq!(strict.stats(&role("consumer")).unwrap().kms_calls, 1);
}
