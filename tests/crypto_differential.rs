//! Differential test: every AEAD backend compiled in (`ring`, `aws-lc-rs` with the `aws-lc`
//! feature) must agree bit for bit with the pure-Rust `aes-gcm` oracle.
//!
//! For random keys, IVs, AAD (0..=64 bytes) and plaintext lengths 0..=70 KiB (every length up to
//! 300, the 16 KiB and 64 KiB boundaries, 70 KiB, and random lengths in between), every backend
//! produces the same ciphertext and tag, each opens every other's output, and a flipped bit in
//! the tag, the ciphertext, the AAD or the IV makes every one fail. The seed is printed so a failure reproduces
//! (`FRAGSEAL_DIFF_SEED=<n>`).

use fragseal::crypto::AeadBackend;
use fragseal::error::AuthenticationError as OpenError;
use fragseal::internal::crypto::aead::Aes256GcmKey;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

const KIB: usize = 1024;
const MAX_LEN: usize = 70 * KIB;
const RANDOM_LENGTHS: usize = 60;

fn lengths(rng: &mut StdRng) -> Vec<usize> {
    let mut v: Vec<usize> = (0..=300).collect();
    for b in [16 * KIB, 64 * KIB] {
        v.extend([b - 1, b, b + 1]);
    }
    v.push(MAX_LEN);
    v.extend((0..RANDOM_LENGTHS).map(|_| rng.gen_range(301..=MAX_LEN)));
    v
}

fn seed() -> u64 {
    std::env::var("FRAGSEAL_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let mut b = [0u8; 8];
            getrandom::getrandom(&mut b).expect("the OS generator");
            u64::from_le_bytes(b)
        })
}

fn open(
    key: &Aes256GcmKey,
    iv: &[u8; 12],
    aad: &[u8],
    ct: &[u8],
    tag: &[u8; 16],
) -> Result<Vec<u8>, OpenError> {
    let mut buf = ct.to_vec();
    key.open_in_place_detached(iv, aad, &mut buf, tag)?;
    Ok(buf)
}

#[test]
fn every_backend_agrees_with_aes_gcm() {
    let seed = seed();
    println!("FRAGSEAL_DIFF_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let lens = lengths(&mut rng);
    let mut cases = 0usize;
    for len in lens {
        let mut key_bytes = [0u8; 32];
        let mut iv = [0u8; 12];
        rng.fill_bytes(&mut key_bytes);
        rng.fill_bytes(&mut iv);
        let mut aad = vec![0u8; rng.gen_range(0..=64)];
        rng.fill_bytes(&mut aad);
        let mut pt = vec![0u8; len];
        rng.fill_bytes(&mut pt);

        let keys: Vec<Aes256GcmKey> = AeadBackend::ALL
            .iter()
            .map(|&b| Aes256GcmKey::new(b, &key_bytes))
            .collect();
        let oracle = Aes256GcmKey::new(AeadBackend::RustCrypto, &key_bytes);
        let mut ct_ref = pt.clone();
        let tag_ref = oracle.seal_in_place_detached(&iv, &aad, &mut ct_ref);
        if len > 0 {
            assert_ne!(ct_ref, pt, "ciphertext equals plaintext at len {len}");
        }
        for key in &keys {
            let b = key.backend();
            let mut ct = pt.clone();
            let tag = key.seal_in_place_detached(&iv, &aad, &mut ct);
            assert!(
                ct == ct_ref,
                "{b:?}: ciphertext differs at len {len} (seed {seed})"
            );
            assert_eq!(
                tag, tag_ref,
                "{b:?}: tag differs at len {len} (seed {seed})"
            );
        }

        // Each opens the others' output (they are all equal to the oracle's).
        for key in &keys {
            let got = open(key, &iv, &aad, &ct_ref, &tag_ref);
            assert!(
                got.as_deref() == Ok(&pt[..]),
                "{:?} failed to open at len {len} (seed {seed})",
                key.backend()
            );
        }
        // Tampering fails on every backend.
        let mut bad_tag = tag_ref;
        bad_tag[rng.gen_range(0..16)] ^= 1 << rng.gen_range(0..8);
        let mut bad_ct = ct_ref.clone();
        if len > 0 {
            bad_ct[rng.gen_range(0..len)] ^= 1 << rng.gen_range(0..8);
        }
        let mut bad_aad = aad.clone();
        if aad.is_empty() {
            bad_aad.push(0);
        } else {
            let i = rng.gen_range(0..aad.len());
            bad_aad[i] ^= 1 << rng.gen_range(0..8);
        }
        let mut bad_iv = iv;
        bad_iv[rng.gen_range(0..12)] ^= 1 << rng.gen_range(0..8);
        for key in &keys {
            let b = key.backend();
            assert_eq!(
                open(key, &iv, &aad, &ct_ref, &bad_tag),
                Err(OpenError),
                "{b:?} tag, len {len}"
            );
            if len > 0 {
                assert_eq!(
                    open(key, &iv, &aad, &bad_ct, &tag_ref),
                    Err(OpenError),
                    "{b:?} ct, len {len}"
                );
            }
            assert_eq!(
                open(key, &iv, &bad_aad, &ct_ref, &tag_ref),
                Err(OpenError),
                "{b:?} aad, len {len}"
            );
            assert_eq!(
                open(key, &bad_iv, &aad, &ct_ref, &tag_ref),
                Err(OpenError),
                "{b:?} iv, len {len}"
            );
            // The buffer of a failed open is zeroed, never left holding unverified plaintext.
            let mut buf = ct_ref.clone();
            assert!(key
                .open_in_place_detached(&iv, &aad, &mut buf, &bad_tag)
                .is_err());
            assert!(
                buf.iter().all(|&x| x == 0),
                "{b:?} left bytes after failed open, len {len}"
            );
        }
        cases += 1;
    }
    println!("{cases} differential cases");
    assert!(cases > 300);
}
