//! The KVS layer over a remote data-plane KMS (`KvsBuilder::data_kms`): a real `fragseal kms
//! serve` on a free loopback port (stopped by PID), an `AwsKms` client signing as each
//! caller, and the `kinesisvideo:` decisions from the server's IAM file
//! (`kvs::remote::authority_from_iam`). Producer PutMedia then consumer GetMedia; KMS denials
//! mapped to 4500, a missing key (and the AWS-managed alias, never created by a client) to
//! 4506, a disabled key to 4501; session credentials; cache entries bounded by the
//! credential's expiry on the KVS clock.
#![cfg(feature = "aws")]
#![allow(clippy::unwrap_used, reason = "tests")]

mod kvs_support;
mod server_common;

use fragseal::kms::aws::AwsKms;
use fragseal::kms::Credential;
use fragseal::kvs::get_media::StartSelector;
use fragseal::kvs::put_media::PutMediaInput;
use fragseal::kvs::remote::{authority_from_iam, caller_of_access_key};
use fragseal::kvs::{CreateStreamInput, Kvs, KvsErrorKind, MemoryStore, Store, StreamRef};
use fragseal::server::IamConfig;
use kvs_support::{SAMPLE, SAMPLE_CLUSTERS};
use server_common::sts::{assume, create_key, signing};
use server_common::{call, ServerProcess};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const A: &str = "111122223333";
const ROOT: (&str, &str) = (
    "AKIAAROOTEXAMPLE0001",
    "root-secret-000000000000000000000000000",
);
const CAM: (&str, &str) = (
    "AKIACAMEXAMPLE000001",
    "cam-secret-0000000000000000000000000000",
);
const VIEWER: (&str, &str) = (
    "AKIAVIEWEREXAMPLE001",
    "viewer-secret-000000000000000000000000",
);
const NOKMS: (&str, &str) = (
    "AKIANOKMSEXAMPLE0001",
    "nokms-secret-0000000000000000000000000",
);

/// Root; `cam` writes (kms:GenerateDataKey + kinesisvideo:PutMedia), `viewer` reads
/// (kms:Decrypt + GetMedia), `nokms` has the kinesisvideo: actions but no kms: one, and the
/// role `producer` (trusted by the account) holds cam's policy.
fn iam() -> String {
    let write = r#"{"Statement": [{"Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": "*"},
        {"Effect": "Allow", "Action": "kinesisvideo:PutMedia", "Resource": "*"}]}"#;
    let read = r#"{"Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"},
        {"Effect": "Allow", "Action": ["kinesisvideo:GetMedia", "kinesisvideo:ListFragments"], "Resource": "*"}]}"#;
    let kvs_only = r#"{"Statement": {"Effect": "Allow", "Action": ["kinesisvideo:PutMedia", "kinesisvideo:GetMedia"], "Resource": "*"}}"#;
    format!(
        r#"{{"Accounts": [{{"AccountId": "{A}",
  "RootAccessKeys": [{{"AccessKeyId": "{rk}", "SecretAccessKey": "{rs}"}}],
  "Users": [
    {{"UserName": "cam", "AccessKeys": [{{"AccessKeyId": "{ck}", "SecretAccessKey": "{cs}"}}],
      "Policies": [{{"PolicyName": "w", "PolicyDocument": {write}}}]}},
    {{"UserName": "viewer", "AccessKeys": [{{"AccessKeyId": "{vk}", "SecretAccessKey": "{vs}"}}],
      "Policies": [{{"PolicyName": "r", "PolicyDocument": {read}}}]}},
    {{"UserName": "nokms", "AccessKeys": [{{"AccessKeyId": "{nk}", "SecretAccessKey": "{ns}"}}],
      "Policies": [{{"PolicyName": "k", "PolicyDocument": {kvs_only}}}]}}],
  "Roles": [{{"RoleName": "producer",
    "AssumeRolePolicyDocument": {{"Statement": {{"Effect": "Allow", "Principal": {{"AWS": "{A}"}},
      "Action": "sts:AssumeRole"}}}},
    "Policies": [{{"PolicyName": "w", "PolicyDocument": {write}}}]}}]}}]}}"#,
        rk = ROOT.0,
        rs = ROOT.1,
        ck = CAM.0,
        cs = CAM.1,
        vk = VIEWER.0,
        vs = VIEWER.1,
        nk = NOKMS.0,
        ns = NOKMS.1,
    )
}

/// The server, the parsed IAM file, and the callers as the file names them.
struct Fixture {
    server: ServerProcess,
    iam: IamConfig,
}

impl Fixture {
    fn new() -> Self {
        let text = iam();
        Self {
            server: ServerProcess::start(&text, &[]),
            iam: IamConfig::from_json(&text).unwrap(),
        }
    }

    fn caller(&self, keys: (&str, &str)) -> Credential {
        caller_of_access_key(&self.iam, keys.0, keys.1).unwrap()
    }

    /// A fresh KVS layer (fresh engines and caches) on `store`, its data plane at the server,
    /// each caller signing with its own keys.
    fn kvs(&self, store: &Arc<dyn Store>, session: Option<(&Credential, &Session)>) -> Kvs {
        let mut b = AwsKms::builder()
            .region("us-east-1")
            .endpoint_url(self.server.endpoint())
            .max_attempts(1);
        for keys in [ROOT, CAM, VIEWER, NOKMS] {
            b = b.caller_static_credentials(self.caller(keys), keys.0, keys.1, None);
        }
        if let Some((c, s)) = session {
            b = b.caller_static_credentials(
                c.clone(),
                s.0.akid.clone(),
                s.0.secret.clone(),
                Some(s.0.token.clone()),
            );
        }
        let authority = authority_from_iam("us-east-1", A, &self.iam).unwrap();
        Kvs::builder(authority, Arc::clone(store))
            .data_kms(Arc::new(b.build().unwrap()))
            .engine_config(
                fragseal::engine::EngineConfig::default()
                    .with_retry(fragseal::engine::RetryPolicy::none()),
            )
            .build()
            .unwrap()
    }

    fn key(&self) -> String {
        create_key(self.server.addr, ROOT, None)
    }

    fn disable(&self, key: &str) {
        let a = call(
            self.server.addr,
            "DisableKey",
            &format!(r#"{{"KeyId": "{key}"}}"#),
            &signing(ROOT),
        );
        assert_eq!(a.status, 200, "{:?}", a.error());
    }
}

struct Session(server_common::sts::Session);

fn stream(kvs: &Kvs, root: &Credential, name: &str, key: Option<&str>) -> StreamRef {
    let arn = kvs
        .create_stream(
            root,
            &CreateStreamInput {
                stream_name: name.to_owned(),
                kms_key_id: key.map(str::to_owned),
                data_retention_in_hours: 1,
                ..CreateStreamInput::default()
            },
        )
        .unwrap();
    StreamRef::from_parts(None, Some(&arn)).unwrap()
}

/// PutMedia of the sample: (fragments persisted, the failure's error id if any).
fn put(kvs: &Kvs, who: &Credential, s: &StreamRef) -> (u64, Option<u32>) {
    let summary = kvs
        .put_media(who, &PutMediaInput::absolute(s.clone()), SAMPLE, |_| Ok(()))
        .unwrap();
    (summary.persisted, summary.failure.map(|f| f.error_id.id()))
}

/// GetMedia from the earliest: (fragments written, the failure's id and message if any).
fn get(kvs: &Kvs, who: &Credential, s: &StreamRef) -> (u64, Option<(u32, String)>) {
    let mut out = Vec::new();
    let g = kvs
        .get_media(who, s, &StartSelector::Earliest, &mut out)
        .unwrap();
    (g.fragments, g.failure.map(|f| (f.error_id.id(), f.message)))
}

#[test]
fn producer_put_media_then_consumer_get_media_through_kms_serve() {
    let f = Fixture::new();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let kvs = f.kvs(&store, None);
    assert!(kvs.has_remote_data_kms());
    let key = f.key();
    let s = stream(&kvs, &f.caller(ROOT), "cam", Some(&key));
    let cam = f.caller(CAM);
    assert_eq!(put(&kvs, &cam, &s), (SAMPLE_CLUSTERS as u64, None));
    let viewer = f.caller(VIEWER);
    assert_eq!(get(&kvs, &viewer, &s), (SAMPLE_CLUSTERS as u64, None));
    // One GenerateDataKey for the producer and one Decrypt for the consumer, at the server,
    // as the callers themselves (direct calls: no kms:ViaService).
    let (_, engine) = kvs.engines().unwrap().remove(0);
    assert_eq!(engine.stats(&cam).unwrap().kms_calls, 1);
    assert_eq!(engine.stats(&viewer).unwrap().kms_calls, 1);
    let audit = server_common::audit_records(&f.server.path("audit.jsonl"));
    let by = |event: &str, user: &str| {
        audit
            .iter()
            .filter(|r| r["eventName"] == event && r.to_string().contains(&format!(":user/{user}")))
            .count()
    };
    assert_eq!(by("GenerateDataKey", "cam"), 1);
    assert_eq!(by("Decrypt", "viewer"), 1);
    // The consumer's own keys from a new layer over the same store: still readable.
    let again = f.kvs(&store, None);
    assert_eq!(get(&again, &viewer, &s).0, SAMPLE_CLUSTERS as u64);
}

#[test]
fn kms_denials_at_the_server_map_to_4500_and_kvs_denials_stay_kvs_errors() {
    let f = Fixture::new();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let kvs = f.kvs(&store, None);
    let s = stream(&kvs, &f.caller(ROOT), "cam", Some(&f.key()));
    let nokms = f.caller(NOKMS);
    // kinesisvideo:PutMedia allowed by the IAM file, kms:GenerateDataKey refused by the server.
    assert_eq!(put(&kvs, &nokms, &s), (0, Some(4500)));
    assert_eq!(put(&kvs, &f.caller(CAM), &s).1, None);
    // kinesisvideo:GetMedia allowed, kms:Decrypt refused.
    let (n, failure) = get(&kvs, &nokms, &s);
    assert_eq!((n, failure.map(|f| f.0)), (0, Some(4500)));
    // The viewer may not PutMedia (the IAM file's policies, decided locally), nor the
    // producer GetMedia: NotAuthorizedException before any KMS call.
    let e = kvs
        .put_media(
            &f.caller(VIEWER),
            &PutMediaInput::absolute(s.clone()),
            SAMPLE,
            |_| Ok(()),
        )
        .unwrap_err();
    assert_eq!(e.kind(), KvsErrorKind::NotAuthorized);
    let e = kvs
        .get_media(
            &f.caller(CAM),
            &s,
            &StartSelector::Earliest,
            &mut Vec::new(),
        )
        .unwrap_err();
    assert_eq!(e.kind(), KvsErrorKind::NotAuthorized);
}

#[test]
fn a_missing_key_is_4506_and_the_aws_managed_key_is_refused_over_a_remote_kms() {
    let f = Fixture::new();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let kvs = f.kvs(&store, None);
    let root = f.caller(ROOT);
    let cam = f.caller(CAM);
    let missing = format!("arn:aws:kms:us-east-1:{A}:key/00000000-0000-4000-8000-000000000000");
    let s = stream(&kvs, &root, "gone", Some(&missing));
    assert_eq!(put(&kvs, &cam, &s), (0, Some(4506)));
    // The AWS-managed alias of an account the remote KMS does not hold: not found, said so.
    let other = "arn:aws:kms:us-east-1:444455556666:alias/aws/kinesisvideo";
    let o = stream(&kvs, &root, "other", Some(other));
    let (id, message) = put_failure(&kvs, &root, &o);
    assert_eq!(id, 4506, "{message}");
    assert!(message.contains("never by a client"), "{message}");
    // The default key in the account: the root may describe it (the server creates it, as
    // KVS would), but it is AWS-managed, usable only through KVS: refused before any data-key
    // call, for producers and consumers, and never replaced by another key.
    let data_key_calls = || {
        server_common::audit_records(&f.server.path("audit.jsonl"))
            .iter()
            .filter(|r| r["eventName"] == "GenerateDataKey" || r["eventName"] == "Decrypt")
            .count()
    };
    let before = data_key_calls();
    let d = stream(&kvs, &root, "default", None);
    for who in [&root, &cam] {
        let (id, message) = put_failure(&kvs, who, &d);
        assert_eq!(id, 4500, "{message}");
        assert!(message.contains("AWS-managed key"), "{message}");
    }
    let (n, g) = get(&kvs, &root, &d);
    let (id, message) = g.unwrap();
    assert_eq!((n, id), (0, 4500));
    assert!(message.contains("kms:ViaService"), "{message}");
    let arn = kvs.describe_stream(&root, &d).unwrap().stream_arn;
    assert!(store.fragments(&arn).unwrap().is_empty());
    assert_eq!(
        data_key_calls(),
        before,
        "no data-key call for the managed key"
    );
}

/// PutMedia of the sample that fails: (error id, message); nothing persisted.
fn put_failure(kvs: &Kvs, who: &Credential, s: &StreamRef) -> (u32, String) {
    let summary = kvs
        .put_media(who, &PutMediaInput::absolute(s.clone()), SAMPLE, |_| Ok(()))
        .unwrap();
    assert_eq!(summary.persisted, 0);
    let f = summary.failure.unwrap();
    (f.error_id.id(), f.message)
}

#[test]
fn a_key_disabled_at_the_server_is_4501_for_producers_and_consumers() {
    let f = Fixture::new();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let key = f.key();
    let s = stream(&f.kvs(&store, None), &f.caller(ROOT), "cam", Some(&key));
    assert_eq!(put(&f.kvs(&store, None), &f.caller(CAM), &s).1, None);
    f.disable(&key);
    // Fresh layers: no cached data key hides the KMS's answer.
    assert_eq!(
        put(&f.kvs(&store, None), &f.caller(CAM), &s),
        (0, Some(4501))
    );
    let (n, g) = get(&f.kvs(&store, None), &f.caller(VIEWER), &s);
    assert_eq!((n, g.map(|g| g.0)), (0, Some(4501)));
}

#[test]
fn an_assumed_role_session_produces_under_its_roles_policies() {
    let f = Fixture::new();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let key = f.key();
    let s = stream(&f.kvs(&store, None), &f.caller(ROOT), "cam", Some(&key));
    let session = Session(assume(
        f.server.addr,
        &signing(ROOT),
        &format!("arn:aws:iam::{A}:role/producer"),
        "&DurationSeconds=900",
    ));
    let cred = Credential::new(
        A,
        format!("arn:aws:sts::{A}:assumed-role/producer/cam-1"),
        session.0.akid.clone(),
    )
    .unwrap()
    .with_expiry(SystemTime::now() + Duration::from_secs(900));
    let kvs = f.kvs(&store, Some((&cred, &session)));
    assert_eq!(put(&kvs, &cred, &s), (SAMPLE_CLUSTERS as u64, None));
    // The session reads nothing: its role's policy has no kinesisvideo:GetMedia.
    let e = kvs
        .get_media(&cred, &s, &StartSelector::Earliest, &mut Vec::new())
        .unwrap_err();
    assert_eq!(e.kind(), KvsErrorKind::NotAuthorized);
    assert_eq!(get(&kvs, &f.caller(VIEWER), &s).0, SAMPLE_CLUSTERS as u64);
}

#[test]
fn a_sessions_cached_data_key_is_not_served_past_its_expiry_on_the_kvs_clock() {
    // The local KMS on a manual clock, which is also the KVS clock and so the cache's wall
    // clock: past the session's end its cached data key is not served (although the cache's
    // max_age, 5 min, has not passed), so the next fragment asks KMS, which refuses the
    // expired session (4500, ExpiredTokenException). A credential without expiry keeps its key.
    use fragseal::kms::local::Clock;
    let w = kvs_support::world();
    kvs_support::allow_producer(&w.kms, "producer");
    let s = stream(&w.kvs, &kvs_support::root(), "cam", None);
    let session = kvs_support::session("producer", "cam-1")
        .with_expiry(w.clock.now() + Duration::from_secs(60));
    let forever = kvs_support::session("producer", "cam-2");
    for who in [&session, &forever] {
        assert_eq!(put(&w.kvs, who, &s), (SAMPLE_CLUSTERS as u64, None));
    }
    // Cached within the session (its expiry is read against the KVS clock, not the host's):
    // one GenerateDataKey for the five fragments. (A pipelined session seals two fragments at
    // once: the second may wait for the first one's KMS call, counted as a miss, not a hit.)
    let (_, engine) = w.kvs.engines().unwrap().remove(0);
    let before = engine.stats(&session).unwrap();
    assert_eq!(
        (before.kms_calls, before.fragments_sealed),
        (1, SAMPLE_CLUSTERS as u64)
    );
    assert!(before.hits >= SAMPLE_CLUSTERS as u64 - 2, "{before:?}");
    w.clock.advance(Duration::from_secs(61));
    let summary = w
        .kvs
        .put_media(
            &session,
            &PutMediaInput::absolute(s.clone()),
            SAMPLE,
            |_| Ok(()),
        )
        .unwrap();
    let failure = summary.failure.unwrap();
    assert_eq!((summary.persisted, failure.error_id.id()), (0, 4500));
    assert!(
        failure.message.contains("ExpiredToken"),
        "{}",
        failure.message
    );
    assert_eq!(put(&w.kvs, &forever, &s), (SAMPLE_CLUSTERS as u64, None));
    // No cached key was served to the expired session; the other kept its one key.
    assert_eq!(engine.stats(&session).unwrap().hits, before.hits);
    assert_eq!(engine.stats(&forever).unwrap().kms_calls, 1);
}
