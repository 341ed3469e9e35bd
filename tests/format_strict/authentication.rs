//! What is authenticated: the commit key, the header bytes as received, frame tags, streaming
//! release, range opens.

use super::*;

fn open_range(
    dk: &fragseal::crypto::DataKey,
    h: &ParsedMessage<'_>,
    m: &[u8],
    range: std::ops::Range<u64>,
    id: Option<()>,
    backend: AeadBackend,
) -> Result<Vec<u8>, Error> {
    assert_eq!(h.bytes(), m, "parsed from this message");
    h.open_range(dk, &skip(id, backend), range)
}

fn is_auth(r: Result<Vec<u8>, Error>) -> bool {
    matches!(r, Err(Error::Authentication(_)))
}

#[test]
fn commit_key_mismatch_is_an_authentication_error() {
    let mut wrong = builder().commit_key();
    wrong[0] ^= 1;
    let mut b = builder_with(
        &EncryptionContext::new(),
        &[edk()],
        ContentType::Framed,
        FL,
        Some(wrong),
    );
    b.framed_body(b"abc", FL as usize, false);
    // The header tag is valid for these bytes; only the commit key is wrong.
    assert!(is_auth(try_open(&b.finish())));
}

#[test]
fn header_bytes_are_authenticated_as_received() {
    let m = valid(b"abc");
    let h = parse_header(&m, &OpenLimits::default()).unwrap();
    // Flip a bit in a field no parser rule checks: the EDK ciphertext, then the tag.
    let edk_ct = h.header_body_bytes().len() - 32 - 4 - 1 - 1;
    for at in [edk_ct, h.header_len() - 1] {
        let mut t = m.clone();
        t[at] ^= 0x01;
        assert!(is_auth(try_open(&t)), "byte {at}");
    }
}

#[test]
fn frame_tag_or_content_change_is_an_authentication_error() {
    let m = valid(&[3u8; 40]);
    for at in [m.len() - 1, m.len() - 20] {
        let mut t = m.clone();
        t[at] ^= 0x80;
        assert!(is_auth(try_open(&t)));
    }
    // Wrong data key.
    let h = parse_header(&m, &OpenLimits::default()).unwrap();
    assert!(is_auth(open(
        &DataKey::from_bytes([1; 32]),
        &h,
        &m,
        None,
        AeadBackend::Ring
    )));
}

#[test]
fn streaming_releases_a_frame_only_after_its_tag_verifies() {
    let p: Vec<u8> = (0..40u8).collect();
    let m = valid(&p);
    let h = parse_header(&m, &OpenLimits::default())
        .unwrap()
        .header_len();
    let frame = 4 + 12 + FL as usize + 16;
    // Corrupt the second frame's tag: the first frame comes out, then an error, never the
    // second frame's bytes.
    let mut t = m.clone();
    t[h + 2 * frame - 1] ^= 1;
    let s = SealedStream::new(&t[..], &OpenLimits::default()).unwrap();
    let mut r = s.open(&dk(), &skip(None, AeadBackend::Ring)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 7];
    let err = loop {
        match r.read(&mut buf) {
            Ok(0) => panic!("stream ended without error"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break e,
        }
    };
    assert_eq!(got, &p[..FL as usize]);
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<Error>());
    assert!(matches!(inner, Some(Error::Authentication(_))), "{err:?}");
    // Further reads keep failing.
    assert!(r.read(&mut buf).is_err());
    // Trailing bytes after the final frame: the final frame's plaintext is not released.
    let mut t = valid(b"tail");
    t.push(0);
    let s = SealedStream::new(&t[..], &OpenLimits::default()).unwrap();
    let mut r = s.open(&dk(), &skip(None, AeadBackend::Ring)).unwrap();
    let mut v = Vec::new();
    assert!(r.read_to_end(&mut v).is_err());
    assert!(v.is_empty());
}

#[test]
fn range_open_detects_a_forged_end_even_for_an_early_range() {
    let p: Vec<u8> = (0..60u8).collect();
    let m = valid(&p);
    let h = parse_header(&m, &OpenLimits::default()).unwrap();
    let hl = h.header_len();
    let frame = 4 + 12 + FL as usize + 16;
    // Authentic first frame, then a forged final frame (sequence 2, right IV, bogus tag).
    let mut t = m[..hl + frame].to_vec();
    t.extend_from_slice(&[0xFF; 4]);
    t.extend_from_slice(&2u32.to_be_bytes());
    t.extend_from_slice(&frame_iv(2));
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(&[0u8; 16]);
    let h2 = parse_header(&t, &OpenLimits::default()).unwrap();
    assert!(is_auth(open_range(
        &dk(),
        &h2,
        &t,
        0..4,
        None,
        AeadBackend::Ring
    )));
    // The intact message: the early range opens.
    assert_eq!(
        open_range(&dk(), &h, &m, 0..4, None, AeadBackend::Ring).unwrap(),
        &p[..4]
    );
    assert_eq!(
        open_range(&dk(), &h, &m, 10..60, None, AeadBackend::Ring).unwrap(),
        &p[10..]
    );
    assert!(open_range(&dk(), &h, &m, 10..61, None, AeadBackend::Ring).is_err());
}
