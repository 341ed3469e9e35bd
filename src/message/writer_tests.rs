//! The frame writer against [`seal_impl`](super::super::seal_impl): the same bytes for every
//! length around the frame boundaries and every way of cutting the writes.

use super::super::{parse, seal_impl, OpenLimits, OpenParams, SealParams, FOOTER_LEN};
use super::*;
use crate::format::{EncryptedDataKey, EncryptionContext};
use crate::identity::IdentityCheck;

const FL: usize = 64;
const ID: [u8; MESSAGE_ID_LEN] = [0x5A; MESSAGE_ID_LEN];

/// How the plaintext reaches the writer.
#[derive(Clone, Copy, Debug)]
enum Cut {
    Chunks(usize),
    AllAtOnce,
    /// `fill_from` a reader of short reads (1..13 bytes) that is interrupted once.
    Reader,
}

/// A reader that returns 1 to 13 bytes a call and `Interrupted` on its third call.
struct Jittery<'a> {
    data: &'a [u8],
    calls: usize,
}

impl Read for Jittery<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls == 3 {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "once"));
        }
        let n = (1 + self.calls * 5 % 13)
            .min(buf.len())
            .min(self.data.len());
        let (now, rest) = self.data.split_at(n);
        buf.get_mut(..n).unwrap().copy_from_slice(now);
        self.data = rest;
        Ok(n)
    }
}

fn fixture() -> (DataKey, EncryptionContext, Vec<EncryptedDataKey>) {
    let ec = EncryptionContext::new().with("aws:kinesisvideo:arn", "arn:aws:kinesisvideo:x");
    let edks = vec![EncryptedDataKey {
        provider_id: "aws-kms".into(),
        provider_info: b"arn:aws:kms:us-east-1:111122223333:key/k".to_vec(),
        ciphertext: b"blob".to_vec(),
    }];
    (DataKey::generate(), ec, edks)
}

fn plaintext(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}

/// The writer's message for `pt`, after `prefix` bytes already in the output.
fn written(
    key: &DataKey,
    signer: Option<&SigningKey>,
    params: &SealParams<'_>,
    pt: &[u8],
    cut: Cut,
    prefix: &[u8],
) -> Vec<u8> {
    let mut out = prefix.to_vec();
    let mut w = FrameWriter::start(key, signer, params, &ID, &mut out).unwrap();
    match cut {
        Cut::Chunks(n) => {
            for chunk in pt.chunks(n) {
                w.write(&mut out, chunk).unwrap();
            }
        }
        Cut::AllAtOnce => w.write(&mut out, pt).unwrap(),
        Cut::Reader => {
            let mut r = Jittery { data: pt, calls: 0 };
            // Two calls, so that a fill can start in the middle of a frame.
            let half = (pt.len() / 2) as u64;
            w.fill_from(&mut out, &mut r, half).unwrap();
            w.fill_from(&mut out, &mut r, pt.len() as u64 - half)
                .unwrap();
        }
    }
    assert_eq!(w.len(), pt.len() as u64);
    w.finish(&mut out, signer).unwrap();
    assert_eq!(out.get(..prefix.len()).unwrap(), prefix);
    out.split_off(prefix.len())
}

#[test]
fn writer_bytes_equal_seal_impl_for_both_suites() {
    let (key, ec, edks) = fixture();
    let mut params = SealParams::new(&ec, &edks);
    params.frame_length = FL as u32;
    let signer = SigningKey::generate(params.backend.into()).unwrap();
    let cuts = [
        Cut::Chunks(1),
        Cut::Chunks(7),
        Cut::Chunks(FL),
        Cut::AllAtOnce,
        Cut::Reader,
    ];
    for len in [0, 1, FL - 1, FL, FL + 1, 2 * FL, 3 * FL + 5] {
        let pt = plaintext(len);
        for signer in [None, Some(&signer)] {
            let mut expected = Vec::new();
            seal_impl(&key, signer, &params, &ID, &pt, &mut expected).unwrap();
            for cut in cuts {
                for prefix in [&b""[..], b"kept"] {
                    let got = written(&key, signer, &params, &pt, cut, prefix);
                    let what = format!("len {len}, {cut:?}, signed {}", signer.is_some());
                    assert_eq!(got.len(), expected.len(), "{what}");
                    // The signature is randomized: all but the footer is the same.
                    let footer = if signer.is_some() { FOOTER_LEN } else { 0 };
                    let body = got.len() - footer;
                    assert_eq!(got.get(..body), expected.get(..body), "{what}");
                    let parsed = parse(&got, &OpenLimits::default()).unwrap();
                    let opened = parsed.open(&key, &OpenParams::new(&IdentityCheck::Skip));
                    assert_eq!(opened.unwrap(), pt, "{what}");
                    if signer.is_some() {
                        // The footer is checked: a flipped signature byte does not open.
                        let mut bad = got.clone();
                        *bad.last_mut().unwrap() ^= 1;
                        let parsed = parse(&bad, &OpenLimits::default());
                        let skip = IdentityCheck::Skip;
                        assert!(parsed
                            .and_then(|p| p.open(&key, &OpenParams::new(&skip)))
                            .is_err());
                    }
                }
            }
        }
    }
}

#[test]
fn reader_errors_and_early_eof_close_the_writer() {
    let (key, ec, edks) = fixture();
    let mut params = SealParams::new(&ec, &edks);
    params.frame_length = FL as u32;
    let pt = plaintext(100);
    let mut out = Vec::new();
    let mut w = FrameWriter::start(&key, None, &params, &ID, &mut out).unwrap();
    let e = w.fill_from(&mut out, &mut &pt[..], 101).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    assert!(matches!(
        w.write(&mut out, b"x"),
        Err(SealError::WriterClosed)
    ));
    // One full frame was sealed (the second was written into); the rest is wiped and dropped.
    let sealed_up_to = w.frame_at;
    w.wipe(&mut out);
    assert_eq!(out.len(), sealed_up_to);
    assert!(matches!(
        w.finish(&mut out, None),
        Err(SealError::WriterClosed)
    ));

    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("broken"))
        }
    }
    let mut out = Vec::new();
    let mut w = FrameWriter::start(&key, None, &params, &ID, &mut out).unwrap();
    let e = w.fill_from(&mut out, &mut Broken, 5).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::Other);
    assert!(matches!(
        w.finish(&mut out, None),
        Err(SealError::WriterClosed)
    ));
}

#[test]
fn limits_are_seal_impls_at_the_crossing_write() {
    let (key, ec, edks) = fixture();
    let mut params = SealParams::new(&ec, &edks);
    params.frame_length = 1;
    let mut out = Vec::new();
    let mut w = FrameWriter::start(&key, None, &params, &ID, &mut out).unwrap();
    // As if 2^32 - 1 bytes had been written: one more needs 2^32 - 1 regular frames.
    w.total = u64::from(u32::MAX);
    assert!(w.check(0).is_ok());
    match w.write(&mut out, b"x") {
        Err(SealError::TooManyFrames {
            plaintext_len,
            frame_length: 1,
        }) => assert_eq!(plaintext_len, u64::from(u32::MAX) + 1),
        other => panic!("{other:?}"),
    }
    let mut r = &b"y"[..];
    let e = w.fill_from(&mut out, &mut r, 1).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(r.len(), 1, "nothing read");
    let e = e.into_inner().unwrap().downcast::<SealError>().unwrap();
    assert!(matches!(*e, SealError::WriterClosed));
    // The same limit as seal_impl's check.
    assert!(matches!(
        super::super::check_params(&params, u32::MAX as usize + 1),
        Err(SealError::TooManyFrames { .. })
    ));
}

#[test]
fn the_signer_must_match_the_start() {
    let (key, ec, edks) = fixture();
    let params = SealParams::new(&ec, &edks);
    let signer = SigningKey::generate(params.backend.into()).unwrap();
    let mut out = Vec::new();
    let mut w = FrameWriter::start(&key, None, &params, &ID, &mut out).unwrap();
    assert!(matches!(
        w.finish(&mut out, Some(&signer)),
        Err(SealError::Internal(_))
    ));
}
