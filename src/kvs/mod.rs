//! Kinesis Video Streams with server-side encryption: the layer a KVS emulator links.
//!
//! What the KVS documentation says (the copies in `kvs-docs/`), and how this module does it:
//! - **The key is fixed at CreateStream.** `KmsKeyId` (key id, key ARN, alias name or alias
//!   ARN) is stored as given; UpdateStream cannot change it (`InvalidArgumentException`).
//!   Without one the stream uses the AWS-managed key, shown as the ARN of
//!   `alias/aws/kinesisvideo` in the stream's account.
//! - **The key is not accessed until PutMedia or GetMedia.** CreateStream makes no KMS call,
//!   so a stream whose key does not exist is created, and its PutMedia and GetMedia fail
//!   (error id 4506). `alias/aws/kinesisvideo` appears in the account at the first
//!   PutMedia/GetMedia (the local KMS creates it on first use).
//! - **Calls to KMS carry the caller's credential, through the service**
//!   ([`LocalKms::via_service`]: `kms:ViaService = kinesisvideo.REGION.amazonaws.com`), so
//!   producers need `kms:GenerateDataKey` and consumers `kms:Decrypt` on the stream's key. A key
//!   named by a key ARN needs no other call; any other form is resolved once per PutMedia
//!   session or GetMedia call with `DescribeKey` as the caller (the AWS-managed key's policy
//!   allows that through KVS; for a customer alias, the caller needs `kms:DescribeKey`).
//!
//! **A remote data-plane KMS** ([`KvsBuilder::data_kms`], for example an
//! [`AwsKms`](crate::kms::aws) pointed at a `fragseal kms serve` listener or at AWS KMS) makes
//! the `DescribeKey`, `GenerateDataKey` and `Decrypt` calls instead of the local KMS; the local
//! KMS given to [`Kvs::builder`] stays the authority of the `kinesisvideo:` decisions (its
//! identity policies; see [`remote`] for loading them from a server's IAM file) and names the
//! region. What changes, by design:
//! - **No `kms:ViaService`.** Only the KVS service itself can make a call that AWS KMS sees as
//!   coming through `kinesisvideo.REGION.amazonaws.com`; a client signing with the caller's
//!   keys cannot assert it, and this layer does not pretend to. The remote KMS sees the
//!   caller's own direct calls: key and identity policies must allow them without a
//!   `kms:ViaService` condition, and a policy that requires one refuses them (4500), which is
//!   the safe outcome.
//! - **The AWS-managed key is not used.** `alias/aws/kinesisvideo` is created in the account
//!   by the KVS service at the first PutMedia/GetMedia, and its key policy allows it only
//!   through that service (`kms:ViaService`). A client of a remote KMS can do neither, so a
//!   stream on the default key fails PutMedia and GetMedia with a message saying why: 4506
//!   (`KMS_KEY_NOT_FOUND`) when the alias does not exist there, 4500 when the caller may not
//!   describe it or when it exists (a `DescribeKey` answering `KeyManager: AWS` is refused
//!   before any data-key call). There is no fallback to another key or to the local KMS: the
//!   stream needs a customer managed key (`KmsKeyId`).
//! - **Temporary credentials.** Each call takes the caller's [`Credential`]; a session
//!   credential carries its expiry ([`Credential::with_expiry`]), and the engines' caches never
//!   serve a data key past it (the cache's clock reads the KVS clock for wall time). A
//!   refreshed session is a new credential with its own cache entries and KMS calls. A fixed
//!   credential ([`Kvs::put_media`], [`Kvs::get_media`]) that expires during a session fails
//!   the next fragment that needs KMS with 4500 (`ExpiredTokenException` in the message); a
//!   [`CredentialProvider`](crate::kms::CredentialProvider) given instead
//!   ([`Kvs::put_media_with_provider`], [`Kvs::get_media_with_provider`],
//!   [`Kvs::start_get_media_with_provider`]) is asked for a new session once, and the fragment
//!   retried once; the stream action is authorized once, at the start, and a new session for
//!   another principal is refused (4500), never followed.
//! - **KMS costs scale with the credentials.** One [`Engine`] per key ARN, whose data-key
//!   cache is per credential: each credential makes its own `GenerateDataKey` (producers) and
//!   `Decrypt` (consumers) calls, about one per key age, never one per fragment.
//! - **Key requests happen even with retention 0.** Fragments of such a stream are sealed
//!   (the KMS call is made, errors are reported) and then dropped: nothing is stored.
//! - **Authorization of the `kinesisvideo:` actions** ([`authz`]) with the local KMS's IAM
//!   evaluator and identity policies, the stream ARN as the resource.
//!
//! Fragments ([`put_media`]): one per MKV Cluster, read incrementally from an [`std::io::Read`]
//! (Clusters of unknown size included), numbered with increasing decimal strings, stamped with
//! the producer timestamp (`ABSOLUTE` or `RELATIVE` to `ProducerStartTimestamp`) and the
//! server timestamp, sealed with their identity (stream ARN, fragment number, producer
//! timestamp) bound into the message id, and persisted whole or not at all ([`store`]).
//! Consumers read them back as MKV with KVS's tags ([`get_media`], [`fragments`]).

pub mod acks;
pub mod authz;
mod caller;
mod control;
mod duration;
pub mod errors;
pub mod fragments;
pub mod get_media;
mod live;
mod mkvout;
mod pipeline;
pub mod put_media;
mod put_streamed;
mod received;
pub mod remote;
mod source;
pub mod store;
pub mod stream;

pub use acks::{Ack, AckEventType};
pub use authz::Action;
pub use errors::{ErrorId, FragmentFailure, KvsError, KvsErrorKind};
pub use put_media::PutMediaMode;
pub use store::{DirStore, FragmentMeta, MemoryStore, Store, StoredFragment};
pub use stream::{
    CreateStreamInput, ListStreamsInput, ListStreamsOutput, StreamInfo, StreamRef,
    UpdateStreamInput,
};

use crate::arn::KmsKeyArn;
use crate::cache::Clock as CacheClock;
use crate::engine::{Engine, EngineConfig};
use crate::keyring::KmsKeyring;
use crate::kms::local::{Clock, LocalKms, SystemClock, ViaService, KINESIS_VIDEO_ALIAS};
use crate::kms::{Credential, Kms};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, UNIX_EPOCH};

/// The encryption context key of a stream's fragments (`aws:kinesisvideo:arn`).
pub use crate::identity::STREAM_ARN_CONTEXT_KEY;

/// Milliseconds since the Unix epoch of `clock`.
pub(crate) fn now_ms(clock: &dyn Clock) -> u64 {
    clock
        .now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The engine's cache clock, read from the KVS clock (wall time), never going backwards.
struct WallClock {
    clock: Arc<dyn Clock>,
    last: AtomicU64,
}

impl CacheClock for WallClock {
    fn now(&self) -> Duration {
        let ns = self
            .clock
            .now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let prev = self.last.fetch_max(ns, Ordering::AcqRel);
        Duration::from_nanos(prev.max(ns))
    }

    /// The KVS clock is a wall clock: credential expiries are compared with it, so that a
    /// manual KVS clock moves sessions towards their expiry along with the cache's ages.
    fn wall_now(&self) -> std::time::SystemTime {
        self.clock.now()
    }
}

/// Builds a [`Kvs`].
pub struct KvsBuilder {
    kms: Arc<LocalKms>,
    data_kms: Option<Arc<dyn Kms>>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    engine_config: EngineConfig,
    put_media_mode: PutMediaMode,
}

impl KvsBuilder {
    /// The KMS of the data plane: `DescribeKey`, `GenerateDataKey` and `Decrypt` of PutMedia,
    /// GetMedia and GetMediaForFragmentList go to `kms` (a remote KMS, for example an
    /// `AwsKms` at a `fragseal kms serve` endpoint) instead of the local KMS through the
    /// service. The local KMS of [`Kvs::builder`] still decides the `kinesisvideo:` actions and
    /// names the region. See the [module documentation](self) for what a remote KMS means for
    /// `kms:ViaService` (not asserted) and `alias/aws/kinesisvideo` (never created: 4506).
    pub fn data_kms(mut self, kms: Arc<dyn Kms>) -> Self {
        self.data_kms = Some(kms);
        self
    }

    /// How PutMedia sessions read and seal their fragments ([`PutMediaMode`]; by default
    /// [`PutMediaMode::Auto`]).
    pub fn put_media_mode(mut self, mode: PutMediaMode) -> Self {
        self.put_media_mode = mode;
        self
    }

    /// `false`: [`PutMediaMode::Sequential`] (each fragment sealed and persisted before the
    /// next is read, the acknowledgements strictly `BUFFERING`, `RECEIVED`, `PERSISTED` per
    /// fragment); `true`: [`PutMediaMode::Auto`], the default.
    pub fn pipelined_put_media(self, pipelined: bool) -> Self {
        self.put_media_mode(if pipelined {
            PutMediaMode::Auto
        } else {
            PutMediaMode::Sequential
        })
    }

    /// The clock for creation times, server timestamps, retention and the data-key caches
    /// (tests pass a manual clock and move time instead of sleeping).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The engines' configuration (cache limits, retries, frame length).
    pub fn engine_config(mut self, config: EngineConfig) -> Self {
        self.engine_config = config;
        self
    }

    /// Loads the streams from the store.
    ///
    /// # Errors
    /// A store failure (a corrupt or foreign store), or an invalid engine configuration
    /// (`InvalidArgumentException`).
    pub fn build(self) -> Result<Kvs, KvsError> {
        self.engine_config
            .validate()
            .map_err(|e| KvsError::invalid(e.to_string()))?;
        let mut streams = BTreeMap::new();
        let mut last_seq = HashMap::new();
        for info in self.store.streams()? {
            let last = self
                .store
                .fragments(&info.stream_arn)?
                .last()
                .map_or(0, |f| f.sequence);
            last_seq.insert(info.stream_arn.clone(), last);
            streams.insert(info.stream_arn.clone(), info);
        }
        let data = match self.data_kms {
            Some(remote) => DataKms::Remote(remote),
            None => DataKms::Via(Arc::new(self.kms.via_service("kinesisvideo"))),
        };
        let cache_clock = Arc::new(WallClock {
            clock: Arc::clone(&self.clock),
            last: AtomicU64::new(0),
        });
        Ok(Kvs {
            region: self.kms.region().to_owned(),
            kms: self.kms,
            data,
            store: self.store,
            clock: self.clock,
            cache_clock,
            engine_config: self.engine_config,
            put_media_mode: self.put_media_mode,
            put_media_sessions: AtomicUsize::new(0),
            last_cluster_len: AtomicUsize::new(0),
            engines: Mutex::new(HashMap::new()),
            streams: RwLock::new(streams),
            last_seq: Mutex::new(last_seq),
            live: Mutex::new(HashMap::new()),
            live_changed: Condvar::new(),
        })
    }
}

/// Where the data-plane KMS calls go.
enum DataKms {
    /// The local KMS through the service (`kms:ViaService`; creates `alias/aws/kinesisvideo`).
    Via(Arc<ViaService>),
    /// A remote KMS ([`KvsBuilder::data_kms`]): direct calls as the caller.
    Remote(Arc<dyn Kms>),
}

impl DataKms {
    fn kms(&self) -> Arc<dyn Kms> {
        match self {
            DataKms::Via(v) => Arc::clone(v) as Arc<dyn Kms>,
            DataKms::Remote(r) => Arc::clone(r),
        }
    }

    fn describe_key(
        &self,
        caller: &Credential,
        key_id: &str,
    ) -> Result<crate::kms::KeyDescription, crate::kms::KmsError> {
        match self {
            DataKms::Via(v) => v.describe_key(caller, key_id),
            DataKms::Remote(r) => r.describe_key(caller, key_id),
        }
    }
}

/// The KVS layer: streams, PutMedia, GetMedia, ListFragments. `Send + Sync`; see the
/// [module documentation](self).
pub struct Kvs {
    region: String,
    kms: Arc<LocalKms>,
    data: DataKms,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    cache_clock: Arc<WallClock>,
    engine_config: EngineConfig,
    put_media_mode: PutMediaMode,
    /// PutMedia sessions running now ([`PutMediaMode::Auto`] streams when they fill the pool).
    put_media_sessions: AtomicUsize,
    /// The length of the last Cluster a PutMedia session read (a session's first guess).
    last_cluster_len: AtomicUsize,
    engines: Mutex<HashMap<String, Arc<Engine>>>,
    streams: RwLock<BTreeMap<String, StreamInfo>>,
    last_seq: Mutex<HashMap<String, u64>>,
    /// Fragments persisted per stream since the start (live GetMedia readers wait on it).
    live: Mutex<HashMap<String, u64>>,
    live_changed: Condvar,
}

impl core::fmt::Debug for Kvs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Kvs")
            .field("region", &self.region)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl Kvs {
    /// A builder over `kms` (whose region the streams live in) and `store`.
    pub fn builder(kms: Arc<LocalKms>, store: Arc<dyn Store>) -> KvsBuilder {
        KvsBuilder {
            kms,
            data_kms: None,
            store,
            clock: Arc::new(SystemClock),
            engine_config: EngineConfig::default(),
            put_media_mode: PutMediaMode::Auto,
        }
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The local KMS: the authority of the `kinesisvideo:` decisions, and the data-plane KMS
    /// unless [`KvsBuilder::data_kms`] named another.
    pub fn kms(&self) -> &Arc<LocalKms> {
        &self.kms
    }

    /// Whether the data-plane KMS is a remote one ([`KvsBuilder::data_kms`]).
    pub fn has_remote_data_kms(&self) -> bool {
        matches!(self.data, DataKms::Remote(_))
    }

    /// A key-resolution failure of `info`'s key, with the remote KMS's missing AWS-managed key
    /// said as such (never a fallback to another key).
    fn key_failure(&self, info: &StreamInfo, e: &crate::kms::KmsError) -> FragmentFailure {
        let id = ErrorId::for_kms_error(e);
        let unusable = matches!(id, ErrorId::KmsKeyNotFound | ErrorId::KmsAccessDenied);
        if unusable && info.uses_default_key() && self.has_remote_data_kms() {
            let what = if id == ErrorId::KmsKeyNotFound {
                "does not exist at the remote KMS"
            } else {
                "cannot be resolved by this caller at the remote KMS"
            };
            return FragmentFailure::new(
                id,
                format!(
                    "{} {what} ({e}): the AWS-managed key is created by the Kinesis Video \
                     Streams service, never by a client, and its policy allows it only through \
                     that service; create the stream with a customer managed key (KmsKeyId)",
                    info.kms_key_id
                ),
            );
        }
        FragmentFailure::new(id, e.to_string())
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub(crate) fn now_ms(&self) -> u64 {
        now_ms(&*self.clock)
    }

    /// The ARN of the AWS-managed key's alias in `account`.
    pub fn default_key_alias_arn(&self, account: &str) -> String {
        format!(
            "arn:aws:kms:{}:{account}:{KINESIS_VIDEO_ALIAS}",
            self.region
        )
    }

    /// The stream's key as a key ARN: a key ARN is taken as is (no KMS call); any other form
    /// is resolved with `DescribeKey` as the caller, through the service (which creates
    /// `alias/aws/kinesisvideo` on first use), or at the remote data-plane KMS (which does
    /// not: a missing alias there is 4506).
    pub(crate) fn resolve_key(
        &self,
        caller: &Credential,
        info: &StreamInfo,
    ) -> Result<String, FragmentFailure> {
        if KmsKeyArn::parse(&info.kms_key_id).is_some() {
            return Ok(info.kms_key_id.clone());
        }
        match self.data.describe_key(caller, &info.kms_key_id) {
            Ok(d) if d.manager == "AWS" && self.has_remote_data_kms() => Err(FragmentFailure::new(
                ErrorId::KmsAccessDenied,
                format!(
                    "{} is an AWS-managed key ({}): its key policy allows it only through \
                         the Kinesis Video Streams service (kms:ViaService), which a client of \
                         the remote KMS cannot assert; create the stream with a customer \
                         managed key (KmsKeyId)",
                    info.kms_key_id, d.arn
                ),
            )),
            Ok(d) => Ok(d.arn),
            Err(e) => Err(self.key_failure(info, &e)),
        }
    }

    /// Checks the stream's key with `DescribeKey` as the caller through KVS: not found,
    /// disabled or pending deletion fail; `AccessDenied` does not (the caller may hold only
    /// `kms:Decrypt`).
    pub(crate) fn probe_key(
        &self,
        caller: &Credential,
        info: &StreamInfo,
    ) -> Result<(), FragmentFailure> {
        use crate::kms::{KeyState, KmsErrorKind};
        match self.data.describe_key(caller, &info.kms_key_id) {
            Ok(d) => match d.state {
                KeyState::Enabled => Ok(()),
                KeyState::Disabled => Err(FragmentFailure::new(
                    ErrorId::KmsKeyDisabled,
                    format!("{} is disabled", d.arn),
                )),
                _ => Err(FragmentFailure::new(
                    ErrorId::KmsInvalidState,
                    format!("{} is {}", d.arn, d.state.as_str()),
                )),
            },
            Err(e) if e.kind() == KmsErrorKind::AccessDenied => Ok(()),
            Err(e) => Err(self.key_failure(info, &e)),
        }
    }

    /// The engine of `key_arn` (one per key; its cache is per credential).
    pub(crate) fn engine(
        &self,
        caller: &Credential,
        key_arn: &str,
    ) -> Result<Arc<Engine>, FragmentFailure> {
        let mut engines = self
            .engines
            .lock()
            .map_err(|_| FragmentFailure::new(ErrorId::Internal, "engine lock poisoned"))?;
        if let Some(e) = engines.get(key_arn) {
            return Ok(Arc::clone(e));
        }
        let kms = self.data.kms();
        let keyring = KmsKeyring::strict(kms, caller, &[key_arn])
            .map_err(|e| FragmentFailure::new(ErrorId::Internal, e.to_string()))?;
        let cache_clock: Arc<dyn CacheClock> = Arc::clone(&self.cache_clock) as Arc<dyn CacheClock>;
        let engine = Engine::with_clock(Arc::new(keyring), self.engine_config.clone(), cache_clock)
            .map_err(|e| FragmentFailure::new(ErrorId::Internal, e.to_string()))?;
        let engine = Arc::new(engine);
        engines.insert(key_arn.to_owned(), Arc::clone(&engine));
        Ok(engine)
    }

    /// The engines made so far, by key ARN (for cost reports: each engine's per-credential
    /// statistics).
    ///
    /// # Errors
    /// `InternalFailure` when a lock was poisoned.
    pub fn engines(&self) -> Result<Vec<(String, Arc<Engine>)>, KvsError> {
        let engines = self.engines.lock().map_err(|_| KvsError::poisoned())?;
        let mut v: Vec<_> = engines
            .iter()
            .map(|(k, e)| (k.clone(), Arc::clone(e)))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(v)
    }

    /// The next fragment number's value for a stream: strictly above every number given so
    /// far (and stored), and at least the server time in ms × 10^6, so that numbers keep
    /// increasing across restarts even when nothing was stored (retention 0).
    pub(crate) fn next_sequence(
        &self,
        stream_arn: &str,
        now_ms: u64,
    ) -> Result<u64, FragmentFailure> {
        let mut seqs = self
            .last_seq
            .lock()
            .map_err(|_| FragmentFailure::new(ErrorId::Internal, "sequence lock poisoned"))?;
        let last = seqs.entry(stream_arn.to_owned()).or_insert(0);
        let next = (*last + 1).max(now_ms.saturating_mul(1_000_000));
        *last = next;
        Ok(next)
    }

    /// Removes the fragments of `info` older than its retention.
    pub(crate) fn apply_retention(&self, info: &StreamInfo) -> Result<(), KvsError> {
        let keep_ms = u64::from(info.data_retention_in_hours) * 3_600_000;
        let before = self.now_ms().saturating_sub(keep_ms);
        self.store.expire(&info.stream_arn, before)?;
        Ok(())
    }
}

pub(crate) fn new_version() -> String {
    let mut b = [0u8; 6];
    crate::crypto::fill_random(&mut b);
    hex::encode(b)
}
