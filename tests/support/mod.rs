//! Shared harness for the tests that need outside peers: the Python interpreter of the interop
//! venv (`scripts/setup-python.sh`) and a moto KMS server on loopback.
//!
//! Rules:
//! - The venv's python is `$FRAGSEAL_PYTHON`, else `<repo>/.venv-interop/bin/python`.
//! - When a peer is missing, a test calls [`unavailable`]: with `FRAGSEAL_REQUIRE_INTEROP=1`
//!   (CI) that fails the test loudly; otherwise the test prints why it skips and returns.
//! - moto runs as `python -c <watchdog> -H 127.0.0.1 -p PORT` (moto's own `moto_server` entry
//!   point, `moto.server.main`, behind a watchdog thread that exits when our end of its stdin
//!   closes), on a free port, ready when `GET /moto-api/` answers 200. It is killed by PID on
//!   drop, and because the watchdog sees stdin close when this test process ends for any reason
//!   (normal exit, panic, abort, SIGKILL), a shared server never outlives the tests.
#![allow(dead_code)]

pub mod engine_cases;
pub mod kms_cases;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Repository root (the crate's manifest directory).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// True when `FRAGSEAL_REQUIRE_INTEROP=1`: missing peers are failures, not skips.
pub fn interop_required() -> bool {
    std::env::var("FRAGSEAL_REQUIRE_INTEROP").is_ok_and(|v| v == "1")
}

/// Reports a missing peer: panics when interop is required, otherwise prints a skip notice.
/// Callers `return` right after it.
#[track_caller]
pub fn unavailable(test: &str, reason: &str) {
    if interop_required() {
        panic!(
            "{test}: FRAGSEAL_REQUIRE_INTEROP=1 but {reason}. Run scripts/setup-python.sh and \
             set FRAGSEAL_PYTHON to the python it prints."
        );
    }
    // Written to the stderr handle directly: the test harness captures `eprintln!` of passing
    // tests, and a skip must be visible in a plain `cargo test` run.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {reason} (run scripts/setup-python.sh; set FRAGSEAL_REQUIRE_INTEROP=1 \
         to make this a failure)"
    );
}

/// The interop venv's python, if it exists and can import `modules`.
pub fn python_with(modules: &[&str]) -> Result<PathBuf, String> {
    let python = match std::env::var_os("FRAGSEAL_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => repo_root().join(".venv-interop").join("bin").join("python"),
    };
    if !python.exists() {
        return Err(format!("no python at {}", python.display()));
    }
    let import = format!("import {}", modules.join(", "));
    let out = Command::new(&python)
        .args(["-c", &import])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} cannot `{import}`: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(python)
}

/// Path of a Python peer script in tests/python.
pub fn python_script(name: &str) -> PathBuf {
    repo_root().join("tests").join("python").join(name)
}

/// Runs `python script args...` with extra environment variables; returns stdout, or an error
/// message with stderr when the process fails.
pub fn run_python(
    python: &Path,
    script: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<String, String> {
    let mut cmd = Command::new(python);
    cmd.arg(script).args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "{} {} failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
            python.display(),
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(stdout)
}

/// Starts moto's server in a watchdog that exits when its stdin reaches end of file.
const MOTO_LAUNCHER: &str = r#"
import os, sys, threading
def _watch():
    try:
        sys.stdin.buffer.read()
    finally:
        os._exit(0)
threading.Thread(target=_watch, daemon=True).start()
from moto.server import main
main(sys.argv[1:])
"#;

/// A moto server on 127.0.0.1, killed by PID on drop.
pub struct MotoServer {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl MotoServer {
    /// Starts moto with `python` (which must import `moto.server`, `flask`, `flask_cors`) on a
    /// free port and waits until `/moto-api/` answers.
    pub fn start(python: &Path) -> Result<Self, String> {
        Self::start_with_env(python, &[])
    }

    /// As [`MotoServer::start`], with extra environment variables for moto (for example
    /// `INITIAL_NO_AUTH_ACTION_COUNT=0`, which turns on moto's request authentication).
    pub fn start_with_env(python: &Path, env: &[(&str, &str)]) -> Result<Self, String> {
        let mut last_err = String::new();
        // A port found free can be taken before moto binds it; try a few.
        for attempt in 0..3 {
            let port = free_port()?;
            let log = std::env::temp_dir().join(format!(
                "fragseal-moto-{}-{port}-{attempt}.log",
                std::process::id()
            ));
            let log_file = std::fs::File::create(&log)
                .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
            let log_err = log_file
                .try_clone()
                .map_err(|e| format!("cannot dup log file: {e}"))?;
            let mut cmd = Command::new(python);
            for (k, v) in env {
                cmd.env(k, v);
            }
            let child = cmd
                .args([
                    "-c",
                    MOTO_LAUNCHER,
                    "-H",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                ])
                .stdin(Stdio::piped())
                .stdout(log_file)
                .stderr(log_err)
                .spawn()
                .map_err(|e| format!("cannot start moto with {}: {e}", python.display()))?;
            let mut server = MotoServer { child, port, log };
            match server.wait_ready(Duration::from_secs(30)) {
                Ok(()) => return Ok(server),
                Err(e) => last_err = e, // dropped here: killed by PID
            }
        }
        Err(last_err)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "moto exited early ({status}); log {}:\n{}",
                    self.log.display(),
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                ));
            }
            if http_status(self.port, "/moto-api/") == Some(200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "moto not ready on port {} after {limit:?}; log {}:\n{}",
                    self.port,
                    self.log.display(),
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // Kill by PID (the process we spawned, nothing else), then reap it.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// One moto server shared by every test of this test binary, started on first use. It lives
/// until the process ends; its watchdog then sees stdin close and exits.
pub fn shared_moto() -> Result<&'static MotoServer, String> {
    static MOTO: OnceLock<Result<MotoServer, String>> = OnceLock::new();
    MOTO.get_or_init(|| {
        let python = python_with(&["moto.server", "flask", "flask_cors"])?;
        MotoServer::start(&python)
    })
    .as_ref()
    .map_err(Clone::clone)
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .map_err(|e| format!("cannot bind a loopback port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no local address: {e}"))
}

/// Status code of `GET path` on 127.0.0.1:port, or `None` when nothing answers.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    // "HTTP/1.1 200"
    std::str::from_utf8(head.get(9..12)?).ok()?.parse().ok()
}
