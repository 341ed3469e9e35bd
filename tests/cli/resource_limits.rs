//! Issue 11 and issue 10 attacks on memory and open files: init-data amplification, inputs
//! linked to /dev/zero, oversized sealed inputs, many fragments.

use super::*;

/// The sample with 32 MiB of Void before its first Cluster and then 2,000 tiny Clusters: a
/// 33.6 MB file whose 2,005 fragments would each carry 32 MiB of init data (~64 GiB).
#[cfg(unix)]
fn init_data_amplifier() -> Vec<u8> {
    stream_with(32 << 20, 2000)
}

/// The sample (Segment of unknown size) with `void` bytes of Void before its first Cluster and
/// `extra` tiny Clusters after its own.
#[cfg(unix)]
fn stream_with(void: usize, extra: u16) -> Vec<u8> {
    let sample = std::fs::read(SAMPLE).unwrap();
    // EBML header (40 bytes), then the Segment: its 8-byte size set to unknown.
    assert_eq!(&sample[40..44], &[0x18, 0x53, 0x80, 0x67]);
    let cluster_id = [0x1F, 0x43, 0xB6, 0x75];
    let first_cluster = sample.windows(4).position(|w| w == cluster_id).unwrap();
    let mut out = sample[..first_cluster].to_vec();
    out[45..52].copy_from_slice(&[0xFF; 7]);
    out[44] = 0x01;
    // Void (0xEC), 8-byte size, zeros.
    if void > 0 {
        out.push(0xEC);
        out.push(0x01);
        out.extend_from_slice(&(void as u64).to_be_bytes()[1..]);
        out.resize(out.len() + void, 0);
    }
    out.extend_from_slice(&sample[first_cluster..]);
    // Clusters holding only a Timestamp (0xE7).
    for i in 0..extra {
        out.extend_from_slice(&cluster_id);
        out.push(0x84); // size 4
        out.extend_from_slice(&[0xE7, 0x82]);
        out.extend_from_slice(&(5000 + i).to_be_bytes());
    }
    out
}

#[cfg(unix)]
#[test]
fn init_data_amplification_is_refused_before_any_work() {
    let env = Env::new();
    env.key();
    std::fs::write(env.path("amplifier.mkv"), init_data_amplifier()).unwrap();
    for args in [
        &["seal", "amplifier.mkv", "-o", "out", "--key", "alias/cam"][..],
        &["demo", "--input", "amplifier.mkv"][..],
    ] {
        capped(&env, args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(
                "more than 268435456 bytes of plaintext",
            ));
    }
    assert!(!env.path("out").exists(), "nothing is written");
    // The audit trail shows no GenerateDataKey: refused before any KMS call.
    env.cmd(&["kms", "audit"])
        .assert()
        .success()
        .stdout(predicate::str::contains("GenerateDataKey").not());
}

#[cfg(unix)]
#[test]
fn sealed_input_linked_to_dev_zero_fails_cleanly() {
    let env = Env::new();
    sealed_sample(&env);
    std::fs::remove_file(env.path("sealed/fragment-000000.sealed")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", env.path("sealed/fragment-000000.sealed")).unwrap();
    capped(&env, &["open", "--key", "alias/cam", "sealed", "-o", "out"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a regular file"));
    assert!(!env.path("out").exists());
    std::os::unix::fs::symlink("/dev/zero", env.path("zero.sealed")).unwrap();
    capped(&env, &["inspect", "zero.sealed"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a regular file"));
    capped(
        &env,
        &[
            "open",
            "--key",
            "alias/cam",
            "zero.sealed",
            "-o",
            "z.out",
            "--no-identity",
        ],
    )
    .assert()
    .code(2)
    .stderr(predicate::str::contains("not a regular file"));
    assert!(!env.path("z.out").exists());
}

#[test]
fn oversized_sealed_inputs_are_refused_by_size() {
    let env = Env::new();
    sealed_sample(&env);
    // Larger than --max-size.
    env.cmd(&[
        "inspect",
        "sealed/fragment-000001.sealed",
        "--max-size",
        "100",
    ])
    .assert()
    .code(2)
    .stderr(predicate::str::contains("larger than the 100-byte limit"));
    env.cmd(&[
        "open",
        "--key",
        "alias/cam",
        "sealed/fragment-000001.sealed",
        "-o",
        "x",
        "--no-identity",
        "--max-size",
        "100",
    ])
    .assert()
    .code(2);
    env.cmd(&[
        "open",
        "--key",
        "alias/cam",
        "sealed",
        "-o",
        "out",
        "--max-size",
        "100",
    ])
    .assert()
    .code(2)
    .stderr(predicate::str::contains("more than the 100-byte limit"));
    // A fragment that grew past what the index says.
    let mut f = std::fs::read(env.path("sealed/fragment-000004.sealed")).unwrap();
    f.extend_from_slice(&[0; 1000]);
    std::fs::write(env.path("sealed/fragment-000004.sealed"), f).unwrap();
    env.cmd(&["open", "--key", "alias/cam", "sealed", "-o", "out"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("but the index gives"));
    assert!(!env.path("out").exists());
}

#[cfg(unix)]
#[test]
fn many_fragments_do_not_hold_one_open_file_each() {
    let env = Env::new();
    env.key();
    std::fs::write(env.path("many.mkv"), stream_with(0, 1000)).unwrap();
    capped(
        &env,
        &["seal", "many.mkv", "-o", "sealed", "--key", "alias/cam"],
    )
    .assert()
    .success()
    .stdout(predicate::str::contains("sealed 1005 fragments"));
    capped(
        &env,
        &[
            "open",
            "--key",
            "alias/cam",
            "sealed",
            "-o",
            "out",
            "--join",
            "j.mkv",
        ],
    )
    .assert()
    .success()
    .stdout(predicate::str::contains("opened 1005 fragments"));
    assert_eq!(std::fs::read_dir(env.path("out")).unwrap().count(), 1005);
}
