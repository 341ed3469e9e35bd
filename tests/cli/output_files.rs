//! Issue 11 attacks on outputs: no overwriting, no following symlinks.

use super::*;

#[cfg(unix)]
#[test]
fn open_into_a_folder_neither_overwrites_nor_follows_symlinks() {
    let env = Env::new();
    sealed_sample(&env);
    std::fs::create_dir(env.path("out")).unwrap();
    std::fs::write(env.path("victim.txt"), b"victim").unwrap();
    std::fs::write(env.path("out/fragment-000003.mkv"), b"keep me").unwrap();
    std::os::unix::fs::symlink(env.path("victim.txt"), env.path("out/fragment-000002.mkv"))
        .unwrap();
    capped(&env, &["open", "--key", "alias/cam", "sealed", "-o", "out"])
        .assert()
        .code(6)
        .stderr(predicate::str::contains("already exists"));
    assert_eq!(std::fs::read(env.path("victim.txt")).unwrap(), b"victim");
    assert_eq!(
        std::fs::read(env.path("out/fragment-000003.mkv")).unwrap(),
        b"keep me"
    );
    assert!(!env.path("out/fragment-000000.mkv").exists());
    // --force replaces both, atomically, and replaces the symlink itself.
    env.cmd(&[
        "open",
        "--key",
        "alias/cam",
        "sealed",
        "-o",
        "out",
        "--force",
    ])
    .assert()
    .success();
    assert_eq!(std::fs::read(env.path("victim.txt")).unwrap(), b"victim");
    let link = std::fs::symlink_metadata(env.path("out/fragment-000002.mkv")).unwrap();
    assert!(
        link.file_type().is_file(),
        "the symlink was replaced, not followed"
    );
    assert_ne!(
        std::fs::read(env.path("out/fragment-000003.mkv")).unwrap(),
        b"keep me"
    );
    let names: Vec<String> = std::fs::read_dir(env.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 5, "no temporary file is left: {names:?}");
}

#[cfg(unix)]
#[test]
fn seal_into_a_folder_without_index_neither_overwrites_nor_follows_symlinks() {
    let env = Env::new();
    env.key();
    std::fs::create_dir(env.path("sealed")).unwrap();
    std::fs::write(env.path("victim.txt"), b"victim").unwrap();
    std::fs::write(env.path("sealed/fragment-000003.sealed"), b"keep me").unwrap();
    std::os::unix::fs::symlink(
        env.path("victim.txt"),
        env.path("sealed/fragment-000002.sealed"),
    )
    .unwrap();
    capped(
        &env,
        &["seal", SAMPLE, "-o", "sealed", "--key", "alias/cam"],
    )
    .assert()
    .code(6)
    .stderr(predicate::str::contains("already exists"));
    assert_eq!(std::fs::read(env.path("victim.txt")).unwrap(), b"victim");
    assert_eq!(
        std::fs::read(env.path("sealed/fragment-000003.sealed")).unwrap(),
        b"keep me"
    );
    assert!(!env.path("sealed/index.json").exists());
    env.cmd(&[
        "seal",
        SAMPLE,
        "-o",
        "sealed",
        "--key",
        "alias/cam",
        "--force",
    ])
    .assert()
    .success();
    assert_eq!(std::fs::read(env.path("victim.txt")).unwrap(), b"victim");
    let link = std::fs::symlink_metadata(env.path("sealed/fragment-000002.sealed")).unwrap();
    assert!(link.file_type().is_file());
    env.cmd(&["open", "--key", "alias/cam", "sealed", "-o", "out"])
        .assert()
        .success();
}

#[cfg(unix)]
#[test]
fn dangling_symlink_as_output_file_is_not_followed() {
    let env = Env::new();
    env.key();
    std::fs::write(env.path("data.bin"), b"some data").unwrap();
    std::os::unix::fs::symlink(env.path("created-by-attack"), env.path("out.sealed")).unwrap();
    capped(
        &env,
        &["seal", "data.bin", "-o", "out.sealed", "--key", "alias/cam"],
    )
    .assert()
    .code(6)
    .stderr(predicate::str::contains("already exists"));
    assert!(!env.path("created-by-attack").exists());
    env.cmd(&[
        "seal",
        "data.bin",
        "-o",
        "data.sealed",
        "--key",
        "alias/cam",
    ])
    .assert()
    .success();
    std::os::unix::fs::symlink(env.path("created-by-attack"), env.path("out.bin")).unwrap();
    capped(
        &env,
        &["open", "--key", "alias/cam", "data.sealed", "-o", "out.bin"],
    )
    .assert()
    .code(6);
    assert!(!env.path("created-by-attack").exists());
    // --force replaces the link itself.
    env.cmd(&[
        "open",
        "--key",
        "alias/cam",
        "data.sealed",
        "-o",
        "out.bin",
        "--force",
    ])
    .assert()
    .success();
    assert!(!env.path("created-by-attack").exists());
    assert_eq!(std::fs::read(env.path("out.bin")).unwrap(), b"some data");
}
