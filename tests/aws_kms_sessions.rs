//! AwsKms with session credentials against moto's KMS server on loopback (issue 13): static
//! credentials with a session token, and a refreshing credentials provider under an engine
//! that seals and opens for its own provider's sessions. moto accepts any session token; the
//! server's STS will check them.
//!
//! Without moto these tests print why they skip; with `FRAGSEAL_REQUIRE_INTEROP=1` they fail.
#![cfg(feature = "aws")]

mod support;

use fragseal::kms::aws::{map_sdk_error, AwsKms};
use fragseal::kms::{Credential, DataKeySpec, Kms, KmsErrorKind};
use fragseal::EncryptionContext;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// moto's default account.
const ACCOUNT: &str = "123456789012";

fn admin() -> Credential {
    Credential::new(
        ACCOUNT,
        format!("arn:aws:iam::{ACCOUNT}:root"),
        "AKIDFRAGSEALTEST",
    )
    .expect("a valid credential")
}

/// The shared moto server and a new key in it, or `None` (after reporting) without moto.
fn moto_key(test: &str) -> Option<(&'static support::MotoServer, String)> {
    let server = match support::shared_moto() {
        Ok(s) => s,
        Err(e) => {
            support::unavailable(test, &format!("moto unavailable: {e}"));
            return None;
        }
    };
    let kms = AwsKms::builder()
        .region("us-east-1")
        .endpoint_url(server.endpoint())
        .caller_static_credentials(admin(), "AKIDFRAGSEALTEST", "fragseal-test-secret", None)
        .operation_timeout(Duration::from_secs(20))
        .build()
        .expect("AwsKms");
    let key = kms
        .with_sdk_client(&admin(), |c| {
            Box::pin(async move {
                let out = c.create_key().send().await.map_err(map_sdk_error)?;
                Ok(out
                    .key_metadata
                    .and_then(|m| m.arn)
                    .expect("CreateKey answers an ARN"))
            })
        })
        .expect("CreateKey");
    Some((server, key))
}

fn session_caller(n: u32) -> Credential {
    Credential::new(
        ACCOUNT,
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/producer/cam-{n}"),
        format!("ASIAFRAGSEAL{n:04}"),
    )
    .expect("a valid credential")
    .with_expiry(std::time::SystemTime::now() + Duration::from_secs(900))
}

#[test]
fn moto_session_token_static_credentials() {
    const TEST: &str = "moto_session_token_static_credentials";
    let Some((server, key)) = moto_key(TEST) else {
        return;
    };
    let session = session_caller(1);
    let kms = AwsKms::builder()
        .region("us-east-1")
        .endpoint_url(server.endpoint())
        .caller_static_credentials(
            session.clone(),
            "ASIAFRAGSEAL0001",
            "session-secret",
            Some("FwoGZXIvYXdzEFRAGSEALSESSIONTOKEN".to_owned()),
        )
        .operation_timeout(Duration::from_secs(20))
        .build()
        .expect("AwsKms");
    let ec = EncryptionContext::new().with("aws:kinesisvideo:arn", "stream/a");
    let g = kms
        .generate_data_key(&session, &key, DataKeySpec::Aes256, &ec)
        .expect("GenerateDataKey with a session token");
    let d = kms
        .decrypt(&session, &g.ciphertext_blob, &ec, Some(&key))
        .expect("Decrypt with a session token");
    assert_eq!(d.plaintext, g.plaintext);
    // Another session of the same role has no credentials configured here: refused, never
    // served with the first session's.
    let e = kms
        .describe_key(&session_caller(2), &key)
        .expect_err("unconfigured session");
    assert_ne!(e.kind(), KmsErrorKind::NotFound, "{e}");
}

#[test]
fn moto_refreshing_credentials_provider() {
    use fragseal::engine::{Engine, EngineConfig, OpenRequest, SealRequest};
    use fragseal::identity::IdentityCheck;
    use fragseal::keyring::KmsKeyring;
    use fragseal::kms::aws::credentials::{provide_credentials_fn, Credentials};
    use fragseal::kms::{CredentialProvider, RefreshingCredentialProvider};
    const TEST: &str = "moto_refreshing_credentials_provider";
    let Some((server, key)) = moto_key(TEST) else {
        return;
    };
    // The SDK asks the provider again once its credentials have expired: these expire at
    // once, so every call loads a new session (key id, secret and token).
    let loads = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = loads.clone();
    let provider = provide_credentials_fn(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            Ok(Credentials::new(
                format!("ASIAFRAGSEAL{n:04}"),
                format!("secret-{n}"),
                Some(format!("token-{n}")),
                Some(std::time::SystemTime::now()),
                "fragseal-test",
            ))
        }
    });
    let kms = Arc::new(
        AwsKms::builder()
            .region("us-east-1")
            .endpoint_url(server.endpoint())
            .default_credentials_provider(provider)
            .operation_timeout(Duration::from_secs(20))
            .build()
            .expect("AwsKms"),
    );
    // The engine seals and opens for its own provider's sessions over it.
    let sessions = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let s = sessions.clone();
    let fragseal_sessions = Arc::new(RefreshingCredentialProvider::new(move || {
        Ok(session_caller(s.fetch_add(1, Ordering::SeqCst) + 1))
    }));
    let keyring = KmsKeyring::strict(kms.clone(), &admin(), &[key.as_str()]).expect("keyring");
    let engine = Engine::new(Arc::new(keyring), EngineConfig::default())
        .expect("engine")
        .with_credential_provider(fragseal_sessions.clone());
    let ec = EncryptionContext::new().with("aws:kinesisvideo:arn", "stream/a");
    let sealed = engine
        .seal_current(&SealRequest::new(ec, b"fragment".to_vec()))
        .expect("seal");
    let opened = engine
        .open_current(&OpenRequest::new(sealed, IdentityCheck::Skip))
        .expect("open");
    assert_eq!(&opened.plaintext[..], b"fragment");
    assert!(
        loads.load(Ordering::SeqCst) >= 2,
        "the SDK loaded a new session for the second call ({} loads)",
        loads.load(Ordering::SeqCst)
    );
    assert_eq!(
        fragseal_sessions
            .credential()
            .expect("session")
            .access_key_id(),
        "ASIAFRAGSEAL0001"
    );
}
