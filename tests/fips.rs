//! The `fips` feature: aws-lc-rs on the FIPS 140-3 validated AWS-LC module. The module must
//! report FIPS mode, and fragseal's aws-lc provider must seal and open on it (both suites),
//! with messages the other providers open byte for byte. (Wycheproof and the differential
//! tests run on the same provider in `--all-features` builds, so on this module too.)

#![cfg(feature = "fips")]
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use fragseal::crypto::{AeadBackend, SecretBytes};
use fragseal::engine::{Engine, EngineConfig, OpenRequest, SealRequest};
use fragseal::identity::IdentityCheck;
use fragseal::keyring::RawAesKeyring;
use fragseal::kms::Credential;
use fragseal::message::SealSuite;
use fragseal::EncryptionContext;
use std::sync::Arc;

const STREAM: &str = "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam/1";

fn engine(backend: AeadBackend, suite: SealSuite) -> Engine {
    let keyring = RawAesKeyring::new("ns", "k", SecretBytes::from_slice(&[7; 32])).unwrap();
    let config = EngineConfig::default()
        .with_backend(backend)
        .with_seal_suite(suite);
    Engine::new(Arc::new(keyring), config).unwrap()
}

fn cred() -> Credential {
    Credential::new("111122223333", "arn:aws:iam::111122223333:root", "AKIA1").unwrap()
}

#[test]
fn the_aws_lc_module_runs_in_fips_mode() {
    aws_lc_rs::try_fips_mode().expect("aws-lc-rs reports FIPS mode");
}

#[test]
fn the_aws_lc_provider_seals_and_opens_on_the_fips_module_and_agrees_with_the_others() {
    let ec = EncryptionContext::new().with("aws:kinesisvideo:arn", STREAM);
    let plaintext: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    for suite in [
        SealSuite::default(),
        SealSuite::AesGcmHkdfSha512CommitKeyEcdsaP384,
    ] {
        let fips = engine(AeadBackend::AwsLc, suite);
        let sealed = fips
            .seal(&cred(), &SealRequest::new(ec.clone(), plaintext.clone()))
            .unwrap();
        for backend in AeadBackend::ALL {
            let opener = engine(*backend, suite);
            let opened = opener
                .open(
                    &cred(),
                    &OpenRequest::new(sealed.clone(), IdentityCheck::Skip),
                )
                .unwrap_or_else(|e| panic!("{backend:?} opens the FIPS provider's {suite:?}: {e}"));
            assert_eq!(&opened.plaintext[..], &plaintext[..]);
        }
        // And the other way: a ring-sealed message opens on the FIPS module.
        let ring = engine(AeadBackend::Ring, suite)
            .seal(&cred(), &SealRequest::new(ec.clone(), plaintext.clone()))
            .unwrap();
        let opened = fips
            .open(&cred(), &OpenRequest::new(ring, IdentityCheck::Skip))
            .unwrap();
        assert_eq!(&opened.plaintext[..], &plaintext[..]);
    }
}
