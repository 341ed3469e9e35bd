#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
use super::*;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use std::sync::OnceLock;

fn private_key() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap())
}

fn keyring(padding: RsaPadding) -> RawRsaKeyring {
    let k = private_key().clone();
    RawRsaKeyring::new("ns", "rsa-2048", padding, Some(k.to_public_key()), Some(k)).unwrap()
}

fn caller() -> Credential {
    Credential::new("111122223333", "arn:aws:iam::111122223333:root", "AK").unwrap()
}

#[test]
fn every_padding_wraps_and_unwraps() {
    let ec = EncryptionContext::new().with("a", "b");
    for p in RsaPadding::ALL {
        let k = keyring(p);
        let m = k.generate(&caller(), &ec).unwrap();
        let edk = &m.encrypted_data_keys()[0];
        assert_eq!(edk.provider_id, "ns");
        assert_eq!(edk.provider_info, b"rsa-2048");
        assert_eq!(edk.ciphertext.len(), 256);
        assert!(k.accepts(edk));
        let got = k.unwrap(&caller(), &ec, edk).unwrap();
        assert_eq!(got.data_key(), m.data_key(), "{p:?}");
        // A 16-byte legacy data key through the byte-level calls.
        let edk16 = k.wrap_bytes(&[7; 16]).unwrap();
        assert_eq!(
            k.unwrap_bytes(&edk16).unwrap().unwrap().expose_secret(),
            &[7; 16]
        );
        // ...but not as a fragseal data key.
        assert!(matches!(
            k.unwrap(&caller(), &ec, &edk16),
            Err(KeyringError::Authentication(_))
        ));
        // Another padding does not decrypt it (opaque failure).
        let other = if p == RsaPadding::Pkcs1 {
            RsaPadding::OaepSha1
        } else {
            RsaPadding::Pkcs1
        };
        assert!(matches!(
            keyring(other).unwrap_bytes(edk),
            Some(Err(KeyringError::Authentication(_)))
        ));
    }
}

#[test]
fn only_exact_namespace_and_name_are_tried() {
    let k = keyring(RsaPadding::OaepSha256);
    let mut edk = k.wrap_bytes(&[1; 32]).unwrap();
    edk.provider_info = b"rsa-2048\0".to_vec();
    assert!(!k.accepts(&edk));
    assert!(k.unwrap_bytes(&edk).is_none());
    edk.provider_info = b"rsa-2048".to_vec();
    edk.provider_id = "ns2".into();
    assert!(matches!(
        k.unwrap(&caller(), &EncryptionContext::new(), &edk),
        Err(KeyringError::NotMine)
    ));
}

#[test]
fn construction_rules() {
    let k = private_key();
    let pub_pem = k.to_public_key().to_public_key_pem(LineEnding::LF).unwrap();
    let priv_pem = SecretBytes::new(k.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes().to_vec());
    // Public only: wraps, cannot unwrap.
    let p = RawRsaKeyring::from_pem("ns", "n", RsaPadding::OaepSha1, Some(&pub_pem), None).unwrap();
    let edk = p.wrap_bytes(&[3; 32]).unwrap();
    assert!(!p.accepts(&edk));
    assert!(matches!(
        p.unwrap_bytes(&edk),
        Some(Err(KeyringError::RsaKey { .. }))
    ));
    // Private only: unwraps, never derives the public key to wrap.
    let s =
        RawRsaKeyring::from_pem("ns", "n", RsaPadding::OaepSha1, None, Some(&priv_pem)).unwrap();
    assert_eq!(
        s.unwrap_bytes(&edk).unwrap().unwrap().expose_secret(),
        &[3; 32]
    );
    assert!(matches!(
        s.wrap_bytes(&[3; 32]),
        Err(KeyringError::RsaKey { .. })
    ));
    // Reserved namespace, no key, garbage PEM, mismatched keys, modulus too small.
    assert!(matches!(
        RawRsaKeyring::from_pem("aws-kms", "n", RsaPadding::Pkcs1, Some(&pub_pem), None),
        Err(KeyringError::ReservedNamespace)
    ));
    assert!(matches!(
        RawRsaKeyring::from_pem("ns", "n", RsaPadding::Pkcs1, None, None),
        Err(KeyringError::RsaKey { .. })
    ));
    assert!(matches!(
        RawRsaKeyring::from_pem(
            "ns",
            "n",
            RsaPadding::Pkcs1,
            Some("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"),
            None
        ),
        Err(KeyringError::RsaKey { .. })
    ));
    let small = RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
    assert!(matches!(
        RawRsaKeyring::new(
            "ns",
            "n",
            RsaPadding::OaepSha256,
            Some(small.to_public_key()),
            Some(k.clone())
        ),
        Err(KeyringError::RsaKey { .. })
    ));
    // 1024-bit: 128 bytes < 32 + 130 for OAEP-SHA512, fine for OAEP-SHA256 (32 + 66).
    assert!(
        RawRsaKeyring::new("ns", "n", RsaPadding::OaepSha512, None, Some(small.clone())).is_err()
    );
    assert!(RawRsaKeyring::new("ns", "n", RsaPadding::OaepSha256, None, Some(small)).is_ok());
    let dbg = format!("{s:?}");
    assert!(
        dbg.contains("private: true") && !dbg.contains("BEGIN"),
        "{dbg}"
    );
}
