//! The commit key is compared across all 32 bytes, on every open path (issue 11 #9).
//!
//! In a v2 header the commit key is the algorithm suite data, the last 32 bytes of the header
//! body (just before the 16-byte header tag). Each of the 32 positions is flipped in turn, and
//! every open path must refuse the message with the opaque authentication error. The open
//! paths are called in one place, [`open_every_way`], so that an API change is adapted there.
//!
//! The header tag covers the commit key too, so a plain flip would be caught by the tag even
//! with a broken commit key comparison. Each flip is therefore also tried with the header tag
//! recomputed over the flipped header (the test derives the message's keys itself, from the
//! specification, with the `hkdf` and `aes-gcm` crates): only the commit key comparison can
//! refuse that message.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use fragseal::crypto::DataKey;
use fragseal::engine::{Engine, EngineConfig, OpenOptions, OpenRequest};
use fragseal::format::EncryptedDataKey;
use fragseal::identity::IdentityCheck;
use fragseal::keyring::KmsKeyring;
use fragseal::kms::local::LocalKms;
use fragseal::kms::{Credential, DataKeySpec, Kms};
use fragseal::message::{self, OpenLimits, OpenParams, ParsedMessage, SealParams};
use fragseal::{EncryptionContext, OpenError as Error};

fn parse_header<'a>(m: &'a [u8], limits: &OpenLimits) -> Result<ParsedMessage<'a>, Error> {
    message::parse(m, limits)
}
use std::io::Read;
use std::sync::Arc;

const COMMIT_KEY_LEN: usize = 32;

fn ec() -> EncryptionContext {
    EncryptionContext::new().with(
        "aws:kinesisvideo:arn",
        "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam/1",
    )
}

/// Where the commit key sits in `message`: the last 32 bytes of the header body.
fn commit_key_offset(message: &[u8]) -> usize {
    let header = parse_header(message, &OpenLimits::default()).unwrap();
    let at = header.header_body_bytes().len() - COMMIT_KEY_LEN;
    assert_eq!(
        &message[at..at + COMMIT_KEY_LEN],
        header.commit_key(),
        "the commit key is where the header layout puts it"
    );
    at
}

/// The ESDK's key derivation for suite 0x0478 (HKDF-SHA512, salt = message id): the data
/// encryption key (info = suite id ‖ "DERIVEKEY") and the commit key (info = "COMMITKEY").
fn derive(data_key: &[u8; 32], message_id: &[u8]) -> ([u8; 32], [u8; 32]) {
    let hk = hkdf::Hkdf::<sha2::Sha512>::new(Some(message_id), data_key);
    let (mut ek, mut ck) = ([0u8; 32], [0u8; 32]);
    hk.expand(&[&[0x04, 0x78][..], b"DERIVEKEY"].concat(), &mut ek)
        .unwrap();
    hk.expand(b"COMMITKEY", &mut ck).unwrap();
    (ek, ck)
}

/// `message` with its header tag recomputed (AES-256-GCM, zero IV, AAD = header body, empty
/// plaintext) under the encryption key of `data_key`.
fn retag_header(message: &mut [u8], data_key: &[u8; 32]) {
    use aes_gcm::aead::{AeadInPlace, KeyInit};
    let header = parse_header(message, &OpenLimits::default()).unwrap();
    let (ek, _) = derive(data_key, header.message_id());
    let body_len = header.header_body_bytes().len();
    let tag = aes_gcm::Aes256Gcm::new(&ek.into())
        .encrypt_in_place_detached(&[0u8; 12].into(), &message[..body_len], &mut [])
        .unwrap();
    message[body_len..body_len + 16].copy_from_slice(&tag);
}

/// The outcome of one open path: `Ok` with the plaintext, or the error.
type Outcome = (&'static str, Result<Vec<u8>, Error>);

/// Opens `message` on every open path of the current API: the engine's `open`, `open_into`,
/// `open_range` and `open_stream`, and `message::open` with the data key.
fn open_every_way(
    engine: &Engine,
    credential: &Credential,
    data_key: &DataKey,
    message: &[u8],
) -> Vec<Outcome> {
    let mut into = Vec::new();
    let request = OpenRequest::new(message.to_vec(), IdentityCheck::Skip);
    let stream = engine
        .open_stream(credential, message, &OpenOptions::new(IdentityCheck::Skip))
        .and_then(|mut s| {
            let mut out = Vec::new();
            s.read_to_end(&mut out).map_err(|e| {
                e.into_inner()
                    .and_then(|b| b.downcast::<Error>().ok())
                    .map_or_else(|| Error::Internal("stream I/O error"), |b| *b)
            })?;
            Ok(out)
        });
    let direct = parse_header(message, &OpenLimits::default())
        .and_then(|h| h.open(data_key, &OpenParams::new(&IdentityCheck::Skip)));
    vec![
        (
            "Engine::open",
            engine
                .open(credential, &request)
                .map(|o| o.plaintext.to_vec()),
        ),
        (
            "Engine::open_into",
            engine
                .open_into(credential, &request, &mut into)
                .map(|_| into),
        ),
        (
            "Engine::open_range",
            engine
                .open_range(credential, &request, 0..10)
                .map(|o| o.plaintext.to_vec()),
        ),
        ("Engine::open_stream", stream),
        ("message::open", direct),
    ]
}

#[test]
fn every_commit_key_byte_is_checked_on_every_open_path() {
    let kms = Arc::new(LocalKms::new("us-east-1", "111122223333"));
    let root = Credential::new(
        "111122223333",
        "arn:aws:iam::111122223333:root",
        "AKIAIOSFODNN7EXAMPLE",
    )
    .unwrap();
    let key = kms.create_key(&root, None, "commit key test").unwrap();
    let keyring =
        KmsKeyring::strict(Arc::clone(&kms) as Arc<dyn Kms>, &root, &[key.arn.as_str()]).unwrap();
    let engine = Engine::new(
        Arc::new(keyring),
        EngineConfig::default().with_frame_length(64),
    )
    .unwrap();
    // One message every path can open: a KMS data key (so the engine opens it) that this test
    // also holds (so message::open can be called with it), in an ordinary aws-kms EDK.
    let g = kms
        .generate_data_key(&root, &key.arn, DataKeySpec::Aes256, &ec())
        .unwrap();
    let raw_key: [u8; 32] = g.plaintext.expose_secret().try_into().unwrap();
    let data_key = DataKey::try_from(g.plaintext).unwrap();
    let ctx = ec();
    let edks = [EncryptedDataKey {
        provider_id: "aws-kms".into(),
        provider_info: g.key_id.into_bytes(),
        ciphertext: g.ciphertext_blob,
    }];
    let mut params = SealParams::new(&ctx, &edks);
    params.frame_length = 64;
    let plaintext: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
    let sealed = message::seal(&data_key, &params, &plaintext).unwrap();

    // The genuine message opens on every path (so the refusals below are the flips' doing).
    for (path, r) in open_every_way(&engine, &root, &data_key, &sealed) {
        let got = r.unwrap_or_else(|e| panic!("{path}: the genuine message fails: {e}"));
        let want = if path == "Engine::open_range" {
            &plaintext[..10]
        } else {
            &plaintext[..]
        };
        assert_eq!(got, want, "{path}");
    }
    // The test's own derivation agrees with the message (so the re-tagged flips below differ
    // from the genuine message in the commit key only).
    let header = parse_header(&sealed, &OpenLimits::default()).unwrap();
    assert_eq!(
        &derive(&raw_key, header.message_id()).1,
        header.commit_key()
    );
    let mut retagged = sealed.clone();
    retag_header(&mut retagged, &raw_key);
    assert_eq!(
        retagged, sealed,
        "the test recomputes the genuine header tag"
    );

    let at = commit_key_offset(&sealed);
    for i in 0..COMMIT_KEY_LEN {
        for bit in [0x01u8, 0x80] {
            let mut flipped = sealed.clone();
            flipped[at + i] ^= bit;
            let mut retagged = flipped.clone();
            retag_header(&mut retagged, &raw_key);
            for (how, m) in [("flipped", &flipped), ("flipped and re-tagged", &retagged)] {
                for (path, r) in open_every_way(&engine, &root, &data_key, m) {
                    assert!(
                        matches!(r, Err(Error::Authentication(_))),
                        "{path}: commit key byte {i} {how} ({bit:#04x}) must be an \
                         authentication error, got {r:?}"
                    );
                }
            }
        }
    }
}
