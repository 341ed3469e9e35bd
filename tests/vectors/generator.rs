//! The generator of every vector, and the test that the committed files are what it writes.

use super::*;

fn generate() -> Vec<Vector> {
    let ec = context();
    let mut v = Vec::new();
    let sizes: [(&'static str, usize, &'static str); 7] = [
        ("size_0", 0, "empty plaintext: one empty final frame"),
        ("size_1", 1, "one byte: one final frame"),
        (
            "size_frame_minus_1",
            63,
            "frame length - 1: one final frame",
        ),
        (
            "size_frame",
            64,
            "exactly one frame length: one full final frame",
        ),
        (
            "size_frame_plus_1",
            65,
            "frame length + 1: one regular frame and a 1-byte final frame",
        ),
        (
            "size_several_frames",
            200,
            "three regular frames and an 8-byte final frame",
        ),
        (
            "size_exact_multiple",
            256,
            "four frame lengths: three regular frames and a full final frame",
        ),
    ];
    for (i, (name, n, d)) in sizes.into_iter().enumerate() {
        v.push(Vector::ok(
            name,
            d,
            seal_fixed(n, 0x10 + i as u8, &ec, None),
            plaintext(n),
        ));
    }
    v.push(Vector::ok(
        "empty_encryption_context",
        "empty encryption context: header AAD field 00 00, keyring AAD zero bytes",
        seal_fixed(10, 0x20, &EncryptionContext::new(), None),
        plaintext(10),
    ));
    let id = identity(STREAM_A, 42);
    v.push(
        Vector::ok(
            "identity_bound",
            "message id = random16 || MAC16 binding the expected fragment identity",
            seal_fixed(100, 0x21, &ec, Some(&id)),
            plaintext(100),
        )
        .expecting(id.clone()),
    );
    v.push(Vector::ok(
        "identity_bound_opened_without_identity",
        "an identity-bound message opens as a standard ESDK message when no identity is expected",
        seal_fixed(100, 0x21, &ec, Some(&id)),
        plaintext(100),
    ));
    let mut b = builder(0x22, &ec, ContentType::Framed, FRAME);
    b.framed_body(&plaintext(128), FRAME as usize, true);
    v.push(Vector::ok(
        "exact_multiple_empty_final_frame",
        "128 bytes as two regular frames and an empty final frame (the spec's MAY)",
        b.finish(),
        plaintext(128),
    ));
    let mut b = builder(0x23, &ec, ContentType::NonFramed, 0);
    b.frame(&FrameSpec::new(BodyKind::SingleBlock, 1, &plaintext(77)));
    v.push(Vector::ok(
        "non_framed_body",
        "content type 0x01: accepted on open (never written by fragseal)",
        b.finish(),
        plaintext(77),
    ));
    {
        // A foreign EDK first, ours second.
        let foreign = EncryptedDataKey {
            provider_id: "aws-kms".into(),
            provider_info:
                b"arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
                    .to_vec(),
            ciphertext: vec![0xAB; 40],
        };
        let edks = [foreign, wrap(&ec, 0x24)];
        let params = SealParams {
            frame_length: FRAME,
            ..SealParams::new(&ec, &edks)
        };
        let m = danger_seal_with_fixed_message_id_for_vectors(
            &data_key(),
            &params,
            &[0x24; 16],
            &plaintext(30),
        )
        .unwrap();
        v.push(Vector::ok(
            "second_edk_matches",
            "two EDKs; only the second is this raw AES keyring's",
            m,
            plaintext(30),
        ));
    }

    // ---- negative ----
    let valid = seal_fixed(200, 0x30, &ec, None);
    let hl = message::parse(&valid, &OpenLimits::default())
        .unwrap()
        .header_len();
    let rf = 4 + 12 + FRAME as usize + 16;
    let fmt = "format";
    let auth = "authentication";

    v.push(Vector::err(
        "truncated_final_frame",
        "the final frame is cut off: the body ends after the regular frames",
        valid[..hl + 3 * rf].to_vec(),
        fmt,
        "Truncated",
    ));
    v.push(Vector::err(
        "truncated_mid_frame",
        "the message ends inside the second frame",
        valid[..hl + rf + 20].to_vec(),
        fmt,
        "Truncated",
    ));
    let mut m = valid.clone();
    m[hl..hl + rf].copy_from_slice(&valid[hl + rf..hl + 2 * rf]);
    m[hl + rf..hl + 2 * rf].copy_from_slice(&valid[hl..hl + rf]);
    v.push(Vector::err(
        "frames_reordered",
        "frames 1 and 2 swapped",
        m,
        fmt,
        "SequenceNumber",
    ));
    let mut b = builder(0x31, &ec, ContentType::Framed, FRAME);
    let p = plaintext(130);
    b.frame(&FrameSpec::new(BodyKind::Regular, 1, &p[..64]));
    b.frame(&FrameSpec::new(BodyKind::Regular, 3, &p[64..128]));
    b.frame(&FrameSpec::new(BodyKind::Final, 4, &p[128..]));
    v.push(Vector::err(
        "sequence_gap",
        "sequence numbers 1, 3, 4 (each frame validly encrypted for its number)",
        b.finish(),
        fmt,
        "SequenceNumber",
    ));
    let mut b = builder(0x32, &ec, ContentType::Framed, FRAME);
    b.frame(&FrameSpec::new(BodyKind::Final, 0, &p[..10]));
    v.push(Vector::err(
        "sequence_starts_at_zero",
        "a single final frame numbered 0 (validly encrypted)",
        b.finish(),
        fmt,
        "SequenceNumber",
    ));
    let mut b = builder(0x33, &ec, ContentType::Framed, FRAME);
    let mut spec = FrameSpec::new(BodyKind::Final, 1, &p[..10]);
    spec.iv = [0x5C; 12];
    b.frame(&spec);
    v.push(Vector::err(
        "frame_iv_not_sequence_number",
        "a frame encrypted under a random IV instead of its sequence number",
        b.finish(),
        fmt,
        "InvalidIv",
    ));
    let mut b = builder(0x34, &ec, ContentType::Framed, FRAME);
    b.frame(&FrameSpec::new(BodyKind::Final, 1, &plaintext(65)));
    v.push(Vector::err(
        "final_frame_longer_than_frame_length",
        "a 65-byte final frame with frame length 64",
        b.finish(),
        fmt,
        "FinalFrameTooLong",
    ));
    let mut m = valid.clone();
    m.push(0);
    v.push(Vector::err(
        "trailing_bytes",
        "one zero byte after the final frame",
        m,
        fmt,
        "TrailingBytes",
    ));
    let mut b = builder(0x35, &ec, ContentType::Framed, FRAME);
    b.frame(&FrameSpec::new(BodyKind::Final, 1, &p[..5]));
    b.frame(&FrameSpec::new(BodyKind::Final, 2, &p[5..9]));
    v.push(Vector::err(
        "two_final_frames",
        "a second (valid) final frame after the final frame",
        b.finish(),
        fmt,
        "TrailingBytes",
    ));
    let mut b = builder(0x36, &ec, ContentType::Framed, FRAME);
    b.frame(&FrameSpec::new(BodyKind::Regular, 1, &p[..64]));
    v.push(Vector::err(
        "missing_final_frame",
        "one regular frame and no final frame",
        b.finish(),
        fmt,
        "Truncated",
    ));
    let commit_at = split(&valid).0.len() - 32;
    v.push(Vector::err(
        "wrong_commit_key",
        "commit key with one bit flipped; header tag recomputed so only the commitment fails",
        reheader(&valid, |h| h[commit_at] ^= 1),
        auth,
        "",
    ));
    let mut m = valid.clone();
    m[hl - 1] ^= 1;
    v.push(Vector::err(
        "header_tag_flipped",
        "last bit of the header tag flipped",
        m,
        auth,
        "",
    ));
    let mut m = valid.clone();
    m[hl + 4 + 12 + 5] ^= 0x40;
    v.push(Vector::err(
        "frame_content_flipped",
        "a ciphertext bit of frame 1 flipped",
        m,
        auth,
        "",
    ));
    let mut m = valid.clone();
    let last = m.len() - 1;
    m[last] ^= 1;
    v.push(Vector::err(
        "frame_tag_flipped",
        "last bit of the final frame's tag flipped",
        m,
        auth,
        "",
    ));
    let mut b = builder(0x37, &ec, ContentType::Framed, FRAME);
    let mut spec = FrameSpec::new(BodyKind::Final, 1, &p[..10]);
    spec.kind = BodyKind::Final;
    b.frame(&spec);
    let mut m = b.finish();
    // Re-encrypt as a regular-frame AAD: build with aad content of a regular frame.
    {
        let mut b = builder(0x37, &ec, ContentType::Framed, FRAME);
        b.frame(&FrameSpec::new(BodyKind::Regular, 1, &p[..10]));
        let regular = b.finish();
        let hl37 = message::parse(&regular, &OpenLimits::default())
            .unwrap()
            .header_len();
        // Final-frame layout, but ciphertext and tag computed with the regular-frame AAD.
        let ct_tag = &regular[hl37 + 16..];
        let m_hl = hl37;
        m.truncate(m_hl + 4 + 4 + 12 + 4);
        m.extend_from_slice(ct_tag);
    }
    v.push(Vector::err(
        "final_frame_with_regular_frame_aad",
        "a final frame whose tag was computed with the body AAD of a regular frame",
        m,
        auth,
        "",
    ));
    let value_at = {
        let (hb, _, _) = split(&valid);
        let needle = b"fragseal test vector";
        hb.windows(needle.len()).position(|w| w == needle).unwrap()
    };
    let mut m = valid.clone();
    m[value_at] ^= 0x20;
    v.push(Vector::err(
        "context_value_tampered",
        "one letter of an encryption context value changed (header tag not recomputed)",
        m,
        auth,
        "",
    ));
    let ec_bad = EncryptionContext::new().with("aws-crypto-public-key", "AAAA");
    v.push(Vector::err(
        "aws_crypto_ec_key",
        "encryption context key with the reserved prefix aws-crypto- (otherwise valid message)",
        seal_fixed_unchecked(20, 0x38, &ec_bad),
        fmt,
        "ReservedEncryptionContextKey",
    ));
    v.push(Vector::err(
        "ec_unsorted",
        "encryption context pairs in descending key order (valid header tag)",
        reheader(&valid, swap_pairs),
        fmt,
        "NonCanonicalEncryptionContext",
    ));
    v.push(Vector::err(
        "ec_duplicate_key",
        "the same key twice in the encryption context (valid header tag)",
        reheader(&valid, duplicate_first_key),
        fmt,
        "NonCanonicalEncryptionContext",
    ));
    v.push(Vector::err(
        "case_variant_context_key_forges_stream",
        "issue 11 #1: a producer confined by key policy to stream A adds AWS:KINESISVIDEO:ARN = A \
         (KMS matches the condition key case-insensitively) next to aws:kinesisvideo:arn = B; \
         canonical header, valid tags and an EDK wrapped under this very context",
        seal_case_variant_forgery(20, 0x61),
        fmt,
        "CaseVariantEncryptionContextKeys",
    ));
    v.push(Vector::err(
        "edk_count_zero",
        "encrypted data key count 0 (valid header tag)",
        reheader(&valid, |h| {
            let at = edk_count_offset(h);
            let end = at + 2 + edk_entry_len(&h[at + 2..]);
            h.splice(at..end, [0, 0]);
        }),
        fmt,
        "NoEncryptedDataKeys",
    ));
    v.push(Vector::err(
        "too_many_edks",
        "eleven encrypted data keys; the configured maximum is 10",
        {
            let mut edks: Vec<EncryptedDataKey> = (0..10)
                .map(|i| EncryptedDataKey {
                    provider_id: "other".into(),
                    provider_info: vec![i],
                    ciphertext: vec![i],
                })
                .collect();
            edks.push(wrap(&ec, 0x39));
            let params = SealParams {
                frame_length: FRAME,
                ..SealParams::new(&ec, &edks)
            };
            danger_seal_with_fixed_message_id_for_vectors(
                &data_key(),
                &params,
                &[0x39; 16],
                &plaintext(5),
            )
            .unwrap()
        },
        fmt,
        "TooManyEncryptedDataKeys",
    ));
    let ct_at = split(&valid).0.len() - 32 - 4 - 1;
    v.push(Vector::err(
        "frame_length_zero",
        "framed content with frame length 0 (valid header tag)",
        reheader(&valid, |h| h[ct_at + 1..ct_at + 5].copy_from_slice(&[0; 4])),
        fmt,
        "InvalidFrameLength",
    ));
    v.push(Vector::err(
        "content_type_invalid",
        "content type 0x03 (valid header tag)",
        reheader(&valid, |h| h[ct_at] = 3),
        fmt,
        "InvalidContentType",
    ));
    v.push(Vector::err(
        "signed_suite_0578",
        "suite 0x0578 without aws-crypto-public-key",
        reheader(&valid, |h| h[1..3].copy_from_slice(&[0x05, 0x78])),
        fmt,
        "MissingPublicKey",
    ));
    let mut v1 = vec![0x01, 0x80, 0x01, 0x78];
    v1.extend_from_slice(&[0x40; 16]);
    v1.extend_from_slice(&valid[ec_offset()..]);
    v.push(Vector::err(
        "non_committing_suite_v1",
        "a format-1 header with suite 0x0178 (no key commitment): rejected by default",
        v1,
        fmt,
        "NonCommittingSuite",
    ));
    v.push(Vector::err(
        "unsupported_version",
        "version byte 0x03",
        reheader(&valid, |h| h[0] = 3),
        fmt,
        "UnsupportedVersion",
    ));
    let idm = seal_fixed(100, 0x3A, &ec, Some(&identity(STREAM_A, 42)));
    v.push(
        Vector::err(
            "identity_moved_stream",
            "sealed for fragment 42 of stream A, expected in stream B",
            idm.clone(),
            auth,
            "",
        )
        .expecting(identity(STREAM_B, 42)),
    );
    v.push(
        Vector::err(
            "identity_reordered_fragment",
            "sealed as fragment 42, expected as fragment 43",
            idm.clone(),
            auth,
            "",
        )
        .expecting(identity(STREAM_A, 43)),
    );
    v.push(
        Vector::err(
            "identity_missing",
            "sealed without identity, opened expecting one",
            seal_fixed(100, 0x3B, &ec, None),
            auth,
            "",
        )
        .expecting(identity(STREAM_A, 42)),
    );
    let mut wk = Vector::err(
        "wrapped_key_wrong_wrapping_key",
        "the keyring has the right namespace and name but another wrapping key",
        valid.clone(),
        auth,
        "",
    );
    wk.wrapping_key = [0x77; 32];
    v.push(wk);
    {
        let other_ec = EncryptionContext::new().with("aws:kinesisvideo:arn", STREAM_B);
        let edks = [wrap(&other_ec, 0x3C)];
        let params = SealParams {
            frame_length: FRAME,
            ..SealParams::new(&ec, &edks)
        };
        let m = danger_seal_with_fixed_message_id_for_vectors(
            &data_key(),
            &params,
            &[0x3C; 16],
            &plaintext(20),
        )
        .unwrap();
        v.push(Vector::err(
            "wrapped_key_wrong_context",
            "the data key was wrapped under another stream's encryption context",
            m,
            auth,
            "",
        ));
    }
    {
        let foreign = EncryptedDataKey {
            provider_id: "someone-else".into(),
            provider_info: b"key".to_vec(),
            ciphertext: vec![1; 48],
        };
        let edks = [foreign];
        let params = SealParams {
            frame_length: FRAME,
            ..SealParams::new(&ec, &edks)
        };
        let m = danger_seal_with_fixed_message_id_for_vectors(
            &data_key(),
            &params,
            &[0x3D; 16],
            &plaintext(20),
        )
        .unwrap();
        v.push(Vector::err(
            "no_matching_keyring",
            "the only EDK belongs to another key provider",
            m,
            "no_matching_key",
            "",
        ));
    }
    v
}

#[test]
#[ignore = "writes vectors/; run explicitly to regenerate"]
fn generate_vectors() {
    for v in generate() {
        let p = path_of(&v);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, render(&v)).unwrap();
    }
}

#[test]
fn committed_vectors_match_the_generator() {
    let generated = generate();
    assert!(generated.len() >= 40);
    for v in &generated {
        let on_disk = std::fs::read_to_string(path_of(v))
            .unwrap_or_else(|e| panic!("{}: {e}; regenerate the vectors", v.name));
        assert!(
            on_disk == render(v),
            "{} differs from the generator",
            v.name
        );
    }
}
