//! The server's audit trail and its newer operations: one CloudTrail-shaped record per request
//! (refused ones included) carrying the peer address, the User-Agent and the request id the
//! client got; ReEncrypt, GenerateDataKeyWithoutPlaintext, GenerateRandom; several accounts;
//! `--enforce soft`.

mod server_common;

use server_common::*;
use std::collections::BTreeSet;

#[test]
fn every_request_is_audited_exactly_once_with_its_origin() {
    let s = ServerProcess::start(&iam_json(), &["--max-body", "4096"]);
    let mut ids = Vec::new();
    let mut send = |a: Answer| {
        ids.push(a.header("x-amzn-RequestId").expect("request id").to_owned());
        a
    };
    let key = send(root_call(s.addr, "CreateKey", "{}")).json()["KeyMetadata"]["Arn"]
        .as_str()
        .expect("arn")
        .to_owned();
    send(root_call(
        s.addr,
        "GenerateDataKey",
        &format!(r#"{{"KeyId": "{key}", "KeySpec": "AES_256"}}"#),
    ));
    send(call(
        s.addr,
        "ListKeys",
        "{}",
        &Signing::new(ROOT_KEY, "wrong"),
    ));
    send(call(
        s.addr,
        "ListKeys",
        "{}",
        &Signing::new("AKIANOBODYEXAMPLE001", "x"),
    ));
    send(root_call(s.addr, "MakeCoffee", "{}"));
    send(root_call(s.addr, "GenerateDataKey", "{"));
    send(root_call(
        s.addr,
        "GenerateDataKey",
        r#"{"KeySpec": "AES_256"}"#,
    ));
    let big = vec![b' '; 5000];
    let headers = signed_headers(
        s.addr,
        "ListKeys",
        &big,
        &Signing::new(ROOT_KEY, ROOT_SECRET),
    );
    send(raw(s.addr, &request_bytes(&headers, &big)));
    let alice_denied = send(call(
        s.addr,
        "Decrypt",
        r#"{"CiphertextBlob": "AAAA"}"#,
        &Signing::new(ALICE_KEY, ALICE_SECRET),
    ));
    assert_eq!(alice_denied.status, 400);

    let records = audit_records(&s.path("audit.jsonl"));
    assert_eq!(records.len(), ids.len(), "{records:#?}");
    let logged: BTreeSet<&str> = records
        .iter()
        .map(|r| r["requestID"].as_str().expect("requestID"))
        .collect();
    let answered: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(logged, answered, "each answer's request id is one record's");
    for r in &records {
        assert_eq!(r["sourceIPAddress"], "127.0.0.1", "{r}");
        assert_eq!(r["userAgent"], "fragseal-test/1.0", "{r}");
        assert_eq!(r["eventSource"], "kms.amazonaws.com");
    }
    let by_code = |code: &str| {
        records
            .iter()
            .filter(|r| r["errorCode"] == code)
            .cloned()
            .collect::<Vec<_>>()
    };
    let bad_sig = &by_code("InvalidSignatureException")[0];
    assert_eq!(bad_sig["eventName"], "ListKeys");
    assert_eq!(bad_sig["userIdentity"]["type"], "Unknown");
    assert_eq!(bad_sig["userIdentity"]["accessKeyId"], ROOT_KEY);
    let unknown_key = &by_code("UnrecognizedClientException")[0];
    assert_eq!(
        unknown_key["userIdentity"]["accessKeyId"],
        "AKIANOBODYEXAMPLE001"
    );
    let unknown_op = &by_code("UnknownOperationException")[0];
    assert_eq!(unknown_op["eventName"], "MakeCoffee");
    assert_eq!(
        unknown_op["userIdentity"]["arn"],
        format!("arn:aws:iam::{ACCOUNT}:root")
    );
    assert_eq!(by_code("SerializationException").len(), 1);
    assert_eq!(by_code("ValidationException").len(), 1);
    assert_eq!(by_code("RequestEntityTooLargeException").len(), 1);
    let alice: Vec<_> = records
        .iter()
        .filter(|r| r["userIdentity"]["arn"] == format!("arn:aws:iam::{ACCOUNT}:user/alice"))
        .collect();
    assert_eq!(alice.len(), 1, "{alice:?}");
    assert_eq!(alice[0]["eventName"], "Decrypt");
    assert!(alice[0]["errorCode"].is_string(), "{}", alice[0]);
}

#[test]
fn reencrypt_generate_without_plaintext_and_random() {
    let s = ServerProcess::start(&iam_json(), &[]);
    let arn = |a: Answer| {
        a.json()["KeyMetadata"]["Arn"]
            .as_str()
            .expect("arn")
            .to_owned()
    };
    let k1 = arn(root_call(s.addr, "CreateKey", "{}"));
    let k2 = arn(root_call(s.addr, "CreateKey", "{}"));
    let a = root_call(
        s.addr,
        "GenerateDataKeyWithoutPlaintext",
        &format!(r#"{{"KeyId": "{k1}", "NumberOfBytes": 32, "EncryptionContext": {{"a": "1"}}}}"#),
    );
    let v = a.json();
    assert_eq!(v["KeyId"], k1.as_str(), "{v}");
    assert!(v.get("Plaintext").is_none());
    let blob = v["CiphertextBlob"].as_str().expect("blob").to_owned();
    let a = root_call(
        s.addr,
        "ReEncrypt",
        &format!(
            r#"{{"CiphertextBlob": "{blob}", "SourceEncryptionContext": {{"a": "1"}},
                "DestinationKeyId": "{k2}", "DestinationEncryptionContext": {{"b": "2"}}}}"#
        ),
    );
    let v = a.json();
    assert_eq!(
        (v["SourceKeyId"].as_str(), v["KeyId"].as_str()),
        (Some(k1.as_str()), Some(k2.as_str())),
        "{v}"
    );
    let moved = v["CiphertextBlob"].as_str().expect("blob").to_owned();
    let a = root_call(
        s.addr,
        "Decrypt",
        &format!(r#"{{"CiphertextBlob": "{moved}", "EncryptionContext": {{"b": "2"}}}}"#),
    );
    assert_eq!(a.json()["KeyId"], k2.as_str());
    let a = root_call(
        s.addr,
        "ReEncrypt",
        &format!(
            r#"{{"CiphertextBlob": "{blob}", "SourceEncryptionContext": {{"a": "1"}}, "SourceKeyId": "{k2}", "DestinationKeyId": "{k2}"}}"#
        ),
    );
    assert_eq!(a.error().0, "IncorrectKeyException");
    let a = root_call(
        s.addr,
        "ReEncrypt",
        &format!(r#"{{"CiphertextBlob": "{blob}"}}"#),
    );
    assert_eq!(
        a.error(),
        (
            "ValidationException".to_owned(),
            "1 validation error detected: Value null at 'destinationKeyId' failed to satisfy \
             constraint: Member must not be null"
                .to_owned()
        )
    );
    let a = root_call(s.addr, "GenerateRandom", r#"{"NumberOfBytes": 48}"#);
    assert_eq!(a.json()["Plaintext"].as_str().map(str::len), Some(64));
    let a = root_call(s.addr, "GenerateRandom", r#"{"NumberOfBytes": 1025}"#);
    assert_eq!(a.error().0, "ValidationException");
}

const OTHER: &str = "444455556666";

fn two_accounts() -> String {
    format!(
        r#"{{"Accounts": [
          {{"AccountId": "{ACCOUNT}", "RootAccessKeys": [{{"AccessKeyId": "{ROOT_KEY}", "SecretAccessKey": "{ROOT_SECRET}"}}],
            "Users": [{{"UserName": "alice", "AccessKeys": [{{"AccessKeyId": "{ALICE_KEY}", "SecretAccessKey": "{ALICE_SECRET}"}}]}}]}},
          {{"AccountId": "{OTHER}", "RootAccessKeys": [{{"AccessKeyId": "AKIAOTHERROOT0000001", "SecretAccessKey": "other"}}],
            "Users": [{{"UserName": "bob", "AccessKeys": [{{"AccessKeyId": "AKIABOBEXAMPLE000001", "SecretAccessKey": "bob"}}],
              "Policies": [{{"PolicyName": "use-a", "PolicyDocument": {{"Statement": {{"Effect": "Allow", "Action": ["kms:Decrypt", "kms:ListKeys"], "Resource": "*"}}}}}}]}}]}}]}}"#
    )
}

#[test]
fn several_accounts_live_side_by_side() {
    let s = ServerProcess::start(&two_accounts(), &[]);
    let other_root = Signing::new("AKIAOTHERROOT0000001", "other");
    let a = call(s.addr, "CreateKey", "{}", &other_root);
    let m = a.json()["KeyMetadata"].clone();
    assert_eq!(m["AWSAccountId"], OTHER, "{m}");
    // Each account lists only its own keys.
    let a = root_call(s.addr, "CreateKey", "{}");
    let mine = a.json()["KeyMetadata"]["Arn"]
        .as_str()
        .expect("arn")
        .to_owned();
    let theirs = call(s.addr, "ListKeys", "{}", &other_root).json();
    assert_eq!(theirs["Keys"].as_array().map(Vec::len), Some(1));
    assert_eq!(theirs["Keys"][0]["KeyArn"], m["Arn"]);
    // bob's identity policy allows Decrypt, but the key policy of account A does not name B.
    let blob = root_call(
        s.addr,
        "Encrypt",
        &format!(r#"{{"KeyId": "{mine}", "Plaintext": "aGk="}}"#),
    )
    .json()["CiphertextBlob"]
        .as_str()
        .expect("blob")
        .to_owned();
    let bob = Signing::new("AKIABOBEXAMPLE000001", "bob");
    let a = call(
        s.addr,
        "Decrypt",
        &format!(r#"{{"CiphertextBlob": "{blob}"}}"#),
        &bob,
    );
    assert_eq!(a.error().0, "AccessDeniedException", "{:?}", a.error());
    // Account A's key policy lets account B decrypt: now bob may.
    let policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{OTHER}:root")}, "Action": "kms:Decrypt", "Resource": "*"}]});
    let a = root_call(
        s.addr,
        "PutKeyPolicy",
        &serde_json::json!({"KeyId": mine, "Policy": policy.to_string()}).to_string(),
    );
    assert_eq!(a.status, 200, "{:?}", a.error());
    let a = call(
        s.addr,
        "Decrypt",
        &format!(r#"{{"CiphertextBlob": "{blob}"}}"#),
        &bob,
    );
    assert_eq!(a.json()["Plaintext"], "aGk=", "{:?}", a.error());
    // Management calls never cross accounts.
    let a = call(
        s.addr,
        "DisableKey",
        &format!(r#"{{"KeyId": "{mine}"}}"#),
        &other_root,
    );
    assert_eq!(a.error().0, "AccessDeniedException", "{:?}", a.error());
}

#[test]
fn soft_enforcement_records_would_be_denials_and_allows() {
    let s = ServerProcess::start(&iam_json(), &["--enforce", "soft"]);
    let key = root_call(s.addr, "CreateKey", "{}").json()["KeyMetadata"]["Arn"]
        .as_str()
        .expect("arn")
        .to_owned();
    let alice = Signing::new(ALICE_KEY, ALICE_SECRET);
    let a = call(
        s.addr,
        "Encrypt",
        &format!(r#"{{"KeyId": "{key}", "Plaintext": "aGk="}}"#),
        &alice,
    );
    assert_eq!(a.status, 200, "{:?}", a.error());
    let records = audit_records(&s.path("audit.jsonl"));
    let encrypt = records
        .iter()
        .find(|r| r["eventName"] == "Encrypt")
        .expect("Encrypt record");
    assert_eq!(encrypt["wouldBeDenied"], true, "{encrypt}");
    assert!(encrypt.get("denial").is_some(), "{encrypt}");
}

#[test]
fn grants_and_tags_through_the_server() {
    let s = ServerProcess::start(&iam_json(), &[]);
    let a = root_call(
        s.addr,
        "CreateKey",
        r#"{"Tags": [{"TagKey": "team", "TagValue": "video"}]}"#,
    );
    let key = a.json()["KeyMetadata"]["Arn"]
        .as_str()
        .expect("arn")
        .to_owned();
    let tags = root_call(
        s.addr,
        "ListResourceTags",
        &format!(r#"{{"KeyId": "{key}"}}"#),
    )
    .json();
    assert_eq!(
        tags["Tags"],
        serde_json::json!([{"TagKey": "team", "TagValue": "video"}]),
        "{tags}"
    );
    let a = root_call(
        s.addr,
        "TagResource",
        &format!(r#"{{"KeyId": "{key}", "Tags": [{{"TagKey": "env", "TagValue": "test"}}]}}"#),
    );
    assert_eq!(a.status, 200, "{:?}", a.error());
    let a = root_call(
        s.addr,
        "UntagResource",
        &format!(r#"{{"KeyId": "{key}", "TagKeys": ["team"]}}"#),
    );
    assert_eq!(a.status, 200, "{:?}", a.error());
    let tags = root_call(
        s.addr,
        "ListResourceTags",
        &format!(r#"{{"KeyId": "{key}"}}"#),
    )
    .json();
    assert_eq!(
        tags["Tags"],
        serde_json::json!([{"TagKey": "env", "TagValue": "test"}]),
        "{tags}"
    );
    let a = root_call(
        s.addr,
        "TagResource",
        &format!(r#"{{"KeyId": "{key}", "Tags": [{{"TagValue": "x"}}]}}"#),
    );
    assert_eq!(a.error().0, "ValidationException", "{:?}", a.error());

    // alice may not Decrypt by policy; a grant with a context constraint lets her.
    let blob = root_call(
        s.addr,
        "Encrypt",
        &format!(r#"{{"KeyId": "{key}", "Plaintext": "aGk=", "EncryptionContext": {{"stream": "cam-1"}}}}"#),
    )
    .json()["CiphertextBlob"]
        .as_str()
        .expect("blob")
        .to_owned();
    let alice = Signing::new(ALICE_KEY, ALICE_SECRET);
    let decrypt = |ec: &str| {
        call(
            s.addr,
            "Decrypt",
            &format!(r#"{{"CiphertextBlob": "{blob}", "EncryptionContext": {ec}}}"#),
            &alice,
        )
    };
    assert_eq!(
        decrypt(r#"{"stream": "cam-1"}"#).error().0,
        "AccessDeniedException"
    );
    let grant = root_call(
        s.addr,
        "CreateGrant",
        &format!(
            r#"{{"KeyId": "{key}", "GranteePrincipal": "arn:aws:iam::{ACCOUNT}:user/alice",
                "Operations": ["Decrypt"], "Name": "cam-1-reader",
                "Constraints": {{"EncryptionContextSubset": {{"stream": "cam-1"}}}}}}"#
        ),
    );
    let g = grant.json();
    let grant_id = g["GrantId"].as_str().expect("grant id").to_owned();
    assert!(g["GrantToken"].is_string(), "{g}");
    let a = decrypt(r#"{"stream": "cam-1"}"#);
    assert_eq!(a.json()["Plaintext"], "aGk=", "{:?}", a.error());
    let a = root_call(s.addr, "ListGrants", &format!(r#"{{"KeyId": "{key}"}}"#));
    let listed = a.json();
    assert_eq!(
        listed["Grants"][0]["GrantId"],
        grant_id.as_str(),
        "{listed}"
    );
    assert_eq!(
        listed["Grants"][0]["Operations"],
        serde_json::json!(["Decrypt"])
    );
    assert_eq!(
        listed["Grants"][0]["Constraints"]["EncryptionContextSubset"]["stream"],
        "cam-1"
    );
    let a = root_call(
        s.addr,
        "CreateGrant",
        &format!(
            r#"{{"KeyId": "{key}", "GranteePrincipal": "arn:aws:iam::{ACCOUNT}:user/alice", "Operations": ["Fly"]}}"#
        ),
    );
    assert_eq!(a.error().0, "ValidationException", "{:?}", a.error());
    let a = root_call(
        s.addr,
        "RevokeGrant",
        &format!(r#"{{"KeyId": "{key}", "GrantId": "{grant_id}"}}"#),
    );
    assert_eq!(a.status, 200, "{:?}", a.error());
    assert_eq!(
        decrypt(r#"{"stream": "cam-1"}"#).error().0,
        "AccessDeniedException"
    );
    let a = root_call(
        s.addr,
        "ListRetirableGrants",
        &format!(r#"{{"RetiringPrincipal": "arn:aws:iam::{ACCOUNT}:root"}}"#),
    );
    assert_eq!(a.status, 200, "{:?}", a.error());
}
