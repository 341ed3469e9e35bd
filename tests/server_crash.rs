//! `kill -9` of `fragseal kms serve` in the middle of a management-call burst (issue 12,
//! item 7): several clients loop CreateKey → CreateAlias → PutKeyPolicy; once enough calls
//! have been answered the server gets SIGKILL by PID while calls are in flight. Restarted on
//! the same state file, it must load, and every key whose CreateKey was answered must be
//! there (DescribeKey), with its alias if CreateAlias was answered and its policy if
//! PutKeyPolicy was answered. Two rounds, so the second crash hits a state file that has
//! already been through a crash and a restart.
//!
//! Bounded: each client stops at its first failed call or after `MAX_PER_CLIENT` keys; the
//! kill happens after `KILL_AFTER` answered calls in all (a count, not a time).

#[path = "support/server.rs"]
mod server;
#[path = "support/signed_client.rs"]
mod signed_client;

use serde_json::{json, Value};
use server::KmsServer;
use signed_client::SignedClient;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const CLIENTS: usize = 6;
const MAX_PER_CLIENT: usize = 400;
const KILL_AFTER: usize = 150;

/// What was answered (2xx) before the crash, per key.
#[derive(Debug, Clone, Default)]
struct Answered {
    key_id: String,
    arn: String,
    alias: Option<String>,
    policy_sid: Option<String>,
}

fn policy(sid: &str) -> String {
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": format!("arn:aws:iam::{}:root", server::ACCOUNT)},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": sid, "Effect": "Allow",
         "Principal": {"AWS": format!("arn:aws:iam::{}:user/alice", server::ACCOUNT)},
         "Action": "kms:Decrypt", "Resource": "*"}]})
    .to_string()
}

/// Loops management calls until one fails (the kill) or the bound is reached.
fn burst(
    mut client: SignedClient,
    round: usize,
    n: usize,
    answered: &Mutex<Vec<Answered>>,
    progress: &AtomicUsize,
    stop: &AtomicBool,
) {
    for i in 0..MAX_PER_CLIENT {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(r) = client.call(
            "CreateKey",
            &json!({"Description": format!("crash {round}/{n}/{i}")}),
        ) else {
            return;
        };
        let v = r.ok("CreateKey");
        let meta = &v["KeyMetadata"];
        let mut a = Answered {
            key_id: meta["KeyId"].as_str().expect("KeyId").to_owned(),
            arn: meta["Arn"].as_str().expect("Arn").to_owned(),
            ..Answered::default()
        };
        let slot = {
            let mut g = answered.lock().expect("lock");
            g.push(a.clone());
            g.len() - 1
        };
        progress.fetch_add(1, Ordering::Relaxed);

        let alias = format!("alias/crash-{round}-{n}-{i}");
        let Ok(r) = client.call(
            "CreateAlias",
            &json!({"AliasName": alias, "TargetKeyId": a.key_id}),
        ) else {
            return;
        };
        r.ok("CreateAlias");
        a.alias = Some(alias);
        answered.lock().expect("lock")[slot] = a.clone();
        progress.fetch_add(1, Ordering::Relaxed);

        let sid = format!("Crash{round}x{n}x{i}");
        let Ok(r) = client.call(
            "PutKeyPolicy",
            &json!({"KeyId": a.arn, "PolicyName": "default", "Policy": policy(&sid)}),
        ) else {
            return;
        };
        r.ok("PutKeyPolicy");
        a.policy_sid = Some(sid);
        answered.lock().expect("lock")[slot] = a;
        progress.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs one burst and kills the server in its middle; returns what was answered.
fn burst_and_kill(server: &mut KmsServer, round: usize) -> Vec<Answered> {
    let answered = Arc::new(Mutex::new(Vec::new()));
    let progress = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let client = server.client("admin");
            let (answered, progress, stop) = (answered.clone(), progress.clone(), stop.clone());
            std::thread::spawn(move || burst(client, round, n, &answered, &progress, &stop))
        })
        .collect();
    // Wait (by count, not time) until the burst is well under way, or every client is done.
    while progress.load(Ordering::Relaxed) < KILL_AFTER && !handles.iter().all(|h| h.is_finished())
    {
        std::thread::yield_now();
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let status = server.kill9().expect("the server was running");
    assert!(!status.success(), "killed, not exited: {status}");
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join()
            .expect("a burst client panicked (a wrong answer before the kill)");
    }
    let answered = answered.lock().expect("lock").clone();
    assert!(
        answered.len() * 3 >= KILL_AFTER,
        "round {round}: only {} keys answered before the kill",
        answered.len()
    );
    answered
}

/// After the restart: every answered key, alias and policy is there.
fn verify(server: &KmsServer, answered: &[Answered], round: usize) {
    let mut admin = server.client("admin");
    let call = |c: &mut SignedClient, op: &str, body: Value| {
        c.call(op, &body)
            .unwrap_or_else(|e| panic!("round {round}: {op} after restart: {e}"))
    };
    for a in answered {
        let v = call(&mut admin, "DescribeKey", json!({"KeyId": a.key_id})).ok(&format!(
            "round {round}: DescribeKey of answered key {}",
            a.key_id
        ));
        assert_eq!(v["KeyMetadata"]["Arn"], json!(a.arn));
        assert_eq!(v["KeyMetadata"]["KeyState"], json!("Enabled"));
        if let Some(alias) = &a.alias {
            let v = call(&mut admin, "DescribeKey", json!({"KeyId": alias}))
                .ok(&format!("round {round}: answered alias {alias}"));
            assert_eq!(v["KeyMetadata"]["Arn"], json!(a.arn), "{alias}");
        }
        if let Some(sid) = &a.policy_sid {
            let v = call(
                &mut admin,
                "GetKeyPolicy",
                json!({"KeyId": a.key_id, "PolicyName": "default"}),
            )
            .ok(&format!("round {round}: GetKeyPolicy of {}", a.key_id));
            let p: Value =
                serde_json::from_str(v["Policy"].as_str().expect("Policy")).expect("policy JSON");
            assert!(
                p["Statement"]
                    .as_array()
                    .expect("statements")
                    .iter()
                    .any(|s| s["Sid"] == sid.as_str()),
                "round {round}: answered PutKeyPolicy {sid} lost: {p}"
            );
        }
    }
    // The keys are usable, not only listed.
    if let Some(a) = answered.last() {
        let v = call(
            &mut admin,
            "GenerateDataKey",
            json!({"KeyId": a.arn, "KeySpec": "AES_256"}),
        )
        .ok("GenerateDataKey after restart");
        assert_eq!(v["KeyId"], json!(a.arn));
    }
}

#[test]
fn kill_9_during_management_burst_keeps_every_answered_key() {
    let mut server = KmsServer::start(&[]).expect("the server starts");
    let mut all: Vec<Answered> = Vec::new();
    for round in 0..2 {
        let answered = burst_and_kill(&mut server, round);
        server
            .restart()
            .unwrap_or_else(|e| panic!("round {round}: restart on the crashed state file: {e}"));
        all.extend(answered);
        // Everything answered in this and the earlier rounds survived.
        verify(&server, &all, round);
    }
    // And a graceful stop still works after two crashes.
    let status = server
        .terminate(std::time::Duration::from_secs(30))
        .expect("SIGTERM stops it");
    assert!(status.success(), "graceful exit after SIGTERM: {status}");
}
