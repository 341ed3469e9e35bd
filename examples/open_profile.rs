//! One workload per process, for profilers (`valgrind --tool=cachegrind --cache-sim=yes`,
//! `/usr/bin/time -v`): opening FRAGMENTS different fragments of KIB KiB, ROUNDS times, either
//! one after another with `Engine::open` or as one `open_batch` on a 1-thread rayon pool, the
//! results dropped after each round as a caller would.
//!
//! ```text
//! cargo build --release --example open_profile
//! target/release/examples/open_profile MODE [FRAGMENTS] [KIB] [ROUNDS]
//! ```
//! MODE: `single` (`Engine::open` each), `batch` (`open_batch`, plaintext wiped on release),
//! `batch_reuse` (`open_batch`, plaintext wiped before reuse), `seal_single`, `seal_batch`.
//! Defaults: 16 fragments of 1024 KiB, 3 rounds. The sealing for the open modes happens
//! before the measured rounds; the program prints the time of the rounds only.

use fragseal::engine::{
    BufferPoolLimits, Engine, EngineConfig, OpenRequest, PlaintextWipe, SealRequest,
};
use fragseal::identity::IdentityCheck;
use fragseal::keyring::RawAesKeyring;
use fragseal::kms::Credential;
use fragseal::EncryptionContext;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn arg(n: usize, default: usize) -> Result<usize> {
    match std::env::args().nth(n) {
        Some(a) => Ok(a.parse()?),
        None => Ok(default),
    }
}

fn main() -> Result<()> {
    let mode = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "batch".to_owned());
    let count = arg(2, 16)?;
    let size = arg(3, 1024)? * 1024;
    let rounds = arg(4, 3)?;
    let wipe = match mode.as_str() {
        "batch_reuse" => PlaintextWipe::BeforeReuse,
        "single" | "batch" | "seal_single" | "seal_batch" => PlaintextWipe::OnRelease,
        other => return Err(format!("unknown mode {other}").into()),
    };
    let keyring = RawAesKeyring::new(
        "ns",
        "k",
        fragseal::crypto::SecretBytes::from_slice(&[5; 32]),
    )?;
    let config = EngineConfig::default()
        .with_buffer_pool(BufferPoolLimits::default().with_plaintext_wipe(wipe));
    let engine = Engine::new(Arc::new(keyring), config)?;
    let cred = Credential::new("111122223333", "arn:aws:iam::111122223333:root", "AKIA1")?;
    let ec = EncryptionContext::new().with(
        "aws:kinesisvideo:arn",
        "arn:aws:kinesisvideo:us-east-1:111122223333:stream/p/1",
    );
    let requests: Vec<SealRequest> = (0..count)
        .map(|n| {
            let p: Vec<u8> = (0..size).map(|i| (i ^ n) as u8).collect();
            SealRequest::new(ec.clone(), p)
        })
        .collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let opens: Vec<OpenRequest> = requests
        .iter()
        .map(|r| {
            engine
                .seal(&cred, r)
                .map(|m| OpenRequest::new(m, IdentityCheck::Skip))
        })
        .collect::<std::result::Result<_, _>>()?;
    let t0 = Instant::now();
    for _ in 0..rounds {
        match mode.as_str() {
            "single" => {
                for r in &opens {
                    black_box(engine.open(&cred, r)?);
                }
            }
            "seal_single" => {
                for r in &requests {
                    black_box(engine.seal(&cred, r)?);
                }
            }
            "seal_batch" => {
                let r = pool.install(|| engine.seal_batch(&cred, requests.clone()));
                assert!(r.iter().all(std::result::Result::is_ok));
                drop(black_box(r));
            }
            _ => {
                let r = pool.install(|| engine.open_batch(&cred, opens.clone()));
                assert!(r.iter().all(std::result::Result::is_ok));
                drop(black_box(r));
            }
        }
    }
    let mib = (count * size * rounds) as f64 / (1024.0 * 1024.0);
    println!(
        "{mode}: {count} x {} KiB x {rounds} rounds, {:.0} MiB/s (wall)",
        size / 1024,
        mib / t0.elapsed().as_secs_f64()
    );
    Ok(())
}
