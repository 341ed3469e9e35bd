//! Every operation answers in the model's shapes.

use super::*;

#[test]
fn operations_answer_in_the_model_shapes() {
    let s = ServerProcess::start(&iam_json(), &[]);
    let a = root_call(
        s.addr,
        "CreateKey",
        r#"{"Description": "d", "KeyUsage": "ENCRYPT_DECRYPT"}"#,
    );
    let m = &a.json()["KeyMetadata"];
    for member in [
        "AWSAccountId",
        "KeyId",
        "Arn",
        "Enabled",
        "Description",
        "KeyUsage",
        "KeyState",
        "Origin",
        "KeyManager",
        "KeySpec",
        "EncryptionAlgorithms",
    ] {
        assert!(!m[member].is_null(), "KeyMetadata.{member} missing: {m}");
    }
    assert_eq!(m["KeyState"], "Enabled");
    assert_eq!(m["AWSAccountId"], ACCOUNT);
    let arn = m["Arn"].as_str().expect("arn").to_owned();
    let id = m["KeyId"].as_str().expect("id").to_owned();

    let a = root_call(
        s.addr,
        "CreateAlias",
        &format!(r#"{{"AliasName": "alias/cam", "TargetKeyId": "{id}"}}"#),
    );
    assert_eq!((a.status, a.body.len()), (200, 0));
    let a = root_call(s.addr, "ListAliases", &format!(r#"{{"KeyId": "{id}"}}"#));
    assert_eq!(a.json()["Aliases"][0]["AliasName"], "alias/cam");
    assert_eq!(a.json()["Truncated"], false);

    let a = root_call(
        s.addr,
        "GenerateDataKey",
        r#"{"KeyId": "alias/cam", "KeySpec": "AES_128", "EncryptionContext": {"k": "v"}}"#,
    );
    let v = a.json();
    assert_eq!(v["KeyId"], arn.as_str());
    let plaintext = v["Plaintext"].as_str().expect("plaintext");
    assert_eq!(plaintext.len(), 24, "16 bytes in base64");
    let a = root_call(
        s.addr,
        "Decrypt",
        &format!(
            r#"{{"CiphertextBlob": "{}", "EncryptionContext": {{"k": "v"}}}}"#,
            v["CiphertextBlob"].as_str().expect("blob")
        ),
    );
    assert_eq!(a.json()["Plaintext"], plaintext);
    assert_eq!(a.json()["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT");
    let a = root_call(
        s.addr,
        "Decrypt",
        &format!(
            r#"{{"CiphertextBlob": "{}"}}"#,
            v["CiphertextBlob"].as_str().expect("blob")
        ),
    );
    assert_eq!(error_of(&a).1, "InvalidCiphertextException");

    let a = root_call(
        s.addr,
        "Encrypt",
        &format!(r#"{{"KeyId": "{id}", "Plaintext": "aGVsbG8="}}"#),
    );
    let blob = a.json()["CiphertextBlob"]
        .as_str()
        .expect("blob")
        .to_owned();
    let a = root_call(
        s.addr,
        "Decrypt",
        &format!(r#"{{"CiphertextBlob": "{blob}", "KeyId": "{arn}"}}"#),
    );
    assert_eq!(a.json()["Plaintext"], "aGVsbG8=");

    let a = root_call(
        s.addr,
        "GetKeyPolicy",
        &format!(r#"{{"KeyId": "{id}", "PolicyName": "default"}}"#),
    );
    assert_eq!(a.json()["PolicyName"], "default");
    let policy = a.json()["Policy"].as_str().expect("policy").to_owned();
    let a = root_call(
        s.addr,
        "PutKeyPolicy",
        &serde_json::json!({"KeyId": id, "Policy": policy}).to_string(),
    );
    assert_eq!(a.status, 200, "{:?}", a.error());
    let a = root_call(
        s.addr,
        "PutKeyPolicy",
        &serde_json::json!({"KeyId": id, "Policy": "{\"Statement\": 5}"}).to_string(),
    );
    assert_eq!(error_of(&a).1, "MalformedPolicyDocumentException");

    let a = root_call(s.addr, "DisableKey", &format!(r#"{{"KeyId": "{id}"}}"#));
    assert_eq!(a.status, 200);
    let a = root_call(
        s.addr,
        "GenerateDataKey",
        &format!(r#"{{"KeyId": "{id}", "NumberOfBytes": 8}}"#),
    );
    assert_eq!(error_of(&a).1, "DisabledException");
    let a = root_call(
        s.addr,
        "ScheduleKeyDeletion",
        &format!(r#"{{"KeyId": "{id}", "PendingWindowInDays": 7}}"#),
    );
    let v = a.json();
    assert_eq!(
        (v["KeyId"].as_str(), v["KeyState"].as_str()),
        (Some(arn.as_str()), Some("PendingDeletion"))
    );
    assert!(v["DeletionDate"].is_number());
    let a = root_call(s.addr, "DescribeKey", &format!(r#"{{"KeyId": "{id}"}}"#));
    assert!(a.json()["KeyMetadata"]["DeletionDate"].is_number());
    let a = root_call(
        s.addr,
        "CancelKeyDeletion",
        &format!(r#"{{"KeyId": "{id}"}}"#),
    );
    assert_eq!(a.json()["KeyId"], arn.as_str());
    let a = root_call(s.addr, "EnableKey", &format!(r#"{{"KeyId": "{id}"}}"#));
    assert_eq!(a.status, 200);
    let a = root_call(s.addr, "DeleteAlias", r#"{"AliasName": "alias/cam"}"#);
    assert_eq!(a.status, 200);
    let a = root_call(s.addr, "DescribeKey", r#"{"KeyId": "alias/cam"}"#);
    assert_eq!(error_of(&a).1, "NotFoundException");

    // Pagination: three keys, two per page.
    create_key(&s);
    create_key(&s);
    let first = root_call(s.addr, "ListKeys", r#"{"Limit": 2}"#).json();
    assert_eq!(
        (
            first["Keys"].as_array().map(Vec::len),
            first["Truncated"].as_bool()
        ),
        (Some(2), Some(true))
    );
    let marker = first["NextMarker"].as_str().expect("marker");
    let second = root_call(
        s.addr,
        "ListKeys",
        &format!(r#"{{"Limit": 2, "Marker": "{marker}"}}"#),
    )
    .json();
    assert_eq!(
        (
            second["Keys"].as_array().map(Vec::len),
            second["Truncated"].as_bool()
        ),
        (Some(1), Some(false))
    );
    let a = root_call(s.addr, "ListKeys", r#"{"Marker": "!!"}"#);
    assert_eq!(error_of(&a).1, "InvalidMarkerException");
}
