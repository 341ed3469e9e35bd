//! Interop with the Python AWS Encryption SDK (PyPI `aws-encryption-sdk` 4.x, installed by
//! scripts/setup-python.sh), through tests/python/esdk_peer.py — one Python process per test,
//! handling every case of both directions from a JSON job file.
//!
//! - Raw AES keyring, offline: fragments sealed here decrypt there (RawMasterKey with the same
//!   namespace, name and key), and messages the Python SDK encrypts (suite 0x0478, commitment
//!   policy REQUIRE_ENCRYPT_REQUIRE_DECRYPT, frame lengths 4096 and 65536, plaintexts of 0, 1,
//!   frame-1, frame, frame+1 bytes and 1 MiB) open here.
//! - AWS KMS keyring against moto (feature `aws`): the Python SDK's StrictAwsKmsMasterKeyProvider
//!   pointed at moto decrypts fragments sealed here with AwsKms, and messages it encrypts under a
//!   moto key open here.
//!
//! Without the venv these tests print why they skip; with `FRAGSEAL_REQUIRE_INTEROP=1` they fail.

mod interop_support;
mod support;

use fragseal::crypto::SecretBytes;
use fragseal::identity::{FragmentIdentity, IdentityCheck};
use fragseal::keyring::{open_with_raw_key, seal_with_raw_key, RawAesKeyring, SealOptions};
use fragseal::message::{MessageHeader, OpenLimits, SUITE_ID};
use interop_support::{
    cases, decrypt_job, encrypt_jobs, expect_ok, plaintext, run_peer, stream_context, Case,
};
use serde_json::json;

/// Checks a message the Python SDK produced: suite 0x0478, the requested frame length, the
/// expected context.
fn check_python_header(message: &[u8], case: &Case) {
    let header = MessageHeader::parse(message, &OpenLimits::default())
        .unwrap_or_else(|e| panic!("{}: header: {e}", case.name));
    assert_eq!(header.suite_id(), SUITE_ID, "{}", case.name);
    assert_eq!(header.frame_length(), case.frame_length, "{}", case.name);
    assert_eq!(header.encryption_context(), &case.context, "{}", case.name);
}

fn wrapping_key() -> SecretBytes {
    SecretBytes::from_slice(&plaintext(32, 4242))
}

#[test]
fn raw_aes_keyring_both_directions() {
    const TEST: &str = "raw_aes_keyring_both_directions";
    let python = match support::python_with(&["aws_encryption_sdk"]) {
        Ok(p) => p,
        Err(e) => return support::unavailable(TEST, &e),
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (namespace, name) = ("fragseal-interop", "raw-aes-key-1");
    let keyring = RawAesKeyring::new(namespace, name, wrapping_key()).expect("keyring");

    // fragseal → Python: seal every case (one also binding a fragment identity).
    let mut ours = cases(dir.path(), "fragseal");
    ours.push(Case {
        name: "fragseal-f65536-n70000-identity".into(),
        frame_length: 65536,
        plaintext: plaintext(70_000, 7),
        context: stream_context(),
        dir: dir.path().to_owned(),
        suite: "0x0478",
    });
    let identity = FragmentIdentity {
        stream_arn: "arn:aws:kinesisvideo:us-east-1:123456789012:stream/interop/1700000000000"
            .into(),
        fragment_number: 91343852333181432,
        producer_timestamp_ms: 1_700_000_123_456,
        track: 1,
    };
    let mut decrypt_jobs = Vec::new();
    for case in &ours {
        let mut opts = SealOptions::new(&case.context);
        opts.frame_length = case.frame_length;
        if case.name.ends_with("identity") {
            opts.identity = Some(&identity);
        }
        let sealed = seal_with_raw_key(&keyring, &opts, &case.plaintext)
            .unwrap_or_else(|e| panic!("seal {}: {e}", case.name));
        decrypt_jobs.push(decrypt_job(case, &sealed));
    }

    // Python → fragseal: plaintexts for Python to encrypt.
    let theirs = cases(dir.path(), "python");
    let encrypt_jobs = encrypt_jobs(&theirs);

    let job = json!({
        "provider": {
            "kind": "raw-aes",
            "namespace": namespace,
            "key_name": name,
            "key_hex": hex::encode(wrapping_key().expose_secret()),
        },
        "encrypt": encrypt_jobs,
        "decrypt": decrypt_jobs,
    });
    let results = run_peer(TEST, &python, dir.path(), &job, &[]);

    for case in &ours {
        let r = expect_ok(&results, "decrypt", &case.name);
        assert_eq!(r["frame_length"], json!(case.frame_length), "{}", case.name);
        let got = std::fs::read(case.path("python-plain")).expect("python output");
        assert!(
            got == case.plaintext,
            "{}: Python decrypted other bytes",
            case.name
        );
    }
    for case in &theirs {
        expect_ok(&results, "encrypt", &case.name);
        let message = std::fs::read(case.path("python-sealed")).expect("python message");
        check_python_header(&message, case);
        let opened = open_with_raw_key(
            &keyring,
            &message,
            &IdentityCheck::Skip,
            &OpenLimits::default(),
        )
        .unwrap_or_else(|e| panic!("open Python's {}: {e}", case.name));
        assert!(
            opened == case.plaintext,
            "{}: opened other bytes",
            case.name
        );
    }

    // A wrong wrapping key (same namespace and name) must not open Python's messages.
    let wrong =
        RawAesKeyring::new(namespace, name, SecretBytes::from_slice(&[0x11; 32])).expect("keyring");
    let first = theirs.first().expect("cases");
    let message = std::fs::read(first.path("python-sealed")).expect("python message");
    assert!(open_with_raw_key(
        &wrong,
        &message,
        &IdentityCheck::Skip,
        &OpenLimits::default()
    )
    .is_err());
}

/// The AWS KMS keyring against moto: fragseal's engine with AwsKms, and the Python SDK's
/// StrictAwsKmsMasterKeyProvider, both talking to the same moto server.
#[cfg(feature = "aws")]
mod kms_keyring {
    use super::*;
    use fragseal::engine::{Engine, EngineConfig, OpenRequest, RetryPolicy, SealRequest};
    use fragseal::keyring::KmsKeyring;
    use fragseal::kms::aws::{map_sdk_error, AwsKms};
    use fragseal::kms::Credential;
    use interop_support::FRAME_LENGTHS;
    use std::sync::Arc;

    const ACCOUNT: &str = "123456789012";
    const ACCESS_KEY: &str = "AKIDFRAGSEALINTEROP";
    const SECRET_KEY: &str = "fragseal-interop-secret";

    #[test]
    fn aws_kms_keyring_both_directions_over_moto() {
        const TEST: &str = "aws_kms_keyring_both_directions_over_moto";
        let python = match support::python_with(&["aws_encryption_sdk", "moto.server"]) {
            Ok(p) => p,
            Err(e) => return support::unavailable(TEST, &e),
        };
        let server = match support::shared_moto() {
            Ok(s) => s,
            Err(e) => return support::unavailable(TEST, &format!("moto unavailable: {e}")),
        };
        let caller =
            Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), ACCESS_KEY).unwrap();
        let kms = Arc::new(
            AwsKms::builder()
                .region("us-east-1")
                .endpoint_url(server.endpoint())
                .caller_static_credentials(caller.clone(), ACCESS_KEY, SECRET_KEY, None)
                .read_timeout(std::time::Duration::from_secs(15))
                .operation_timeout(std::time::Duration::from_secs(20))
                .build()
                .expect("AwsKms"),
        );
        let arn = kms
            .with_sdk_client(&caller, |c| async move {
                let out = c
                    .create_key()
                    .description("fragseal interop")
                    .send()
                    .await
                    .map_err(map_sdk_error)?;
                Ok(out.key_metadata.and_then(|m| m.arn))
            })
            .expect("CreateKey")
            .expect("ARN");

        let keyring = Arc::new(KmsKeyring::strict(kms.clone(), &caller, &[&arn]).expect("keyring"));
        let dir = tempfile::tempdir().expect("temp dir");
        // fragseal → Python: sealed by the engine (one engine per frame length).
        let ours = cases(dir.path(), "fragseal-kms");
        let mut decrypt_jobs = Vec::new();
        for f in FRAME_LENGTHS {
            let engine = Engine::new(
                keyring.clone(),
                EngineConfig::default()
                    .with_frame_length(f)
                    .with_retry(RetryPolicy::none()),
            )
            .expect("engine");
            for case in ours.iter().filter(|c| c.frame_length == f) {
                let sealed = engine
                    .seal(
                        &caller,
                        &SealRequest::new(case.context.clone(), case.plaintext.clone()),
                    )
                    .unwrap_or_else(|e| panic!("seal {}: {e}", case.name));
                let header = MessageHeader::parse(&sealed, &OpenLimits::default()).expect("ours");
                let edk = &header.encrypted_data_keys()[0];
                assert_eq!(edk.provider_id, "aws-kms");
                assert_eq!(edk.provider_info, arn.as_bytes());
                decrypt_jobs.push(decrypt_job(case, &sealed));
            }
        }

        // Python → fragseal.
        let theirs = cases(dir.path(), "python-kms");
        let encrypt_jobs = encrypt_jobs(&theirs);

        let job = json!({
            "provider": {"kind": "aws-kms", "key_arn": arn},
            "encrypt": encrypt_jobs,
            "decrypt": decrypt_jobs,
        });
        let endpoint = server.endpoint();
        let env = [
            ("AWS_ENDPOINT_URL_KMS", endpoint.as_str()),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            // Nothing from the machine's AWS configuration may leak in.
            ("AWS_CONFIG_FILE", "/dev/null"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ];
        let results = run_peer(TEST, &python, dir.path(), &job, &env);

        for case in &ours {
            let r = expect_ok(&results, "decrypt", &case.name);
            assert_eq!(r["frame_length"], json!(case.frame_length), "{}", case.name);
            let got = std::fs::read(case.path("python-plain")).expect("python output");
            assert!(
                got == case.plaintext,
                "{}: Python decrypted other bytes",
                case.name
            );
        }
        let opener = Engine::new(keyring, EngineConfig::default()).expect("engine");
        for case in &theirs {
            expect_ok(&results, "encrypt", &case.name);
            let message = std::fs::read(case.path("python-sealed")).expect("python message");
            check_python_header(&message, case);
            let header = MessageHeader::parse(&message, &OpenLimits::default()).expect("theirs");
            let edks = header.encrypted_data_keys();
            assert_eq!(edks.len(), 1, "{}", case.name);
            assert_eq!(edks[0].provider_id, "aws-kms", "{}", case.name);
            assert_eq!(edks[0].provider_info, arn.as_bytes(), "{}", case.name);
            let opened = opener
                .open(&caller, &OpenRequest::new(message, IdentityCheck::Skip))
                .unwrap_or_else(|e| panic!("open Python's {}: {e}", case.name));
            assert!(
                opened.plaintext.as_ref() == case.plaintext.as_slice(),
                "{}: other bytes",
                case.name
            );
        }
    }
}
