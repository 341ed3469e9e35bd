//! Seals a file with a local raw AES key and opens it again.
//!
//! `cargo run --release --example seal_file -- INPUT`
//!
//! Writes `INPUT.sealed` (an AWS Encryption SDK message, suite 0x0478, that any ESDK with a raw
//! AES keyring of the same namespace, name and key can decrypt), opens it, checks the round
//! trip, and prints what it did. The wrapping key is random per run and never leaves the
//! process (it is not printed); a real deployment keeps it in a KMS instead. The interop tests
//! (`tests/interop_python.rs`) show the same messages opening in the Python ESDK.

use fragseal::crypto::SecretBytes;
use fragseal::identity::{FragmentIdentity, IdentityCheck};
use fragseal::keyring::{open_with_raw_key, seal_with_raw_key, RawAesKeyring, SealOptions};
use fragseal::message::{self, OpenLimits};
use fragseal::EncryptionContext;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let input = std::env::args()
        .nth(1)
        .ok_or("usage: cargo run --release --example seal_file -- INPUT")?;
    let plaintext = std::fs::read(&input)?;

    // A random wrapping key that lives only in this process (never printed or logged); a real
    // deployment keeps its wrapping key in a KMS instead.
    let wrapping_key = SecretBytes::random(32);
    println!("wrapping key: raw AES-256, namespace \"fragseal-example\", name \"local-key\", random per run");
    let keyring = RawAesKeyring::new("fragseal-example", "local-key", wrapping_key)?;

    let stream = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/example/1700000000000";
    let ec = EncryptionContext::new().with("aws:kinesisvideo:arn", stream);
    let identity = FragmentIdentity {
        stream_arn: stream.into(),
        fragment_number: 1,
        producer_timestamp_ms: 1_700_000_000_000,
        track: 1,
    };
    let options = SealOptions {
        identity: Some(&identity),
        ..SealOptions::new(&ec)
    };

    let t = Instant::now();
    let sealed = seal_with_raw_key(&keyring, &options, &plaintext)?;
    let seal_time = t.elapsed();
    let out = format!("{input}.sealed");
    std::fs::write(&out, &sealed)?;
    let header = message::parse(&sealed, &OpenLimits::default())?;
    println!(
        "sealed {} bytes into {out}: {} bytes (header {} bytes, frame length {}, {} frame(s)) in {:?}",
        plaintext.len(),
        sealed.len(),
        header.header_len(),
        header.frame_length(),
        plaintext.len().saturating_sub(1) / header.frame_length() as usize + 1,
        seal_time
    );
    println!("message id {}", hex::encode(header.message_id()));

    let t = Instant::now();
    let opened = open_with_raw_key(
        &keyring,
        &std::fs::read(&out)?,
        &IdentityCheck::Expect(identity.clone()),
        &OpenLimits::default(),
    )?;
    println!(
        "opened {out} in {:?}: {} bytes, identity checked",
        t.elapsed(),
        opened.len()
    );
    if opened != plaintext {
        return Err("round trip mismatch".into());
    }
    println!("round trip OK");

    let moved = FragmentIdentity {
        fragment_number: 2,
        ..identity
    };
    match open_with_raw_key(
        &keyring,
        &sealed,
        &IdentityCheck::Expect(moved),
        &OpenLimits::default(),
    ) {
        Err(e) => println!("opening it as fragment 2 fails as it should: {e}"),
        Ok(_) => return Err("a moved fragment opened".into()),
    }
    Ok(())
}
