//! The STS tests' accounts, IAM file and calls (tests/server_sts*.rs).

use super::{call, sts_call, xml_text, Answer, Signing};
use std::net::SocketAddr;

pub const A: &str = "111122223333";
pub const B: &str = "444455556666";
pub const A_ROOT: (&str, &str) = (
    "AKIAAROOTEXAMPLE0001",
    "a-root-secret-0000000000000000000000000",
);
pub const B_ROOT: (&str, &str) = (
    "AKIABROOTEXAMPLE0001",
    "b-root-secret-0000000000000000000000000",
);
pub const ALICE: (&str, &str) = (
    "AKIAALICEEXAMPLE0001",
    "alice-secret-000000000000000000000000000",
);
pub const CAM: (&str, &str) = (
    "AKIABCAMEXAMPLE00001",
    "cam-secret-00000000000000000000000000000",
);
pub const NOPOL: (&str, &str) = (
    "AKIABNOPOLEXAMPLE001",
    "nopol-secret-000000000000000000000000000",
);
pub const EXTERNAL_ID: &str = "kvs-partner-7";

/// The access-control page's four steps as an IAM file:
/// 1. account B's id is `B`;
/// 2. a policy in the stream owner's account A allows GenerateDataKey (role `producer`);
/// 3. role `producer` in A trusts account B (with an ExternalId), the policy attached;
/// 4. B's principal `cam` may call `sts:AssumeRole` on it (`nopol` may not).
///
/// Also: role `consumer` in A (Decrypt), trusted by A's account (alice's identity policy
/// allows assuming it); `notrust` without a trust policy; `long` (MaxSessionDuration 7200)
/// trusting alice directly.
pub fn iam() -> String {
    format!(
        r#"{{"Accounts": [
  {{"AccountId": "{A}",
    "RootAccessKeys": [{{"AccessKeyId": "{ak}", "SecretAccessKey": "{asec}"}}],
    "Users": [{{"UserName": "alice",
      "AccessKeys": [{{"AccessKeyId": "{alk}", "SecretAccessKey": "{als}"}}],
      "Policies": [{{"PolicyName": "assume", "PolicyDocument": {{"Statement": {{"Effect": "Allow",
        "Action": "sts:AssumeRole", "Resource": ["arn:aws:iam::{A}:role/consumer",
          "arn:aws:iam::{A}:role/notrust", "arn:aws:iam::{A}:role/long"]}}}}}}]}}],
    "Roles": [
      {{"RoleName": "producer",
        "AssumeRolePolicyDocument": {{"Version": "2012-10-17", "Statement": {{"Effect": "Allow",
          "Principal": {{"AWS": "arn:aws:iam::{B}:root"}}, "Action": "sts:AssumeRole",
          "Condition": {{"StringEquals": {{"sts:ExternalId": "{EXTERNAL_ID}"}}}}}}}},
        "Policies": [{{"PolicyName": "seal", "PolicyDocument": {{"Statement": {{"Effect": "Allow",
          "Action": "kms:GenerateDataKey", "Resource": "*"}}}}}}]}},
      {{"RoleName": "consumer",
        "AssumeRolePolicyDocument": {{"Statement": {{"Effect": "Allow",
          "Principal": {{"AWS": "{A}"}}, "Action": "sts:AssumeRole"}}}},
        "Policies": [{{"PolicyName": "open", "PolicyDocument": {{"Statement": {{"Effect": "Allow",
          "Action": "kms:Decrypt", "Resource": "*"}}}}}}]}},
      {{"RoleName": "notrust"}},
      {{"RoleName": "long", "MaxSessionDuration": 7200,
        "Policies": [{{"PolicyName": "chain", "PolicyDocument": {{"Statement": {{"Effect": "Allow",
          "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::{A}:role/consumer"}}}}}}],
        "AssumeRolePolicyDocument": {{"Statement": {{"Effect": "Allow",
          "Principal": {{"AWS": "arn:aws:iam::{A}:user/alice"}}, "Action": "sts:AssumeRole"}}}}}}]}},
  {{"AccountId": "{B}",
    "RootAccessKeys": [{{"AccessKeyId": "{bk}", "SecretAccessKey": "{bsec}"}}],
    "Users": [
      {{"UserName": "cam",
        "AccessKeys": [{{"AccessKeyId": "{ck}", "SecretAccessKey": "{cs}"}}],
        "Policies": [{{"PolicyName": "assume", "PolicyDocument": {{"Statement": {{"Effect": "Allow",
          "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::{A}:role/producer"}}}}}}]}},
      {{"UserName": "nopol",
        "AccessKeys": [{{"AccessKeyId": "{nk}", "SecretAccessKey": "{ns}"}}]}}]}}]}}"#,
        ak = A_ROOT.0,
        asec = A_ROOT.1,
        alk = ALICE.0,
        als = ALICE.1,
        bk = B_ROOT.0,
        bsec = B_ROOT.1,
        ck = CAM.0,
        cs = CAM.1,
        nk = NOPOL.0,
        ns = NOPOL.1,
    )
}

pub fn signing(key: (&'static str, &'static str)) -> Signing<'static> {
    Signing::new(key.0, key.1)
}

/// Session credentials.
pub struct Session {
    pub akid: String,
    pub secret: String,
    pub token: String,
}

impl Session {
    pub fn signing(&self) -> Signing<'_> {
        Signing {
            session_token: Some(&self.token),
            ..Signing::new(&self.akid, &self.secret)
        }
    }
}

pub fn assume_answer(addr: SocketAddr, who: &Signing<'_>, role: &str, extra: &str) -> Answer {
    let form = format!(
        "Action=AssumeRole&Version=2011-06-15&RoleArn={}&RoleSessionName=cam-1{extra}",
        role.replace(':', "%3A").replace('/', "%2F")
    );
    sts_call(addr, &form, who)
}

pub fn assume(addr: SocketAddr, who: &Signing<'_>, role: &str, extra: &str) -> Session {
    let a = assume_answer(addr, who, role, extra);
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.header("content-type"), Some("text/xml"));
    Session {
        akid: xml_text(&a.body, "AccessKeyId").expect("AccessKeyId"),
        secret: xml_text(&a.body, "SecretAccessKey").expect("SecretAccessKey"),
        token: xml_text(&a.body, "SessionToken").expect("SessionToken"),
    }
}

/// `(Code, Message)` of an STS error answer, checking its shape.
pub fn sts_error(a: &Answer) -> (u16, String, String) {
    let body = String::from_utf8_lossy(&a.body);
    assert!(body.starts_with("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>"), "{body}");
    assert!(
        xml_text(&a.body, "RequestId").is_some_and(|r| !r.is_empty()),
        "{body}"
    );
    (
        a.status,
        xml_text(&a.body, "Code").unwrap_or_default(),
        xml_text(&a.body, "Message").unwrap_or_default(),
    )
}

pub fn producer_arn() -> String {
    format!("arn:aws:iam::{A}:role/producer")
}

pub fn with_external_id() -> String {
    format!("&ExternalId={EXTERNAL_ID}")
}

pub const CONTEXT: &str =
    r#"{"aws:kinesisvideo:arn": "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam/1"}"#;

pub fn create_key(
    addr: SocketAddr,
    root: (&'static str, &'static str),
    policy: Option<&str>,
) -> String {
    let body = match policy {
        Some(p) => serde_json::json!({ "Policy": p }).to_string(),
        None => "{}".to_owned(),
    };
    let a = call(addr, "CreateKey", &body, &signing(root));
    assert_eq!(a.status, 200, "{:?}", a.error());
    a.json()["KeyMetadata"]["Arn"]
        .as_str()
        .expect("arn")
        .to_owned()
}

pub fn generate(addr: SocketAddr, who: &Signing<'_>, key: &str) -> Answer {
    call(
        addr,
        "GenerateDataKey",
        &format!(r#"{{"KeyId": "{key}", "KeySpec": "AES_256", "EncryptionContext": {CONTEXT}}}"#),
        who,
    )
}

pub fn decrypt(addr: SocketAddr, who: &Signing<'_>, blob: &str) -> Answer {
    call(
        addr,
        "Decrypt",
        &format!(r#"{{"CiphertextBlob": "{blob}", "EncryptionContext": {CONTEXT}}}"#),
        who,
    )
}
