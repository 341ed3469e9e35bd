//! Every vector file, run on both AES-GCM backends.

use super::*;

const BACKENDS: [AeadBackend; 2] = [AeadBackend::Ring, AeadBackend::RustCrypto];

fn kind_name(k: &FormatErrorKind) -> String {
    format!("{k:?}")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect()
}

fn parse_identity(v: &Value) -> Option<FragmentIdentity> {
    if v.is_null() {
        return None;
    }
    Some(FragmentIdentity {
        stream_arn: v["stream_arn"].as_str().unwrap().to_owned(),
        fragment_number: v["fragment_number"].as_u64().unwrap(),
        producer_timestamp_ms: v["producer_timestamp_ms"].as_u64().unwrap(),
        track: v["track"].as_u64().unwrap(),
    })
}

/// Opens a vector exactly as another implementation would: parse, unwrap with the raw AES
/// keyring, open with the expected identity.
fn run(v: &Value, backend: AeadBackend) -> Result<Vec<u8>, Error> {
    let kr = &v["keyring"];
    let keyring = RawAesKeyring::new(
        kr["namespace"].as_str().unwrap(),
        kr["name"].as_str().unwrap(),
        SecretBytes::new(hex::decode(kr["wrapping_key"].as_str().unwrap()).unwrap()),
    )
    .unwrap();
    let message = hex::decode(v["message"].as_str().unwrap()).unwrap();
    let limits = OpenLimits::default()
        .with_max_encrypted_data_keys(v["max_encrypted_data_keys"].as_u64().unwrap() as u16);
    let expected = parse_identity(&v["expected_identity"]);
    let keyring = keyring.with_backend(backend);
    let header = message::parse(&message, &limits)?;
    // The first of the keyring's EDKs that decrypts; none of its own is "no matching key",
    // its own that do not decrypt are an authentication failure.
    let mut mine = false;
    let mut dk = None;
    for edk in header.encrypted_data_keys() {
        match keyring.unwrap_key(edk, header.encryption_context()) {
            Some(Ok(k)) => {
                dk = Some(k);
                break;
            }
            Some(Err(_)) => mine = true,
            None => {}
        }
    }
    let dk = match dk {
        Some(k) => k,
        None if mine => return Err(Error::Authentication(AuthenticationError)),
        None => return Err(Error::NoTrustedKey),
    };
    assert_eq!(
        dk.expose_secret().as_slice(),
        hex::decode(v["data_key"].as_str().unwrap()).unwrap()
    );
    let check = expected.map_or(IdentityCheck::Skip, IdentityCheck::Expect);
    let params = OpenParams::new(&check).with_backend(backend);
    let out = header.open(&dk, &params)?;
    // The range and streaming paths agree with the one-shot path.
    let len = out.len() as u64;
    let part = header.open_range(&dk, &params, len / 2..len)?;
    assert_eq!(part, out[out.len() / 2..]);
    Ok(out)
}

#[test]
fn every_vector_passes_on_both_backends() {
    let mut count = 0;
    for dir in ["positive", "negative"] {
        let mut entries: Vec<_> = std::fs::read_dir(vectors_dir().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        entries.sort();
        for path in entries {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            for backend in BACKENDS {
                let name = format!("{} ({backend:?})", path.display());
                let r = run(&v, backend);
                match v["result"].as_str().unwrap() {
                    "ok" => {
                        let want = hex::decode(v["plaintext"].as_str().unwrap()).unwrap();
                        assert_eq!(r.unwrap_or_else(|e| panic!("{name}: {e}")), want, "{name}");
                    }
                    "error" => {
                        let class = v["error_class"].as_str().unwrap();
                        let kind = v["error_kind"].as_str().unwrap();
                        match (&r, class) {
                            (Err(Error::Format(e)), "format") => {
                                assert_eq!(kind_name(&e.kind), kind, "{name}: {e}")
                            }
                            (Err(Error::Authentication(_)), "authentication") => {}
                            (Err(Error::NoTrustedKey), "no_matching_key") => {}
                            _ => panic!("{name}: expected {class}/{kind}, got {r:?}"),
                        }
                    }
                    other => panic!("{name}: unknown result {other}"),
                }
            }
            count += 1;
        }
    }
    assert!(count >= 40, "only {count} vectors found");
    let _ = frame_iv(1);
}
