//! `fragseal vectors`: run the AWS test-vector framework's manifests, and write fragseal's.

use crate::error::{CliError, Exit};
use clap::{Args, Subcommand, ValueEnum};
use fragseal::crypto::AeadBackend;
use fragseal::vectors::{
    load_decrypt, run_decrypt, write_encrypt, CommitmentPolicy, EncryptOutcome, Outcome, RunOptions,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct VectorsArgs {
    #[command(subcommand)]
    pub command: VectorsCommand,
}

#[derive(Debug, Subcommand)]
pub enum VectorsCommand {
    /// Run every test of an awses-decrypt manifest (a manifest file, a directory, or a .zip).
    Decrypt(DecryptArgs),
    /// Write ciphertexts and matching decrypt + keys manifests for an awses-encrypt manifest.
    Encrypt(EncryptArgs),
}

#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// The manifest: manifest.json, a folder holding it, or a test-vector .zip archive.
    pub manifest: PathBuf,
    /// Which algorithm suites may be decrypted.
    #[arg(long, value_enum, default_value_t = Policy::RequireEncryptRequireDecrypt)]
    pub commitment_policy: Policy,
    /// Print only failures and the summary.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// The awses-encrypt manifest (a file, a folder holding manifest.json, or a .zip).
    pub manifest: PathBuf,
    /// Output folder (created): manifest.json, keys.json, ciphertexts/, plaintexts/.
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Policy {
    /// Committing suites only (the default).
    RequireEncryptRequireDecrypt,
    /// Also decrypt the non-committing 1.x suites.
    RequireEncryptAllowDecrypt,
}

pub fn run(args: &VectorsArgs) -> Result<(), CliError> {
    match &args.command {
        VectorsCommand::Decrypt(a) => decrypt(a),
        VectorsCommand::Encrypt(a) => encrypt(a),
    }
}

fn decrypt(a: &DecryptArgs) -> Result<(), CliError> {
    let (source, manifest, keys) =
        load_decrypt(&a.manifest).map_err(|e| CliError::input(e.to_string()))?;
    let options = RunOptions {
        commitment_policy: match a.commitment_policy {
            Policy::RequireEncryptRequireDecrypt => CommitmentPolicy::RequireEncryptRequireDecrypt,
            Policy::RequireEncryptAllowDecrypt => CommitmentPolicy::RequireEncryptAllowDecrypt,
        },
        ..RunOptions::default()
    };
    if let Some((name, version)) = &manifest.client {
        outln!(
            "awses-decrypt v{} from {name} {version}: {} tests",
            manifest.version,
            manifest.tests.len()
        );
    }
    let report = run_decrypt(&source, &manifest, &keys, &options);
    for r in &report.results {
        let suite = r.suite.map_or("----".to_owned(), |s| format!("{s:04X}"));
        match &r.outcome {
            Outcome::Passed { .. } if a.quiet => {}
            Outcome::Passed { refusal: None } => outln!("PASS {} {suite}", r.name),
            Outcome::Passed { refusal: Some(e) } => {
                outln!(
                    "PASS {} {suite} (refused: {})",
                    r.name,
                    crate::text::escape(e)
                )
            }
            Outcome::Failed(why) => outln!("FAIL {} {suite}: {}", r.name, crate::text::escape(why)),
            Outcome::Skipped(_) if a.quiet => {}
            Outcome::Skipped(why) => {
                outln!("SKIP {} {suite}: {}", r.name, crate::text::escape(why))
            }
        }
    }
    let (passed, failed, skipped) = report.counts();
    outln!("{passed} passed, {failed} failed, {skipped} skipped");
    for (why, n) in report.skip_reasons() {
        outln!("  skipped {n}: {}", crate::text::escape(&why));
    }
    if failed > 0 {
        return Err(CliError::new(
            Exit::Authentication,
            format!("{failed} test vector(s) failed"),
        ));
    }
    Ok(())
}

fn encrypt(a: &EncryptArgs) -> Result<(), CliError> {
    let out = write_encrypt(&a.manifest, &a.out, AeadBackend::default())
        .map_err(|e| CliError::input(e.to_string()))?;
    let mut written = 0;
    let mut failed = 0;
    let mut skipped: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, o) in &out.results {
        match o {
            EncryptOutcome::Written => written += 1,
            EncryptOutcome::Skipped(why) => *skipped.entry(why.as_str()).or_default() += 1,
            EncryptOutcome::Failed(why) => {
                failed += 1;
                outln!("FAIL {name}: {}", crate::text::escape(why));
            }
        }
    }
    let n_skipped: usize = skipped.values().sum();
    outln!(
        "{written} written, {failed} failed, {n_skipped} skipped -> {}",
        a.out.join("manifest.json").display()
    );
    let mut reasons: Vec<_> = skipped.into_iter().collect();
    reasons.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(y.0)));
    for (why, n) in reasons {
        outln!("  skipped {n}: {}", crate::text::escape(why));
    }
    if failed > 0 {
        return Err(CliError::new(
            Exit::Internal,
            format!("{failed} encrypt test(s) failed"),
        ));
    }
    Ok(())
}
