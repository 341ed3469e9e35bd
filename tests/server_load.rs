//! Load on `fragseal kms serve` (issue 12, item 7): 64 concurrent clients × 1,000 signed calls
//! each over keep-alive connections, mixed GenerateDataKey / Decrypt / Encrypt / DescribeKey
//! plus refused calls.
//!
//! - Every answer is checked: Decrypt returns the plaintext GenerateDataKey (or Encrypt) was
//!   given for that blob, DescribeKey the key's ARN, and each refusal AWS's exact error code
//!   (AccessDeniedException, NotFoundException, InvalidSignatureException).
//! - Every answer carries a request id, all distinct; afterwards the audit log holds exactly
//!   one record per request id answered (none lost, none duplicated, none extra).
//! - The server still serves afterwards, on a new connection.
//!
//! Bounded: 64 × 1,000 calls, each with a 30 s socket timeout; no wall-clock assertion.

#[path = "support/server.rs"]
mod server;
#[path = "support/signed_client.rs"]
mod signed_client;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use server::KmsServer;
use signed_client::SignedClient;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Barrier};

const CLIENTS: usize = 64;
const CALLS: usize = 1_000;

/// What one worker saw: the request id of every answer, and how many of each kind of call.
#[derive(Default)]
struct Tally {
    request_ids: Vec<String>,
    kinds: BTreeMap<&'static str, usize>,
}

impl Tally {
    #[track_caller]
    fn note(&mut self, kind: &'static str, resp: &signed_client::Response) {
        let id = resp
            .request_id()
            .unwrap_or_else(|| panic!("{kind}: answer without x-amzn-RequestId"));
        self.request_ids.push(id.to_owned());
        *self.kinds.entry(kind).or_default() += 1;
    }
}

fn b64(v: &Value, field: &str) -> Vec<u8> {
    B64.decode(
        v[field]
            .as_str()
            .unwrap_or_else(|| panic!("no {field} in {v}")),
    )
    .unwrap_or_else(|e| panic!("{field} not base64: {e}"))
}

/// One client's 1,000 calls; panics on the first wrong answer.
fn worker(server_addr: std::net::SocketAddr, keys: Keys, n: usize) -> Tally {
    let mut alice = SignedClient::new(server_addr, server::REGION, &keys.alice.0, &keys.alice.1)
        .with_user_agent(&format!("fragseal-load/{n}"));
    let mut mallory = SignedClient::new(
        server_addr,
        server::REGION,
        &keys.mallory.0,
        &keys.mallory.1,
    );
    let mut forger = SignedClient::new(
        server_addr,
        server::REGION,
        &keys.alice.0,
        "a-secret-that-is-not-alices-00000000000000",
    );
    let mut tally = Tally::default();
    // Blobs generated so far with the plaintext each must decrypt to (and its context).
    let mut blobs: Vec<(Vec<u8>, Vec<u8>, Value)> = Vec::new();
    for j in 0..CALLS {
        let ctx = json!({"client": n.to_string(), "call": j.to_string()});
        match j % 8 {
            0..=2 => {
                let r = alice
                    .call(
                        "GenerateDataKey",
                        &json!({"KeyId": keys.alias, "KeySpec": "AES_256", "EncryptionContext": ctx}),
                    )
                    .unwrap_or_else(|e| panic!("client {n} call {j}: {e}"));
                tally.note("GenerateDataKey", &r);
                let v = r.ok("GenerateDataKey");
                assert_eq!(v["KeyId"], json!(keys.arn), "client {n} call {j}");
                let plain = b64(&v, "Plaintext");
                assert_eq!(plain.len(), 32);
                blobs.push((b64(&v, "CiphertextBlob"), plain, ctx));
            }
            3 | 4 => {
                // A blob from this client's past, chosen deterministically.
                let (blob, plain, ctx) = &blobs[(j * 7919) % blobs.len()];
                let r = alice
                    .call(
                        "Decrypt",
                        &json!({"CiphertextBlob": B64.encode(blob), "EncryptionContext": ctx}),
                    )
                    .unwrap_or_else(|e| panic!("client {n} call {j}: {e}"));
                tally.note("Decrypt", &r);
                let v = r.ok("Decrypt");
                assert_eq!(v["KeyId"], json!(keys.arn));
                assert!(
                    b64(&v, "Plaintext") == *plain,
                    "client {n} call {j}: other plaintext"
                );
            }
            5 => {
                let plain: Vec<u8> = format!("client {n} call {j}").into_bytes();
                let r = alice
                    .call(
                        "Encrypt",
                        &json!({"KeyId": keys.arn, "Plaintext": B64.encode(&plain),
                                "EncryptionContext": ctx}),
                    )
                    .unwrap_or_else(|e| panic!("client {n} call {j}: {e}"));
                tally.note("Encrypt", &r);
                let v = r.ok("Encrypt");
                assert_eq!(v["KeyId"], json!(keys.arn));
                blobs.push((b64(&v, "CiphertextBlob"), plain, ctx));
            }
            6 => {
                let r = alice
                    .call("DescribeKey", &json!({"KeyId": keys.alias}))
                    .unwrap_or_else(|e| panic!("client {n} call {j}: {e}"));
                tally.note("DescribeKey", &r);
                let v = r.ok("DescribeKey");
                assert_eq!(v["KeyMetadata"]["Arn"], json!(keys.arn));
                assert_eq!(v["KeyMetadata"]["KeyState"], json!("Enabled"));
            }
            _ => {
                // The refused calls, in turn.
                let (kind, client, op, body, code): (_, &mut SignedClient, _, _, _) =
                    match (j / 8) % 4 {
                        0 => (
                            "denied:mallory",
                            &mut mallory,
                            "GenerateDataKey",
                            json!({"KeyId": keys.arn, "KeySpec": "AES_256"}),
                            "AccessDeniedException",
                        ),
                        1 => (
                            "denied:disable",
                            &mut alice,
                            "DisableKey",
                            json!({"KeyId": keys.arn}),
                            "AccessDeniedException",
                        ),
                        2 => (
                            "denied:unknown-key",
                            &mut alice,
                            "DescribeKey",
                            json!({"KeyId": "00000000-1111-4222-8333-444444444444"}),
                            "NotFoundException",
                        ),
                        _ => (
                            "denied:signature",
                            &mut forger,
                            "GenerateDataKey",
                            json!({"KeyId": keys.arn, "KeySpec": "AES_256"}),
                            "InvalidSignatureException",
                        ),
                    };
                let r = client
                    .call(op, &body)
                    .unwrap_or_else(|e| panic!("client {n} call {j} ({kind}): {e}"));
                tally.note(kind, &r);
                r.expect_error(kind, code);
            }
        }
    }
    tally
}

#[derive(Clone)]
struct Keys {
    arn: String,
    alias: String,
    alice: (String, String),
    mallory: (String, String),
}

#[test]
fn sixty_four_clients_thousand_calls_each_audit_exact() {
    let server = KmsServer::start(&[]).expect("the server starts");
    let mut admin = server.client("admin");
    let mut setup_ids = Vec::new();
    let r = admin
        .call("CreateKey", &json!({"Description": "load"}))
        .expect("CreateKey");
    setup_ids.push(r.request_id().expect("request id").to_owned());
    let arn = r.ok("CreateKey")["KeyMetadata"]["Arn"]
        .as_str()
        .expect("Arn")
        .to_owned();
    let r = admin
        .call(
            "CreateAlias",
            &json!({"AliasName": "alias/load", "TargetKeyId": arn}),
        )
        .expect("CreateAlias");
    setup_ids.push(r.request_id().expect("request id").to_owned());
    r.ok("CreateAlias");
    let f = &server.fixture;
    let keys = Keys {
        arn: arn.clone(),
        alias: "alias/load".to_owned(),
        alice: (
            f.user("alice").access_key_id.clone(),
            f.user("alice").secret.clone(),
        ),
        mallory: (
            f.user("mallory").access_key_id.clone(),
            f.user("mallory").secret.clone(),
        ),
    };

    let addr = server.addr();
    let start = Arc::new(Barrier::new(CLIENTS));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let keys = keys.clone();
            let start = Arc::clone(&start);
            std::thread::Builder::new()
                .name(format!("load-{n}"))
                .spawn(move || {
                    start.wait();
                    worker(addr, keys, n)
                })
                .expect("spawn")
        })
        .collect();
    let mut all_ids: Vec<String> = setup_ids;
    let mut kinds: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut panics = Vec::new();
    for (n, h) in handles.into_iter().enumerate() {
        match h.join() {
            Ok(t) => {
                all_ids.extend(t.request_ids);
                for (k, c) in t.kinds {
                    *kinds.entry(k).or_default() += c;
                }
            }
            Err(e) => panics.push(format!(
                "client {n}: {}",
                e.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default()
            )),
        }
    }
    assert!(
        panics.is_empty(),
        "{} clients failed: {panics:?}\nserver stderr:\n{}",
        panics.len(),
        server.logs()
    );
    let total = CLIENTS * CALLS;
    assert_eq!(kinds.values().sum::<usize>(), total, "{kinds:?}");
    assert_eq!(kinds["GenerateDataKey"], CLIENTS * 375, "{kinds:?}");
    for denied in [
        "denied:mallory",
        "denied:disable",
        "denied:unknown-key",
        "denied:signature",
    ] {
        assert!(kinds[denied] >= CLIENTS * 31, "{denied}: {kinds:?}");
    }

    // Request ids: one per answer, all distinct.
    let unique: HashSet<&str> = all_ids.iter().map(String::as_str).collect();
    assert_eq!(
        unique.len(),
        all_ids.len(),
        "duplicate request ids in answers"
    );

    // The audit log: exactly one record per answered request id.
    let records = server.audit_records();
    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    for r in &records {
        let id = r["requestID"]
            .as_str()
            .unwrap_or_else(|| panic!("audit record without requestID: {r}"));
        *by_id.entry(id.to_owned()).or_default() += 1;
    }
    let duplicated: Vec<_> = by_id.iter().filter(|(_, c)| **c > 1).take(5).collect();
    assert!(
        duplicated.is_empty(),
        "duplicated audit records: {duplicated:?}"
    );
    let lost: Vec<_> = all_ids
        .iter()
        .filter(|id| !by_id.contains_key(id.as_str()))
        .take(5)
        .collect();
    assert!(lost.is_empty(), "answers without an audit record: {lost:?}");
    let extra: Vec<_> = by_id
        .keys()
        .filter(|id| !unique.contains(id.as_str()))
        .take(5)
        .collect();
    assert!(
        extra.is_empty(),
        "audit records of no answered request: {extra:?}"
    );
    assert_eq!(records.len(), all_ids.len());
    // The refused calls were recorded with their codes.
    let count_code = |code: &str| {
        records
            .iter()
            .filter(|r| r["errorCode"].as_str() == Some(code))
            .count()
    };
    assert_eq!(
        count_code("InvalidSignatureException"),
        kinds["denied:signature"]
    );
    assert_eq!(count_code("NotFoundException"), kinds["denied:unknown-key"]);
    assert_eq!(
        count_code("AccessDeniedException"),
        kinds["denied:mallory"] + kinds["denied:disable"]
    );

    // Still serving, on a fresh connection.
    let mut after = server.client("alice");
    let v = after
        .call(
            "GenerateDataKey",
            &json!({"KeyId": arn, "NumberOfBytes": 16}),
        )
        .expect("after the load")
        .ok("GenerateDataKey after the load");
    assert_eq!(
        B64.decode(v["Plaintext"].as_str().expect("Plaintext"))
            .expect("b64")
            .len(),
        16
    );
}
