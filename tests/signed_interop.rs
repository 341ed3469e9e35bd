//! The signed suite `0x0578` against the Python AWS Encryption SDK (4.x), through
//! tests/python/esdk_peer.py:
//!
//! - fragseal → Python, raw AES keyring (offline): the engine seals with `0x0578` over a
//!   `RawAesKeyring` (whose wrapping binds the whole context, public key included, in its
//!   AAD); Python's `RawMasterKey` decrypts, checking the suite, and verifies the signature.
//! - fragseal → Python and Python → fragseal, AWS KMS keyring over moto (feature `aws`): the
//!   engine seals `0x0578` with `AwsKms`; Python's `StrictAwsKmsMasterKeyProvider` decrypts;
//!   Python encrypts with its *default* suite (no algorithm given: `0x0578`) and fragseal opens
//!   those messages.
//!
//! Without the venv these tests print why they skip; with `FRAGSEAL_REQUIRE_INTEROP=1` they fail.

mod interop_support;
mod signed_support;
mod support;

use fragseal::crypto::SecretBytes;
use fragseal::engine::{Engine, EngineConfig, SealRequest};
use fragseal::keyring::RawAesKeyring;
use fragseal::kms::Credential;
use fragseal::message::{SealSuite, SIGNED_SUITE_ID};
use interop_support::{cases, decrypt_job, expect_ok, plaintext, run_peer, Case};
use serde_json::json;
use signed_support::{footer_verifies, signed_parts};
use std::sync::Arc;

fn caller() -> Credential {
    Credential::new(
        "123456789012",
        "arn:aws:iam::123456789012:root",
        "AKIDFRAGSEALINTEROP",
    )
    .expect("credential")
}

/// Seals every case with the signed suite on one engine per frame length (a fresh cache each,
/// so each frame length has its own key pair), checking the footer here first.
fn seal_signed_cases(
    keyring: Arc<dyn fragseal::keyring::Keyring>,
    cases: &mut [Case],
) -> Vec<serde_json::Value> {
    let mut jobs = Vec::new();
    for f in interop_support::FRAME_LENGTHS {
        let engine = Engine::new(
            keyring.clone(),
            EngineConfig::default()
                .with_frame_length(f)
                .with_seal_suite(SealSuite::AesGcmHkdfSha512CommitKeyEcdsaP384),
        )
        .expect("engine");
        for case in cases.iter_mut().filter(|c| c.frame_length == f) {
            case.suite = "0x0578";
            let sealed = engine
                .seal(
                    &caller(),
                    &SealRequest::new(case.context.clone(), case.plaintext.clone()),
                )
                .unwrap_or_else(|e| panic!("seal {}: {e}", case.name));
            assert_eq!(signed_parts(&sealed).suite, SIGNED_SUITE_ID);
            assert!(footer_verifies(&sealed), "{}", case.name);
            jobs.push(decrypt_job(case, &sealed));
        }
    }
    jobs
}

fn check_python_decrypted(
    results: &std::collections::BTreeMap<(String, String), serde_json::Value>,
    ours: &[Case],
) {
    for case in ours {
        let r = expect_ok(results, "decrypt", &case.name);
        assert_eq!(r["frame_length"], json!(case.frame_length), "{}", case.name);
        let got = std::fs::read(case.path("python-plain")).expect("python output");
        assert!(
            got == case.plaintext,
            "{}: Python decrypted other bytes",
            case.name
        );
    }
}

#[test]
fn raw_aes_keyring_fragseal_0x0578_to_python() {
    const TEST: &str = "raw_aes_keyring_fragseal_0x0578_to_python";
    let python = match support::python_with(&["aws_encryption_sdk"]) {
        Ok(p) => p,
        Err(e) => return support::unavailable(TEST, &e),
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (namespace, name) = ("fragseal-interop", "raw-aes-key-signed");
    let wrapping = plaintext(32, 5151);
    let keyring = Arc::new(
        RawAesKeyring::new(namespace, name, SecretBytes::from_slice(&wrapping)).expect("keyring"),
    );
    let mut ours = cases(dir.path(), "fragseal-signed");
    // Every case of a frame length shares one cache entry, so one key pair: the peer decrypts
    // many messages signed by the same key, as a consumer of one producer would.
    let decrypt_jobs = seal_signed_cases(keyring, &mut ours);
    let job = json!({
        "provider": {
            "kind": "raw-aes",
            "namespace": namespace,
            "key_name": name,
            "key_hex": hex::encode(&wrapping),
        },
        "decrypt": decrypt_jobs,
    });
    let results = run_peer(TEST, &python, dir.path(), &job, &[]);
    check_python_decrypted(&results, &ours);

    // A message whose body was changed after signing is refused by Python (its signature
    // check; the frame tag is recomputed by nobody here, so flip a byte of the footer).
    let first = &ours[0];
    let mut tampered = std::fs::read(first.path("sealed")).expect("sealed");
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    let bad = Case {
        name: "tampered-footer".into(),
        frame_length: first.frame_length,
        plaintext: Vec::new(),
        context: first.context.clone(),
        dir: dir.path().to_owned(),
        suite: "0x0578",
    };
    let job = json!({
        "provider": {
            "kind": "raw-aes",
            "namespace": namespace,
            "key_name": name,
            "key_hex": hex::encode(&wrapping),
        },
        "decrypt": [decrypt_job(&bad, &tampered)],
    });
    let results = run_peer(TEST, &python, dir.path(), &job, &[]);
    let r = &results[&("decrypt".to_owned(), "tampered-footer".to_owned())];
    assert_eq!(r["ok"], json!(false), "Python accepted a broken signature");
}

/// The AWS KMS keyring over moto, both directions with the signed suite.
#[cfg(feature = "aws")]
mod kms_keyring {
    use super::*;
    use fragseal::engine::{OpenRequest, RetryPolicy};
    use fragseal::identity::IdentityCheck;
    use fragseal::keyring::KmsKeyring;
    use fragseal::kms::aws::{map_sdk_error, AwsKms};
    use fragseal::message::EC_PUBLIC_KEY_FIELD;
    use interop_support::encrypt_jobs;

    const ACCESS_KEY: &str = "AKIDFRAGSEALINTEROP";
    const SECRET_KEY: &str = "fragseal-interop-secret";

    #[test]
    fn aws_kms_keyring_0x0578_both_directions_over_moto() {
        const TEST: &str = "aws_kms_keyring_0x0578_both_directions_over_moto";
        let python = match support::python_with(&["aws_encryption_sdk", "moto.server"]) {
            Ok(p) => p,
            Err(e) => return support::unavailable(TEST, &e),
        };
        let server = match support::shared_moto() {
            Ok(s) => s,
            Err(e) => return support::unavailable(TEST, &format!("moto unavailable: {e}")),
        };
        let kms = Arc::new(
            AwsKms::builder()
                .region("us-east-1")
                .endpoint_url(server.endpoint())
                .caller_static_credentials(caller(), ACCESS_KEY, SECRET_KEY, None)
                .read_timeout(std::time::Duration::from_secs(15))
                .operation_timeout(std::time::Duration::from_secs(20))
                .build()
                .expect("AwsKms"),
        );
        let arn = kms
            .with_sdk_client(&caller(), |c| async move {
                let out = c
                    .create_key()
                    .description("fragseal signed interop")
                    .send()
                    .await
                    .map_err(map_sdk_error)?;
                Ok(out.key_metadata.and_then(|m| m.arn))
            })
            .expect("CreateKey")
            .expect("ARN");
        let keyring =
            Arc::new(KmsKeyring::strict(kms.clone(), &caller(), &[&arn]).expect("keyring"));
        let dir = tempfile::tempdir().expect("temp dir");

        // fragseal → Python (retries off: moto either answers or the test fails loudly).
        let mut ours = cases(dir.path(), "fragseal-kms-signed");
        let mut decrypt_jobs = Vec::new();
        for f in interop_support::FRAME_LENGTHS {
            let engine = Engine::new(
                keyring.clone(),
                EngineConfig::default()
                    .with_frame_length(f)
                    .with_retry(RetryPolicy::none())
                    .with_seal_suite(SealSuite::AesGcmHkdfSha512CommitKeyEcdsaP384),
            )
            .expect("engine");
            for case in ours.iter_mut().filter(|c| c.frame_length == f) {
                case.suite = "0x0578";
                let sealed = engine
                    .seal(
                        &caller(),
                        &SealRequest::new(case.context.clone(), case.plaintext.clone()),
                    )
                    .unwrap_or_else(|e| panic!("seal {}: {e}", case.name));
                assert!(footer_verifies(&sealed), "{}", case.name);
                decrypt_jobs.push(decrypt_job(case, &sealed));
            }
        }

        // Python → fragseal, with the SDK's default suite.
        let mut theirs = cases(dir.path(), "python-kms-default");
        for case in &mut theirs {
            case.suite = "default";
        }
        let job = json!({
            "provider": {"kind": "aws-kms", "key_arn": arn},
            "encrypt": encrypt_jobs(&theirs),
            "decrypt": decrypt_jobs,
        });
        let endpoint = server.endpoint();
        let env = [
            ("AWS_ENDPOINT_URL_KMS", endpoint.as_str()),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("AWS_CONFIG_FILE", "/dev/null"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ];
        let results = run_peer(TEST, &python, dir.path(), &job, &env);
        check_python_decrypted(&results, &ours);

        let opener = Engine::new(keyring, EngineConfig::default()).expect("engine");
        for case in &theirs {
            let r = expect_ok(&results, "encrypt", &case.name);
            assert_eq!(r["suite"], json!("0x0578"), "Python's default suite");
            let message = std::fs::read(case.path("python-sealed")).expect("python message");
            let parts = signed_parts(&message);
            assert_eq!(parts.suite, SIGNED_SUITE_ID, "{}", case.name);
            assert!(parts.context.get(EC_PUBLIC_KEY_FIELD).is_some());
            assert_eq!(parts.signature.len(), fragseal::message::SIGNATURE_LEN);
            assert!(footer_verifies(&message), "{}", case.name);
            let opened = opener
                .open(
                    &caller(),
                    &OpenRequest::new(message.clone(), IdentityCheck::Skip),
                )
                .unwrap_or_else(|e| panic!("open Python's {}: {e}", case.name));
            assert!(
                opened.plaintext.as_ref() == case.plaintext.as_slice(),
                "{}: other bytes",
                case.name
            );
            // The footer is checked: a flipped signature byte does not open.
            let mut bad = message;
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert!(opener
                .open(&caller(), &OpenRequest::new(bad, IdentityCheck::Skip))
                .is_err());
        }
    }
}
