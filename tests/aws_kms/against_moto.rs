//! Against moto: the KMS and engine conformance cases, the harness itself, moto's XML 403.

use super::*;

macro_rules! moto_case {
    ($name:ident) => {
        #[test]
        fn $name() {
            if let Some(m) = moto(stringify!($name)) {
                kms_cases::$name(m);
            }
        }
    };
}

moto_case!(generate_and_decrypt);
moto_case!(describe);
moto_case!(wrong_context_rejected);
moto_case!(unknown_key);
moto_case!(garbage_ciphertext);
moto_case!(wrong_expected_key);
moto_case!(disabled_key);
moto_case!(pending_deletion);
moto_case!(many_threads);
moto_case!(encrypt_and_decrypt);

macro_rules! moto_engine_case {
    ($test:ident, $case:ident) => {
        #[test]
        fn $test() {
            if let Some(m) = moto(stringify!($test)) {
                engine_cases::$case(m);
            }
        }
    };
}

moto_engine_case!(engine_seal_and_open, seal_and_open);
moto_engine_case!(engine_context_swap_rejected, context_swap_rejected);
moto_engine_case!(engine_unknown_key, unknown_key);
moto_engine_case!(engine_garbage_edk, garbage_edk);
moto_engine_case!(engine_disabled_key, disabled_key);
moto_engine_case!(engine_pending_deletion, pending_deletion);
moto_engine_case!(engine_batches_on_many_threads, batches_on_many_threads);

#[test]
fn harness_reports_moto_process() {
    // The shared server is a live child of this process, on loopback, answering /moto-api/.
    let Some(_) = moto("harness_reports_moto_process") else {
        return;
    };
    let server = support::shared_moto().expect("started above");
    assert!(server.pid() > 0);
    assert_eq!(support::http_status(server.port(), "/moto-api/"), Some(200));
}

#[test]
fn own_server_is_killed_on_drop() {
    let python = match support::python_with(&["moto.server", "flask", "flask_cors"]) {
        Ok(p) => p,
        Err(e) => return support::unavailable("own_server_is_killed_on_drop", &e),
    };
    let server = support::MotoServer::start(&python).expect("moto starts");
    let port = server.port();
    assert_eq!(support::http_status(port, "/moto-api/"), Some(200));
    drop(server);
    assert_eq!(
        support::http_status(port, "/moto-api/"),
        None,
        "stopped by PID on drop"
    );
}

#[test]
fn moto_xml_403_maps_to_access_denied() {
    // With authentication on, moto rejects unknown access keys with HTTP 403 and an XML body
    // (`<Code>InvalidClientTokenId</Code>`), which the JSON protocol's parser cannot read.
    const TEST: &str = "moto_xml_403_maps_to_access_denied";
    let python = match support::python_with(&["moto.server", "flask", "flask_cors"]) {
        Ok(p) => p,
        Err(e) => return support::unavailable(TEST, &e),
    };
    let server =
        support::MotoServer::start_with_env(&python, &[("INITIAL_NO_AUTH_ACTION_COUNT", "0")])
            .expect("moto starts");
    let kms = AwsKms::builder()
        .region("us-east-1")
        .endpoint_url(server.endpoint())
        .default_static_credentials("AKIDUNKNOWNTOMOTO", "secret", None)
        .build()
        .expect("AwsKms");
    let e = kms
        .describe_key(&caller(), "alias/anything")
        .expect_err("unknown access key");
    assert_eq!(e.kind(), KmsErrorKind::AccessDenied, "{e}");
    assert_eq!(e.code(), "InvalidClientTokenId");
    assert!(e.message().contains("HTTP 403"), "{e}");
    assert!(e.message().contains("InvalidClientTokenId"), "{e}");
    assert!(!e.is_retryable());
}
