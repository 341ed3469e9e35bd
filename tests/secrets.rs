//! Secrets stay secret:
//! 1. Plaintext data keys (and commit keys) are erased by their drop path — checked three ways:
//!    the types implement `ZeroizeOnDrop` (compile-time), their `Zeroize` (what the derived
//!    `Drop` runs) leaves all-zero bytes, and, on Linux, the memory a dropped key occupied is
//!    read back through `/proc/self/mem` (no `unsafe`) and found zeroed. Where that file
//!    cannot be read the memory probes skip, printing `SKIPPED` and appending a line to the
//!    file named by `$FRAGSEAL_SECRET_PROBE_SKIPS` (scripts/test.sh counts them); with
//!    `FRAGSEAL_REQUIRE_SECRET_PROBES=1` (set by scripts/test.sh) they fail instead.
//! 2. `Debug` (and `Display` where it exists) of every public type holding key material prints
//!    no key bytes in any usual encoding.
//! 3. No logging/printing macro in `src/` mentions key material (a source scan).

#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use bytes::Bytes;
use fragseal::cache::{CacheKey, CacheLimits, DataKeyCache, DataKeyMaterial};
use fragseal::crypto::kdf::{derive_message_keys, hkdf_sha512, CommitKey};
use fragseal::crypto::{AeadBackend, Aes256GcmKey, DataKey, SecretBytes};
use fragseal::engine::{Engine, EngineConfig, OpenRequest, SealRequest};
use fragseal::format::EncryptedDataKey;
use fragseal::identity::IdentityCheck;
use fragseal::keyring::raw_aes::RawAesKeyring;
use fragseal::keyring::KmsKeyring;
use fragseal::kms::local::LocalKms;
use fragseal::kms::{Credential, DataKeySpec, Kms};
use fragseal::message::OpenParams;
use fragseal::message::{seal, OpenLimits, SealParams, SealedStream, SUITE_ID};
use fragseal::EncryptionContext;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::{Zeroize, ZeroizeOnDrop};

// ---------------------------------------------------------------------------------------------
// 1. Erasure on drop
// ---------------------------------------------------------------------------------------------

/// Compile-time: the type erases itself when dropped (the `zeroize` crate's marker trait,
/// implemented by `#[derive(ZeroizeOnDrop)]`, whose `Drop` zeroizes every field).
fn assert_zeroize_on_drop<T: ZeroizeOnDrop + Zeroize>() {}

#[test]
fn key_types_zeroize_on_drop() {
    assert_zeroize_on_drop::<DataKey>();
    assert_zeroize_on_drop::<CommitKey>();
}

#[test]
fn zeroize_clears_a_data_key() {
    // The derived `Drop` of `DataKey` zeroizes its one field exactly as `Zeroize::zeroize`
    // does; this checks that operation on a value we own.
    let mut k = DataKey::from_bytes([0xA7; 32]);
    k.zeroize();
    assert_eq!(k.expose_secret(), &[0u8; 32]);
}

/// Reads `len` bytes of this process's memory at `addr` through `/proc/self/mem` (ordinary
/// file I/O: no `unsafe`). `None` where the file is not available (non-Linux, hardened /proc).
fn read_own_memory(addr: usize, len: usize) -> Option<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open("/proc/self/mem").ok()?;
    f.seek(SeekFrom::Start(addr as u64)).ok()?;
    let mut buf = vec![0u8; len];
    f.read_exact(&mut buf).ok()?;
    Some(buf)
}

/// Drops `value` *in place* inside a vector's buffer (`Vec::clear` runs each element's `Drop`
/// where it lies and writes nothing else there; the buffer stays allocated, owned by the
/// vector) and returns the buffer's bytes before and after the drop, or `None` if this
/// process's memory cannot be read here.
fn bytes_around_drop_in_place<T>(value: T) -> Option<(Vec<u8>, Vec<u8>)> {
    let len = std::mem::size_of::<T>();
    let mut v = Vec::with_capacity(1);
    v.push(value);
    let addr = v.as_ptr() as usize;
    let before = read_own_memory(addr, len)?;
    v.clear();
    std::hint::black_box(&v);
    let after = read_own_memory(addr, len)?;
    drop(v);
    Some((before, after))
}

/// With this variable set to `1` (scripts/test.sh sets it), a memory probe that cannot run
/// fails instead of skipping.
const REQUIRE_PROBES: &str = "FRAGSEAL_REQUIRE_SECRET_PROBES";
/// Each skip appends one line to the file this variable names (scripts/test.sh counts them).
const SKIP_LOG: &str = "FRAGSEAL_SECRET_PROBE_SKIPS";

const PROC_UNREADABLE: &str = "/proc/self/mem not readable here; only the trait checks ran";

/// A memory probe of `test` could not run for `reason`: fails when `required`, else prints
/// `SKIPPED` and records the skip in `log`.
fn probe_skipped_with(required: bool, log: Option<&Path>, test: &str, reason: &str) {
    assert!(
        !required,
        "{test}: the secret probe could not run ({reason}) and {REQUIRE_PROBES}=1"
    );
    eprintln!("SKIPPED: {test}: {reason}");
    if let Some(path) = log {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(format!("{test}: {reason}\n").as_bytes())
            .unwrap();
    }
}

/// [`probe_skipped_with`] as the environment says.
fn skipped(test: &str) {
    let required = std::env::var(REQUIRE_PROBES).is_ok_and(|v| v == "1");
    let log = std::env::var_os(SKIP_LOG).filter(|v| !v.is_empty());
    probe_skipped_with(
        required,
        log.as_deref().map(Path::new),
        test,
        PROC_UNREADABLE,
    );
}

#[test]
fn unreadable_proc_fails_the_probes_when_they_are_required() {
    // Required: a probe that cannot run is a failure, not a pass.
    let r = std::panic::catch_unwind(|| {
        probe_skipped_with(true, None, "probe", PROC_UNREADABLE);
    });
    assert!(r.is_err(), "a required probe that cannot run must fail");
    // Not required: a pass, but counted.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("skips");
    probe_skipped_with(false, Some(&log), "probe a", PROC_UNREADABLE);
    probe_skipped_with(false, Some(&log), "probe b", PROC_UNREADABLE);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
}

/// The 32 bytes of a data key's heap buffer (a `DataKey` boxes its bytes, so moves leave no
/// copies), read before and after the key is dropped.
fn data_key_bytes_around_drop(key: DataKey) -> Option<(Vec<u8>, Vec<u8>)> {
    let addr = key.expose_secret().as_ptr() as usize;
    let before = read_own_memory(addr, 32)?;
    drop(std::hint::black_box(key));
    let after = read_own_memory(addr, 32)?;
    Some((before, after))
}

#[test]
fn a_dropped_data_key_leaves_zeros_in_memory() {
    let k: [u8; 32] = core::array::from_fn(|i| 0x5B ^ (i as u8).wrapping_mul(29));
    match data_key_bytes_around_drop(DataKey::from_bytes(k)) {
        Some((before, after)) => {
            assert_eq!(before, k, "the probe sees the key before the drop");
            // The buffer is freed after it is zeroized; the allocator may then write its own
            // bookkeeping (a free-list pointer and a tag) into the first 16 bytes.
            assert_eq!(after[16..], [0u8; 16], "key bytes left after drop");
            for w in k.windows(4) {
                assert!(
                    !after.windows(4).any(|a| a == w),
                    "key bytes left after drop: {after:?}"
                );
            }
        }
        None => skipped("a_dropped_data_key_leaves_zeros_in_memory"),
    }
}

#[test]
fn a_dropped_commit_key_leaves_zeros_in_memory() {
    let dk = DataKey::from_bytes([0x11; 32]);
    let keys = derive_message_keys(AeadBackend::Ring, &dk, SUITE_ID, &[3; 32]);
    let commit = *keys.commit_key.as_bytes();
    match bytes_around_drop_in_place(keys.commit_key) {
        Some((before, after)) => {
            assert_eq!(before, commit, "the probe sees the key before the drop");
            assert_eq!(after, [0u8; 32], "commit key bytes left after drop");
        }
        None => skipped("a_dropped_commit_key_leaves_zeros_in_memory"),
    }
}

#[test]
fn a_dropped_rustcrypto_aes_key_leaves_no_round_keys() {
    // AES-256's first two round keys are the key itself; with AES-NI the `aes` crate stores
    // them as is. After the drop (the `zeroize` features of `aes` and `polyval` are on), no
    // 8-byte run of the key is left. With the `ring` backend this does NOT hold: ring offers
    // no way to erase its key schedule (documented in `crypto::aead` and THREATS.md).
    let k: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(29) | 0x81);
    match bytes_around_drop_in_place(Aes256GcmKey::new(AeadBackend::RustCrypto, &k)) {
        Some((before, after)) => {
            let has_key = |mem: &[u8]| mem.windows(8).any(|w| k.windows(8).any(|kw| kw == w));
            if !has_key(&before) {
                // Not a /proc problem: the `aes` crate's software (fixsliced) key schedule
                // holds no raw round keys. Counted as a skip, never required.
                let log = std::env::var_os(SKIP_LOG).filter(|v| !v.is_empty());
                probe_skipped_with(
                    false,
                    log.as_deref().map(Path::new),
                    "a_dropped_rustcrypto_aes_key_leaves_no_round_keys",
                    "this AES implementation does not store raw round keys",
                );
                return;
            }
            assert!(!has_key(&after), "AES round keys left after drop");
        }
        None => skipped("a_dropped_rustcrypto_aes_key_leaves_no_round_keys"),
    }
}

#[test]
fn the_probe_sees_bytes_a_plain_array_leaves_behind() {
    // Control: the same probe on a type *without* erasure finds the bytes still there, so the
    // tests above can fail.
    match bytes_around_drop_in_place([0x5Bu8; 32]) {
        Some((before, after)) => {
            assert_eq!(before, [0x5B; 32]);
            assert_eq!(after, [0x5B; 32]);
        }
        None => skipped("the_probe_sees_bytes_a_plain_array_leaves_behind"),
    }
}

// ---------------------------------------------------------------------------------------------
// 2. No key bytes in Debug / Display
// ---------------------------------------------------------------------------------------------

/// Fails if `text` shows `secret` (or any 4 consecutive bytes of it) as hex (either case),
/// as a decimal list (`[1, 2, 3, 4` / `1,2,3,4`), as base64, or as raw characters.
fn assert_no_key_bytes(what: &str, text: &str, secret: &[u8]) {
    use base64::Engine as _;
    assert!(secret.len() >= 4, "{what}: secret too short to search");
    let lower = text.to_lowercase();
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    for w in secret.windows(4) {
        let hex = hex::encode(w);
        assert!(!lower.contains(&hex), "{what}: hex of key bytes in {text}");
        let dec = w.iter().map(u8::to_string).collect::<Vec<_>>().join(",");
        assert!(
            !compact.contains(&dec),
            "{what}: key bytes as decimals in {text}"
        );
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    assert!(
        !text.contains(&b64[..8]),
        "{what}: key bytes as base64 in {text}"
    );
    if let Ok(s) = std::str::from_utf8(secret) {
        assert!(!text.contains(s), "{what}: key bytes as text in {text}");
    }
}

fn debug_and_alt<T: std::fmt::Debug>(v: &T) -> String {
    format!("{v:?}\n{v:#?}")
}

/// A recognizable secret: 32 distinct bytes none of which is a common small number.
fn marked(seed: u8) -> [u8; 32] {
    core::array::from_fn(|i| seed.wrapping_add((i as u8).wrapping_mul(37)) | 0x80)
}

#[test]
fn assert_no_key_bytes_catches_leaks() {
    // The checker itself must be able to fail.
    let k = marked(1);
    for leak in [
        format!("{:?}", k),
        hex::encode(k),
        hex::encode_upper(k),
        format!("{:#?}", k),
    ] {
        let r = std::panic::catch_unwind(|| assert_no_key_bytes("probe", &leak, &k));
        assert!(r.is_err(), "undetected leak: {leak}");
    }
}

#[test]
fn data_key_and_secret_bytes() {
    let k = marked(3);
    assert_no_key_bytes("DataKey", &debug_and_alt(&DataKey::from_bytes(k)), &k);
    assert_no_key_bytes(
        "SecretBytes",
        &debug_and_alt(&SecretBytes::from_slice(&k)),
        &k,
    );
    let s: SecretBytes = DataKey::from_bytes(k).into();
    assert_no_key_bytes("SecretBytes from DataKey", &debug_and_alt(&s), &k);
}

#[test]
fn derived_keys_and_aead_keys() {
    let dk = marked(5);
    let message_id = [0x42u8; 32];
    for backend in [AeadBackend::Ring, AeadBackend::RustCrypto] {
        let keys = derive_message_keys(backend, &DataKey::from_bytes(dk), SUITE_ID, &message_id);
        // The derived encryption key, recomputed independently (HKDF-SHA512, salt = message
        // id, info = suite id ‖ "DERIVEKEY").
        let mut info = SUITE_ID.to_be_bytes().to_vec();
        info.extend_from_slice(b"DERIVEKEY");
        let mut enc = [0u8; 32];
        hkdf_sha512(&message_id, &dk, &info, &mut enc).unwrap();
        let commit = *keys.commit_key.as_bytes();
        let text = debug_and_alt(&keys);
        for secret in [&dk[..], &enc[..], &commit[..]] {
            assert_no_key_bytes("MessageKeys", &text, secret);
        }
        assert_no_key_bytes("CommitKey", &debug_and_alt(&keys.commit_key), &commit);
        let aead = Aes256GcmKey::new(backend, &enc);
        assert_no_key_bytes("Aes256GcmKey", &debug_and_alt(&aead), &enc);
        enc.zeroize();
    }
}

#[test]
fn raw_aes_keyring() {
    let wk = marked(7);
    let kr = RawAesKeyring::new("ns", "name", SecretBytes::from_slice(&wk)).unwrap();
    assert_no_key_bytes("RawAesKeyring", &debug_and_alt(&kr), &wk);
}

const ACCOUNT: &str = "111122223333";

fn admin() -> Credential {
    Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), "AKIAADMIN").unwrap()
}

fn ec() -> EncryptionContext {
    EncryptionContext::new().with(
        "aws:kinesisvideo:arn",
        "arn:aws:kinesisvideo:us-east-1:111122223333:stream/cam/1",
    )
}

/// The key material of every key in a LocalKms state file (hex strings, decoded).
fn materials_in_state_file(path: &Path) -> Vec<Vec<u8>> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| hex::decode(k["material"].as_str().unwrap()).unwrap())
        .collect()
}

#[test]
fn local_kms_its_keys_results_audit_cache_and_engine() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let kms = Arc::new(
        LocalKms::builder("us-east-1", ACCOUNT)
            .state_file(&state)
            .build()
            .unwrap(),
    );
    let admin = admin();
    let arn = kms.create_key(&admin, None, "secrets test").unwrap().arn;
    let materials = materials_in_state_file(&state);
    assert_eq!(materials.len(), 1);
    let kms_key = materials[0].clone();
    assert_eq!(kms_key.len(), 32);

    let generated = kms
        .generate_data_key(&admin, &arn, DataKeySpec::Aes256, &ec())
        .unwrap();
    let data_key = generated.plaintext.expose_secret().to_vec();
    let decrypted = kms
        .decrypt(&admin, &generated.ciphertext_blob, &ec(), Some(&arn))
        .unwrap();
    assert_eq!(decrypted.plaintext.expose_secret(), data_key.as_slice());
    let texts = [
        ("GeneratedDataKey", debug_and_alt(&generated)),
        ("DecryptedDataKey", debug_and_alt(&decrypted)),
        ("LocalKms", debug_and_alt(&*kms)),
        ("AuditLog", debug_and_alt(kms.audit())),
        ("AuditEvents", debug_and_alt(&kms.audit().events())),
    ];
    for (what, text) in &texts {
        assert_no_key_bytes(what, text, &kms_key);
        assert_no_key_bytes(what, text, &data_key);
    }

    // Cache entries: material, lease, the cache itself.
    let cache = DataKeyCache::new(CacheLimits::default()).unwrap();
    let context = ec();
    let key = CacheKey::for_sealing(&admin, &arn, SUITE_ID, &context);
    let lease = cache
        .get_or_fetch(&key, 10, || {
            let edk = EncryptedDataKey {
                provider_id: "aws-kms".into(),
                provider_info: generated.key_id.as_bytes().to_vec(),
                ciphertext: generated.ciphertext_blob,
            };
            let data_key = DataKey::try_from(generated.plaintext).unwrap();
            Ok::<_, fragseal::KeyringError>(DataKeyMaterial::new(
                data_key,
                vec![edk],
                generated.key_id,
            ))
        })
        .unwrap();
    for (what, text) in [
        ("DataKeyMaterial", debug_and_alt(lease.material())),
        ("Lease", debug_and_alt(&lease)),
        ("DataKeyCache", debug_and_alt(&cache)),
        ("CacheKey", debug_and_alt(&key)),
    ] {
        assert_no_key_bytes(what, &text, &data_key);
    }

    // The engine, after sealing and opening (its cache holds plaintext data keys), and a
    // streaming open in progress.
    let keyring = KmsKeyring::strict(kms.clone(), &admin, &[&arn]).unwrap();
    let engine = Engine::new(
        Arc::new(keyring),
        EngineConfig::default().with_frame_length(16),
    )
    .unwrap();
    let req = SealRequest::new(ec(), Bytes::from_static(b"fragment bytes, three frames"));
    let sealed = engine.seal(&admin, &req).unwrap();
    assert_eq!(
        engine
            .open(
                &admin,
                &OpenRequest::new(sealed.clone(), IdentityCheck::Skip)
            )
            .unwrap()
            .plaintext,
        req.plaintext
    );
    let engine_text = debug_and_alt(&engine);
    // The engine's data key came from another GenerateDataKey: take every data key KMS
    // released from the cache's view of the message (decrypt its EDK with the KMS).
    let header = fragseal::message::parse(&sealed, &OpenLimits::default()).unwrap();
    let edk = &header.encrypted_data_keys()[0];
    let engine_key = kms
        .decrypt(&admin, &edk.ciphertext, &ec(), Some(&arn))
        .unwrap();
    for secret in [&kms_key[..], engine_key.plaintext.expose_secret()] {
        assert_no_key_bytes("Engine", &engine_text, secret);
    }
    let stream = SealedStream::new(&sealed[..], &OpenLimits::default()).unwrap();
    let dk = DataKey::from_slice(engine_key.plaintext.expose_secret()).unwrap();
    let skip = IdentityCheck::Skip;
    let open = stream
        .open(&dk, &OpenParams::new(&skip).with_backend(AeadBackend::Ring))
        .unwrap();
    assert_no_key_bytes(
        "OpenStream",
        &debug_and_alt(&open),
        engine_key.plaintext.expose_secret(),
    );
}

#[test]
fn errors_carry_no_key_bytes() {
    // A wrong key, a bad tag: the error (Debug and Display) says nothing about keys.
    let k = marked(9);
    let edks = [EncryptedDataKey {
        provider_id: "p".into(),
        provider_info: vec![],
        ciphertext: vec![1],
    }];
    let ec = ec();
    let m = seal(&DataKey::from_bytes(k), &SealParams::new(&ec, &edks), b"x").unwrap();
    let h = fragseal::message::parse(&m, &OpenLimits::default()).unwrap();
    let wrong = marked(11);
    let skip = IdentityCheck::Skip;
    let e = h
        .open(
            &DataKey::from_bytes(wrong),
            &OpenParams::new(&skip).with_backend(AeadBackend::Ring),
        )
        .unwrap_err();
    let text = format!("{e:?} {e}");
    assert_no_key_bytes("open error", &text, &k);
    assert_no_key_bytes("open error", &text, &wrong);
}

#[cfg(feature = "aws")]
#[test]
fn aws_kms_builder_and_backend_hide_secret_access_keys() {
    use fragseal::kms::aws::AwsKms;
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let token = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN0123456789";
    let builder = AwsKms::builder()
        .region("us-east-1")
        .endpoint_url("http://127.0.0.1:9")
        .default_static_credentials("AKIAEXAMPLE", secret, Some(token.to_owned()))
        .caller_static_credentials(admin(), "AKIAOTHER", secret, None);
    let text = debug_and_alt(&builder);
    assert!(!text.contains(secret) && !text.contains(token), "{text}");
    let kms = builder.build().unwrap();
    let text = debug_and_alt(&kms);
    assert!(!text.contains(secret) && !text.contains(token), "{text}");
}

// ---------------------------------------------------------------------------------------------
// 3. No log or print line mentions key material
// ---------------------------------------------------------------------------------------------

/// Macros that write to a log, a terminal or a trace.
const OUTPUT_MACROS: &[&str] = &[
    "println!",
    "eprintln!",
    "print!",
    "eprint!",
    "dbg!",
    "trace!",
    "debug!",
    "info!",
    "warn!",
    "error!",
    "log!",
    "event!",
];
/// Identifiers that reach key material.
const KEY_MATERIAL: &[&str] = &[
    "expose_secret",
    ".plaintext",
    "data_key",
    "material",
    "commit_key",
    "encryption_key",
    "wrapping_key",
    "secret_access_key",
    "session_token",
];

/// Finds output macros (and `log::` / `tracing::` calls) whose arguments mention key
/// material. Returns `line: text` for each finding. Scans up to a `#[cfg(test)]` line (the
/// test modules at the end of our files, whose assertions may show bytes on failure).
fn scan_source(text: &str) -> Vec<String> {
    let mut findings = Vec::new();
    let code: String = text
        .lines()
        .take_while(|l| l.trim() != "#[cfg(test)]")
        .collect::<Vec<_>>()
        .join("\n");
    let bytes = code.as_bytes();
    let mut starts: Vec<usize> = Vec::new();
    for m in OUTPUT_MACROS {
        let mut from = 0;
        while let Some(i) = code[from..].find(m) {
            let at = from + i;
            // Whole macro name: not the tail of another identifier (`my_debug!`).
            let prev = at.checked_sub(1).and_then(|p| bytes.get(p)).copied();
            if !prev.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
                starts.push(at);
            }
            from = at + m.len();
        }
    }
    for prefix in ["log::", "tracing::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(prefix) {
            starts.push(from + i);
            from += i + prefix.len();
        }
    }
    for at in starts {
        // The argument list: from the first opening bracket to its matching close.
        let rest = &code[at..];
        let Some(open) = rest.find(['(', '[', '{']) else {
            continue;
        };
        let mut depth = 0i32;
        let mut end = rest.len();
        for (i, c) in rest[open..].char_indices() {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        let args = &rest[..end];
        if let Some(k) = KEY_MATERIAL.iter().find(|k| args.contains(*k)) {
            let line = code[..at].lines().count().max(1);
            findings.push(format!("line {line}: mentions `{k}`: {args}"));
        }
    }
    findings
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn the_scanner_flags_key_material_in_output_macros() {
    let bad = [
        r#"fn f(k: &DataKey) { println!("{:?}", k.expose_secret()); }"#,
        r#"fn f(g: G) { log::debug!("key {}", hex::encode(&g.plaintext)); }"#,
        "fn f(m: M) {\n    tracing::info!(\n        material = ?m.material,\n    );\n}",
        r#"fn f(dk: D) { dbg!(&data_key); }"#,
        r#"fn f(c: C) { eprintln!("{}", c.secret_access_key); }"#,
    ];
    for src in bad {
        assert!(!scan_source(src).is_empty(), "not flagged: {src}");
    }
    let fine = [
        r#"fn f(n: usize) { println!("{n} fragments"); }"#,
        r#"fn f(e: E) { eprintln!("fragseal: error: {}", e.message); }"#,
        "fn f() {}\n#[cfg(test)]\nmod tests { fn t() { println!(\"{:?}\", k.expose_secret()); } }",
    ];
    for src in fine {
        assert!(scan_source(src).is_empty(), "flagged: {src}");
    }
}

#[test]
fn no_log_or_print_line_mentions_key_material() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 20, "scanned too few files: {}", files.len());
    let mut findings = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for finding in scan_source(&text) {
            findings.push(format!("{}: {finding}", f.display()));
        }
    }
    assert!(
        findings.is_empty(),
        "key material in output macros:\n{}",
        findings.join("\n")
    );
}
