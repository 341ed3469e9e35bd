//! STS on `fragseal kms serve`: GetCallerIdentity, AssumeRole (identity policy, trust policy,
//! ExternalId, durations, names), session credentials on KMS calls (the role's policies,
//! X-Amz-Security-Token, expiry on the server's offset clock), and the KVS cross-account
//! chain of the access-control page, step by step.

mod server_common;

use server_common::sts::*;
use server_common::{sts_call, xml_text, InProcess, ServerProcess, Signing};

#[test]
fn get_caller_identity_names_the_user_the_root_and_the_session() {
    let s = ServerProcess::start(&iam(), &[]);
    let form = "Action=GetCallerIdentity&Version=2011-06-15";
    let a = sts_call(s.addr, form, &signing(ALICE));
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let body = String::from_utf8_lossy(&a.body).into_owned();
    assert!(body.starts_with("<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult>"), "{body}");
    assert_eq!(
        xml_text(&a.body, "Arn").as_deref(),
        Some("arn:aws:iam::111122223333:user/alice")
    );
    assert_eq!(xml_text(&a.body, "Account").as_deref(), Some(A));
    let uid = xml_text(&a.body, "UserId").expect("UserId");
    assert!(uid.starts_with("AIDA") && uid.len() == 21, "{uid}");
    assert!(xml_text(&a.body, "RequestId")
        .is_some_and(|r| Some(r.as_str()) == a.header("x-amzn-requestid")));

    let a = sts_call(s.addr, form, &signing(B_ROOT));
    assert_eq!(
        xml_text(&a.body, "Arn").as_deref(),
        Some("arn:aws:iam::444455556666:root")
    );
    assert_eq!(xml_text(&a.body, "UserId").as_deref(), Some(B));

    let session = assume(s.addr, &signing(CAM), &producer_arn(), &with_external_id());
    let a = sts_call(s.addr, form, &session.signing());
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(
        xml_text(&a.body, "Arn").as_deref(),
        Some("arn:aws:sts::111122223333:assumed-role/producer/cam-1")
    );
    assert_eq!(xml_text(&a.body, "Account").as_deref(), Some(A));
    let uid = xml_text(&a.body, "UserId").expect("UserId");
    assert!(uid.starts_with("AROA") && uid.ends_with(":cam-1"), "{uid}");
}

#[test]
fn assume_role_answers_aws_shaped_credentials() {
    let s = ServerProcess::start(&iam(), &[]);
    let before = std::time::SystemTime::now();
    let a = assume_answer(
        s.addr,
        &signing(CAM),
        &producer_arn(),
        &format!("{}&DurationSeconds=900", with_external_id()),
    );
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let body = String::from_utf8_lossy(&a.body).into_owned();
    assert!(body.starts_with("<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials>"), "{body}");
    assert!(
        body.ends_with("</RequestId></ResponseMetadata></AssumeRoleResponse>"),
        "{body}"
    );
    let akid = xml_text(&a.body, "AccessKeyId").expect("akid");
    assert!(akid.starts_with("ASIA") && akid.len() == 20, "{akid}");
    assert_eq!(
        xml_text(&a.body, "SecretAccessKey").expect("secret").len(),
        40
    );
    assert!(xml_text(&a.body, "SessionToken").expect("token").len() >= 64);
    let exp = humantime::parse_rfc3339(&xml_text(&a.body, "Expiration").expect("Expiration"))
        .expect("ISO 8601");
    let life = exp.duration_since(before).expect("in the future").as_secs();
    assert!((899..=902).contains(&life), "{life}");
    assert_eq!(
        xml_text(&a.body, "Arn").as_deref(),
        Some("arn:aws:sts::111122223333:assumed-role/producer/cam-1")
    );
    let id = xml_text(&a.body, "AssumedRoleId").expect("AssumedRoleId");
    assert!(id.starts_with("AROA") && id.ends_with(":cam-1"), "{id}");
    // Each AssumeRole is a new session.
    let again = assume(s.addr, &signing(CAM), &producer_arn(), &with_external_id());
    assert_ne!(again.akid, akid);
}

#[test]
fn assume_role_is_refused_without_identity_policy_trust_or_external_id() {
    let s = ServerProcess::start(&iam(), &[]);
    let denied = |who: &str, role: &str| {
        (
            403,
            "AccessDenied".to_owned(),
            format!("User: {who} is not authorized to perform: sts:AssumeRole on resource: {role}"),
        )
    };
    let nopol = format!("arn:aws:iam::{B}:user/nopol");
    let cam = format!("arn:aws:iam::{B}:user/cam");
    let alice = format!("arn:aws:iam::{A}:user/alice");
    // Trusted account, but no identity policy of the caller allows it.
    let a = assume_answer(
        s.addr,
        &signing(NOPOL),
        &producer_arn(),
        &with_external_id(),
    );
    assert_eq!(sts_error(&a), denied(&nopol, &producer_arn()));
    // Identity policy allows, ExternalId wrong or missing.
    let a = assume_answer(
        s.addr,
        &signing(CAM),
        &producer_arn(),
        "&ExternalId=kvs-partner-8",
    );
    assert_eq!(sts_error(&a), denied(&cam, &producer_arn()));
    let a = assume_answer(s.addr, &signing(CAM), &producer_arn(), "");
    assert_eq!(sts_error(&a), denied(&cam, &producer_arn()));
    // A role without a trust policy, one whose trust does not name the caller, an unknown role.
    let notrust = format!("arn:aws:iam::{A}:role/notrust");
    let a = assume_answer(s.addr, &signing(ALICE), &notrust, "");
    assert_eq!(sts_error(&a), denied(&alice, &notrust));
    let a = assume_answer(
        s.addr,
        &signing(ALICE),
        &producer_arn(),
        &with_external_id(),
    );
    assert_eq!(sts_error(&a), denied(&alice, &producer_arn()));
    let ghost = format!("arn:aws:iam::{A}:role/ghost");
    let a = assume_answer(s.addr, &signing(ALICE), &ghost, "");
    assert_eq!(sts_error(&a), denied(&alice, &ghost));
    // Same account, trust names the account: alice's identity policy allows consumer.
    assume(
        s.addr,
        &signing(ALICE),
        &format!("arn:aws:iam::{A}:role/consumer"),
        "",
    );
    // B's root holds every identity permission of B, and A trusts B.
    assume(
        s.addr,
        &signing(B_ROOT),
        &producer_arn(),
        &with_external_id(),
    );
}

#[test]
fn durations_and_session_names_are_validated_with_aws_wording() {
    let s = ServerProcess::start(&iam(), &[]);
    let long = format!("arn:aws:iam::{A}:role/long");
    let consumer = format!("arn:aws:iam::{A}:role/consumer");
    let v =
        |extra: &str, role: &str| sts_error(&assume_answer(s.addr, &signing(ALICE), role, extra));
    assert_eq!(
        v("&DurationSeconds=899", &long),
        (400, "ValidationError".to_owned(), "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900".to_owned())
    );
    assert_eq!(
        v("&DurationSeconds=43201", &long).2,
        "1 validation error detected: Value '43201' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200"
    );
    assert_eq!(v("&DurationSeconds=ten", &long).1, "ValidationError");
    assert_eq!(
        v("&DurationSeconds=3601", &consumer),
        (
            400,
            "ValidationError".to_owned(),
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                .to_owned()
        )
    );
    assert_eq!(
        v("&DurationSeconds=7201", &long).2,
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
    );
    assume(s.addr, &signing(ALICE), &long, "&DurationSeconds=7200");
    assume(s.addr, &signing(ALICE), &consumer, "&DurationSeconds=900");
    // RoleSessionName: 2 to 64 of [\w+=,.@-].
    let named = |name: &str| {
        let form = format!(
            "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A{A}%3Arole%2Flong&RoleSessionName={name}"
        );
        sts_call(s.addr, &form, &signing(ALICE))
    };
    assert_eq!(
        sts_error(&named("a")).2,
        "1 validation error detected: Value 'a' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2"
    );
    assert_eq!(sts_error(&named(&"a".repeat(65))).1, "ValidationError");
    assert_eq!(
        sts_error(&named("a%2Bb%20c")).2,
        "1 validation error detected: Value 'a+b c' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
    );
    assert_eq!(sts_error(&named("a%2Fb")).1, "ValidationError");
    assert_eq!(named("a_b%2Bc%3Dd%2Ce.f%40g-h").status, 200);
    assert_eq!(named(&"a".repeat(64)).status, 200);
    // Missing members, parameters not modelled, unknown actions and versions.
    let form = |f: &str| sts_error(&sts_call(s.addr, f, &signing(ALICE)));
    assert_eq!(form("Action=AssumeRole&Version=2011-06-15&RoleSessionName=ab").2,
        "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null");
    assert_eq!(form(&format!("Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A{A}%3Arole%2Flong&RoleSessionName=ab&Policy=%7B%7D")).1, "ValidationError");
    assert_eq!(
        form("Action=AssumeRoleWithSAML&Version=2011-06-15").1,
        "InvalidAction"
    );
    assert_eq!(
        form("Action=GetCallerIdentity&Version=2010-01-01").1,
        "InvalidAction"
    );
    assert_eq!(form("Version=2011-06-15").1, "MissingAction");
    assert_eq!(
        form("Action=GetCallerIdentity&Action=AssumeRole&Version=2011-06-15").1,
        "ValidationError"
    );
    // Role chaining: a session may assume a role for at most an hour.
    let session = assume(s.addr, &signing(ALICE), &long, "");
    let a = assume_answer(
        s.addr,
        &session.signing(),
        &consumer,
        "&DurationSeconds=3601",
    );
    assert_eq!(
        sts_error(&a).2,
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
    );
    let chained = assume(s.addr, &session.signing(), &consumer, "");
    let a = sts_call(
        s.addr,
        "Action=GetCallerIdentity&Version=2011-06-15",
        &chained.signing(),
    );
    assert_eq!(
        xml_text(&a.body, "Arn").as_deref(),
        Some("arn:aws:sts::111122223333:assumed-role/consumer/cam-1")
    );
}

#[test]
fn session_keys_need_their_own_token() {
    let s = ServerProcess::start(&iam(), &[]);
    let key = create_key(s.addr, A_ROOT, None);
    let producer = assume(s.addr, &signing(CAM), &producer_arn(), &with_external_id());
    let other = assume(s.addr, &signing(CAM), &producer_arn(), &with_external_id());
    let bad = "The security token included in the request is invalid.";
    let without = Signing::new(&producer.akid, &producer.secret);
    let a = generate(s.addr, &without, &key);
    assert_eq!(
        (a.status, a.error()),
        (
            400,
            ("UnrecognizedClientException".to_owned(), bad.to_owned())
        )
    );
    let mut flipped = producer.token.clone().into_bytes();
    flipped[10] ^= 1;
    let flipped = String::from_utf8(flipped).expect("ascii");
    let wrong = Signing {
        session_token: Some(&flipped),
        ..Signing::new(&producer.akid, &producer.secret)
    };
    assert_eq!(
        generate(s.addr, &wrong, &key).error().0,
        "UnrecognizedClientException"
    );
    let swapped = Signing {
        session_token: Some(&other.token),
        ..Signing::new(&producer.akid, &producer.secret)
    };
    assert_eq!(
        generate(s.addr, &swapped, &key).error().0,
        "UnrecognizedClientException"
    );
    // The right token with the wrong secret is a signature mismatch.
    let forged = Signing {
        session_token: Some(&producer.token),
        ..Signing::new(&producer.akid, &other.secret)
    };
    assert_eq!(
        generate(s.addr, &forged, &key).error().0,
        "InvalidSignatureException"
    );
    assert_eq!(generate(s.addr, &producer.signing(), &key).status, 200);
    // STS's names for the same refusals.
    let form = "Action=GetCallerIdentity&Version=2011-06-15";
    let (status, code, message) = sts_error(&sts_call(s.addr, form, &without));
    assert_eq!(
        (status, code.as_str(), message.as_str()),
        (403, "InvalidClientTokenId", bad)
    );
    assert_eq!(
        sts_error(&sts_call(s.addr, form, &forged)).1,
        "SignatureDoesNotMatch"
    );
    assert_eq!(
        sts_error(&sts_call(
            s.addr,
            form,
            &Signing::new("AKIAUNKNOWNEXAMPLE01", "x")
        ))
        .1,
        "InvalidClientTokenId"
    );
    // A session key of a server that does not know it (say, restarted) is unrecognized.
    let fresh = ServerProcess::start(&iam(), &[]);
    assert_eq!(
        generate(fresh.addr, &producer.signing(), &key).error().0,
        "UnrecognizedClientException"
    );
}

#[test]
fn sessions_expire_on_the_servers_offset_clock() {
    // The server's clock is 20 minutes ahead for session expiry: a 15-minute session is
    // already over at its first use, a one-hour one is not.
    let s = InProcess::start(&iam(), 20 * 60);
    let key = create_key(s.addr, A_ROOT, None);
    let short = assume(
        s.addr,
        &signing(CAM),
        &producer_arn(),
        &format!("{}&DurationSeconds=900", with_external_id()),
    );
    let a = generate(s.addr, &short.signing(), &key);
    assert_eq!(
        (a.status, a.error()),
        (
            400,
            (
                "ExpiredTokenException".to_owned(),
                "The security token included in the request is expired".to_owned()
            )
        )
    );
    let (status, code, _) = sts_error(&sts_call(
        s.addr,
        "Action=GetCallerIdentity&Version=2011-06-15",
        &short.signing(),
    ));
    assert_eq!((status, code.as_str()), (400, "ExpiredToken"));
    let hour = assume(
        s.addr,
        &signing(CAM),
        &producer_arn(),
        &format!("{}&DurationSeconds=3600", with_external_id()),
    );
    assert_eq!(generate(s.addr, &hour.signing(), &key).status, 200);
    // Without an offset the 15-minute session works.
    let plain = InProcess::start(&iam(), 0);
    let key = create_key(plain.addr, A_ROOT, None);
    let short = assume(
        plain.addr,
        &signing(CAM),
        &producer_arn(),
        &format!("{}&DurationSeconds=900", with_external_id()),
    );
    assert_eq!(generate(plain.addr, &short.signing(), &key).status, 200);
}

#[test]
fn unsigned_and_kms_scoped_form_requests_get_sts_errors() {
    let s = ServerProcess::start(&iam(), &[]);
    let body = b"Action=GetCallerIdentity&Version=2011-06-15";
    let req = server_common::request_bytes(
        &[
            (
                "content-type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ),
            ("host".to_owned(), s.addr.to_string()),
        ],
        body,
    );
    let a = server_common::raw(s.addr, &req);
    assert_eq!(sts_error(&a).0, 403);
    assert_eq!(sts_error(&a).1, "MissingAuthenticationToken");
    // A form body signed for kms is not an STS request.
    let mut kms_signed = Signing::new(ALICE.0, ALICE.1);
    kms_signed.service = "kms";
    let headers = server_common::signed_headers(s.addr, "ListKeys", body, &kms_signed)
        .into_iter()
        .map(|(n, v)| {
            if n == "content-type" {
                (n, "application/x-www-form-urlencoded".to_owned())
            } else {
                (n, v)
            }
        })
        .filter(|(n, _)| n != "x-amz-target")
        .collect::<Vec<_>>();
    let a = server_common::raw(s.addr, &server_common::request_bytes(&headers, body));
    // The content type is signed: changing it breaks the signature.
    assert_ne!(a.status, 200);
}

#[test]
fn the_cli_clock_offset_expires_sessions() {
    let s = ServerProcess::start(&iam(), &["--clock-offset", "+20m"]);
    let short = assume(
        s.addr,
        &signing(CAM),
        &producer_arn(),
        &format!("{}&DurationSeconds=900", with_external_id()),
    );
    let a = sts_call(
        s.addr,
        "Action=GetCallerIdentity&Version=2011-06-15",
        &short.signing(),
    );
    assert_eq!(sts_error(&a).1, "ExpiredToken");
    let back = ServerProcess::start(&iam(), &["--clock-offset", "-20m"]);
    let short = assume(
        back.addr,
        &signing(CAM),
        &producer_arn(),
        &format!("{}&DurationSeconds=900", with_external_id()),
    );
    let a = sts_call(
        back.addr,
        "Action=GetCallerIdentity&Version=2011-06-15",
        &short.signing(),
    );
    assert_eq!(a.status, 200);
}
