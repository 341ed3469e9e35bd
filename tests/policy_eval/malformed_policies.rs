//! Policies refused at parse time, naming the bad element; every fixture parses.

use super::*;

#[test]
fn malformed_policies_name_the_bad_element() {
    let ok = r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}"#;
    let key_rows: Vec<(String, &str)> = vec![
        (
            format!(r#"{{"Statement":[{ok},{ok},{{"Effect":"Permit","Principal":"*","Action":"kms:*","Resource":"*"}}]}}"#),
            r#"Statement[2].Effect: expected "Allow" or "Deny""#,
        ),
        (r#"{"Version":"2012-10-17"}"#.to_owned(), "Statement: missing"),
        (format!(r#"{{"Version":"2020-01-01","Statement":{ok}}}"#), "Version: expected"),
        (format!(r#"{{"Statment":{ok}}}"#), "Statment: unknown policy element"),
        (r#"{"Statement":"allow all"}"#.to_owned(), "Statement: expected an object"),
        (r#"{"Statement":[]}"#.to_owned(), "Statement: must not be empty"),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"Decrypt","Resource":"*"}}"#.to_owned(),
            "Statement[0].Action[0]: expected \"service:action\"",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","NotAction":"kms:Decrypt","Resource":"*"}}"#.to_owned(),
            "only one of Action and NotAction",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#.to_owned(),
            "Statement[0].Principal: missing",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"kms:*","Resource":"*"}}"#.to_owned(),
            "Statement[0].Principal.AWS[0]: expected",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/*"},"Action":"kms:*","Resource":"*"}}"#.to_owned(),
            "Statement[0].Principal.AWS[0]: wildcards are not allowed",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":{"IAM":"*"},"Action":"kms:*","Resource":"*"}}"#.to_owned(),
            "Statement[0].Principal.IAM: unknown principal type",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"key/abc"}}"#.to_owned(),
            "Statement[0].Resource[0]: expected an ARN",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*"}}"#.to_owned(),
            "Statement[0].Resource: missing",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NumericLessThan":{"kms:X":"1"}}}}"#.to_owned(),
            "Statement[0].Condition.NumericLessThan: unsupported condition operator",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Bool":{"kms:ViaService":"yes"}}}}"#.to_owned(),
            "Statement[0].Condition.Bool.kms:ViaService: expected \"true\" or \"false\"",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NullIfExists":{"kms:ViaService":"true"}}}}"#.to_owned(),
            "Statement[0].Condition.NullIfExists: Null has no IfExists form",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":{"a":1}}}}}"#.to_owned(),
            "Statement[0].Condition.StringEquals.kms:ViaService: expected",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":[1],"Resource":"*"}}"#.to_owned(),
            "Statement[0].Action[0]: expected a string",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Extra":1}}"#.to_owned(),
            "Statement[0].Extra: unknown statement element",
        ),
        ("not json".to_owned(), "not valid JSON"),
        ("[1,2]".to_owned(), "expected a JSON object"),
    ];
    for (json, want) in &key_rows {
        let e = Policy::parse(json, PolicyKind::Key).unwrap_err();
        assert!(
            e.to_string().contains(want),
            "{json}\n  got: {e}\n  want: {want}"
        );
    }
    let e = Policy::parse(
        r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}}"#,
        PolicyKind::Identity,
    )
    .unwrap_err();
    assert_eq!(e.path(), "Statement[0].Principal");
    assert!(e.message().contains("not allowed in an identity policy"));
}

#[test]
fn every_fixture_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/policies");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let kind = if name.starts_with("key_") {
            PolicyKind::Key
        } else {
            PolicyKind::Identity
        };
        let p = Policy::parse(&text, kind).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!p.statements().is_empty());
        n += 1;
    }
    assert!(n >= 10, "{n} fixtures");
}

/// A statement (key policy: with `"Principal":"*"`) denying `kms:*` under `condition`.
fn deny_under(condition: &str, kind: PolicyKind) -> String {
    let principal = match kind {
        PolicyKind::Key => r#""Principal":"*","#,
        PolicyKind::Identity => "",
    };
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Deny",{principal}"Action":"kms:*","Resource":"*","Condition":{condition}}}]}}"#
    )
}

/// Fail closed: a condition key LocalKms does not model is refused at parse time, naming the
/// key. Before, it read as absent, so a `Deny` conditioned on it never fired.
#[test]
fn unmodelled_condition_key_is_rejected_naming_it() {
    let rows = [
        (
            r#"{"StringEquals":{"aws:SourceIp":"10.0.0.1"}}"#,
            "aws:SourceIp",
        ),
        (
            r#"{"Bool":{"aws:SecureTransport":"false"}}"#,
            "aws:SecureTransport",
        ),
        (
            r#"{"StringNotEquals":{"kms:EncryptionContex:stream":"cam-1"}}"#,
            "kms:EncryptionContex:stream",
        ),
        (
            r#"{"Null":{"kms:EncryptionContext:":"true"}}"#,
            "kms:EncryptionContext:",
        ),
        (
            r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":"x"}}"#,
            "aws:TagKeys",
        ),
        (
            r#"{"StringLike":{"kms:ViaService":"*","aws:username":"bob"}}"#,
            "aws:username",
        ),
    ];
    for (condition, key) in rows {
        for kind in [PolicyKind::Key, PolicyKind::Identity] {
            let json = deny_under(condition, kind);
            let e = refused(&json, kind);
            assert_eq!(
                e.kind(),
                PolicyErrorKind::UnsupportedConditionKey,
                "{json}: {e}"
            );
            assert!(e.path().ends_with(&format!(".{key}")), "{json}: {e}");
            assert!(e.message().contains(&format!("{key:?}")), "{json}: {e}");
            assert_eq!(e.exception(), "MalformedPolicyDocumentException");
        }
    }
    // Every modelled key parses, its name in any case.
    for key in [
        "kms:CallerAccount",
        "AWS:PrincipalAccount",
        "aws:principalarn",
        "kms:ViaService",
        "kms:RequestAlias",
        "kms:EncryptionContextKeys",
        "KMS:encryptioncontext:Stream",
    ] {
        let json = deny_under(
            &format!(r#"{{"StringEquals":{{"{key}":"x"}}}}"#),
            PolicyKind::Key,
        );
        Policy::parse(&json, PolicyKind::Key).unwrap_or_else(|e| panic!("{key}: {e}"));
    }
}

/// Fail closed: an object that repeats a key, anywhere in the document, is refused. A plain
/// JSON reader keeps the last value, so `"Effect":"Deny", ..., "Effect":"Allow"` allowed.
#[test]
fn duplicate_json_keys_are_rejected() {
    let deny_then_allow = r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Effect":"Allow"}}"#;
    // What a last-value-wins reader makes of it: an Allow for everyone.
    let lax: serde_json::Value = serde_json::from_str(deny_then_allow).unwrap();
    let lax = Policy::from_value(&lax, PolicyKind::Key).unwrap();
    let req = Request {
        action: "kms:Decrypt",
        resource: KEY,
        context: RequestContext {
            principal_arn: CAMERA,
            principal_account: ACCT,
            ..RequestContext::default()
        },
    };
    assert_eq!(authorize(Some(&lax), ACCT, &[], &req), A);

    let rows = [
        (deny_then_allow, "Effect"),
        (
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*"},"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}}"#,
            "Statement",
        ),
        (
            r#"{"Version":"2012-10-17","Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}}"#,
            "Version",
        ),
        (
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/Consumer","AWS":"*"},"Action":"kms:Decrypt","Resource":"*"}}"#,
            "AWS",
        ),
        (
            r#"{"Statement":{"Effect":"Deny","Principal":"*","NotAction":"kms:Describe*","Resource":"*","Condition":{"StringNotEquals":{"kms:CallerAccount":"123456789012"},"StringNotEquals":{"kms:CallerAccount":"444455556666"}}}}"#,
            "StringNotEquals",
        ),
        (
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:stream":"cam-1","kms:EncryptionContext:stream":"cam-2"}}}]}"#,
            "kms:EncryptionContext:stream",
        ),
    ];
    for (json, key) in rows {
        let e = refused(json, PolicyKind::Key);
        assert_eq!(e.kind(), PolicyErrorKind::DuplicateKey, "{json}: {e}");
        assert!(
            e.message()
                .contains(&format!("duplicate JSON object key {key:?}")),
            "{json}: {e}"
        );
        assert_eq!(e.exception(), "MalformedPolicyDocumentException");
    }
    // The same key in sibling objects is not a repetition.
    Policy::parse(
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Principal":"*","Action":"kms:ScheduleKeyDeletion","Resource":"*"}]}"#,
        PolicyKind::Key,
    )
    .unwrap();
}

/// Fail closed, as AWS KMS: `ForAllValues:` on the single-valued `kms:EncryptionContext:KEY`
/// is true when the context lacks `KEY`, and is refused with AWS's OverlyPermissiveCondition.
#[test]
fn for_all_values_on_encryption_context_key_is_overly_permissive() {
    for op in [
        "ForAllValues:StringEquals",
        "ForAllValues:StringLike",
        "ForAllValues:StringEqualsIfExists",
        "ForAllValues:StringNotEquals",
    ] {
        for key in [
            "kms:EncryptionContext:aws:kinesisvideo:arn",
            "kms:encryptioncontext:Stream",
        ] {
            let condition = format!(r#"{{"{op}":{{"{key}":"{STREAM}"}}}}"#);
            for kind in [PolicyKind::Key, PolicyKind::Identity] {
                let e = refused(&deny_under(&condition, kind), kind);
                assert_eq!(e.kind(), PolicyErrorKind::OverlyPermissiveCondition, "{e}");
                assert!(e.message().contains("OverlyPermissiveCondition"), "{e}");
                assert!(e.path().ends_with(&format!("{op}.{key}")), "{e}");
                assert_eq!(e.exception(), "MalformedPolicyDocumentException");
            }
        }
    }
    // The multi-valued kms:EncryptionContextKeys keeps ForAllValues, and ForAnyValue on a
    // single context key is accepted.
    for condition in [
        r#"{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":"aws:kinesisvideo:arn"}}"#,
        r#"{"ForAnyValue:StringEquals":{"kms:EncryptionContext:stream":"cam-1"}}"#,
    ] {
        Policy::parse(&deny_under(condition, PolicyKind::Key), PolicyKind::Key)
            .unwrap_or_else(|e| panic!("{condition}: {e}"));
    }
    // Through LocalKms: CreateKey refuses it, with the PolicyError as the source (from which
    // the exception name is taken).
    let kms = fragseal::kms::local::LocalKms::new("us-west-2", ACCT);
    let root = fragseal::kms::Credential::new(ACCT, ROOT, "AKIAROOT").unwrap();
    let policy = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{ROOT}"}},"Action":"kms:*","Resource":"*"}},
            {{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*",
              "Condition":{{"ForAllValues:StringEquals":{{"kms:EncryptionContext:aws:kinesisvideo:arn":"{STREAM}"}}}}}}]}}"#
    );
    let e = kms.create_key(&root, Some(&policy), "t").unwrap_err();
    assert!(e.message().contains("OverlyPermissiveCondition"), "{e}");
    let source = std::error::Error::source(&e)
        .and_then(|s| s.downcast_ref::<PolicyError>())
        .unwrap();
    assert_eq!(source.kind(), PolicyErrorKind::OverlyPermissiveCondition);
    assert_eq!(source.exception(), "MalformedPolicyDocumentException");
}

/// Fail closed, as AWS KMS since 2025-08-18 for key policies: a statement needs
/// `Action`/`NotAction` and `Resource`/`NotResource`.
#[test]
fn statement_without_action_or_resource_is_rejected() {
    for kind in [PolicyKind::Key, PolicyKind::Identity] {
        let principal = match kind {
            PolicyKind::Key => r#""Principal":"*","#,
            PolicyKind::Identity => "",
        };
        for (body, missing) in [
            (r#""Resource":"*""#, "Statement[0].Action"),
            (r#""Action":"kms:*""#, "Statement[0].Resource"),
            (r#""Sid":"x""#, "Statement[0].Action"),
        ] {
            let json = format!(r#"{{"Statement":[{{"Effect":"Deny",{principal}{body}}}]}}"#);
            let e = refused(&json, kind);
            assert_eq!(e.kind(), PolicyErrorKind::Element, "{json}: {e}");
            assert_eq!(e.path(), missing, "{json}: {e}");
            assert!(e.message().starts_with("missing"), "{json}: {e}");
        }
        for body in [
            r#""NotAction":"kms:Decrypt","Resource":"*""#,
            r#""Action":"kms:*","NotResource":"arn:aws:kms:*:*:key/x""#,
        ] {
            let json = format!(r#"{{"Statement":[{{"Effect":"Deny",{principal}{body}}}]}}"#);
            Policy::parse(&json, kind).unwrap_or_else(|e| panic!("{json}: {e}"));
        }
    }
}
