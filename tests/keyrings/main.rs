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

mod context_and_identity;
mod raw_and_multi;
mod strict_and_discovery;

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "111122223333";

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
