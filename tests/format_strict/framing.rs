//! Frames: the baseline, empty and non-framed bodies, truncation, trailing bytes, sequence
//! numbers, IVs, the final frame.

use super::*;

#[test]
fn builder_baseline_is_valid() {
    for len in [0usize, 1, 15, 16, 17, 40] {
        let p: Vec<u8> = (0..len as u8).collect();
        assert_eq!(try_open(&valid(&p)).unwrap(), p);
    }
}

#[test]
fn exact_multiple_with_empty_final_frame_is_accepted() {
    let p = [7u8; 32];
    let mut b = builder();
    b.framed_body(&p, FL as usize, true);
    let m = b.finish();
    assert_eq!(try_open(&m).unwrap(), p);
}

#[test]
fn non_framed_body_is_accepted() {
    let mut b = builder_with(
        &EncryptionContext::new(),
        &[edk()],
        ContentType::NonFramed,
        0,
        None,
    );
    b.frame(&FrameSpec::new(BodyKind::SingleBlock, 1, b"single block"));
    assert_eq!(try_open(&b.finish()).unwrap(), b"single block");
}

#[test]
fn every_truncation_is_rejected() {
    let m = valid(&[1u8; 40]);
    for cut in 0..m.len() {
        let r = try_open(&m[..cut]);
        assert!(
            matches!(&r, Err(Error::Format(e)) if matches!(e.kind, FormatErrorKind::Truncated { .. })),
            "cut at {cut}: {r:?}"
        );
    }
}

#[test]
fn trailing_bytes_are_rejected() {
    let mut m = valid(b"abc");
    m.push(0);
    assert_eq!(
        format_kind(try_open(&m)),
        (Field::Frame, FormatErrorKind::TrailingBytes { count: 1 })
    );
    // A second final frame is trailing bytes too.
    let mut b = builder();
    b.frame(&FrameSpec::new(BodyKind::Final, 1, b"x"));
    b.frame(&FrameSpec::new(BodyKind::Final, 2, b"y"));
    assert!(matches!(
        format_kind(try_open(&b.finish())).1,
        FormatErrorKind::TrailingBytes { .. }
    ));
}

#[test]
fn sequence_numbers_start_at_one_without_gaps() {
    let chunk = [5u8; FL as usize];
    // Starts at 2.
    let mut b = builder();
    b.frame(&FrameSpec::new(BodyKind::Regular, 2, &chunk));
    b.frame(&FrameSpec::new(BodyKind::Final, 3, b""));
    assert_eq!(
        format_kind(try_open(&b.finish())).1,
        FormatErrorKind::SequenceNumber {
            expected: 1,
            found: 2
        }
    );
    // Gap 1, 3.
    let mut b = builder();
    b.frame(&FrameSpec::new(BodyKind::Regular, 1, &chunk));
    b.frame(&FrameSpec::new(BodyKind::Final, 3, b"z"));
    assert_eq!(
        format_kind(try_open(&b.finish())).1,
        FormatErrorKind::SequenceNumber {
            expected: 2,
            found: 3
        }
    );
    // Reordered frames of a valid message.
    let m = valid(&[9u8; 40]);
    let h = parse_header(&m, &OpenLimits::default())
        .unwrap()
        .header_len();
    let frame = 4 + 12 + FL as usize + 16;
    let mut r = m.clone();
    r[h..h + frame].copy_from_slice(&m[h + frame..h + 2 * frame]);
    r[h + frame..h + 2 * frame].copy_from_slice(&m[h..h + frame]);
    assert_eq!(
        format_kind(try_open(&r)).1,
        FormatErrorKind::SequenceNumber {
            expected: 1,
            found: 2
        }
    );
}

#[test]
fn iv_must_equal_the_sequence_number() {
    let mut spec = FrameSpec::new(BodyKind::Final, 1, b"data");
    spec.iv = [9; 12];
    let mut b = builder();
    b.frame(&spec);
    assert_eq!(
        format_kind(try_open(&b.finish())),
        (Field::Frame, FormatErrorKind::InvalidIv)
    );
    assert_eq!(frame_iv(1)[11], 1);
}

#[test]
fn final_frame_longer_than_frame_length_is_rejected() {
    let mut b = builder();
    b.frame(&FrameSpec::new(BodyKind::Final, 1, &[1u8; FL as usize + 1]));
    assert_eq!(
        format_kind(try_open(&b.finish())).1,
        FormatErrorKind::FinalFrameTooLong {
            length: FL + 1,
            frame_length: FL
        }
    );
}

#[test]
fn missing_final_frame_is_rejected() {
    let mut b = builder();
    b.frame(&FrameSpec::new(BodyKind::Regular, 1, &[1u8; FL as usize]));
    let m = b.finish();
    assert!(matches!(
        format_kind(try_open(&m)).1,
        FormatErrorKind::Truncated { .. }
    ));
}
