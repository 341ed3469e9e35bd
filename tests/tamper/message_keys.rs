//! Sealing never reuses a message key or a nonce.

use super::*;

#[test]
fn sealing_never_reuses_a_message_key_or_nonce() {
    // One data key (as a cached KMS key is), the same plaintext, context and identity: every
    // seal still draws a fresh message id, hence fresh derived keys; frame IVs repeat only
    // under different keys.
    let fx = fixture();
    let ec = EncryptionContext::new();
    let edks = [EncryptedDataKey {
        provider_id: "p".into(),
        provider_info: vec![],
        ciphertext: vec![1],
    }];
    let params = SealParams {
        frame_length: FRAME as u32,
        identity: Some(&fx.identity),
        ..SealParams::new(&ec, &edks)
    };
    let mut ids = std::collections::HashSet::new();
    let mut bodies = std::collections::HashSet::new();
    let n = 2000;
    for _ in 0..n {
        let m = seal(&fx.key, &params, &fx.plaintext).unwrap();
        let h = parse_header(&m, &OpenLimits::default()).unwrap();
        ids.insert(*h.message_id());
        bodies.insert(m[h.header_len()..].to_vec());
    }
    assert_eq!(ids.len(), n, "a message id repeated");
    assert_eq!(bodies.len(), n, "a ciphertext repeated");
    // Across threads too (each has its own generator).
    let per_thread: Vec<Vec<[u8; 32]>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..250)
                        .map(|_| {
                            let m = seal(&fx.key, &params, b"x").unwrap();
                            *parse_header(&m, &OpenLimits::default())
                                .unwrap()
                                .message_id()
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for v in per_thread {
        for id in v {
            assert!(ids.insert(id), "a message id repeated across threads");
        }
    }
}
