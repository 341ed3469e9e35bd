//! Slow and idle clients, SIGTERM, a bad IAM file at startup.

use super::*;

#[test]
fn slow_and_idle_clients_are_dropped_and_others_still_served() {
    let s = ServerProcess::start(
        &iam_json(),
        &["--header-timeout", "300ms", "--body-timeout", "300ms"],
    );
    // A head that never ends.
    let mut slow = connect(s.addr);
    slow.write_all(b"POST / HTTP/1.1\r\nhost: x\r\n")
        .expect("write");
    let mut buf = Vec::new();
    let n = slow
        .read_to_end(&mut buf)
        .expect("closed by the server, not timed out here");
    // hyper may answer 408 before closing; either way the connection ends.
    assert!(
        n == 0 || buf.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&buf)
    );

    // A body that never arrives.
    let signing = Signing::new(ROOT_KEY, ROOT_SECRET);
    let headers = signed_headers(s.addr, "ListKeys", b"{}", &signing);
    let mut req = request_bytes(&headers, b"{}");
    req.truncate(req.len() - 2);
    let mut stalled = connect(s.addr);
    stalled.write_all(&req).expect("write");
    let a = read_answer(&mut stalled).expect("answered");
    assert_eq!(
        (a.status, a.error().0.as_str()),
        (408, "RequestTimeoutException")
    );

    // An idle keep-alive connection is closed after the timeout.
    let mut idle = connect(s.addr);
    let headers = signed_headers(s.addr, "ListKeys", b"{}", &signing);
    idle.write_all(&request_bytes(&headers, b"{}"))
        .expect("write");
    assert_eq!(read_answer(&mut idle).expect("answer").status, 200);
    let mut rest = Vec::new();
    assert_eq!(idle.read_to_end(&mut rest).expect("closed"), 0);

    still_serves(&s);
}

#[test]
fn sigterm_stops_the_server_cleanly_and_the_state_survives() {
    let s = ServerProcess::start(&iam_json(), &[]);
    let arn = create_key(&s);
    let (status, dir) = s.terminate();
    assert!(status.success(), "{status:?}");
    let s = ServerProcess::start_in(dir, &[]);
    let a = root_call(s.addr, "DescribeKey", &format!(r#"{{"KeyId": "{arn}"}}"#));
    assert_eq!(a.status, 200, "{:?}", a.error());
    assert_eq!(a.json()["KeyMetadata"]["Arn"], arn.as_str());
}

#[test]
fn a_bad_iam_file_stops_startup_with_the_problem_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let iam = dir.path().join("iam.json");
    for (text, needle) in [
        (r#"{"Accounts": [{"AccountId": "12"}]}"#, "not 12 digits"),
        (r#"{"Acounts": []}"#, "unknown field `Acounts`"),
    ] {
        std::fs::write(&iam, text).expect("write");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fragseal"))
            .arg("kms")
            .arg("--kms-state")
            .arg(dir.path().join("state.json"))
            .args(["serve", "--iam"])
            .arg(&iam)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{err}");
        assert!(out.stdout.is_empty());
    }
}
