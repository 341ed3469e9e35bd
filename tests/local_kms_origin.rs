//! Audit origin (`with_origin`) and requests rejected before the KMS (`record_rejected`).
#![allow(clippy::unwrap_used, reason = "tests")]

use fragseal::kms::local::{LocalKms, RejectedRequest, RequestOrigin};
use fragseal::kms::{Credential, Kms, KmsErrorKind};
use std::time::{Duration, SystemTime};

const REGION: &str = "us-east-1";
const A: &str = "111122223333";

fn root() -> Credential {
    Credential::new(A, format!("arn:aws:iam::{A}:root"), "AKIAROOT").unwrap()
}

fn origin(n: u32) -> RequestOrigin {
    RequestOrigin {
        source_ip: format!("10.0.0.{n}"),
        user_agent: format!("Boto3/1.35 test-{n}"),
        request_id: format!("00000000-0000-4000-8000-00000000000{n}"),
    }
}

fn rejected(access_key: Option<&str>, caller: Option<Credential>) -> RejectedRequest {
    RejectedRequest {
        time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        event_name: "GenerateDataKey".into(),
        access_key_id: access_key.map(str::to_owned),
        caller,
        origin: origin(9),
        error_code: "InvalidSignatureException".into(),
        message: "The request signature we calculated does not match".into(),
        region: REGION.into(),
        recipient_account: None,
    }
}

#[test]
fn with_origin_sets_the_event_fields_and_is_restored() {
    let kms = LocalKms::new(REGION, A);
    let key = kms.create_key(&root(), None, "k").unwrap();
    let before = kms.audit().events_json().pop().unwrap();
    assert_eq!(before["sourceIPAddress"], "127.0.0.1");
    assert_eq!(before["userAgent"], "fragseal-localkms");

    let out = kms.with_origin(&origin(1), || {
        // Nested: the inner origin applies inside, the outer one again after.
        kms.with_origin(&origin(2), || kms.describe_key(&root(), &key.arn).unwrap());
        kms.describe_key(&root(), &key.arn).unwrap()
    });
    assert_eq!(out.arn, key.arn);
    let events = kms.audit().events_json();
    let n = events.len();
    assert_eq!(events[n - 2]["sourceIPAddress"], "10.0.0.2");
    assert_eq!(events[n - 1]["sourceIPAddress"], "10.0.0.1");
    assert_eq!(events[n - 1]["userAgent"], "Boto3/1.35 test-1");
    assert_eq!(
        events[n - 1]["requestID"],
        "00000000-0000-4000-8000-000000000001"
    );

    // Restored even when the closure panics.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        kms.with_origin(&origin(3), || panic!("handler failed"))
    }));
    assert!(r.is_err());
    kms.describe_key(&root(), &key.arn).unwrap();
    let last = kms.audit().events_json().pop().unwrap();
    assert_eq!(last["sourceIPAddress"], "127.0.0.1");
    assert_ne!(last["requestID"], "00000000-0000-4000-8000-000000000003");

    // Another thread does not see this thread's origin.
    kms.with_origin(&origin(4), || {
        std::thread::scope(|s| {
            s.spawn(|| kms.describe_key(&root(), &key.arn).unwrap());
        });
    });
    assert_eq!(
        kms.audit().events_json().pop().unwrap()["sourceIPAddress"],
        "127.0.0.1"
    );
}

#[test]
fn rejected_requests_share_the_audit_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let kms = LocalKms::builder(REGION, A)
        .audit_file(&path)
        .build()
        .unwrap();
    kms.create_key(&root(), None, "k").unwrap();
    kms.audit()
        .record_rejected(&rejected(Some("AKIAUNKNOWN"), None))
        .unwrap();
    kms.audit().record_rejected(&rejected(None, None)).unwrap();
    let mut verified = rejected(None, Some(root()));
    verified.error_code = "ValidationException".into();
    kms.audit().record_rejected(&verified).unwrap();
    assert_eq!(kms.audit().rejected_count(), 3);

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["eventName"], "CreateKey");
    let r = &lines[1];
    assert_eq!(r["userIdentity"]["type"], "Unknown");
    assert_eq!(r["userIdentity"]["accessKeyId"], "AKIAUNKNOWN");
    assert_eq!(r["errorCode"], "InvalidSignatureException");
    assert_eq!(r["sourceIPAddress"], "10.0.0.9");
    assert_eq!(r["userAgent"], "Boto3/1.35 test-9");
    assert_eq!(r["requestID"], "00000000-0000-4000-8000-000000000009");
    assert_eq!(r["eventTime"], "2027-01-15T08:00:00Z");
    assert!(lines[2]["userIdentity"].get("accessKeyId").is_none());
    assert_eq!(lines[3]["userIdentity"]["type"], "Root");
    assert_eq!(
        lines[3]["userIdentity"]["arn"],
        format!("arn:aws:iam::{A}:root")
    );
    assert_eq!(lines[3]["recipientAccountId"], A);
    assert_eq!(kms.audit().rejected_json(), lines[1..].to_vec());
    // Not counted per credential: only the CreateKey call is.
    assert_eq!(
        kms.audit()
            .counts()
            .values()
            .map(|m| m.len())
            .sum::<usize>(),
        1
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_rejected_record_that_cannot_be_written_is_an_error() {
    let kms = LocalKms::new(REGION, A);
    kms.audit()
        .set_file(Some(std::path::Path::new("/dev/full")))
        .unwrap();
    let e = kms
        .audit()
        .record_rejected(&rejected(Some("AKIAX"), None))
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AuditFailure);
    // And a KMS call fails closed as before.
    assert_eq!(
        kms.create_key(&root(), None, "k").unwrap_err().kind(),
        KmsErrorKind::AuditFailure
    );
}

/// `fragseal kms audit` reads a log holding rejected requests: they are not callers.
#[cfg(feature = "cli")]
#[test]
fn kms_audit_skips_records_without_a_known_caller() {
    use assert_cmd::Command;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let kms = LocalKms::builder(REGION, A)
        .audit_file(&path)
        .build()
        .unwrap();
    let key = kms.create_key(&root(), None, "k").unwrap();
    kms.describe_key(&root(), &key.arn).unwrap();
    kms.audit()
        .record_rejected(&rejected(Some("AKIAUNKNOWN"), None))
        .unwrap();
    drop(kms);
    let out = Command::cargo_bin("fragseal")
        .unwrap()
        .current_dir(dir.path())
        .args([
            "kms",
            "audit",
            "--audit-log",
            "audit.jsonl",
            "--json",
            "--events",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let callers = v["callers"].as_array().unwrap();
    assert_eq!(callers.len(), 1, "{v}");
    assert_eq!(callers[0]["total_calls"], 2);
    assert_eq!(v["events"].as_array().unwrap().len(), 3);
}
