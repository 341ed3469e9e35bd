//! The message parser on arbitrary bytes: header parse (default and tight limits), the body's
//! frame structure walked without decrypting, then `open`, `open_range` and the streaming
//! reader with a garbage data key — all of which must fail cleanly (never panic, never
//! return plaintext).
#![no_main]

use fragseal::crypto::AeadBackend;
use fragseal::crypto::DataKey;
use fragseal::internal::format::body::{read_non_framed, BodyKind};
use fragseal::internal::format::read_frame;
use fragseal::format::ContentType;
use fragseal::internal::format::Reader;
use fragseal::identity::IdentityCheck;
use fragseal::message::{self, OpenLimits, OpenParams, SealedStream};
use libfuzzer_sys::fuzz_target;
use std::io::Read;

fuzz_target!(|data: &[u8]| {
    let tight = OpenLimits::default()
        .with_max_encrypted_data_keys(2)
        .with_max_frame_length(4096);
    // Tight limits accept a subset of what the defaults accept.
    if let Ok(h) = message::parse(data, &tight) {
        assert!(message::parse(data, &OpenLimits::default()).is_ok());
        drop(h);
    }
    let limits = OpenLimits::default();
    let Ok(header) = message::parse(data, &limits) else {
        // The streaming reader must reject what the slice parser rejects.
        assert!(SealedStream::new(std::io::Cursor::new(data), &limits).is_err());
        return;
    };
    // The header's bytes are a prefix of the input, kept exactly as received.
    assert!(header.header_len() <= data.len());
    assert_eq!(header.raw_bytes(), &data[..header.header_len()]);
    assert_eq!(header.header_body_bytes().len() + 16, header.header_len());

    // Walk the body's structure without decrypting.
    let body = &data[header.header_len()..];
    let mut r = Reader::at(body, header.header_len());
    match header.content_type() {
        ContentType::NonFramed => {
            let _ = read_non_framed(&mut r);
        }
        ContentType::Framed => {
            let mut seq = 1u32;
            while let Ok(frame) = read_frame(&mut r, header.frame_length(), seq) {
                assert_eq!(frame.seq, seq);
                assert!(frame.content_len() <= u64::from(header.frame_length()));
                if frame.kind == BodyKind::Final {
                    break;
                }
                match seq.checked_add(1) {
                    Some(s) => seq = s,
                    None => break,
                }
            }
        }
    }

    // A garbage key never opens anything.
    let key = DataKey::from_bytes([0xA5; 32]);
    let backend = AeadBackend::Ring;
    let skip = IdentityCheck::Skip;
    let params = OpenParams::new(&skip).with_backend(backend);
    assert!(header.open(&key, &params).is_err());
    assert!(header.open_range(&key, &params, 0..1).is_err());
    match SealedStream::new(std::io::Cursor::new(data), &limits) {
        Ok(s) => {
            assert_eq!(s.header(), header.header());
            if let Ok(mut plain) = s.open(&key, &params) {
                let mut out = Vec::new();
                assert!(plain.read_to_end(&mut out).is_err());
                assert!(out.is_empty());
            }
        }
        Err(_) => panic!("the streaming reader rejected a header the slice parser accepted"),
    }
});
