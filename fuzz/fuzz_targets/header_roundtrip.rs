//! parse → write gives back the same bytes: every header the parser accepts is canonical,
//! so writing the parsed fields reproduces the header body exactly (and the encryption
//! context and encrypted data keys on their own as well).
#![no_main]

use fragseal::format::{EncryptedDataKey, EncryptionContext, MessageHeader};
use fragseal::internal::format::header::HeaderBody;
use fragseal::internal::format::Reader;
use fragseal::message::OpenLimits;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = OpenLimits::default();
    if let Ok(header) = MessageHeader::parse(data, &limits) {
        let mut out = Vec::new();
        header
            .body()
            .write(&mut out)
            .expect("a parsed header body is writable");
        assert_eq!(
            out.as_slice(),
            header.header_body_bytes(),
            "header body round trip"
        );
        assert_eq!(header.body().serialized_len(), Ok(out.len()));
        // Rebuilding from the parts gives the same header, byte for byte.
        let rebuilt = MessageHeader::from_parts(header.body().clone(), *header.auth_tag())
            .expect("a parsed header body is writable");
        assert_eq!(rebuilt.raw_bytes(), header.raw_bytes());
        assert_eq!(rebuilt, header);
        // And parsing the written bytes gives the same fields.
        let mut r = Reader::new(&out);
        let again = HeaderBody::read(&mut r, &limits).expect("written header body parses");
        assert!(r.is_empty());
        assert_eq!(&again, header.body());
    }

    // The encryption context field on its own (as it appears in the header: u16 length,
    // then the pairs, or 00 00 when empty).
    let mut r = Reader::new(data);
    if let Ok(ec) = EncryptionContext::read_header_field(&mut r) {
        let consumed = r.consumed_bytes();
        let mut out = Vec::new();
        ec.write_header_field(&mut out)
            .expect("a parsed encryption context is writable");
        assert_eq!(out.as_slice(), consumed, "encryption context round trip");
    }

    // One encrypted data key on its own.
    let mut r = Reader::new(data);
    if let Ok(edk) = EncryptedDataKey::read(&mut r) {
        let consumed = r.consumed_bytes();
        let mut out = Vec::new();
        edk.write(&mut out).expect("a parsed EDK is writable");
        assert_eq!(out.as_slice(), consumed, "EDK round trip");
        assert_eq!(edk.serialized_len(), Some(out.len()));
    }
});
