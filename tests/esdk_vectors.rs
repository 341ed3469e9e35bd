//! The AWS test-vector framework's manifests between fragseal and the Python ESDK (4.x, the
//! venv of scripts/setup-python.sh), through tests/python/esdk_manifest.py:
//!
//! - fragseal decrypts a manifest the Python ESDK writes: raw AES (128/192/256) and raw RSA
//!   (PKCS #1, OAEP-SHA1/256/384/512) master keys, one or two keys, frame lengths 0 (non-framed)
//!   to 65536, three encryption contexts, every ESDK suite, and two negative tests per suite.
//!   Under `RequireEncryptAllowDecrypt` every test of every suite must pass (the nine 1.x
//!   suites included); under the default policy every 1.x test is skipped for the policy, and
//!   each 1.x ciphertext is refused with `OpenError::CommitmentPolicy`.
//! - the Python ESDK decrypts every test of the manifest `fragseal vectors encrypt` writes for
//!   vectors/esdk-encrypt/manifest.json.
//! - the same manifest runs from a zip archive, and a link out of the archive is refused.
//!
//! Without the venv the Python tests print why they skip; with `FRAGSEAL_REQUIRE_INTEROP=1`
//! they fail. A disagreement is investigated and written down (docs/VECTORS.md), never tuned
//! away.

mod support;

use fragseal::crypto::AeadBackend;
use fragseal::vectors::{
    load_decrypt, opened, run_decrypt, write_encrypt, CommitmentPolicy, EncryptOutcome, Outcome,
    Report, RunOptions,
};
use serde_json::Value;
use std::io::Write;
use std::path::Path;

const ALL_SUITES: &str = "0478,0578,0014,0046,0078,0114,0146,0178,0214,0346,0378";

fn allow_legacy() -> RunOptions {
    RunOptions {
        commitment_policy: CommitmentPolicy::RequireEncryptAllowDecrypt,
        ..RunOptions::default()
    }
}

fn run(path: &Path, options: &RunOptions) -> Report {
    let (source, manifest, keys) = load_decrypt(path).expect("manifest loads");
    run_decrypt(&source, &manifest, &keys, options)
}

/// Every test of a suite this build opens passed; every other one was skipped for its suite.
fn check_by_suite(report: &Report) {
    assert!(!report.results.is_empty());
    for r in &report.results {
        let suite = r.suite.expect("an ESDK suite");
        if opened(suite) {
            assert!(
                matches!(r.outcome, Outcome::Passed { .. }),
                "{} ({suite:04X}): {:?}",
                r.name,
                r.outcome
            );
        } else {
            assert!(
                matches!(&r.outcome, Outcome::Skipped(why) if why.contains("not opened by this build")),
                "{} ({suite:04X}): {:?}",
                r.name,
                r.outcome
            );
        }
    }
}

fn python() -> Option<std::path::PathBuf> {
    match support::python_with(&["aws_encryption_sdk", "cryptography"]) {
        Ok(p) => Some(p),
        Err(why) => {
            support::unavailable("esdk_vectors", &why);
            None
        }
    }
}

fn python_generate(py: &Path, dir: &Path, suites: &str) {
    let script = support::python_script("esdk_manifest.py");
    let dir_s = dir.to_str().expect("utf-8 path");
    support::run_python(py, &script, &["generate", dir_s, suites], &[]).expect("python generates");
}

#[test]
fn fragseal_decrypts_the_python_esdk_manifest() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    python_generate(&py, dir.path(), ALL_SUITES);
    let report = run(dir.path(), &allow_legacy());
    check_by_suite(&report);
    let (passed, failed, skipped) = report.counts();
    eprintln!("python ESDK manifest, RequireEncryptAllowDecrypt: {passed} passed, {failed} failed, {skipped} skipped");
    assert_eq!(failed, 0);
    assert_eq!(skipped, 0, "every suite is opened");
    // Every suite of the manifest passed at least one test.
    for id in ALL_SUITES.split(',') {
        let id = u16::from_str_radix(id, 16).expect("hex suite id");
        assert!(
            report
                .results
                .iter()
                .any(|r| r.suite == Some(id)
                    && matches!(r.outcome, Outcome::Passed { refusal: None })),
            "suite {id:04X}"
        );
    }
    // 9 key sets and 2 negatives for 0x0478 at least.
    assert!(passed >= 11, "{passed}");
    // The negative tests passed by refusal.
    let refused = report
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Passed { refusal: Some(_) }))
        .count();
    assert!(refused >= 2, "{refused}");

    // Under the default policy every non-committing test is skipped for the policy, and
    // opening one of those ciphertexts is refused, typed, before any key is used.
    let mut refused_by_policy = 0;
    for entry in std::fs::read_dir(dir.path().join("ciphertexts")).expect("ciphertexts") {
        let m = std::fs::read(entry.expect("entry").path()).expect("ciphertext");
        if m.first() != Some(&0x01) {
            continue;
        }
        let e = fragseal::message::parse(&m, &fragseal::message::OpenLimits::default())
            .expect_err("refused by the default policy")
            .into_policy_refusal();
        assert!(
            matches!(e, fragseal::OpenError::CommitmentPolicy { suite } if !suite.is_committing()),
            "{e}"
        );
        refused_by_policy += 1;
    }
    assert!(refused_by_policy >= 9, "{refused_by_policy}");
    let strict = run(dir.path(), &RunOptions::default());
    let (sp, sf, ss) = strict.counts();
    eprintln!("python ESDK manifest, default policy: {sp} passed, {sf} failed, {ss} skipped");
    for r in &strict.results {
        let committing = matches!(r.suite, Some(0x0478 | 0x0578));
        if !committing {
            assert!(
                matches!(&r.outcome, Outcome::Skipped(w) if w.contains("commitment policy")),
                "{}: {:?}",
                r.name,
                r.outcome
            );
        }
    }

    // The same from a zip archive of the directory.
    let zip_path = dir.path().join("vectors.zip");
    zip_dir(dir.path(), &zip_path);
    let from_zip = run(&zip_path, &allow_legacy());
    assert_eq!(from_zip.results, report.results);
}

#[test]
fn the_python_esdk_decrypts_what_fragseal_encrypts() {
    let manifest = support::repo_root().join("vectors/esdk-encrypt/manifest.json");
    let out = tempfile::tempdir().expect("tempdir");
    let written = write_encrypt(&manifest, out.path(), AeadBackend::default()).expect("written");
    let n_written = written
        .results
        .iter()
        .filter(|(_, o)| *o == EncryptOutcome::Written)
        .count();
    for (name, o) in &written.results {
        assert!(!matches!(o, EncryptOutcome::Failed(_)), "{name}: {o:?}");
    }
    // Nine 0x0478 framed tests on raw keys; the signed, legacy, non-framed and KMS ones are
    // skipped with their reasons.
    assert_eq!(n_written, 9);
    // fragseal reads back its own manifest.
    let own = run(out.path(), &RunOptions::default());
    assert_eq!(own.counts(), (9, 0, 0));

    let Some(py) = python() else { return };
    let script = support::python_script("esdk_manifest.py");
    let stdout = support::run_python(
        &py,
        &script,
        &["decrypt", out.path().to_str().expect("utf-8")],
        &[],
    )
    .expect("python decrypts");
    let v: Value = serde_json::from_str(&stdout).expect("json");
    let results = v["results"].as_object().expect("results");
    assert_eq!(results.len(), n_written);
    for (name, r) in results {
        assert_eq!(r, "pass", "{name}");
    }
}

#[test]
fn links_out_of_the_root_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("outside");
    std::fs::write(&secret, b"not yours").expect("write");
    let root = dir.path().join("root");
    std::fs::create_dir(&root).expect("mkdir");
    std::fs::write(
        root.join("keys.json"),
        br#"{"manifest":{"type":"keys","version":3},"keys":{}}"#,
    )
    .expect("write");
    std::fs::write(
        root.join("manifest.json"),
        br#"{"manifest":{"type":"awses-decrypt","version":2},"keys":"file://keys.json",
        "tests":{"escape":{"ciphertext":"file://../outside","master-keys":[{"type":"aws-kms","key":"k"}],
            "result":{"error":{"error-description":"x"}}}}}"#,
    )
    .expect("write");
    let report = run(&root, &RunOptions::default());
    // A negative test whose ciphertext cannot be read is a failure, not a pass by refusal.
    assert!(
        matches!(&report.results[0].outcome, Outcome::Failed(w) if w.contains("refused")),
        "{:?}",
        report.results
    );
    // A keys link that escapes: the manifest does not load.
    std::fs::write(
        root.join("manifest.json"),
        br#"{"manifest":{"type":"awses-decrypt","version":2},"keys":"file://../outside","tests":{}}"#,
    )
    .expect("write");
    assert!(load_decrypt(&root).is_err());
    // A symbolic link out of the root.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&secret, root.join("link")).expect("symlink");
        std::fs::write(
            root.join("manifest.json"),
            br#"{"manifest":{"type":"awses-decrypt","version":2},"keys":"file://link","tests":{}}"#,
        )
        .expect("write");
        let e = load_decrypt(&root).expect_err("refused");
        assert!(e.to_string().contains("outside"), "{e}");
    }
}

fn zip_dir(dir: &Path, out: &Path) {
    let file = std::fs::File::create(out).expect("create zip");
    let mut z = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p == out {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(dir).expect("inside");
            let name = rel.to_str().expect("utf-8").replace('\\', "/");
            z.start_file(name, opts).expect("start");
            z.write_all(&std::fs::read(&p).expect("read"))
                .expect("write");
        }
    }
    z.finish().expect("finish");
}

/// vectors/esdk is vectors/positive in the framework's format: same messages and plaintexts,
/// every test passes here and in the Python ESDK.
#[test]
fn own_positive_vectors_in_the_framework_format() {
    let root = support::repo_root().join("vectors");
    let mut n = 0;
    for e in std::fs::read_dir(root.join("positive")).expect("positive") {
        let p = e.expect("entry").path();
        let v: Value = serde_json::from_slice(&std::fs::read(&p).expect("read")).expect("json");
        let name = v["name"].as_str().expect("name");
        let hex = |k: &str| hex::decode(v[k].as_str().expect("hex")).expect("hex");
        let ct = std::fs::read(root.join("esdk/ciphertexts").join(name)).expect("ciphertext");
        let pt = std::fs::read(root.join("esdk/plaintexts").join(name)).expect("plaintext");
        assert_eq!(ct, hex("message"), "{name}");
        assert_eq!(pt, hex("plaintext"), "{name}");
        n += 1;
    }
    let report = run(&root.join("esdk"), &RunOptions::default());
    assert_eq!(report.counts(), (n, 0, 0));

    let Some(py) = python() else { return };
    let script = support::python_script("esdk_manifest.py");
    let dir = root.join("esdk");
    let stdout = support::run_python(
        &py,
        &script,
        &["decrypt", dir.to_str().expect("utf-8")],
        &[],
    )
    .expect("python decrypts");
    let v: Value = serde_json::from_str(&stdout).expect("json");
    let results = v["results"].as_object().expect("results");
    assert_eq!(results.len(), n);
    assert!(results.values().all(|r| r == "pass"), "{results:?}");
}

/// An official archive of awslabs/aws-encryption-sdk-test-vectors (for example
/// `vectors/awses-decrypt/python-1.3.5.zip`), named by `FRAGSEAL_OFFICIAL_VECTORS`: nothing may
/// fail under `RequireEncryptAllowDecrypt`, and under the default policy every 1.x test is
/// skipped for the policy. CI does not download it, so the test is ignored (counted as skipped)
/// unless run with `--ignored`, and then it fails when the variable is unset.
#[test]
#[ignore = "needs FRAGSEAL_OFFICIAL_VECTORS: an official archive, which CI cannot download"]
fn an_official_archive_runs_without_failures() {
    let path = std::env::var_os("FRAGSEAL_OFFICIAL_VECTORS")
        .expect("FRAGSEAL_OFFICIAL_VECTORS names an official test-vector archive");
    let path = std::path::PathBuf::from(path);
    let report = run(&path, &allow_legacy());
    let (passed, failed, skipped) = report.counts();
    eprintln!(
        "{}, RequireEncryptAllowDecrypt: {passed} passed, {failed} failed, {skipped} skipped",
        path.display()
    );
    for r in &report.results {
        assert!(
            !matches!(r.outcome, Outcome::Failed(_)),
            "{}: {:?}",
            r.name,
            r.outcome
        );
        if let Outcome::Skipped(why) = &r.outcome {
            assert!(
                !why.contains("not opened by this build"),
                "{}: {why}",
                r.name
            );
        }
    }
    let strict = run(&path, &RunOptions::default());
    let (sp, sf, ss) = strict.counts();
    eprintln!(
        "{}, default policy: {sp} passed, {sf} failed, {ss} skipped",
        path.display()
    );
    assert_eq!(sf, 0);
    for r in &strict.results {
        if r.suite.is_some_and(|s| !matches!(s, 0x0478 | 0x0578)) {
            assert!(
                matches!(&r.outcome, Outcome::Skipped(w) if w.contains("commitment policy")),
                "{}: {:?}",
                r.name,
                r.outcome
            );
        }
    }
}
