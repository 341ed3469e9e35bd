//! Harness for `fragseal kms serve`: writes an IAM file and a state path in a temporary
//! directory, starts the binary on `127.0.0.1:0`, reads the first stdout line
//! (`listening on http://HOST:PORT`), keeps draining stdout and stderr, and stops the process
//! by its PID (SIGKILL in `Drop`, then `wait`).
//!
//! Include it next to the signed client, at the crate root of a test or bench:
//! ```ignore
//! #[path = "support/signed_client.rs"] mod signed_client;
//! #[path = "support/server.rs"] mod server;
//! ```
//!
//! The identities ([`Fixture`]) get fresh random secret access keys on every run; a secret is
//! written only into the IAM file (mode of the temp dir: the user's) and into the environment
//! of the client processes a test starts, never printed.
#![allow(dead_code)]

use crate::signed_client::SignedClient;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The region every server test uses.
pub const REGION: &str = "us-east-1";
/// The primary account (first in the IAM file).
pub const ACCOUNT: &str = "111122223333";
/// A second served account, for cross-account cases.
pub const OTHER_ACCOUNT: &str = "444455556666";

/// Most of a process's stderr kept for failure messages.
const LOG_CAP: usize = 256 * 1024;

/// One IAM identity with an access key.
#[derive(Clone)]
pub struct User {
    /// `UserName`, or `root` for an account's root access key.
    pub name: String,
    /// Its account.
    pub account: String,
    /// `AKIA...`.
    pub access_key_id: String,
    /// The secret access key (random per run).
    pub secret: String,
}

impl core::fmt::Debug for User {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("account", &self.account)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl User {
    /// `arn:aws:iam::ACCOUNT:user/NAME` (or `...:root`).
    pub fn arn(&self) -> String {
        if self.name == "root" {
            format!("arn:aws:iam::{}:root", self.account)
        } else {
            format!("arn:aws:iam::{}:user/{}", self.account, self.name)
        }
    }
}

fn random_secret() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The identities of the standard IAM file.
///
/// Account [`ACCOUNT`]:
/// - `root` access key;
/// - `admin`: `kms:*` on `*`;
/// - `alice`: data calls only (GenerateDataKey*, Encrypt, Decrypt, ReEncrypt*, DescribeKey);
/// - `bob`, `mallory`: no identity policy (bob receives grants; mallory is always refused).
///
/// Account [`OTHER_ACCOUNT`]: `carol` with `kms:*` on `*` (cross-account caller), `dave` with
/// no identity policy (the identity half of a cross-account check is missing).
#[derive(Clone, Debug)]
pub struct Fixture {
    /// Every user, in the order above.
    pub users: Vec<User>,
}

impl Fixture {
    /// The standard identities with fresh secrets.
    pub fn standard() -> Self {
        let mk = |name: &str, account: &str, key: &str| User {
            name: name.to_owned(),
            account: account.to_owned(),
            access_key_id: key.to_owned(),
            secret: random_secret(),
        };
        Fixture {
            users: vec![
                mk("root", ACCOUNT, "AKIAFRAGSEALROOT0001"),
                mk("admin", ACCOUNT, "AKIAFRAGSEALADMIN001"),
                mk("alice", ACCOUNT, "AKIAFRAGSEALALICE001"),
                mk("bob", ACCOUNT, "AKIAFRAGSEALBOB00001"),
                mk("mallory", ACCOUNT, "AKIAFRAGSEALMALLORY1"),
                mk("carol", OTHER_ACCOUNT, "AKIAFRAGSEALCAROL001"),
                mk("dave", OTHER_ACCOUNT, "AKIAFRAGSEALDAVE0001"),
            ],
        }
    }

    /// The user called `name`.
    #[track_caller]
    pub fn user(&self, name: &str) -> &User {
        self.users
            .iter()
            .find(|u| u.name == name)
            .unwrap_or_else(|| panic!("no user {name} in the fixture"))
    }

    /// The IAM file (format of docs/SERVER.md).
    pub fn iam_json(&self) -> Value {
        let allow_all = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]});
        let data_only = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext",
                       "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:DescribeKey"],
            "Resource": "*"}]});
        let key = |u: &User| json!({"AccessKeyId": u.access_key_id, "SecretAccessKey": u.secret});
        let user = |name: &str, policy: Option<&Value>| {
            let u = self.user(name);
            let policies: Vec<Value> = policy
                .map(|p| vec![json!({"PolicyName": format!("{name}-kms"), "PolicyDocument": p})])
                .unwrap_or_default();
            json!({"UserName": name, "AccessKeys": [key(u)], "Policies": policies})
        };
        json!({"Accounts": [
            {
                "AccountId": ACCOUNT,
                "RootAccessKeys": [key(self.user("root"))],
                "Users": [
                    user("admin", Some(&allow_all)),
                    user("alice", Some(&data_only)),
                    user("bob", None),
                    user("mallory", None),
                ],
            },
            {
                "AccountId": OTHER_ACCOUNT,
                "Users": [user("carol", Some(&allow_all)), user("dave", None)],
            },
        ]})
    }
}

/// A running `fragseal kms serve`, killed by PID on drop.
pub struct KmsServer {
    child: Option<Child>,
    addr: SocketAddr,
    dir: tempfile::TempDir,
    args: Vec<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// The standard identities the IAM file declares.
    pub fixture: Fixture,
}

/// The `fragseal` binary under test.
pub fn fragseal_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fragseal"))
}

impl KmsServer {
    /// Starts a server with the [`Fixture::standard`] identities and `--audit-log`, plus
    /// `extra_args` (e.g. `["--enforce", "soft"]`).
    pub fn start(extra_args: &[&str]) -> Result<Self, String> {
        let fixture = Fixture::standard();
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let iam = dir.path().join("iam.json");
        let iam_text = serde_json::to_vec_pretty(&fixture.iam_json()).map_err(|e| e.to_string())?;
        std::fs::write(&iam, iam_text).map_err(|e| format!("write {}: {e}", iam.display()))?;
        let mut args: Vec<String> = vec![
            "kms".into(),
            "serve".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--kms-state".into(),
            path_arg(&dir.path().join("kms-state.json"))?,
            "--iam".into(),
            path_arg(&iam)?,
            "--region".into(),
            REGION.into(),
            "--audit-log".into(),
            path_arg(&dir.path().join("audit.jsonl"))?,
        ];
        args.extend(extra_args.iter().map(|s| (*s).to_owned()));
        let mut server = KmsServer {
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir,
            args,
            stderr: Arc::new(Mutex::new(Vec::new())),
            fixture,
        };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut child = Command::new(fragseal_bin())
            .args(&self.args)
            .env_remove("FRAGSEAL_KMS_STATE")
            .env_remove("FRAGSEAL_KMS_AUDIT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", fragseal_bin().display()))?;
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let stderr = child.stderr.take().ok_or("no stderr pipe")?;
        // Keep both pipes drained for the life of the process, so it never blocks writing.
        let sink = Arc::clone(&self.stderr);
        std::thread::spawn(move || drain_into(stderr, &sink));
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut first = String::new();
            if lines.read_line(&mut first).unwrap_or(0) > 0 {
                let _ = tx.send(first);
            }
            drop(tx);
            let mut rest = Vec::new();
            let _ = lines.read_to_end(&mut rest);
        });
        self.child = Some(child);
        let first = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(_) => {
                let status = self.kill9();
                return Err(format!(
                    "fragseal kms serve printed no first line (exit: {status:?}); stderr:\n{}",
                    self.logs()
                ));
            }
        };
        let addr = first
            .trim_end()
            .strip_prefix("listening on http://")
            .and_then(|a| a.parse::<SocketAddr>().ok());
        match addr {
            Some(a) if a.ip().is_loopback() && a.port() != 0 => {
                self.addr = a;
                Ok(())
            }
            _ => {
                self.kill9();
                Err(format!(
                    "first stdout line {first:?} is not `listening on http://HOST:PORT`; \
                     stderr:\n{}",
                    self.logs()
                ))
            }
        }
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The process id (`None` once stopped).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The temporary directory with the IAM file, the state file and the audit log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The state file (`--kms-state`).
    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("kms-state.json")
    }

    /// The audit log (`--audit-log`).
    pub fn audit_path(&self) -> PathBuf {
        self.dir.path().join("audit.jsonl")
    }

    /// A signing client for `user` of the fixture.
    pub fn client(&self, user: &str) -> SignedClient {
        let u = self.fixture.user(user);
        SignedClient::new(self.addr, REGION, &u.access_key_id, &u.secret)
    }

    /// Every record of the audit log, in file order. Panics on a line that is not JSON.
    pub fn audit_records(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.audit_path()).unwrap_or_default();
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("audit line {} is not JSON ({e}): {l}", i + 1))
            })
            .collect()
    }

    /// What the process wrote on stderr so far (at most 256 KiB).
    pub fn logs(&self) -> String {
        let buf = self.stderr.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// `kill -9` by PID, then reaps it. Returns its exit status (`None` if not running).
    pub fn kill9(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = child.kill();
        child.wait().ok()
    }

    /// SIGTERM by PID (`kill -TERM PID`), then waits up to `limit` for a graceful exit; a
    /// server still running then is killed and `Err` returned.
    pub fn terminate(&mut self, limit: Duration) -> Result<ExitStatus, String> {
        let mut child = self.child.take().ok_or("not running")?;
        let pid = child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .map_err(|e| format!("cannot run kill: {e}"))?;
        if !sent.success() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("kill -TERM {pid} failed: {sent}"));
        }
        let deadline = Instant::now() + limit;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "server {pid} still running {limit:?} after SIGTERM"
                    ));
                }
            }
        }
    }

    /// Starts the server again on the same IAM file, state file and audit log (after
    /// [`KmsServer::kill9`] or [`KmsServer::terminate`]); it gets a new port.
    pub fn restart(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            return Err("still running".to_owned());
        }
        if let Ok(mut b) = self.stderr.lock() {
            b.clear();
        }
        self.spawn()
    }
}

impl Drop for KmsServer {
    fn drop(&mut self) {
        // By PID: the process this harness spawned, nothing else.
        self.kill9();
    }
}

/// The environment of every client process: nothing from the machine's AWS configuration.
pub fn isolated_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(|k| k.starts_with("AWS_")) {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_RETRY_MODE", "standard")
        .env("AWS_PAGER", "")
        .stdin(Stdio::null());
}

/// No user's secret access key appears in the audit log or on the server's stderr.
#[track_caller]
pub fn assert_no_secret_logged(server: &KmsServer) {
    let audit = std::fs::read_to_string(server.audit_path()).unwrap_or_default();
    let logs = server.logs();
    for u in &server.fixture.users {
        assert!(
            !audit.contains(&u.secret),
            "{}'s secret in the audit log",
            u.name
        );
        assert!(!logs.contains(&u.secret), "{}'s secret on stderr", u.name);
    }
}

fn path_arg(p: &Path) -> Result<String, String> {
    p.to_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("non-UTF-8 path {}", p.display()))
}

fn drain_into(mut from: impl Read, sink: &Mutex<Vec<u8>>) {
    let mut buf = [0u8; 8192];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if let Ok(mut s) = sink.lock() {
                    if s.len() < LOG_CAP {
                        let take = n.min(LOG_CAP - s.len());
                        s.extend_from_slice(&buf[..take]);
                    }
                }
            }
        }
    }
}
