//! The KVS cross-account chain of the access-control page, through `fragseal kms serve`'s
//! STS and KMS: account A owns the stream key, a role in A trusts account B, B's principal
//! assumes it and seals, a consumer role opens; and a key in B used directly by A's producer.

mod server_common;

use server_common::sts::*;
use server_common::{audit_records, ServerProcess};
use std::net::SocketAddr;

#[test]
fn sessions_call_kms_with_their_roles_policies_and_are_audited_as_assumed_roles() {
    let s = ServerProcess::start(&iam(), &[]);
    // Step 2's stream key in A (default key policy: A's account, so A's identity policies).
    let key = create_key(s.addr, A_ROOT, None);
    let producer = assume(s.addr, &signing(CAM), &producer_arn(), &with_external_id());
    let sealed = generate(s.addr, &producer.signing(), &key);
    assert_eq!(sealed.status, 200, "{:?}", sealed.error());
    let blob = sealed.json()["CiphertextBlob"]
        .as_str()
        .expect("blob")
        .to_owned();
    // The producer role may not open.
    let a = decrypt(s.addr, &producer.signing(), &blob);
    assert_eq!(a.error().0, "AccessDeniedException", "{:?}", a.error());
    assert!(
        a.error()
            .1
            .contains("arn:aws:sts::111122223333:assumed-role/producer/cam-1"),
        "{:?}",
        a.error()
    );
    // A consumer role opens, and may not seal.
    let consumer = assume(
        s.addr,
        &signing(ALICE),
        &format!("arn:aws:iam::{A}:role/consumer"),
        "",
    );
    let a = decrypt(s.addr, &consumer.signing(), &blob);
    assert_eq!(a.status, 200, "{:?}", a.error());
    assert_eq!(a.json()["Plaintext"], sealed.json()["Plaintext"]);
    assert_eq!(
        generate(s.addr, &consumer.signing(), &key).error().0,
        "AccessDeniedException"
    );
    // B's user itself cannot use A's key (no key policy for B): only through the role.
    assert_eq!(
        generate(s.addr, &signing(CAM), &key).error().0,
        "AccessDeniedException"
    );
    let records = audit_records(&s.path("audit.jsonl"));
    let gdk = records
        .iter()
        .find(|r| {
            r["eventName"] == "GenerateDataKey"
                && r["userIdentity"]["accessKeyId"] == producer.akid.as_str()
        })
        .expect("the session's GenerateDataKey is audited");
    assert_eq!(gdk["userIdentity"]["type"], "AssumedRole");
    assert_eq!(
        gdk["userIdentity"]["arn"],
        "arn:aws:sts::111122223333:assumed-role/producer/cam-1"
    );
    assert!(gdk.get("errorCode").is_none(), "{gdk}");
    assert_eq!(
        gdk["userIdentity"]["sessionContext"]["sessionIssuer"],
        serde_json::json!({"type": "Role", "arn": producer_arn(), "accountId": A, "userName": "producer"})
    );
    // `fragseal kms audit` lists the sessions under their role.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fragseal"))
        .arg("kms")
        .arg("--kms-state")
        .arg(s.path("state.json"))
        .arg("--audit-log")
        .arg(s.path("audit.jsonl"))
        .arg("audit")
        .output()
        .expect("fragseal kms audit");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == format!("  role {}, sessions:", producer_arn()))
        .unwrap_or_else(|| panic!("no role heading in:\n{text}"));
    assert!(
        lines[at + 1].starts_with(&format!(
            "    arn:aws:sts::111122223333:assumed-role/producer/cam-1 ({})",
            producer.akid
        )),
        "{text}"
    );
    for r in &records {
        let line = r.to_string();
        assert!(
            !line.contains(&producer.secret) && !line.contains(&producer.token),
            "{line}"
        );
    }
}

#[test]
fn a_key_in_b_is_used_directly_by_a_producer_in_a() {
    let s = ServerProcess::start(&iam(), &[]);
    // B's key policy lets account A use the key; A's producer role's identity policy allows
    // GenerateDataKey on any key.
    let policy = format!(
        r#"{{"Version": "2012-10-17", "Statement": [
          {{"Sid": "owner", "Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{B}:root"}}, "Action": "kms:*", "Resource": "*"}},
          {{"Sid": "a", "Effect": "Allow", "Principal": {{"AWS": "arn:aws:iam::{A}:root"}}, "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*"}}]}}"#
    );
    let shared = create_key(s.addr, B_ROOT, Some(&policy));
    let private = create_key(s.addr, B_ROOT, None);
    assert!(shared.contains(&format!(":{B}:key/")));
    let producer = assume(s.addr, &signing(CAM), &producer_arn(), &with_external_id());
    let a = generate(s.addr, &producer.signing(), &shared);
    assert_eq!(a.status, 200, "{:?}", a.error());
    // Without the key policy in B.
    assert_eq!(
        generate(s.addr, &producer.signing(), &private).error().0,
        "AccessDeniedException"
    );
    // Without the identity policy in A (the consumer role allows only Decrypt).
    let consumer = assume(
        s.addr,
        &signing(ALICE),
        &format!("arn:aws:iam::{A}:role/consumer"),
        "",
    );
    assert_eq!(
        generate(s.addr, &consumer.signing(), &shared).error().0,
        "AccessDeniedException"
    );
    let blob = a.json()["CiphertextBlob"]
        .as_str()
        .expect("blob")
        .to_owned();
    assert_eq!(decrypt(s.addr, &consumer.signing(), &blob).status, 200);
    // A's root key (no session) too: key policy in B names A.
    assert_eq!(root_call_as(s.addr, A_ROOT, &shared).status, 200);
}

fn root_call_as(
    addr: SocketAddr,
    who: (&'static str, &'static str),
    key: &str,
) -> server_common::Answer {
    generate(addr, &signing(who), key)
}

#[test]
fn the_chain_without_the_trust_or_without_the_identity_policy_is_refused() {
    let denied = |iam: &str| {
        let s = ServerProcess::start(iam, &[]);
        let a = assume_answer(s.addr, &signing(CAM), &producer_arn(), &with_external_id());
        sts_error(&a)
    };
    let message = format!(
        "User: arn:aws:iam::{B}:user/cam is not authorized to perform: sts:AssumeRole on \
         resource: {}",
        producer_arn()
    );
    // Step 3 undone: the role trusts another account than B.
    let full = iam();
    let no_trust = full.replacen(
        &format!("\"AWS\": \"arn:aws:iam::{B}:root\""),
        "\"AWS\": \"arn:aws:iam::999988887777:root\"",
        1,
    );
    assert_ne!(no_trust, full);
    assert_eq!(
        denied(&no_trust),
        (403, "AccessDenied".to_owned(), message.clone())
    );
    // Step 4 undone: B's identity policy does not allow sts:AssumeRole on the role.
    let no_identity = full.replacen(
        &format!("\"Resource\": \"arn:aws:iam::{A}:role/producer\""),
        &format!("\"Resource\": \"arn:aws:iam::{A}:role/other\""),
        1,
    );
    assert_ne!(no_identity, full);
    assert_eq!(
        denied(&no_identity),
        (403, "AccessDenied".to_owned(), message)
    );
    // Both in place: allowed.
    let s = ServerProcess::start(&full, &[]);
    assume(s.addr, &signing(CAM), &producer_arn(), &with_external_id());
}
