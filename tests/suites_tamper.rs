//! Tampering with a signed (suite 0x0578) message: every single bit flip and every truncation
//! is refused by the one-shot, range and streaming opens, and the streaming open never
//! releases the final frame of a message whose footer does not verify.

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod suites_support;

use fragseal::crypto::AeadBackend;
use fragseal::identity::IdentityCheck;
use fragseal::message::{parse, OpenLimits, OpenParams, SealedStream};
use std::io::Read;
use suites_support::*;

const FRAME: u32 = 16;

fn fixture() -> (Vec<u8>, Vec<u8>) {
    let sk = signing_key(21);
    let pt = bytes(40, 9); // two regular frames and a final frame of 8 bytes
    let m = signed_message(&data_key(), &sk, &Spec::signed(&sk, FRAME, &pt));
    (m, pt)
}

fn opens(m: &[u8], backend: AeadBackend) -> bool {
    let skip = IdentityCheck::Skip;
    let params = OpenParams::new(&skip).with_backend(backend);
    let Ok(parsed) = parse(m, &OpenLimits::default()) else {
        return false;
    };
    let one_shot = parsed.open(&data_key(), &params).is_ok();
    let range = parsed.open_range(&data_key(), &params, 0..1).is_ok();
    assert_eq!(one_shot, range, "one-shot and range opens disagree");
    one_shot
}

/// The streaming open: (released bytes, ended without error).
fn stream(m: &[u8]) -> (Vec<u8>, bool) {
    let skip = IdentityCheck::Skip;
    let Ok(sealed) = SealedStream::new(m, &OpenLimits::default()) else {
        return (Vec::new(), false);
    };
    let Ok(mut r) = sealed.open(&data_key(), &OpenParams::new(&skip)) else {
        return (Vec::new(), false);
    };
    let mut out = Vec::new();
    let mut buf = [0u8; 5];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (out, false),
        }
    }
}

#[test]
fn the_fixture_opens() {
    let (m, pt) = fixture();
    assert!(opens(&m, AeadBackend::Ring));
    assert!(opens(&m, AeadBackend::RustCrypto));
    assert_eq!(stream(&m), (pt, true));
}

#[test]
fn every_single_bit_flip_is_refused() {
    let (m, pt) = fixture();
    for pos in 0..m.len() {
        for bit in 0..8 {
            let mut bad = m.clone();
            bad[pos] ^= 1 << bit;
            assert!(
                !opens(&bad, AeadBackend::Ring),
                "flip at {pos}.{bit} opened"
            );
            let (released, ok) = stream(&bad);
            assert!(!ok, "flip at {pos}.{bit} streamed");
            // The final frame (the last 8 plaintext bytes) is never released.
            assert!(
                released.len() <= 32,
                "flip at {pos}.{bit} released the final frame"
            );
            assert_eq!(released, pt[..released.len()]);
        }
    }
}

#[test]
fn every_truncation_is_refused() {
    let (m, _) = fixture();
    for cut in 0..m.len() {
        assert!(
            !opens(&m[..cut], AeadBackend::RustCrypto),
            "cut at {cut} opened"
        );
        let (released, ok) = stream(&m[..cut]);
        assert!(!ok && released.len() <= 32, "cut at {cut}");
    }
}
