//! LocalKms tags: TagResource / UntagResource / ListResourceTags / CreateKey with tags:
//! validation, limits, authorization, key states and persistence.
#![allow(clippy::unwrap_used, reason = "tests")]

use fragseal::kms::local::{audit::Operation, LocalKms, Tag};
use fragseal::kms::{Credential, Kms, KmsError, KmsErrorKind};

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "111122223333";
const OTHER: &str = "444455556666";

fn root() -> Credential {
    Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), "AKIAROOT").unwrap()
}

fn session(account: &str, role: &str) -> Credential {
    Credential::new(
        account,
        format!("arn:aws:sts::{account}:assumed-role/{role}/s-1"),
        format!("ASIA{}{account}", role.to_uppercase()),
    )
    .unwrap()
}

fn role_arn(account: &str, role: &str) -> String {
    format!("arn:aws:iam::{account}:role/{role}")
}

fn allow(actions: &[&str]) -> String {
    let list = serde_json::to_string(actions).unwrap();
    format!(r#"{{"Statement":[{{"Effect":"Allow","Action":{list},"Resource":"*"}}]}}"#)
}

fn kind<T: std::fmt::Debug>(r: Result<T, KmsError>) -> KmsErrorKind {
    r.unwrap_err().kind()
}

fn tags(kms: &LocalKms, key: &str) -> Vec<(String, String)> {
    kms.list_resource_tags(&root(), key, None, None)
        .unwrap()
        .tags
        .into_iter()
        .map(|t| (t.tag_key, t.tag_value))
        .collect()
}

fn setup() -> (LocalKms, String) {
    let kms = LocalKms::new(REGION, ACCOUNT);
    let key = kms.create_key(&root(), None, "k").unwrap().arn;
    (kms, key)
}

#[test]
fn tag_replace_untag_and_list() {
    let (kms, key) = setup();
    assert!(tags(&kms, &key).is_empty());
    kms.tag_resource(
        &root(),
        &key,
        &[Tag::new("team", "video"), Tag::new("env", "")],
    )
    .unwrap();
    kms.tag_resource(&root(), &key, &[Tag::new("team", "infra")])
        .unwrap();
    assert_eq!(
        tags(&kms, &key),
        vec![("env".into(), "".into()), ("team".into(), "infra".into())]
    );
    kms.untag_resource(&root(), &key, &["env".into(), "absent".into()])
        .unwrap();
    assert_eq!(tags(&kms, &key), vec![("team".into(), "infra".into())]);
    assert_eq!(kms.audit().count(&root(), Operation::TagResource), 2);
    assert_eq!(kms.audit().count(&root(), Operation::UntagResource), 1);
}

#[test]
fn validation_and_the_50_tag_limit() {
    let (kms, key) = setup();
    let t = |k: &str, v: &str| kind(kms.tag_resource(&root(), &key, &[Tag::new(k, v)]));
    assert_eq!(t("", "v"), KmsErrorKind::InvalidRequest);
    assert_eq!(t(&"k".repeat(129), "v"), KmsErrorKind::InvalidRequest);
    assert_eq!(t("k", &"v".repeat(257)), KmsErrorKind::InvalidRequest);
    for reserved in ["aws:x", "AWS:x", "Aws:"] {
        let e = kms
            .tag_resource(&root(), &key, &[Tag::new(reserved, "v")])
            .unwrap_err();
        assert_eq!(e.kind(), KmsErrorKind::Tag);
        assert_eq!(e.code(), "TagException");
    }
    // Multi-byte characters count as characters, and never split.
    kms.tag_resource(&root(), &key, &[Tag::new("é".repeat(128), "ü".repeat(256))])
        .unwrap();
    assert_eq!(
        kind(kms.tag_resource(&root(), &key, &[Tag::new("a", "1"), Tag::new("a", "2")])),
        KmsErrorKind::Tag
    );
    assert_eq!(
        kind(kms.untag_resource(&root(), &key, &["aws:x".into()])),
        KmsErrorKind::Tag
    );
    assert_eq!(
        kind(kms.untag_resource(&root(), &key, &[String::new()])),
        KmsErrorKind::InvalidRequest
    );
    let batch: Vec<Tag> = (0..49).map(|i| Tag::new(format!("k{i:02}"), "v")).collect();
    kms.tag_resource(&root(), &key, &batch).unwrap();
    assert_eq!(tags(&kms, &key).len(), 50);
    // Replacing a value keeps the count; a 51st key is refused and changes nothing.
    kms.tag_resource(&root(), &key, &[Tag::new("k00", "w")])
        .unwrap();
    assert_eq!(
        kind(kms.tag_resource(&root(), &key, &[Tag::new("one-more", "v")])),
        KmsErrorKind::Tag
    );
    assert_eq!(tags(&kms, &key).len(), 50);
    let too_many: Vec<Tag> = (0..51).map(|i| Tag::new(format!("n{i}"), "v")).collect();
    let (kms2, key2) = setup();
    assert_eq!(
        kind(kms2.tag_resource(&root(), &key2, &too_many)),
        KmsErrorKind::Tag
    );
}

#[test]
fn paging_and_list_errors() {
    let (kms, key) = setup();
    let batch: Vec<Tag> = (0..5).map(|i| Tag::new(format!("k{i}"), "v")).collect();
    kms.tag_resource(&root(), &key, &batch).unwrap();
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let p = kms
            .list_resource_tags(&root(), &key, Some(2), marker.as_deref())
            .unwrap();
        assert!(p.tags.len() <= 2);
        seen.extend(p.tags.into_iter().map(|t| t.tag_key));
        if !p.truncated {
            break;
        }
        marker = p.next_marker;
    }
    assert_eq!(seen, vec!["k0", "k1", "k2", "k3", "k4"]);
    for limit in [0, 51] {
        assert_eq!(
            kind(kms.list_resource_tags(&root(), &key, Some(limit), None)),
            KmsErrorKind::InvalidRequest
        );
    }
    assert_eq!(
        kind(kms.list_resource_tags(&root(), &key, None, Some(""))),
        KmsErrorKind::InvalidMarker
    );
    assert_eq!(
        kind(kms.list_resource_tags(&root(), "no-such-key", None, None)),
        KmsErrorKind::NotFound
    );
}

#[test]
fn authorization_and_no_cross_account_use() {
    let (kms, key) = setup();
    let app = session(ACCOUNT, "app");
    assert_eq!(
        kind(kms.tag_resource(&app, &key, &[Tag::new("a", "b")])),
        KmsErrorKind::AccessDenied
    );
    assert_eq!(
        kind(kms.list_resource_tags(&app, &key, None, None)),
        KmsErrorKind::AccessDenied
    );
    kms.attach_identity_policy(
        &role_arn(ACCOUNT, "app"),
        &allow(&["kms:TagResource", "kms:ListResourceTags"]),
    )
    .unwrap();
    kms.tag_resource(&app, &key, &[Tag::new("a", "b")]).unwrap();
    kms.list_resource_tags(&app, &key, None, None).unwrap();
    assert_eq!(
        kind(kms.untag_resource(&app, &key, &["a".into()])),
        KmsErrorKind::AccessDenied
    );
    // A key policy allowing another account does not make tagging cross-account.
    let policy = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":["arn:aws:iam::{ACCOUNT}:root","arn:aws:iam::{OTHER}:root"]}},"Action":"kms:*","Resource":"*"}}]}}"#
    );
    let shared = kms
        .create_key(&root(), Some(&policy), "shared")
        .unwrap()
        .arn;
    let partner = session(OTHER, "p");
    kms.attach_identity_policy(&role_arn(OTHER, "p"), &allow(&["kms:*"]))
        .unwrap();
    kms.describe_key(&partner, &shared).unwrap();
    for r in [
        kms.tag_resource(&partner, &shared, &[Tag::new("a", "b")]),
        kms.untag_resource(&partner, &shared, &["a".into()]),
        kms.list_resource_tags(&partner, &shared, None, None)
            .map(|_| ()),
    ] {
        assert_eq!(kind(r), KmsErrorKind::AccessDenied);
    }
}

#[test]
fn key_states() {
    let (kms, key) = setup();
    kms.tag_resource(&root(), &key, &[Tag::new("a", "1")])
        .unwrap();
    kms.disable_key(&root(), &key).unwrap();
    kms.tag_resource(&root(), &key, &[Tag::new("b", "2")])
        .unwrap();
    kms.schedule_key_deletion(&root(), &key, 7).unwrap();
    assert_eq!(
        kind(kms.tag_resource(&root(), &key, &[Tag::new("c", "3")])),
        KmsErrorKind::InvalidState
    );
    assert_eq!(
        kind(kms.untag_resource(&root(), &key, &["a".into()])),
        KmsErrorKind::InvalidState
    );
    assert_eq!(tags(&kms, &key).len(), 2);
}

#[test]
fn create_key_with_tags_needs_tag_permission() {
    let kms = LocalKms::new(REGION, ACCOUNT);
    let k = kms
        .create_key_with_tags(&root(), None, "tagged", &[Tag::new("team", "video")])
        .unwrap();
    assert_eq!(tags(&kms, &k.arn), vec![("team".into(), "video".into())]);
    let maker = session(ACCOUNT, "maker");
    kms.attach_identity_policy(&role_arn(ACCOUNT, "maker"), &allow(&["kms:CreateKey"]))
        .unwrap();
    assert_eq!(
        kind(kms.create_key_with_tags(&maker, None, "t", &[Tag::new("a", "b")])),
        KmsErrorKind::AccessDenied
    );
    kms.attach_identity_policy(&role_arn(ACCOUNT, "maker"), &allow(&["kms:TagResource"]))
        .unwrap();
    kms.create_key_with_tags(&maker, None, "t", &[Tag::new("a", "b")])
        .unwrap();
    // Invalid tags create nothing.
    let before = kms.list_keys(&root()).unwrap().len();
    assert_eq!(
        kind(kms.create_key_with_tags(&root(), None, "t", &[Tag::new("aws:x", "b")])),
        KmsErrorKind::Tag
    );
    assert_eq!(kms.list_keys(&root()).unwrap().len(), before);
}

#[test]
fn tags_persist_in_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let key = {
        let kms = LocalKms::builder(REGION, ACCOUNT)
            .state_file(&path)
            .build()
            .unwrap();
        let key = kms.create_key(&root(), None, "untagged").unwrap().arn;
        // A file with no tags or grants has no such fields (older loaders read it).
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("\"tags\"") && !text.contains("\"grants\""));
        kms.tag_resource(
            &root(),
            &key,
            &[Tag::new("team", "video"), Tag::new("x", "")],
        )
        .unwrap();
        key
    };
    let kms = LocalKms::builder(REGION, ACCOUNT)
        .state_file(&path)
        .build()
        .unwrap();
    assert_eq!(
        tags(&kms, &key),
        vec![("team".into(), "video".into()), ("x".into(), "".into())]
    );
}
