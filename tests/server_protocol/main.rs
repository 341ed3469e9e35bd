//! The JSON 1.1 protocol of `fragseal kms serve`: bad input of every kind gets AWS's exception
//! (or a typed refusal), timeouts drop slow and idle clients, and the server keeps serving
//! after each. Operations answer in botocore's shapes; SIGTERM stops the server cleanly.

#[path = "../server_common/mod.rs"]
mod server_common;

use server_common::*;
use std::io::{Read, Write};

mod connections;
mod errors;
mod operations;

fn error_of(a: &Answer) -> (u16, String, String) {
    let (c, m) = a.error();
    (a.status, c, m)
}

fn still_serves(s: &ServerProcess) {
    let a = root_call(s.addr, "ListKeys", "{}");
    assert_eq!(a.status, 200, "{:?}", a.error());
}

fn create_key(s: &ServerProcess) -> String {
    let a = root_call(s.addr, "CreateKey", r#"{"Description": "test key"}"#);
    assert_eq!(a.status, 200, "{:?}", a.error());
    a.json()["KeyMetadata"]["Arn"]
        .as_str()
        .expect("arn")
        .to_owned()
}
