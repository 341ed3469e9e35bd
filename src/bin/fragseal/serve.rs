//! `fragseal kms serve`: the local KMS on the AWS KMS wire protocol (docs/SERVER.md).

use crate::backend::{Backend, KmsOpts};
use crate::error::{CliError, CliResult, Exit};
use clap::{Args, ValueEnum};
use fragseal::kms::local::{Enforcement, LocalKms};
use fragseal::server::{IamConfig, Server, ServerConfig};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How denials are enforced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Enforce {
    /// Refuse what the policies refuse (AWS's behaviour).
    Strict,
    /// Record each would-be denial with its reason, and allow the call.
    Soft,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the first stdout line names it).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// The IAM file: accounts, access keys, users, roles, identity policies (docs/SERVER.md).
    #[arg(long, value_name = "FILE")]
    pub iam: PathBuf,
    /// strict: refuse what the policies refuse; soft: log would-be denials and allow.
    #[arg(long, value_enum, default_value_t = Enforce::Strict)]
    pub enforce: Enforce,
    /// Time a client has to send a request head; also the keep-alive idle timeout.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = humantime::parse_duration)]
    pub header_timeout: Duration,
    /// Time a client has to send a request body.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = humantime::parse_duration)]
    pub body_timeout: Duration,
    /// Largest request body, in bytes (larger: HTTP 413).
    #[arg(long, value_name = "BYTES", default_value_t = fragseal::server::DEFAULT_MAX_BODY)]
    pub max_body: usize,
    /// Connections served at once.
    #[arg(long, default_value_t = fragseal::server::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Shift the server's clock for STS session expiry only (`+20m`, `-1h`; tests): SigV4's
    /// skew window and issued `Expiration`s stay on the real clock (docs/SERVER.md).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_offset, allow_hyphen_values = true)]
    pub clock_offset: i64,
}

/// `[+|-]DURATION` (humantime) → signed seconds.
fn parse_offset(s: &str) -> Result<i64, String> {
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'-') => (-1, &s[1..]),
        Some(b'+') => (1, &s[1..]),
        _ => (1, s),
    };
    let d = humantime::parse_duration(rest).map_err(|e| e.to_string())?;
    let secs = i64::try_from(d.as_secs()).map_err(|_| "clock offset too large".to_owned())?;
    if secs > 10 * 365 * 86_400 {
        return Err("clock offset larger than ten years".to_owned());
    }
    Ok(sign * secs)
}

/// The KMS: `--account` is the primary account, every account of the IAM file is served,
/// identity policies come from the IAM file only (not persisted in the state file).
fn build_kms(opts: &KmsOpts, iam: &IamConfig, enforce: Enforce) -> CliResult<Arc<LocalKms>> {
    let state = opts.state_path();
    let audit = opts.audit_file();
    let enforcement = match enforce {
        Enforce::Strict => Enforcement::Strict,
        Enforce::Soft => Enforcement::Soft,
    };
    let kms = LocalKms::builder(opts.region.clone(), opts.account.clone())
        .accounts(iam.accounts().iter().cloned())
        .identity_from_config(true)
        .enforcement(enforcement)
        .state_file(&state)
        .audit_file(&audit)
        .build()
        .map_err(|e| {
            CliError::new(
                Exit::Local,
                format!("cannot use the local KMS state {}: {e}", state.display()),
            )
        })?;
    Ok(Arc::new(kms))
}

#[cfg(unix)]
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

pub fn run(args: &ServeArgs, opts: &KmsOpts) -> CliResult<()> {
    if opts.backend != Backend::Local {
        return Err(CliError::usage(
            "`fragseal kms serve` serves the local KMS only",
        ));
    }
    let iam = IamConfig::load(&args.iam)
        .map_err(|e| CliError::input(format!("{}: {e}", args.iam.display())))?;
    let kms = build_kms(opts, &iam, args.enforce)?;
    let config = ServerConfig::new(kms, iam)
        .listen(args.listen)
        .header_timeout(args.header_timeout)
        .body_timeout(args.body_timeout)
        .max_body(args.max_body)
        .max_connections(args.max_connections)
        .clock_offset(args.clock_offset);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(Exit::Local, format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        let server = Server::bind(config)
            .await
            .map_err(|e| CliError::new(Exit::Local, e.to_string()))?;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{}", server.local_addr());
        let _ = out.flush();
        drop(out);
        server.run(shutdown_signal()).await;
        Ok(())
    })
}
