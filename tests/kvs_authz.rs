//! Authorization of the `kinesisvideo:` actions: the access-control page's four example
//! policies, verbatim (tests/fixtures/kvs_policies), and least privilege.
#![allow(clippy::unwrap_used, reason = "tests")]

mod kvs_support;

use fragseal::kms::Credential;
use fragseal::kvs::fragments::ListFragmentsInput;
use fragseal::kvs::get_media::StartSelector;
use fragseal::kvs::put_media::PutMediaInput;
use fragseal::kvs::{CreateStreamInput, KvsErrorKind, ListStreamsInput, MemoryStore, StreamRef};
use kvs_support::*;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

const DOC_ACCOUNT: &str = "123456789012";
const DOC_REGION: &str = "us-west-2";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/kvs_policies/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn doc_root() -> Credential {
    Credential::new(
        DOC_ACCOUNT,
        format!("arn:aws:iam::{DOC_ACCOUNT}:root"),
        "AKIAROOT",
    )
    .unwrap()
}

fn user(name: &str) -> Credential {
    Credential::new(
        DOC_ACCOUNT,
        format!("arn:aws:iam::{DOC_ACCOUNT}:user/{name}"),
        format!("AKIA{}", name.to_uppercase()),
    )
    .unwrap()
}

/// The documentation's world: account 123456789012 in us-west-2, and the clock at the
/// creation time that makes `your_stream`'s ARN the one example 4 names.
fn doc_world() -> World {
    let w = world_with(
        DOC_REGION,
        DOC_ACCOUNT,
        UNIX_EPOCH + Duration::from_millis(123_456_789_012),
        Arc::new(MemoryStore::new()),
    );
    let arn = w
        .kvs
        .create_stream(
            &doc_root(),
            &CreateStreamInput::new("your_stream").with_retention_hours(1),
        )
        .unwrap();
    assert_eq!(
        arn,
        "arn:aws:kinesisvideo:us-west-2:123456789012:stream/your_stream/0123456789012"
    );
    w.clock.advance(Duration::from_secs(1));
    w.kvs
        .create_stream(
            &doc_root(),
            &CreateStreamInput::new("other_stream").with_retention_hours(1),
        )
        .unwrap();
    w
}

#[derive(Debug, PartialEq, Eq)]
struct Allowed {
    describe: bool,
    list: bool,
    create: bool,
    put_your: bool,
    put_other: bool,
    get: bool,
    list_fragments: bool,
    endpoint: bool,
    delete: bool,
}

fn ok_or_denied<T>(r: Result<T, fragseal::kvs::KvsError>) -> bool {
    match r {
        Ok(_) => true,
        Err(e) if e.kind() == KvsErrorKind::NotAuthorized => {
            assert_eq!(e.code(), "NotAuthorizedException");
            false
        }
        Err(e) => panic!("unexpected {e}"),
    }
}

fn probe(w: &World, who: &Credential) -> Allowed {
    let kvs = &w.kvs;
    let your = StreamRef::Name("your_stream".into());
    let put = |s: &str| {
        ok_or_denied(kvs.put_media(
            who,
            &PutMediaInput::absolute(StreamRef::Name(s.into())),
            &[][..],
            |_| Ok(()),
        ))
    };
    let mut sink = Vec::new();
    Allowed {
        describe: ok_or_denied(kvs.describe_stream(who, &your)),
        list: ok_or_denied(kvs.list_streams(who, &ListStreamsInput::default())),
        create: {
            w.clock.advance(Duration::from_secs(1));
            let name = format!("new-{}", w.clock.now_ms_for_test());
            ok_or_denied(kvs.create_stream(who, &CreateStreamInput::new(name)))
        },
        put_your: put("your_stream"),
        put_other: put("other_stream"),
        get: ok_or_denied(kvs.get_media(who, &your, &StartSelector::Earliest, &mut sink)),
        list_fragments: ok_or_denied(kvs.list_fragments(
            who,
            &ListFragmentsInput {
                stream: your.clone(),
                max_results: None,
                next_token: None,
                selector: None,
            },
        )),
        endpoint: ok_or_denied(kvs.get_data_endpoint(who, &your, "GET_MEDIA")),
        delete: ok_or_denied(
            kvs.delete_stream(who, &StreamRef::Name("nothing-here".into()), None)
                .or_else(|e| {
                    if e.kind() == KvsErrorKind::ResourceNotFound {
                        Ok(())
                    } else {
                        Err(e)
                    }
                }),
        ),
    }
}

trait NowMs {
    fn now_ms_for_test(&self) -> u128;
}
impl NowMs for fragseal::kms::local::ManualClock {
    fn now_ms_for_test(&self) -> u128 {
        use fragseal::kms::local::Clock;
        self.now().duration_since(UNIX_EPOCH).unwrap().as_millis()
    }
}

#[test]
fn example_1_read_any_stream_allows_describe_get_and_list_only() {
    let w = doc_world();
    w.kms
        .attach_identity_policy(
            &format!("arn:aws:iam::{DOC_ACCOUNT}:user/reader"),
            &fixture("read_any_stream"),
        )
        .unwrap();
    let got = probe(&w, &user("reader"));
    assert_eq!(
        got,
        Allowed {
            describe: true,
            list: true,
            create: false,
            put_your: false,
            put_other: false,
            get: true,
            list_fragments: true,
            endpoint: true,
            delete: false
        }
    );
}

#[test]
fn example_2_a_camera_creates_streams_and_writes_to_them_but_cannot_read() {
    let w = doc_world();
    w.kms
        .attach_identity_policy(
            &format!("arn:aws:iam::{DOC_ACCOUNT}:user/camera"),
            &fixture("camera_create_and_write"),
        )
        .unwrap();
    let got = probe(&w, &user("camera"));
    assert_eq!(
        got,
        Allowed {
            describe: false,
            list: false,
            create: true,
            put_your: true,
            put_other: true,
            get: false,
            list_fragments: false,
            endpoint: false,
            delete: false
        }
    );
}

#[test]
fn example_3_full_access_allows_every_action() {
    let w = doc_world();
    w.kms
        .attach_identity_policy(
            &format!("arn:aws:iam::{DOC_ACCOUNT}:user/admin"),
            &fixture("full_access"),
        )
        .unwrap();
    let got = probe(&w, &user("admin"));
    assert_eq!(
        got,
        Allowed {
            describe: true,
            list: true,
            create: true,
            put_your: true,
            put_other: true,
            get: true,
            list_fragments: true,
            endpoint: true,
            delete: true
        }
    );
}

#[test]
fn example_4_write_to_one_stream_allows_put_media_on_that_stream_only() {
    let w = doc_world();
    w.kms
        .attach_identity_policy(
            &format!("arn:aws:iam::{DOC_ACCOUNT}:user/device"),
            &fixture("write_one_stream"),
        )
        .unwrap();
    let got = probe(&w, &user("device"));
    assert_eq!(
        got,
        Allowed {
            describe: false,
            list: false,
            create: false,
            put_your: true,
            put_other: false,
            get: false,
            list_fragments: false,
            endpoint: false,
            delete: false
        }
    );
}

#[test]
fn no_policy_allows_nothing_and_an_explicit_deny_wins() {
    let w = doc_world();
    let nobody = probe(&w, &user("nobody"));
    assert_eq!(
        nobody,
        Allowed {
            describe: false,
            list: false,
            create: false,
            put_your: false,
            put_other: false,
            get: false,
            list_fragments: false,
            endpoint: false,
            delete: false
        }
    );
    let arn = format!("arn:aws:iam::{DOC_ACCOUNT}:user/admin");
    w.kms
        .attach_identity_policy(&arn, &fixture("full_access"))
        .unwrap();
    w.kms
        .attach_identity_policy(
            &arn,
            r#"{"Statement":{"Effect":"Deny","Action":"kinesisvideo:GetMedia","Resource":"*"}}"#,
        )
        .unwrap();
    let got = probe(&w, &user("admin"));
    assert!(!got.get);
    assert!(got.describe && got.put_your);
}

#[test]
fn least_privilege_a_producer_cannot_get_media_and_a_consumer_cannot_put_media() {
    let w = world();
    allow_producer(&w.kms, "producer");
    allow_consumer(&w.kms, "consumer");
    w.kvs
        .create_stream(
            &root(),
            &CreateStreamInput::new("cam").with_retention_hours(1),
        )
        .unwrap();
    let producer = session("producer", "cam-1");
    let consumer = session("consumer", "viewer-1");
    let cam = StreamRef::Name("cam".into());
    let (s, _) = put(
        &w.kvs,
        &producer,
        &PutMediaInput::absolute(cam.clone()),
        SAMPLE,
    );
    assert_eq!(s.failure, None);
    let mut out = Vec::new();
    let e = w
        .kvs
        .get_media(&producer, &cam, &StartSelector::Earliest, &mut out)
        .unwrap_err();
    assert_eq!(e.code(), "NotAuthorizedException");
    assert!(out.is_empty(), "nothing is written before authorization");
    let e = w
        .kvs
        .put_media(
            &consumer,
            &PutMediaInput::absolute(cam.clone()),
            SAMPLE,
            |_| Ok(()),
        )
        .unwrap_err();
    assert_eq!(e.code(), "NotAuthorizedException");
    let g = w
        .kvs
        .get_media(&consumer, &cam, &StartSelector::Earliest, &mut out)
        .unwrap();
    assert_eq!(g.failure, None);
    assert_eq!(g.fragments, SAMPLE_CLUSTERS as u64);
}

#[test]
fn producers_need_generate_data_key_and_consumers_decrypt_on_a_customer_key() {
    let w = world();
    let key = w.kms.create_key(&root(), None, "cams").unwrap();
    w.kvs
        .create_stream(
            &root(),
            &CreateStreamInput::new("cam")
                .with_kms_key_id(&key.arn)
                .with_retention_hours(1),
        )
        .unwrap();
    let cam = StreamRef::Name("cam".into());
    // PutMedia allowed by IAM for KVS, but no kms:GenerateDataKey: 4500.
    w.kms
        .attach_identity_policy(&role_arn("bare"), r#"{"Statement":{"Effect":"Allow","Action":["kinesisvideo:PutMedia","kinesisvideo:GetMedia"],"Resource":"*"}}"#)
        .unwrap();
    let bare = session("bare", "b-1");
    let (s, _) = put(&w.kvs, &bare, &PutMediaInput::absolute(cam.clone()), SAMPLE);
    assert_eq!(s.failure.unwrap().error_id.id(), 4500);
    allow_producer(&w.kms, "producer");
    let (s, _) = put(
        &w.kvs,
        &session("producer", "p-1"),
        &PutMediaInput::absolute(cam.clone()),
        SAMPLE,
    );
    assert_eq!(s.failure, None);
    // GetMedia allowed, but no kms:Decrypt: the error tag says 4500.
    let mut out = Vec::new();
    let g = w
        .kvs
        .get_media(&bare, &cam, &StartSelector::Earliest, &mut out)
        .unwrap();
    assert_eq!(g.failure.unwrap().error_id.id(), 4500);
    assert_eq!(g.fragments, 0);
}
