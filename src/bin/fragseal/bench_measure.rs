//! `fragseal bench`: the measurements. An engine over an embedded LocalKms, the raw AEAD
//! baseline of the same provider, and a timed loop on N threads.

use crate::error::{CliError, Exit};
use bytes::Bytes;
use fragseal::cache::CacheLimits;
use fragseal::crypto::AeadBackend;
use fragseal::engine::{Engine, EngineConfig, OpenRequest, SealRequest};
use fragseal::identity::IdentityCheck;
use fragseal::keyring::KmsKeyring;
use fragseal::kms::local::LocalKms;
use fragseal::kms::Credential;
use fragseal::EncryptionContext;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";
const STREAM_ARN: &str = "arn:aws:kinesisvideo:us-east-1:111122223333:stream/bench/1700000000000";

/// What one timed loop did: bytes processed on all threads and the wall time.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub bytes: u64,
    pub elapsed: Duration,
}

impl Sample {
    /// Throughput in bytes per second.
    pub fn bytes_per_sec(self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs `work(thread, iteration)` on `threads` threads, all started together, each repeating
/// until `duration` has passed (at least once). `work` returns the bytes it processed.
pub fn timed<S, W>(
    threads: usize,
    duration: Duration,
    state: impl Fn(usize) -> S,
    work: W,
) -> Sample
where
    S: Send,
    W: Fn(&mut S, usize) -> u64 + Sync,
{
    let barrier = Barrier::new(threads + 1);
    let work = &work;
    let barrier = &barrier;
    let states: Vec<S> = (0..threads).map(&state).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = states
            .into_iter()
            .map(|mut s| {
                scope.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    let mut bytes = 0u64;
                    let mut i = 0usize;
                    loop {
                        bytes += work(&mut s, i);
                        i += 1;
                        if start.elapsed() >= duration {
                            break;
                        }
                    }
                    (bytes, start.elapsed())
                })
            })
            .collect();
        barrier.wait();
        let mut total = Sample {
            bytes: 0,
            elapsed: Duration::ZERO,
        };
        for h in handles {
            // A panicking worker is a bug in this module: re-raise it.
            let (b, e) = h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            total.bytes += b;
            total.elapsed = total.elapsed.max(e);
        }
        total
    })
}

/// A raw AES-256-GCM key of one provider, sealing in place with a detached tag: the baseline
/// every engine figure is compared with.
#[allow(
    clippy::large_enum_variant,
    reason = "one key per provider per run; held inline like the engine's keys"
)]
pub enum RawAead {
    Ring(ring::aead::LessSafeKey),
    RustCrypto(Box<aes_gcm::Aes256Gcm>),
    #[cfg(feature = "aws-lc")]
    AwsLc(aws_lc_rs::aead::LessSafeKey),
}

impl RawAead {
    /// A fixed benchmark key (not a secret: it protects nothing).
    pub fn new(provider: AeadBackend) -> Result<Self, CliError> {
        use aes_gcm::KeyInit;
        const KEY: [u8; 32] = [0x42; 32];
        let internal =
            |what: &str| CliError::new(Exit::Internal, format!("raw {what} key setup failed"));
        match provider {
            AeadBackend::Ring => ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &KEY)
                .map(|k| RawAead::Ring(ring::aead::LessSafeKey::new(k)))
                .map_err(|_| internal("ring")),
            AeadBackend::RustCrypto => Ok(RawAead::RustCrypto(Box::new(aes_gcm::Aes256Gcm::new(
                (&KEY).into(),
            )))),
            #[cfg(feature = "aws-lc")]
            AeadBackend::AwsLc => {
                aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, &KEY)
                    .map(|k| RawAead::AwsLc(aws_lc_rs::aead::LessSafeKey::new(k)))
                    .map_err(|_| internal("aws-lc"))
            }
            other => Err(CliError::new(
                Exit::Internal,
                format!("no raw baseline for provider {other:?}"),
            )),
        }
    }

    /// Seals `buf` in place under a fixed IV (the baseline measures speed, not security: the
    /// key protects nothing) and returns the tag's first byte so the work cannot be elided.
    pub fn seal(&self, buf: &mut [u8]) -> u8 {
        const IV: [u8; 12] = [7; 12];
        match self {
            RawAead::Ring(k) => k
                .seal_in_place_separate_tag(
                    ring::aead::Nonce::assume_unique_for_key(IV),
                    ring::aead::Aad::empty(),
                    buf,
                )
                .map(|t| t.as_ref()[0])
                .unwrap_or(0),
            RawAead::RustCrypto(k) => {
                use aes_gcm::AeadInPlace;
                k.encrypt_in_place_detached((&IV).into(), &[], buf)
                    .map(|t| t[0])
                    .unwrap_or(0)
            }
            #[cfg(feature = "aws-lc")]
            RawAead::AwsLc(k) => k
                .seal_in_place_separate_tag(
                    aws_lc_rs::aead::Nonce::assume_unique_for_key(IV),
                    aws_lc_rs::aead::Aad::empty(),
                    buf,
                )
                .map(|t| t.as_ref()[0])
                .unwrap_or(0),
        }
    }
}

/// An engine of one provider over an embedded LocalKms, with `credentials` distinct
/// credentials (distinct access key ids of the account root: each has its own cache entries).
pub struct Bench {
    pub engine: Engine,
    pub credentials: Vec<Credential>,
    context: EncryptionContext,
}

impl Bench {
    pub fn new(
        provider: AeadBackend,
        credentials: usize,
        cache: bool,
        suite: fragseal::message::SealSuite,
    ) -> Result<Self, CliError> {
        let setup = |what: &str, e: &dyn std::fmt::Display| {
            CliError::new(Exit::Internal, format!("bench setup: {what}: {e}"))
        };
        let kms = Arc::new(LocalKms::new(REGION, ACCOUNT));
        let root_arn = format!("arn:aws:iam::{ACCOUNT}:root");
        let credentials = (0..credentials.max(1))
            .map(|i| Credential::new(ACCOUNT, root_arn.clone(), format!("AKIABENCH{i:08}")))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| setup("credential", &e))?;
        let key = kms
            .create_key(&credentials[0], None, "fragseal bench")
            .map_err(|e| setup("create key", &e))?
            .arn;
        let keyring =
            KmsKeyring::strict(kms, &credentials[0], &[&key]).map_err(|e| setup("keyring", &e))?;
        let limits = if cache {
            CacheLimits::default()
        } else {
            CacheLimits::disabled()
        };
        let config = EngineConfig::default()
            .with_backend(provider)
            .with_cache(limits)
            .with_seal_suite(suite);
        let engine = Engine::new(Arc::new(keyring), config).map_err(|e| setup("engine", &e))?;
        let context = EncryptionContext::new().with("aws:kinesisvideo:arn", STREAM_ARN);
        Ok(Self {
            engine,
            credentials,
            context,
        })
    }

    /// A seal request of `size` bytes (a pattern that depends on `seed`).
    pub fn request(&self, size: usize, seed: usize) -> SealRequest {
        let plaintext: Vec<u8> = (0..size).map(|i| (i ^ seed) as u8).collect();
        SealRequest::new(self.context.clone(), plaintext)
    }

    /// The credential of iteration `i` on thread `t`: round robin.
    pub fn credential(&self, t: usize, i: usize) -> &Credential {
        &self.credentials[(t + i) % self.credentials.len()]
    }

    /// Seals `request` for every credential once (warms the cache) and returns one open
    /// request per credential.
    pub fn prepare_opens(&self, request: &SealRequest) -> Result<Vec<OpenRequest>, CliError> {
        self.credentials
            .iter()
            .map(|c| {
                self.engine
                    .seal(c, request)
                    .map(|m: Bytes| OpenRequest::new(m, IdentityCheck::Skip))
                    .map_err(|e| CliError::new(Exit::Internal, format!("bench seal: {e}")))
            })
            .collect()
    }
}
