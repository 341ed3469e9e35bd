//! Keyrings through the engine (issue 10 §1, §3, §9): the attacker-key scenario refused by a
//! strict keyring and by a filtered discovery keyring, strict mode with an alias, a raw AES
//! keyring with the cache (one unwrap per cached EDK), a multi-keyring message opened by each
//! key alone, required ("authenticate only") encryption context, `IdentityCheck::Skip`, the
//! error kinds when every key fails, and the engine's identity-vs-context check (issue 11 #1).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use bytes::Bytes;
use fragseal::crypto::{DataKey, SecretBytes};
use fragseal::engine::{Engine, EngineConfig, OpenRequest, RetryPolicy, SealRequest};
use fragseal::error::{ContextMismatch, KeyringError, OpenError, SealError};
use fragseal::format::{EncryptedDataKey, EncryptionContext, OpenLimits};
use fragseal::identity::{FragmentIdentity, IdentityCheck};
use fragseal::keyring::{
    DiscoveryFilter, EncryptionMaterials, Keyring, KmsKeyring, MultiKeyring, RawAesKeyring,
    UnwrappedKey,
};
use fragseal::kms::local::{audit::Operation, LocalKms};
use fragseal::kms::{Credential, KmsErrorKind};
use fragseal::message::{self, SealParams};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "111122223333";
const OTHER_ACCOUNT: &str = "444455556666";
const CAM1: &str = "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam1/1";
const CAM2: &str = "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam2/1";

fn root(account: &str) -> Credential {
    Credential::new(account, format!("arn:aws:iam::{account}:root"), "AKIAROOT").unwrap()
}

fn role(account: &str, name: &str) -> Credential {
    Credential::new(
        account,
        format!("arn:aws:sts::{account}:assumed-role/{name}/session-1"),
        format!("ASIA{}", name.to_uppercase()),
    )
    .unwrap()
}

fn ec(stream: &str) -> EncryptionContext {
    EncryptionContext::new().with("aws:kinesisvideo:arn", stream)
}

fn identity(stream: &str, n: u64) -> FragmentIdentity {
    FragmentIdentity {
        stream_arn: stream.into(),
        fragment_number: n,
        producer_timestamp_ms: 1_700_000_000_000 + n,
        track: 1,
    }
}

fn config() -> EngineConfig {
    EngineConfig::default()
        .with_frame_length(256)
        .with_retry(RetryPolicy::none())
}

fn engine(keyring: Arc<dyn Keyring>) -> Engine {
    Engine::new(keyring, config()).unwrap()
}

fn raw(name: &str, byte: u8) -> RawAesKeyring {
    RawAesKeyring::new("fragseal-test", name, SecretBytes::from_slice(&[byte; 32])).unwrap()
}

fn expect(m: &Bytes, id: &FragmentIdentity) -> OpenRequest {
    OpenRequest::new(m.clone(), IdentityCheck::Expect(id.clone()))
}

/// A key policy: `role/NAME` of the key's account may generate data keys, and the principals
/// named in `decrypt_principal` (a JSON value) may decrypt.
fn key_policy(account: &str, name: &str, decrypt_principal: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Sid":"Root","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:root"}},"Action":"kms:*","Resource":"*"}},
            {{"Sid":"Gen","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{account}:role/{name}"}},"Action":["kms:GenerateDataKey","kms:DescribeKey"],"Resource":"*"}},
            {{"Sid":"Dec","Effect":"Allow","Principal":{{"AWS":{decrypt_principal}}},"Action":"kms:Decrypt","Resource":"*"}}
        ]}}"#
    )
}

/// cam1's key (producer may generate, consumer may decrypt) and a third principal's key with a
/// `Principal: *` Decrypt policy, in the same account.
fn attacker_setup() -> (Arc<LocalKms>, String, String) {
    let kms = Arc::new(LocalKms::new(REGION, ACCOUNT));
    let consumer = format!(r#""arn:aws:iam::{ACCOUNT}:role/consumer""#);
    let cam1 = kms
        .create_key(
            &root(ACCOUNT),
            Some(&key_policy(ACCOUNT, "producer", &consumer)),
            "cam1",
        )
        .unwrap()
        .arn;
    kms.create_alias(&root(ACCOUNT), "alias/cam1", &cam1)
        .unwrap();
    let att = kms
        .create_key(
            &root(ACCOUNT),
            Some(&key_policy(ACCOUNT, "attacker", r#""*""#)),
            "att",
        )
        .unwrap()
        .arn;
    (kms, cam1, att)
}

/// The attacker seals a fragment under its own key, claiming cam1's stream and fragment 0.
fn forge(kms: &Arc<LocalKms>, attacker: &Credential, att_key: &str) -> Bytes {
    let keyring = KmsKeyring::strict(kms.clone(), attacker, &[att_key]).unwrap();
    let request =
        SealRequest::new(ec(CAM1), &b"forged fragment"[..]).with_identity(identity(CAM1, 0));
    engine(Arc::new(keyring)).seal(attacker, &request).unwrap()
}

#[test]
fn attacker_key_is_refused_by_a_strict_keyring_naming_cam1s_key() {
    let (kms, cam1, att) = attacker_setup();
    let attacker = role(ACCOUNT, "attacker");
    let consumer = role(ACCOUNT, "consumer");
    let forged = forge(&kms, &attacker, &att);

    // The consumer names cam1's key: the attacker's EDK is never sent to KMS.
    let strict = KmsKeyring::strict(kms.clone(), &consumer, &[&cam1]).unwrap();
    assert_eq!(strict.key_arns(), std::slice::from_ref(&cam1));
    let e = engine(Arc::new(strict));
    assert!(matches!(
        e.open(&consumer, &expect(&forged, &identity(CAM1, 0))),
        Err(OpenError::NoTrustedKey)
    ));
    assert_eq!(kms.audit().count(&consumer, Operation::Decrypt), 0);

    // What 0.1's default did: a discovery keyring that trusts the whole account opens the
    // forgery, because KMS releases the attacker's data key to anyone.
    let discovery = KmsKeyring::discovery(
        kms.clone(),
        DiscoveryFilter::new("aws", vec![ACCOUNT.into()]),
    );
    let opened = engine(Arc::new(discovery))
        .open(&consumer, &expect(&forged, &identity(CAM1, 0)))
        .unwrap();
    assert_eq!(
        opened.header.key_id(),
        att,
        "the key that opened it is not cam1's"
    );

    // A genuine fragment of cam1 opens under the strict keyring.
    let producer = role(ACCOUNT, "producer");
    let sealer = engine(Arc::new(
        KmsKeyring::strict(kms.clone(), &producer, &["alias/cam1"]).unwrap(),
    ));
    let genuine = sealer
        .seal(
            &producer,
            &SealRequest::new(ec(CAM1), &b"genuine"[..]).with_identity(identity(CAM1, 0)),
        )
        .unwrap();
    let strict = KmsKeyring::strict(kms.clone(), &consumer, &[&cam1]).unwrap();
    let opened = engine(Arc::new(strict))
        .open(&consumer, &expect(&genuine, &identity(CAM1, 0)))
        .unwrap();
    assert_eq!(opened.plaintext, &b"genuine"[..]);
    assert_eq!(opened.header.key_id(), cam1);
}

#[test]
fn attacker_key_in_another_account_is_refused_by_a_filtered_discovery_keyring() {
    // The attacker's key lives in another account (its own KMS); cam1's consumer opens with a
    // discovery keyring filtered to cam1's account.
    let attacker_kms = Arc::new(LocalKms::new(REGION, OTHER_ACCOUNT));
    let att = attacker_kms
        .create_key(
            &root(OTHER_ACCOUNT),
            Some(&key_policy(OTHER_ACCOUNT, "attacker", r#""*""#)),
            "att",
        )
        .unwrap()
        .arn;
    let attacker = role(OTHER_ACCOUNT, "attacker");
    let forged = forge(&attacker_kms, &attacker, &att);

    let consumer = role(ACCOUNT, "consumer");
    let filtered = KmsKeyring::discovery(
        attacker_kms.clone(),
        DiscoveryFilter::new("aws", vec![ACCOUNT.into()]),
    );
    assert!(matches!(
        engine(Arc::new(filtered)).open(&consumer, &expect(&forged, &identity(CAM1, 0))),
        Err(OpenError::NoTrustedKey)
    ));
    assert_eq!(attacker_kms.audit().count(&consumer, Operation::Decrypt), 0);
    // Control: a filter that includes the attacker's account sends the EDK to KMS.
    let careless = KmsKeyring::discovery(
        attacker_kms.clone(),
        DiscoveryFilter::new("aws", vec![ACCOUNT.into(), OTHER_ACCOUNT.into()]),
    );
    let _ = engine(Arc::new(careless)).open(&consumer, &expect(&forged, &identity(CAM1, 0)));
    assert_eq!(attacker_kms.audit().count(&consumer, Operation::Decrypt), 1);
    // A discovery keyring cannot seal.
    let discovery = KmsKeyring::discovery(
        attacker_kms,
        DiscoveryFilter::new("aws", vec![ACCOUNT.into()]),
    );
    assert!(matches!(
        engine(Arc::new(discovery)).seal(&consumer, &SealRequest::new(ec(CAM1), &b"x"[..])),
        Err(SealError::Keyring(KeyringError::DiscoveryCannotSeal))
    ));
}

#[test]
fn strict_mode_with_an_alias_resolves_it_once() {
    let (kms, cam1, _) = attacker_setup();
    let producer = role(ACCOUNT, "producer");
    let keyring = KmsKeyring::strict(kms.clone(), &producer, &["alias/cam1"]).unwrap();
    assert_eq!(keyring.key_arns(), std::slice::from_ref(&cam1));
    assert_eq!(kms.audit().count(&producer, Operation::DescribeKey), 1);
    let e = engine(Arc::new(keyring));
    for i in 0..5u8 {
        let ec = ec(CAM1).with("n", i.to_string());
        let sealed = e
            .seal(&producer, &SealRequest::new(ec, vec![i; 10]))
            .unwrap();
        let parsed = message::parse(&sealed, &OpenLimits::default()).unwrap();
        assert_eq!(
            parsed.encrypted_data_keys()[0].provider_info,
            cam1.as_bytes(),
            "the message names the key ARN, never the alias"
        );
    }
    assert_eq!(
        kms.audit().count(&producer, Operation::DescribeKey),
        1,
        "no further DescribeKey"
    );
    // Unknown aliases are refused at construction.
    assert!(matches!(
        KmsKeyring::strict(kms.clone(), &producer, &["alias/nope"]),
        Err(KeyringError::Kms(ref k)) if k.kind() == KmsErrorKind::NotFound
    ));
    assert!(matches!(
        KmsKeyring::strict(kms, &producer, &[] as &[&str]),
        Err(KeyringError::NoKeyIds)
    ));
}

/// A keyring that counts the calls it passes on.
#[derive(Debug)]
struct Counting<K> {
    inner: K,
    generates: AtomicUsize,
    unwraps: AtomicUsize,
}

impl<K> Counting<K> {
    fn new(inner: K) -> Self {
        Self {
            inner,
            generates: AtomicUsize::new(0),
            unwraps: AtomicUsize::new(0),
        }
    }
}

impl<K: Keyring> Keyring for Counting<K> {
    fn generate(
        &self,
        caller: &Credential,
        ec: &EncryptionContext,
    ) -> Result<EncryptionMaterials, KeyringError> {
        self.generates.fetch_add(1, Ordering::SeqCst);
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
        self.unwraps.fetch_add(1, Ordering::SeqCst);
        self.inner.unwrap(caller, ec, edk)
    }
}

#[test]
fn raw_aes_keyring_through_the_engine_with_the_cache() {
    let keyring = Arc::new(Counting::new(raw("k1", 1)));
    let e = engine(keyring.clone());
    let c = root(ACCOUNT);
    let plaintexts: Vec<Vec<u8>> = (0..20).map(|i| vec![i as u8; 100 + i * 50]).collect();
    let requests: Vec<SealRequest> = plaintexts
        .iter()
        .map(|p| SealRequest::new(ec(CAM1), p.clone()))
        .collect();
    let sealed: Vec<Bytes> = e
        .seal_batch(&c, requests)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(keyring.generates.load(Ordering::SeqCst), 1, "one data key");
    // All share one EDK: one unwrap opens them all.
    let opener = engine(keyring.clone());
    for (m, p) in sealed.iter().zip(&plaintexts) {
        let o = opener
            .open(&c, &OpenRequest::new(m.clone(), IdentityCheck::Skip))
            .unwrap();
        assert_eq!(o.plaintext, p[..]);
        assert_eq!(o.header.key_id(), "fragseal-test/k1");
    }
    assert_eq!(
        keyring.unwraps.load(Ordering::SeqCst),
        1,
        "one unwrap per cached EDK"
    );
    // A second stream is a second EDK: one more unwrap, however many fragments.
    let other: Vec<Bytes> = (0..5)
        .map(|i| {
            e.seal(&c, &SealRequest::new(ec(CAM2), vec![i; 10]))
                .unwrap()
        })
        .collect();
    for m in &other {
        opener
            .open(&c, &OpenRequest::new(m.clone(), IdentityCheck::Skip))
            .unwrap();
    }
    assert_eq!(keyring.unwraps.load(Ordering::SeqCst), 2);
    // Streaming and range opens go through the same cache.
    let mut s = opener
        .open_stream(
            &c,
            &sealed[3][..],
            &fragseal::engine::OpenOptions::new(IdentityCheck::Skip),
        )
        .unwrap();
    let mut v = Vec::new();
    std::io::Read::read_to_end(&mut s, &mut v).unwrap();
    assert_eq!(v, plaintexts[3]);
    let part = opener
        .open_range(
            &c,
            &OpenRequest::new(sealed[5].clone(), IdentityCheck::Skip),
            10..20,
        )
        .unwrap();
    assert_eq!(part.plaintext, plaintexts[5][10..20]);
    assert_eq!(keyring.unwraps.load(Ordering::SeqCst), 2);
    assert_eq!(
        opener.stats(&c).unwrap().kms_calls,
        2,
        "keyring calls are counted"
    );
}

#[test]
fn multi_keyring_message_opens_with_each_key_alone() {
    let (k1, k2, k3) = (raw("k1", 1), raw("k2", 2), raw("k3", 3));
    let multi = MultiKeyring::new(
        Arc::new(k1.clone()),
        vec![Arc::new(k2.clone()), Arc::new(k3.clone())],
    );
    let c = root(ACCOUNT);
    let sealed = engine(Arc::new(multi))
        .seal(&c, &SealRequest::new(ec(CAM1), &b"three keys"[..]))
        .unwrap();
    let parsed = message::parse(&sealed, &OpenLimits::default()).unwrap();
    assert_eq!(parsed.encrypted_data_keys().len(), 3);
    for (i, k) in [k1, k2, k3].into_iter().enumerate() {
        let name = k.key_id();
        let o = engine(Arc::new(k))
            .open(&c, &OpenRequest::new(sealed.clone(), IdentityCheck::Skip))
            .unwrap();
        assert_eq!(o.plaintext, &b"three keys"[..]);
        assert_eq!(o.header.key_id(), name);
        assert_eq!(
            o.header.encrypted_data_key(),
            &parsed.encrypted_data_keys()[i],
            "opened by its own EDK"
        );
    }
    // A key that is none of them does not open it.
    assert!(matches!(
        engine(Arc::new(raw("k4", 4))).open(&c, &OpenRequest::new(sealed, IdentityCheck::Skip)),
        Err(OpenError::NoTrustedKey)
    ));
}

#[test]
fn multi_keyring_with_kms_and_raw_children_seals_under_both() {
    let (kms, cam1, _) = attacker_setup();
    let producer = role(ACCOUNT, "producer");
    let consumer = role(ACCOUNT, "consumer");
    let backup = raw("backup", 7);
    let multi = MultiKeyring::new(
        Arc::new(KmsKeyring::strict(kms.clone(), &producer, &[&cam1]).unwrap()),
        vec![Arc::new(backup.clone())],
    );
    let sealed = engine(Arc::new(multi))
        .seal(&producer, &SealRequest::new(ec(CAM1), &b"kms + raw"[..]))
        .unwrap();
    let by_kms = engine(Arc::new(
        KmsKeyring::strict(kms.clone(), &consumer, &[&cam1]).unwrap(),
    ))
    .open(
        &consumer,
        &OpenRequest::new(sealed.clone(), IdentityCheck::Skip),
    )
    .unwrap();
    assert_eq!(by_kms.header.key_id(), cam1);
    let by_raw = engine(Arc::new(backup))
        .open(&consumer, &OpenRequest::new(sealed, IdentityCheck::Skip))
        .unwrap();
    assert_eq!(by_raw.plaintext, by_kms.plaintext);
    // Two KMS keys: the data key is generated under the first and wrapped under the second
    // with KMS Encrypt; each EDK opens the message alone.
    let consumer_json = format!(r#""arn:aws:iam::{ACCOUNT}:role/consumer""#);
    let cam2 = kms
        .create_key(
            &root(ACCOUNT),
            Some(&key_policy(ACCOUNT, "producer", &consumer_json).replace(
                r#""kms:GenerateDataKey","kms:DescribeKey""#,
                r#""kms:GenerateDataKey","kms:Encrypt","kms:DescribeKey""#,
            )),
            "cam2",
        )
        .unwrap()
        .arn;
    let two = KmsKeyring::strict(kms.clone(), &producer, &[&cam1, &cam2]).unwrap();
    let sealed = engine(Arc::new(two))
        .seal(&producer, &SealRequest::new(ec(CAM1), &b"two keys"[..]))
        .unwrap();
    let parsed = message::parse(&sealed, &OpenLimits::default()).unwrap();
    assert_eq!(parsed.encrypted_data_keys().len(), 2);
    for only in [&cam1, &cam2] {
        let opened = engine(Arc::new(
            KmsKeyring::strict(kms.clone(), &consumer, &[only]).unwrap(),
        ))
        .open(
            &consumer,
            &OpenRequest::new(sealed.clone(), IdentityCheck::Skip),
        )
        .unwrap();
        assert_eq!(opened.plaintext, &b"two keys"[..]);
        assert_eq!(opened.header.key_id(), only.as_str());
    }
    // Without kms:Encrypt on the second key, sealing fails with KMS's refusal, typed.
    let no_encrypt = KmsKeyring::strict(kms.clone(), &producer, &[&cam2, &cam1]).unwrap();
    assert!(matches!(
        engine(Arc::new(no_encrypt)).seal(&producer, &SealRequest::new(ec(CAM1), &b"x"[..])),
        Err(SealError::Keyring(KeyringError::Kms(k))) if k.kind() == KmsErrorKind::AccessDenied
    ));
}

#[test]
fn required_encryption_context_must_be_supplied_exactly() {
    let c = root(ACCOUNT);
    let keyring: Arc<dyn Keyring> = Arc::new(raw("k1", 1));
    let e = engine(keyring);
    let request = SealRequest::new(ec(CAM1), &b"tenant data"[..]).authenticate_only("tenant", "t1");
    let sealed = e.seal(&c, &request).unwrap();
    // Not stored in the message.
    let parsed = message::parse(&sealed, &OpenLimits::default()).unwrap();
    assert_eq!(parsed.encryption_context(), &ec(CAM1));
    // Supplied: opens, and the verified header says what was supplied.
    let ok = e
        .open(
            &c,
            &OpenRequest::new(sealed.clone(), IdentityCheck::Skip).supply("tenant", "t1"),
        )
        .unwrap();
    assert_eq!(ok.plaintext, &b"tenant data"[..]);
    assert_eq!(ok.header.supplied_context().get("tenant"), Some("t1"));
    assert_eq!(ok.header.encryption_context(), &ec(CAM1));
    let fails = |r: OpenRequest| {
        let opener = engine(Arc::new(raw("k1", 1)));
        opener.open(&c, &r).unwrap_err()
    };
    // Missing, wrong or extra supplied pairs: the data key is bound to the whole context, so
    // the raw AES unwrap fails (opaque), as KMS Decrypt would.
    for (what, r) in [
        (
            "missing",
            OpenRequest::new(sealed.clone(), IdentityCheck::Skip),
        ),
        (
            "wrong",
            OpenRequest::new(sealed.clone(), IdentityCheck::Skip).supply("tenant", "t2"),
        ),
        (
            "extra",
            OpenRequest::new(sealed.clone(), IdentityCheck::Skip)
                .supply("tenant", "t1")
                .supply("region", "eu"),
        ),
    ] {
        match fails(r) {
            OpenError::AllKeysFailed(errors) => assert!(
                matches!(errors[..], [KeyringError::Authentication(_)]),
                "{what}: {errors:?}"
            ),
            other => panic!("{what}: {other:?}"),
        }
    }
    // Even with the right data key, the header tag covers the supplied pairs: a message whose
    // EDK was made for the stored context alone (so the unwrap succeeds) fails to authenticate
    // when the supplied pair is missing or wrong.
    let k1 = raw("k1", 1);
    let dk = DataKey::from_bytes([9; 32]);
    let stored = ec(CAM1);
    let extra = EncryptionContext::new().with("tenant", "t1");
    let mut all = stored.clone();
    all.insert("tenant", "t1");
    let edks_all = [k1.wrap_key(&dk, &all).unwrap()];
    let edks_stored = [k1.wrap_key(&dk, &stored).unwrap()];
    let with_extra = SealParams {
        authenticate_only: Some(&extra),
        ..SealParams::new(&stored, &edks_stored)
    };
    let m = message::seal(&dk, &with_extra, b"x").unwrap();
    assert!(matches!(
        e.open(&c, &OpenRequest::new(m, IdentityCheck::Skip)),
        Err(OpenError::Authentication(_))
    ));
    let m = message::seal(
        &dk,
        &SealParams {
            authenticate_only: Some(&extra),
            ..SealParams::new(&stored, &edks_all)
        },
        b"x",
    )
    .unwrap();
    assert!(e
        .open(
            &c,
            &OpenRequest::new(m.clone(), IdentityCheck::Skip).supply("tenant", "t1")
        )
        .is_ok());
    // A supplied key that is also stored is refused before any key is fetched.
    assert!(matches!(
        e.open(
            &c,
            &OpenRequest::new(m.clone(), IdentityCheck::Skip).supply("aws:kinesisvideo:arn", CAM1)
        ),
        Err(OpenError::Context(
            ContextMismatch::SuppliedKeyStored { .. }
        ))
    ));
    // Sealing refuses a key both stored and authenticated only.
    assert!(matches!(
        e.seal(
            &c,
            &SealRequest::new(ec(CAM1), &b"x"[..]).authenticate_only("aws:kinesisvideo:arn", CAM1)
        ),
        Err(SealError::ContextKeyInBoth { .. })
    ));
}

#[test]
fn required_encryption_context_goes_to_kms() {
    let (kms, cam1, _) = attacker_setup();
    let producer = role(ACCOUNT, "producer");
    let consumer = role(ACCOUNT, "consumer");
    let sealer = engine(Arc::new(
        KmsKeyring::strict(kms.clone(), &producer, &[&cam1]).unwrap(),
    ));
    let sealed = sealer
        .seal(
            &producer,
            &SealRequest::new(ec(CAM1), &b"x"[..]).authenticate_only("tenant", "t1"),
        )
        .unwrap();
    let opener = engine(Arc::new(
        KmsKeyring::strict(kms.clone(), &consumer, &[&cam1]).unwrap(),
    ));
    assert!(opener
        .open(
            &consumer,
            &OpenRequest::new(sealed.clone(), IdentityCheck::Skip).supply("tenant", "t1")
        )
        .is_ok());
    match opener.open(&consumer, &OpenRequest::new(sealed, IdentityCheck::Skip)) {
        Err(OpenError::AllKeysFailed(errors)) => {
            assert_eq!(
                errors[0].kms().map(|k| k.kind()),
                Some(KmsErrorKind::InvalidCiphertext)
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn required_stored_pairs_are_checked_before_any_key_is_fetched() {
    let keyring = Arc::new(Counting::new(raw("k1", 1)));
    let e = engine(keyring.clone());
    let c = root(ACCOUNT);
    let sealed = e.seal(&c, &SealRequest::new(ec(CAM1), &b"x"[..])).unwrap();
    let req = || OpenRequest::new(sealed.clone(), IdentityCheck::Skip);
    assert!(e
        .open(&c, &req().require("aws:kinesisvideo:arn", CAM1))
        .is_ok());
    assert!(matches!(
        e.open(&c, &req().require("aws:kinesisvideo:arn", CAM2)),
        Err(OpenError::Context(ContextMismatch::WrongValue { .. }))
    ));
    assert!(matches!(
        e.open(&c, &req().require("tenant", "t1")),
        Err(OpenError::Context(ContextMismatch::Missing { .. }))
    ));
    assert_eq!(keyring.unwraps.load(Ordering::SeqCst), 1);
}

#[test]
fn identity_check_skip_opens_and_expect_checks() {
    let c = root(ACCOUNT);
    let e = engine(Arc::new(raw("k1", 1)));
    let sealed = e
        .seal(
            &c,
            &SealRequest::new(ec(CAM1), &b"x"[..]).with_identity(identity(CAM1, 7)),
        )
        .unwrap();
    assert!(e
        .open(&c, &OpenRequest::new(sealed.clone(), IdentityCheck::Skip))
        .is_ok());
    assert!(e.open(&c, &expect(&sealed, &identity(CAM1, 7))).is_ok());
    assert!(matches!(
        e.open(&c, &expect(&sealed, &identity(CAM1, 8))),
        Err(OpenError::Authentication(_))
    ));
}

#[test]
fn identity_check_refuses_context_of_another_stream_in_the_engine() {
    // Issue 11 #1 through the engine: a message whose authenticated context names cam2 but
    // whose id binds cam1's identity (sealed by hand, as an older fragseal allowed) is refused
    // when opened as cam1's fragment; the engine refuses to seal one.
    let c = root(ACCOUNT);
    let k1 = raw("k1", 1);
    let e = engine(Arc::new(k1.clone()));
    let cam1_id = identity(CAM1, 0);
    assert!(matches!(
        e.seal(
            &c,
            &SealRequest::new(ec(CAM2), &b"x"[..]).with_identity(cam1_id.clone())
        ),
        Err(SealError::IdentityStreamMismatch { .. })
    ));
    let dk = DataKey::from_bytes([5; 32]);
    let ec2 = ec(CAM2);
    let edks = [k1.wrap_key(&dk, &ec2).unwrap()];
    let params = SealParams {
        identity: Some(&cam1_id),
        ..SealParams::new(&ec2, &edks)
    };
    let forged: Bytes = fragseal::internal::danger::danger_seal_with_fixed_message_id_for_vectors(
        &dk, &params, &[3; 16], b"x",
    )
    .unwrap()
    .into();
    assert!(matches!(
        e.open(&c, &expect(&forged, &cam1_id)),
        Err(OpenError::Authentication(_))
    ));
    // The same bytes open as a standard message: only the identity claim is refused.
    assert!(e
        .open(&c, &OpenRequest::new(forged, IdentityCheck::Skip))
        .is_ok());
}

#[test]
fn when_every_key_fails_each_failure_is_reported() {
    let c = root(ACCOUNT);
    // Two EDKs, both trusted by the opener (same names), neither decrypts (other key bytes).
    let multi = MultiKeyring::new(Arc::new(raw("k1", 1)), vec![Arc::new(raw("k2", 2))]);
    let sealed = engine(Arc::new(multi))
        .seal(&c, &SealRequest::new(ec(CAM1), &b"x"[..]))
        .unwrap();
    let impostor = MultiKeyring::new(Arc::new(raw("k1", 11)), vec![Arc::new(raw("k2", 12))]);
    match engine(Arc::new(impostor))
        .open(&c, &OpenRequest::new(sealed.clone(), IdentityCheck::Skip))
    {
        Err(OpenError::AllKeysFailed(errors)) => {
            assert_eq!(errors.len(), 2, "{errors:?}");
            assert!(errors
                .iter()
                .all(|e| matches!(e, KeyringError::Authentication(_))));
        }
        other => panic!("{other:?}"),
    }
    // None trusted.
    assert!(matches!(
        engine(Arc::new(raw("other", 1))).open(&c, &OpenRequest::new(sealed, IdentityCheck::Skip)),
        Err(OpenError::NoTrustedKey)
    ));
    // KMS refusals are reported with their KMS kind.
    let (kms, cam1, _) = attacker_setup();
    let producer = role(ACCOUNT, "producer");
    let stranger = role(ACCOUNT, "stranger");
    let sealed = engine(Arc::new(
        KmsKeyring::strict(kms.clone(), &producer, &[&cam1]).unwrap(),
    ))
    .seal(&producer, &SealRequest::new(ec(CAM1), &b"x"[..]))
    .unwrap();
    let opener = engine(Arc::new(
        KmsKeyring::strict(kms, &producer, &[&cam1]).unwrap(),
    ));
    match opener.open(&stranger, &OpenRequest::new(sealed, IdentityCheck::Skip)) {
        Err(OpenError::AllKeysFailed(errors)) => assert_eq!(
            errors[0].kms().map(|k| k.kind()),
            Some(KmsErrorKind::AccessDenied)
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_alias_the_caller_may_not_describe_seals_but_trusts_nothing() {
    let (kms, cam1, _) = attacker_setup();
    let producer = role(ACCOUNT, "producer");
    let consumer = role(ACCOUNT, "consumer"); // Decrypt only: no DescribeKey
    let sealed = engine(Arc::new(
        KmsKeyring::strict(kms.clone(), &producer, &[&cam1]).unwrap(),
    ))
    .seal(&producer, &SealRequest::new(ec(CAM1), &b"x"[..]))
    .unwrap();
    let unresolved = KmsKeyring::strict(kms.clone(), &consumer, &["alias/cam1"]).unwrap();
    assert_eq!(unresolved.key_arns(), ["alias/cam1".to_owned()]);
    assert!(matches!(
        engine(Arc::new(unresolved))
            .open(&consumer, &OpenRequest::new(sealed, IdentityCheck::Skip)),
        Err(OpenError::NoTrustedKey)
    ));
    assert_eq!(kms.audit().count(&consumer, Operation::Decrypt), 0);
}
