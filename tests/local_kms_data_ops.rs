//! The server's data operations: GenerateDataKeyWithoutPlaintext, ReEncrypt, GenerateRandom,
//! Decrypt with a KeyId, and the KeySpec/NumberOfBytes validation.
#![allow(clippy::unwrap_used, reason = "tests")]

use fragseal::kms::local::{Denial, LocalKms, PolicyHalf};
use fragseal::kms::{Credential, DataKeySpec, Kms, KmsErrorKind};
use fragseal::EncryptionContext;

const REGION: &str = "us-east-1";
const A: &str = "111122223333";

fn root() -> Credential {
    Credential::new(A, format!("arn:aws:iam::{A}:root"), "AKIAROOT").unwrap()
}

fn user(name: &str) -> Credential {
    Credential::new(A, user_arn(name), format!("AKIA{}", name.to_uppercase())).unwrap()
}

fn user_arn(name: &str) -> String {
    format!("arn:aws:iam::{A}:user/{name}")
}

fn ec(v: &str) -> EncryptionContext {
    EncryptionContext::new().with("purpose", v)
}

fn allow(actions: &[&str]) -> String {
    let list = serde_json::to_string(actions).unwrap();
    format!(r#"{{"Statement":[{{"Effect":"Allow","Action":{list},"Resource":"*"}}]}}"#)
}

fn last_json(kms: &LocalKms) -> serde_json::Value {
    kms.audit().events_json().pop().unwrap()
}

#[test]
fn data_key_spec_parse_follows_aws_validation() {
    assert_eq!(
        DataKeySpec::parse(Some("AES_256"), None).unwrap(),
        DataKeySpec::Aes256
    );
    assert_eq!(DataKeySpec::parse(Some("AES_128"), None).unwrap().len(), 16);
    assert_eq!(
        DataKeySpec::parse(None, Some(1024)).unwrap(),
        DataKeySpec::Bytes(1024)
    );
    assert_eq!(DataKeySpec::parse(None, Some(1)).unwrap().len(), 1);
    for (spec, n, want) in [
        (Some("AES_256"), Some(32), "Please specify either number of bytes or key spec."),
        (None, None, "Please specify either number of bytes or key spec."),
        (
            Some("AES_512"),
            None,
            "1 validation error detected: Value 'AES_512' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]",
        ),
        (
            None,
            Some(0),
            "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1",
        ),
        (
            None,
            Some(1025),
            "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024",
        ),
        (
            None,
            Some(-5),
            "1 validation error detected: Value '-5' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1",
        ),
    ] {
        let e = DataKeySpec::parse(spec, n).unwrap_err();
        assert_eq!(e.kind(), KmsErrorKind::InvalidRequest);
        assert_eq!(e.code(), "ValidationException");
        assert_eq!(e.message(), want);
    }
}

#[test]
fn generate_data_key_without_plaintext() {
    let kms = LocalKms::new(REGION, A);
    let key = kms.create_key(&root(), None, "k").unwrap();
    let blob = kms
        .generate_data_key_without_plaintext(&root(), &key.arn, DataKeySpec::Bytes(16), &ec("x"))
        .unwrap();
    assert_eq!(blob.key_id, key.arn);
    let rec = last_json(&kms);
    assert_eq!(rec["eventName"], "GenerateDataKeyWithoutPlaintext");
    assert_eq!(rec["requestParameters"]["numberOfBytes"], 16);
    let d = kms
        .decrypt(&root(), &blob.ciphertext_blob, &ec("x"), None)
        .unwrap();
    assert_eq!(d.plaintext.expose_secret().len(), 16);

    // Its own action: kms:GenerateDataKey does not allow it.
    kms.attach_identity_policy(&user_arn("gen"), &allow(&["kms:GenerateDataKey"]))
        .unwrap();
    let e = kms
        .generate_data_key_without_plaintext(&user("gen"), &key.arn, DataKeySpec::Aes256, &ec("x"))
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    assert!(
        e.message().contains("kms:GenerateDataKeyWithoutPlaintext"),
        "{e}"
    );
    kms.attach_identity_policy(
        &user_arn("gen"),
        &allow(&["kms:GenerateDataKeyWithoutPlaintext"]),
    )
    .unwrap();
    assert!(kms
        .generate_data_key_without_plaintext(&user("gen"), &key.arn, DataKeySpec::Aes256, &ec("x"))
        .is_ok());
    // Same validation and key-state checks as GenerateDataKey.
    let e = kms
        .generate_data_key_without_plaintext(&root(), &key.arn, DataKeySpec::Bytes(0), &ec("x"))
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::InvalidRequest);
    kms.disable_key(&root(), &key.arn).unwrap();
    let e = kms
        .generate_data_key_without_plaintext(&root(), &key.arn, DataKeySpec::Aes256, &ec("x"))
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::Disabled);
}

#[test]
fn re_encrypt_checks_both_keys() {
    let kms = LocalKms::new(REGION, A);
    let src = kms.create_key(&root(), None, "src").unwrap();
    let dst = kms.create_key(&root(), None, "dst").unwrap();
    kms.create_alias(&root(), "alias/dst", &dst.arn).unwrap();
    let g = kms
        .generate_data_key(&root(), &src.arn, DataKeySpec::Aes256, &ec("a"))
        .unwrap();
    let before = kms.audit().events().len();

    let r = kms
        .re_encrypt(
            &root(),
            &g.ciphertext_blob,
            &ec("a"),
            Some(&src.key_id),
            "alias/dst",
            &ec("b"),
        )
        .unwrap();
    assert_eq!(r.source_key_id, src.arn);
    assert_eq!(r.key_id, dst.arn);
    assert_eq!(kms.audit().events().len(), before + 1, "one audit event");
    let rec = last_json(&kms);
    assert_eq!(rec["eventName"], "ReEncrypt");
    assert_eq!(rec["requestParameters"]["destinationKeyId"], "alias/dst");
    assert_eq!(
        rec["requestParameters"]["destinationEncryptionContext"]["purpose"],
        "b"
    );
    // The new blob opens under the destination key with the destination context only.
    let d = kms
        .decrypt(&root(), &r.ciphertext_blob, &ec("b"), None)
        .unwrap();
    assert_eq!(d.key_id, dst.arn);
    assert_eq!(d.plaintext.expose_secret(), g.plaintext.expose_secret());
    assert_eq!(
        kms.decrypt(&root(), &r.ciphertext_blob, &ec("a"), None)
            .unwrap_err()
            .kind(),
        KmsErrorKind::InvalidCiphertext
    );
    // Wrong source context.
    assert_eq!(
        kms.re_encrypt(
            &root(),
            &g.ciphertext_blob,
            &ec("z"),
            None,
            &dst.arn,
            &ec("b")
        )
        .unwrap_err()
        .kind(),
        KmsErrorKind::InvalidCiphertext
    );
    // A SourceKeyId that is not the blob's key.
    let e = kms
        .re_encrypt(
            &root(),
            &g.ciphertext_blob,
            &ec("a"),
            Some(&dst.arn),
            &dst.arn,
            &ec("b"),
        )
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::IncorrectKey);
    assert_eq!(e.code(), "IncorrectKeyException");
    // DestinationKeyId is required; an unknown one is not found.
    assert_eq!(
        kms.re_encrypt(&root(), &g.ciphertext_blob, &ec("a"), None, "", &ec("b"))
            .unwrap_err()
            .kind(),
        KmsErrorKind::InvalidRequest
    );
    assert_eq!(
        kms.re_encrypt(
            &root(),
            &g.ciphertext_blob,
            &ec("a"),
            None,
            "alias/none",
            &ec("b")
        )
        .unwrap_err()
        .kind(),
        KmsErrorKind::NotFound
    );

    // ReEncryptFrom alone, ReEncryptTo alone: each refused, naming the missing half.
    kms.attach_identity_policy(&user_arn("from"), &allow(&["kms:ReEncryptFrom"]))
        .unwrap();
    let e = kms
        .re_encrypt(
            &user("from"),
            &g.ciphertext_blob,
            &ec("a"),
            None,
            &dst.arn,
            &ec("b"),
        )
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    assert!(e.message().contains("kms:ReEncryptTo"), "{e}");
    assert!(e.message().contains(&dst.arn), "{e}");
    assert_eq!(
        e.denial(),
        Some(&Denial::NoAllow {
            missing: PolicyHalf::IdentityPolicy,
            present: Some(PolicyHalf::KeyPolicy)
        })
    );
    kms.attach_identity_policy(&user_arn("to"), &allow(&["kms:ReEncryptTo"]))
        .unwrap();
    let e = kms
        .re_encrypt(
            &user("to"),
            &g.ciphertext_blob,
            &ec("a"),
            None,
            &dst.arn,
            &ec("b"),
        )
        .unwrap_err();
    assert!(e.message().contains("kms:ReEncryptFrom"), "{e}");
    assert!(e.message().contains(&src.arn), "{e}");
    // Both (as `kms:ReEncrypt*`): allowed.
    kms.attach_identity_policy(&user_arn("both"), &allow(&["kms:ReEncrypt*"]))
        .unwrap();
    assert!(kms
        .re_encrypt(
            &user("both"),
            &g.ciphertext_blob,
            &ec("a"),
            None,
            &dst.arn,
            &ec("b")
        )
        .is_ok());
    // A disabled destination key.
    kms.disable_key(&root(), &dst.arn).unwrap();
    assert_eq!(
        kms.re_encrypt(
            &root(),
            &g.ciphertext_blob,
            &ec("a"),
            None,
            &dst.arn,
            &ec("b")
        )
        .unwrap_err()
        .kind(),
        KmsErrorKind::Disabled
    );
}

#[test]
fn generate_random() {
    let kms = LocalKms::new(REGION, A);
    let r = kms.generate_random(&root(), 1024).unwrap();
    assert_eq!(r.expose_secret().len(), 1024);
    assert_ne!(
        r.expose_secret(),
        kms.generate_random(&root(), 1024).unwrap().expose_secret()
    );
    let rec = last_json(&kms);
    assert_eq!(rec["eventName"], "GenerateRandom");
    assert_eq!(rec["requestParameters"]["numberOfBytes"], 1024);
    for n in [0, 1025, -1] {
        let e = kms.generate_random(&root(), n).unwrap_err();
        assert_eq!(e.code(), "ValidationException");
        assert!(
            e.message().starts_with(&format!(
                "1 validation error detected: Value '{n}' at 'numberOfBytes' failed to satisfy constraint: "
            )),
            "{e}"
        );
    }
    // Identity policy needed for others.
    let e = kms.generate_random(&user("u"), 8).unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied);
    kms.attach_identity_policy(&user_arn("u"), &allow(&["kms:GenerateRandom"]))
        .unwrap();
    assert_eq!(
        kms.generate_random(&user("u"), 8)
            .unwrap()
            .expose_secret()
            .len(),
        8
    );
    // A caller of an account not served.
    let stranger = Credential::new(
        "999988887777",
        "arn:aws:iam::999988887777:root",
        "AKIASTRANGER",
    )
    .unwrap();
    assert_eq!(
        kms.generate_random(&stranger, 8).unwrap_err().kind(),
        KmsErrorKind::AccessDenied
    );
}

#[test]
fn decrypt_with_a_key_id() {
    let kms = LocalKms::new(REGION, A);
    let k1 = kms.create_key(&root(), None, "1").unwrap();
    let k2 = kms.create_key(&root(), None, "2").unwrap();
    kms.create_alias(&root(), "alias/one", &k1.arn).unwrap();
    let blob = kms.encrypt(&root(), &k1.arn, b"secret", &ec("x")).unwrap();
    for id in [k1.key_id.as_str(), k1.arn.as_str(), "alias/one"] {
        let d = kms
            .decrypt(&root(), &blob.ciphertext_blob, &ec("x"), Some(id))
            .unwrap();
        assert_eq!(d.plaintext.expose_secret(), b"secret");
    }
    let e = kms
        .decrypt(&root(), &blob.ciphertext_blob, &ec("x"), Some(&k2.arn))
        .unwrap_err();
    assert_eq!(e.kind(), KmsErrorKind::IncorrectKey);
    assert_eq!(
        kms.decrypt(&root(), &blob.ciphertext_blob, &ec("x"), Some("alias/none"))
            .unwrap_err()
            .kind(),
        KmsErrorKind::NotFound
    );
}
