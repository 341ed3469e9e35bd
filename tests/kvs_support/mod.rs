//! Shared pieces of the KVS tests: a local KMS on a manual clock, credentials, policies and
//! MKV inputs built from the ffmpeg sample.
#![allow(dead_code, reason = "each test binary uses a part")]
#![allow(clippy::unwrap_used, reason = "tests")]

use fragseal::kms::local::{LocalKms, ManualClock};
use fragseal::kms::Credential;
use fragseal::kvs::{Ack, Kvs, MemoryStore, PutMediaMode, Store};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "111122223333";
pub const SAMPLE: &[u8] = include_bytes!("../data/testsrc-5s.mkv");
/// Clusters in the sample (ffprobe: five key frames).
pub const SAMPLE_CLUSTERS: usize = 5;

pub struct World {
    pub kms: Arc<LocalKms>,
    pub clock: Arc<ManualClock>,
    pub kvs: Kvs,
    pub store: Arc<dyn Store>,
}

pub fn start_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_764_547_200_000)
}

pub fn world_with(region: &str, account: &str, start: SystemTime, store: Arc<dyn Store>) -> World {
    let clock = Arc::new(ManualClock::new(start));
    let kms = Arc::new(
        LocalKms::builder(region, account)
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    let kvs = Kvs::builder(Arc::clone(&kms), Arc::clone(&store))
        .clock(clock.clone())
        .engine_config(
            fragseal::engine::EngineConfig::default()
                .with_retry(fragseal::engine::RetryPolicy::none()),
        )
        .build()
        .unwrap();
    World {
        kms,
        clock,
        kvs,
        store,
    }
}

/// The same world with PutMedia sessions that seal and persist each fragment before they
/// read on (for tests that change the KMS at an exact point of a session).
pub fn sequential(w: World) -> World {
    with_mode(w, PutMediaMode::Sequential)
}

/// The same world with PutMedia sessions in `mode`.
pub fn with_mode(w: World, mode: PutMediaMode) -> World {
    let kvs = Kvs::builder(Arc::clone(&w.kms), Arc::clone(&w.store))
        .clock(w.clock.clone())
        .engine_config(
            fragseal::engine::EngineConfig::default()
                .with_retry(fragseal::engine::RetryPolicy::none()),
        )
        .put_media_mode(mode)
        .build()
        .unwrap();
    World { kvs, ..w }
}

/// The modes that seal and persist each fragment before reading on: buffered, and sealed as
/// it is read.
pub const ONE_AT_A_TIME: [PutMediaMode; 2] = [PutMediaMode::Sequential, PutMediaMode::Streamed];

pub fn world() -> World {
    world_with(REGION, ACCOUNT, start_time(), Arc::new(MemoryStore::new()))
}

pub fn root() -> Credential {
    Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), "AKIAROOT").unwrap()
}

pub fn session(role: &str, name: &str) -> Credential {
    Credential::new(
        ACCOUNT,
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{name}"),
        format!("ASIA{}", name.to_uppercase().replace('-', "")),
    )
    .unwrap()
}

pub fn role_arn(role: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{role}")
}

/// A producer role: PutMedia on every stream, GenerateDataKey on every key (the KVS SSE page's
/// producer example, with wildcards).
pub fn allow_producer(kms: &LocalKms, role: &str) {
    kms.attach_identity_policy(
        &role_arn(role),
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"kms:GenerateDataKey","Resource":"*"},
            {"Effect":"Allow","Action":["kinesisvideo:PutMedia","kinesisvideo:DescribeStream"],"Resource":"*"}]}"#,
    )
    .unwrap();
}

/// A consumer role: GetMedia and the archived-media reads, Decrypt on every key.
pub fn allow_consumer(kms: &LocalKms, role: &str) {
    kms.attach_identity_policy(
        &role_arn(role),
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"},
            {"Effect":"Allow","Action":["kinesisvideo:GetMedia","kinesisvideo:ListFragments","kinesisvideo:GetMediaForFragmentList"],"Resource":"*"}]}"#,
    )
    .unwrap();
}

/// Runs PutMedia and returns the acknowledgements.
pub fn put(
    kvs: &Kvs,
    who: &Credential,
    input: &fragseal::kvs::put_media::PutMediaInput,
    media: &[u8],
) -> (fragseal::kvs::put_media::PutMediaSummary, Vec<Ack>) {
    let mut acks = Vec::new();
    let s = kvs
        .put_media(who, input, media, |a| {
            acks.push(a.clone());
            Ok(())
        })
        .unwrap();
    (s, acks)
}

// ---- MKV building ----

/// (id, header length, data size or None) of the element at `pos`.
pub fn header_at(b: &[u8], pos: usize) -> (u32, usize, Option<u64>) {
    let first = b[pos];
    let id_len = first.leading_zeros() as usize + 1;
    let id = b[pos..pos + id_len]
        .iter()
        .fold(0u32, |a, x| (a << 8) | u32::from(*x));
    let s = pos + id_len;
    let size_len = b[s].leading_zeros() as usize + 1;
    let raw = b[s..s + size_len]
        .iter()
        .fold(0u64, |a, x| (a << 8) | u64::from(*x));
    let mask = (1u64 << (7 * size_len)) - 1;
    let v = raw & mask;
    (
        id,
        id_len + size_len,
        if v == mask { None } else { Some(v) },
    )
}

fn id_bytes(id: u32) -> Vec<u8> {
    id.to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect()
}

pub fn element(id: u32, data: &[u8]) -> Vec<u8> {
    let mut v = id_bytes(id);
    v.push(0x01);
    v.extend_from_slice(&(data.len() as u64).to_be_bytes()[1..]);
    v.extend_from_slice(data);
    v
}

pub const UNKNOWN: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

/// The sample's parts: EBML header element, the Segment's children before the first
/// Cluster, and the Clusters' bodies.
pub struct Parts {
    pub ebml: Vec<u8>,
    pub head: Vec<u8>,
    pub clusters: Vec<Vec<u8>>,
}

pub fn parts() -> Parts {
    let b = SAMPLE;
    let (id, hl, size) = header_at(b, 0);
    assert_eq!(id, 0x1A45_DFA3);
    let ebml_end = hl + size.unwrap() as usize;
    let ebml = b[..ebml_end].to_vec();
    let (sid, shl, ssize) = header_at(b, ebml_end);
    assert_eq!(sid, 0x1853_8067);
    let mut pos = ebml_end + shl;
    let end = ssize.map_or(b.len(), |s| pos + s as usize).min(b.len());
    let mut head = Vec::new();
    let mut clusters = Vec::new();
    while pos < end {
        let (id, hl, size) = header_at(b, pos);
        let size = size.unwrap() as usize;
        let whole = &b[pos..pos + hl + size];
        match id {
            0x1F43_B675 => clusters.push(b[pos + hl..pos + hl + size].to_vec()),
            0x1549_A966 | 0x1654_AE6B if clusters.is_empty() => head.extend_from_slice(whole),
            _ => {}
        }
        pos += hl + size;
    }
    Parts {
        ebml,
        head,
        clusters,
    }
}

/// A cluster body with its Timestamp set to `ts` (ticks).
pub fn retimed(body: &[u8], ts: u64) -> Vec<u8> {
    let mut out = element(0xE7, &ts.to_be_bytes());
    let mut pos = 0;
    while pos < body.len() {
        let (id, hl, size) = header_at(body, pos);
        let n = hl + size.unwrap() as usize;
        if id != 0xE7 {
            out.extend_from_slice(&body[pos..pos + n]);
        }
        pos += n;
    }
    out
}

/// A live stream as the producer SDK writes it: Segment and Clusters of unknown size,
/// `n` fragments whose timestamps start at `start_ms` and step `step_ms` (the sample's
/// clusters repeated).
pub fn live_stream(n: usize, start_ms: u64, step_ms: u64) -> Vec<u8> {
    let p = parts();
    let mut v = p.ebml.clone();
    v.extend_from_slice(&[0x18, 0x53, 0x80, 0x67]);
    v.extend_from_slice(&UNKNOWN);
    v.extend_from_slice(&p.head);
    for i in 0..n {
        let body = retimed(
            &p.clusters[i % p.clusters.len()],
            start_ms + i as u64 * step_ms,
        );
        v.extend_from_slice(&[0x1F, 0x43, 0xB6, 0x75]);
        v.extend_from_slice(&UNKNOWN);
        v.extend_from_slice(&body);
    }
    v
}

/// Does `hay` contain `needle`?
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// [`live_stream`] generated while it is read (for sessions too long to hold in memory).
pub struct LiveReader {
    parts: Parts,
    next: usize,
    count: usize,
    start_ms: u64,
    step_ms: u64,
    buf: Vec<u8>,
    at: usize,
}

impl LiveReader {
    pub fn new(count: usize, start_ms: u64, step_ms: u64) -> Self {
        let parts = parts();
        let mut buf = parts.ebml.clone();
        buf.extend_from_slice(&[0x18, 0x53, 0x80, 0x67]);
        buf.extend_from_slice(&UNKNOWN);
        buf.extend_from_slice(&parts.head);
        Self {
            parts,
            next: 0,
            count,
            start_ms,
            step_ms,
            buf,
            at: 0,
        }
    }
}

impl std::io::Read for LiveReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.buf.len() {
            if self.next >= self.count {
                return Ok(0);
            }
            let i = self.next;
            self.next += 1;
            let body = retimed(
                &self.parts.clusters[i % self.parts.clusters.len()],
                self.start_ms + i as u64 * self.step_ms,
            );
            self.buf.clear();
            self.buf.extend_from_slice(&[0x1F, 0x43, 0xB6, 0x75]);
            self.buf.extend_from_slice(&UNKNOWN);
            self.buf.extend_from_slice(&body);
            self.at = 0;
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A reader that hands out `chunk` bytes at a time and says `WouldBlock` between chunks.
pub struct Trickle<'a> {
    pub data: &'a [u8],
    pub chunk: usize,
    pub block_next: bool,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.block_next && !self.data.is_empty() {
            self.block_next = false;
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        self.block_next = true;
        let n = self.chunk.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}
