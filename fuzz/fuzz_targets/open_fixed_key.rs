//! `open` with a fixed data key, seeded with valid messages under that key (see
//! `examples/gen_seeds.rs`) so that mutations get past header authentication and reach the
//! body. Checks the three open paths against each other:
//! - `open` succeeds exactly when the streaming reader reads to the end, with the same bytes;
//! - when `open` succeeds, `open_range` gives the matching slices;
//! - when the streaming reader fails, it has released only whole, verified frames;
//! - opening with the expected identity never succeeds where opening without it fails.
#![no_main]

use fragseal::crypto::AeadBackend;
use fragseal::crypto::DataKey;
use fragseal::format::ContentType;
use fragseal::identity::{FragmentIdentity, IdentityCheck};
use fragseal::message::{self, OpenLimits, OpenParams, SealedStream};
use libfuzzer_sys::fuzz_target;
use std::io::Read;

const FIXED_KEY: [u8; 32] = [0x42; 32];

fn identity() -> FragmentIdentity {
    FragmentIdentity {
        stream_arn: "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam/1".into(),
        fragment_number: 7,
        producer_timestamp_ms: 1_700_000_000_000,
        track: 1,
    }
}

/// Reads the stream in small pieces; returns the bytes obtained and whether it ended cleanly.
fn read_stream(data: &[u8], key: &DataKey, id: Option<&FragmentIdentity>) -> (Vec<u8>, bool) {
    let limits = OpenLimits::default();
    let Ok(sealed) = SealedStream::new(std::io::Cursor::new(data), &limits) else {
        return (Vec::new(), false);
    };
    let check = id.map_or(IdentityCheck::Skip, |i| IdentityCheck::Expect(i.clone()));
    let Ok(mut plain) = sealed.open(key, &OpenParams::new(&check).with_backend(AeadBackend::Ring))
    else {
        return (Vec::new(), false);
    };
    let mut out = Vec::new();
    let mut buf = [0u8; 13];
    loop {
        match plain.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => {
                // After an error the stream keeps failing.
                assert!(plain.read(&mut buf).is_err());
                return (out, false);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let key = DataKey::from_bytes(FIXED_KEY);
    let limits = OpenLimits::default();
    let Ok(header) = message::parse(data, &limits) else {
        return;
    };
    let backend = AeadBackend::Ring;
    let skip = IdentityCheck::Skip;
    let opened = header.open(&key, &OpenParams::new(&skip).with_backend(backend));
    let (streamed, stream_ok) = read_stream(data, &key, None);
    match &opened {
        Ok(plaintext) => {
            assert!(stream_ok, "open succeeded but the streaming reader failed");
            assert_eq!(&streamed, plaintext);
            // The other backend agrees.
            let rc = header
                .open(&key, &OpenParams::new(&skip).with_backend(AeadBackend::RustCrypto))
                .expect("the RustCrypto backend opens what ring opens");
            assert_eq!(&rc, plaintext);
            let len = plaintext.len() as u64;
            let a = u64::from(data.first().copied().unwrap_or(0)) % (len + 1);
            let b = a + u64::from(data.last().copied().unwrap_or(0)) % (len - a + 1);
            for range in [0..len, a..b, a..len, 0..a] {
                let part = header
                    .open_range(&key, &OpenParams::new(&skip).with_backend(backend), range.clone())
                    .expect("open_range succeeds where open does");
                assert_eq!(
                    part.as_slice(),
                    &plaintext[range.start as usize..range.end as usize]
                );
            }
        }
        Err(_) => {
            assert!(
                !stream_ok,
                "the streaming reader accepted what open rejected"
            );
            if header.content_type() == ContentType::Framed {
                // Only whole regular frames are released before a failure.
                assert_eq!(streamed.len() % header.frame_length() as usize, 0);
            } else {
                assert!(streamed.is_empty());
            }
        }
    }
    let id = identity();
    let expect = IdentityCheck::Expect(id.clone());
    if let Ok(p) = header.open(&key, &OpenParams::new(&expect).with_backend(backend)) {
        assert_eq!(opened.as_ref().ok(), Some(&p));
        let (s, ok) = read_stream(data, &key, Some(&id));
        assert!(ok);
        assert_eq!(s, p);
    }
});
