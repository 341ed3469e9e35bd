//! The per-credential data-key cache: limits at their exact boundaries, LRU eviction, erasure,
//! single flight, refresh ahead, isolation and counters. Time is moved with a `ManualClock`.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use fragseal::cache::{
    CacheKey, CacheLimits, DataKeyCache, DataKeyMaterial, LeaseSource, ManualClock, Refresh,
};
use fragseal::crypto::{DataKey, SecretBytes};
use fragseal::format::EncryptedDataKey;
use fragseal::kms::{
    Credential, DataKeySpec, DecryptedDataKey, GeneratedDataKey, KeyDescription, Kms, KmsError,
    KmsErrorKind,
};
use fragseal::{EncryptionContext, Error};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, LazyLock, Mutex};
use std::thread;
use std::time::Duration;

mod concurrency_and_refresh;
mod credentials;
mod limits;

const SUITE: u16 = 0x0478;
const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/0000-test";

/// A counting fake KMS: random data keys, a call counter, optional delay and failure.
#[derive(Default)]
struct CountingKms {
    calls: AtomicUsize,
    fail: Mutex<Option<KmsErrorKind>>,
    delay: Mutex<Duration>,
}

impl CountingKms {
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    fn set_failure(&self, kind: Option<KmsErrorKind>) {
        *self.fail.lock().unwrap() = kind;
    }
    fn set_delay(&self, d: Duration) {
        *self.delay.lock().unwrap() = d;
    }
}

impl Kms for CountingKms {
    fn generate_data_key(
        &self,
        _caller: &Credential,
        key_id: &str,
        _spec: DataKeySpec,
        _ec: &EncryptionContext,
    ) -> Result<GeneratedDataKey, KmsError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        thread::sleep(*self.delay.lock().unwrap());
        if let Some(kind) = *self.fail.lock().unwrap() {
            return Err(KmsError::new(kind, "injected"));
        }
        Ok(GeneratedDataKey {
            key_id: key_id.to_owned(),
            plaintext: SecretBytes::random(32),
            ciphertext_blob: (n as u64).to_be_bytes().to_vec(),
        })
    }

    fn decrypt(
        &self,
        _caller: &Credential,
        _blob: &[u8],
        _ec: &EncryptionContext,
        _expected: Option<&str>,
    ) -> Result<DecryptedDataKey, KmsError> {
        Err(KmsError::new(KmsErrorKind::InvalidRequest, "not used here"))
    }

    fn describe_key(
        &self,
        _caller: &Credential,
        _key_id: &str,
    ) -> Result<KeyDescription, KmsError> {
        Err(KmsError::new(KmsErrorKind::NotFound, "not used here"))
    }
}

fn cred(id: &str) -> Credential {
    Credential::new(
        "111122223333",
        format!("arn:aws:iam::111122223333:role/{id}"),
        format!("AKIA{id}"),
    )
    .unwrap()
}

static EC: LazyLock<EncryptionContext> = LazyLock::new(|| {
    EncryptionContext::new().with("aws:kinesisvideo:arn", "arn:aws:kinesisvideo:stream/s/1")
});

fn ec() -> EncryptionContext {
    EC.clone()
}

fn seal_key(c: &Credential) -> CacheKey<'_> {
    CacheKey::for_sealing(c, KEY, SUITE, &EC)
}

/// A fetch that generates a data key through `kms` as `c`.
fn fetcher<'a>(
    kms: &'a CountingKms,
    c: &'a Credential,
) -> impl FnOnce() -> Result<DataKeyMaterial, KmsError> + 'a {
    move || {
        let g = kms.generate_data_key(c, KEY, DataKeySpec::Aes256, &ec())?;
        Ok(material(g))
    }
}

/// Cache material for a generated key, with one EDK whose ciphertext is the KMS blob (the
/// cache never looks inside it).
fn material(g: GeneratedDataKey) -> DataKeyMaterial {
    let data_key = DataKey::try_from(g.plaintext).unwrap();
    let edk = EncryptedDataKey {
        provider_id: "aws-kms".into(),
        provider_info: g.key_id.as_bytes().to_vec(),
        ciphertext: g.ciphertext_blob,
    };
    DataKeyMaterial::new(data_key, vec![edk], g.key_id)
}

/// The ciphertext that identifies a cached key.
fn blob(m: &DataKeyMaterial) -> &[u8] {
    &m.encrypted_data_keys()[0].ciphertext
}

fn setup(limits: CacheLimits) -> (DataKeyCache, Arc<ManualClock>, CountingKms) {
    let clock = Arc::new(ManualClock::new());
    let cache = DataKeyCache::with_clock(limits, clock.clone()).unwrap();
    (cache, clock, CountingKms::default())
}

/// Looks up `bytes` for `c` and returns (source, ciphertext blob identifying the key).
fn take(
    cache: &DataKeyCache,
    kms: &CountingKms,
    c: &Credential,
    bytes: u64,
) -> (LeaseSource, Vec<u8>) {
    let lease = cache
        .get_or_fetch(&seal_key(c), bytes, fetcher(kms, c))
        .unwrap();
    (lease.source(), blob(lease.material()).to_vec())
}
