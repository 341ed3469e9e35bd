//! The Python AWS Encryption SDK's default messages (suite 0x0578, signed with ECDSA P-384,
//! raw AES keyring) open here, through tests/python/esdk_signed_encrypt.py.
//!
//! Without the interop venv (scripts/setup-python.sh) the test prints why it skips; with
//! `FRAGSEAL_REQUIRE_INTEROP=1` it fails.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod support;

use fragseal::crypto::SecretBytes;
use fragseal::format::AlgorithmSuite;
use fragseal::identity::IdentityCheck;
use fragseal::keyring::{open_with_raw_key, RawAesKeyring};
use fragseal::message::{parse, OpenLimits, SealedStream};
use serde_json::{json, Value};
use std::io::Read;

const KEY: [u8; 32] = [0x3c; 32];

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed))
        .collect()
}

#[test]
fn python_default_suite_messages_open() {
    let python = match support::python_with(&["aws_encryption_sdk"]) {
        Ok(p) => p,
        Err(reason) => return support::unavailable("python_default_suite_messages_open", &reason),
    };
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(String, u32, Vec<u8>)> = [
        (4096u32, 0usize),
        (4096, 1),
        (4096, 4096),
        (4096, 10_000),
        (128, 1000),
        (0, 0),
        (0, 777),
    ]
    .iter()
    .map(|&(fl, len)| (format!("fl{fl}_len{len}"), fl, bytes(len, fl as u8)))
    .collect();
    let mut job_cases = Vec::new();
    for (name, fl, pt) in &cases {
        let p = dir.path().join(format!("{name}.pt"));
        std::fs::write(&p, pt).unwrap();
        job_cases.push(json!({
            "name": name,
            "suite": null,
            "frame_length": fl,
            "plaintext": p,
            "ciphertext": dir.path().join(format!("{name}.ct")),
            "encryption_context": {"purpose": "fragseal-interop", "tenant": "t1"},
        }));
    }
    let job = json!({
        "key": {"namespace": "fragseal-ns", "key_name": "key-1", "key_hex": hex::encode(KEY)},
        "cases": job_cases,
    });
    let job_path = dir.path().join("job.json");
    std::fs::write(&job_path, serde_json::to_vec(&job).unwrap()).unwrap();
    let out = support::run_python(
        &python,
        &support::python_script("esdk_signed_encrypt.py"),
        &[job_path.to_str().unwrap()],
        &[],
    )
    .unwrap();
    let results: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(results.len(), cases.len());
    let keyring =
        RawAesKeyring::new("fragseal-ns", "key-1", SecretBytes::from_slice(&KEY)).unwrap();
    for ((name, _fl, pt), result) in cases.iter().zip(&results) {
        assert_eq!(result["ok"], true, "{name}: {result}");
        assert_eq!(result["suite"], 0x0578, "{name}: the SDK's default suite");
        let m = std::fs::read(dir.path().join(format!("{name}.ct"))).unwrap();
        let header = parse(&m, &OpenLimits::default()).unwrap();
        assert_eq!(
            header.header().suite(),
            AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384
        );
        assert!(header.header().signer_public_key().is_some());
        let opened = open_with_raw_key(&keyring, &m, &IdentityCheck::Skip, &OpenLimits::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&opened, pt, "{name}");
        // Streaming, with the data key the keyring unwraps.
        let edk = &header.header().encrypted_data_keys()[0];
        let dk = keyring
            .unwrap_key(edk, header.header().encryption_context())
            .expect("ours")
            .expect("unwraps");
        let skip = IdentityCheck::Skip;
        let mut r = SealedStream::new(&m[..], &OpenLimits::default())
            .unwrap()
            .open(&dk, &fragseal::message::OpenParams::new(&skip))
            .unwrap();
        let mut streamed = Vec::new();
        r.read_to_end(&mut streamed).unwrap();
        assert_eq!(&streamed, pt, "{name} streamed");
        // A flipped signature byte is refused.
        let mut bad = m.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(
            open_with_raw_key(&keyring, &bad, &IdentityCheck::Skip, &OpenLimits::default())
                .is_err()
        );
    }
}
