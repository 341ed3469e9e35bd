//! Every bit flip, truncation, trailing byte and frame swap is rejected on every open path.

use super::*;

/// Reads a streaming open of `m` to the end or the first error, in small reads; returns the
/// bytes released and whether the stream ended without error.
fn stream_open(fx: &Fixture, m: &[u8]) -> (Vec<u8>, bool) {
    let Ok(sealed) = SealedStream::new(m, &OpenLimits::default()) else {
        return (Vec::new(), false);
    };
    let expect = IdentityCheck::Expect(fx.identity.clone());
    let Ok(mut plain) = sealed.open(&fx.key, &stream_params(&expect)) else {
        return (Vec::new(), false);
    };
    let mut out = Vec::new();
    let mut buf = [0u8; 11];
    loop {
        match plain.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => {
                assert!(
                    plain.read(&mut buf).is_err(),
                    "a failed stream stays failed"
                );
                return (out, false);
            }
        }
    }
}

/// Checks every open path on a damaged message whose first damaged byte is at `pos` (the
/// position of a flipped bit, or the first missing byte of a truncation).
fn assert_rejected_everywhere(fx: &Fixture, m: &[u8], pos: usize, what: &str) -> Outcome {
    let damaged = fx.frame_of(pos);
    // Streaming: exactly the frames before the damaged one, and not a byte more.
    let (released, ok) = stream_open(fx, m);
    assert!(!ok, "{what}: streaming reader accepted");
    let expect = fx.released_before(damaged);
    assert_eq!(
        released.len(),
        expect,
        "{what}: streaming reader released {} bytes, expected the {} bytes before frame {:?}",
        released.len(),
        expect,
        damaged
    );
    assert_eq!(released, fx.plaintext[..expect], "{what}: released bytes");

    let header = match parse_header(m, &OpenLimits::default()) {
        Ok(h) => h,
        Err(OpenError::Format(_)) => return Outcome::ParseRejected,
        Err(e) => panic!("{what}: unexpected parse error {e:?}"),
    };
    for backend in [AeadBackend::Ring, AeadBackend::RustCrypto] {
        assert!(
            open(&fx.key, &header, m, Some(&fx.identity), backend).is_err(),
            "{what}: open ({backend:?}) accepted"
        );
    }
    assert!(
        open(&fx.key, &header, m, None, AeadBackend::Ring).is_err(),
        "{what}: open without identity accepted"
    );
    check_ranges(fx, &header, m, damaged, what);
    Outcome::OpenRejected
}

/// `open_range` over the whole plaintext and over any range touching the damaged frame fails;
/// over other ranges it may succeed (random access decrypts only the frames it needs, plus the
/// final one), but then only with the original bytes.
fn check_ranges(
    fx: &Fixture,
    header: &MessageHeader<'_>,
    m: &[u8],
    damaged: Option<usize>,
    what: &str,
) {
    let len = PLAINTEXT_LEN as u64;
    let mut ranges = vec![0..len, 0..1, len - 1..len, 5..5];
    ranges.extend((0..4).map(|i| fx.plain_range(i)));
    for range in ranges {
        let r = open_range(
            &fx.key,
            header,
            m,
            range.clone(),
            Some(&fx.identity),
            AeadBackend::Ring,
        );
        let touches = match damaged {
            None => true,
            // The final frame is always verified (it authenticates the length).
            Some(3) => true,
            Some(i) => {
                let f = fx.plain_range(i);
                range == (0..len) || (f.start < range.end && range.start < f.end)
            }
        };
        match r {
            Err(_) => {}
            Ok(bytes) => {
                assert!(!touches, "{what}: open_range {range:?} accepted");
                assert_eq!(
                    bytes,
                    fx.plaintext[range.start as usize..range.end as usize],
                    "{what}: open_range {range:?} released other bytes"
                );
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    ParseRejected,
    OpenRejected,
}

#[test]
fn the_fixture_opens_on_every_path() {
    let fx = fixture();
    let h = parse_header(&fx.message, &OpenLimits::default()).unwrap();
    let m = &fx.message;
    assert_eq!(
        open(&fx.key, &h, m, Some(&fx.identity), AeadBackend::Ring).unwrap(),
        fx.plaintext
    );
    assert_eq!(stream_open(&fx, m), (fx.plaintext.clone(), true));
    for i in 0..4 {
        let r = fx.plain_range(i);
        assert_eq!(
            open_range(
                &fx.key,
                &h,
                m,
                r.clone(),
                Some(&fx.identity),
                AeadBackend::Ring
            )
            .unwrap(),
            fx.plaintext[r.start as usize..r.end as usize]
        );
    }
}

#[test]
fn every_single_bit_flip_is_rejected() {
    let fx = fixture();
    let mut m = fx.message.clone();
    let (mut parse, mut auth) = (0, 0);
    for pos in 0..m.len() {
        for bit in 0..8 {
            m[pos] ^= 1 << bit;
            let what = format!("bit {bit} of byte {pos} (frame {:?})", fx.frame_of(pos));
            match assert_rejected_everywhere(&fx, &m, pos, &what) {
                Outcome::ParseRejected => parse += 1,
                Outcome::OpenRejected => auth += 1,
            }
            m[pos] ^= 1 << bit;
        }
    }
    assert_eq!(m, fx.message);
    assert_eq!(parse + auth, fx.message.len() * 8);
    // Both layers were exercised: structure checks and authentication.
    assert!(parse > 0 && auth > parse, "parse {parse}, auth {auth}");
}

#[test]
fn every_truncation_is_rejected() {
    let fx = fixture();
    for cut in 0..fx.message.len() {
        let m = &fx.message[..cut];
        assert_rejected_everywhere(&fx, m, cut, &format!("truncated to {cut} bytes"));
    }
}

#[test]
fn trailing_bytes_are_rejected_and_release_no_final_frame() {
    let fx = fixture();
    for extra in [&[0u8][..], &[0xFF; 16], &fx.message[fx.header_len..]] {
        let mut m = fx.message.clone();
        m.extend_from_slice(extra);
        // The damage is past the final frame: the regular frames were fine and may be
        // released, the final frame's plaintext must not be.
        let (released, ok) = stream_open(&fx, &m);
        assert!(!ok);
        assert_eq!(released, fx.plaintext[..3 * FRAME]);
        let h = parse_header(&m, &OpenLimits::default()).unwrap();
        assert!(open(&fx.key, &h, &m, Some(&fx.identity), AeadBackend::Ring).is_err());
        let len = PLAINTEXT_LEN as u64;
        for range in [0..len, 0..1] {
            assert!(open_range(&fx.key, &h, &m, range, None, AeadBackend::Ring).is_err());
        }
    }
}

#[test]
fn swapped_and_duplicated_frames_are_rejected() {
    let fx = fixture();
    let body = |i: usize| &fx.message[fx.frames[i].clone()];
    let header = &fx.message[..fx.header_len];
    let cases: Vec<(Vec<&[u8]>, usize)> = vec![
        // (frames in order, index of the first frame that must fail)
        (vec![body(1), body(0), body(2), body(3)], 0),
        (vec![body(0), body(2), body(1), body(3)], 1),
        (vec![body(0), body(1), body(1), body(2), body(3)], 2),
        (vec![body(0), body(1), body(3)], 2),
        (vec![body(0), body(1), body(2)], 3),
    ];
    for (frames, first_bad) in cases {
        let mut m = header.to_vec();
        for f in &frames {
            m.extend_from_slice(f);
        }
        let (released, ok) = stream_open(&fx, &m);
        assert!(!ok);
        assert_eq!(released, fx.plaintext[..first_bad * FRAME]);
        let h = parse_header(&m, &OpenLimits::default()).unwrap();
        assert!(open(&fx.key, &h, &m, Some(&fx.identity), AeadBackend::Ring).is_err());
    }
}
