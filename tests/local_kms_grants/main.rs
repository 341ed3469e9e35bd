//! LocalKms grants: CreateGrant / ListGrants / ListRetirableGrants / RetireGrant /
//! RevokeGrant, grant evaluation (grantee, operations, constraints), limits, key states and
//! persistence.
#![allow(clippy::unwrap_used, reason = "tests")]

mod evaluation;
mod management;

use fragseal::kms::local::{
    audit::Operation, CreateGrantRequest, GrantConstraints, GrantOperation, LocalKms, ManualClock,
};
use fragseal::kms::{Credential, DataKeySpec, Kms, KmsError, KmsErrorKind};
use fragseal::EncryptionContext;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "111122223333";
const OTHER: &str = "444455556666";

fn root() -> Credential {
    Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), "AKIAROOT").unwrap()
}

fn session(account: &str, role: &str) -> Credential {
    Credential::new(
        account,
        format!("arn:aws:sts::{account}:assumed-role/{role}/s-1"),
        format!("ASIA{}{account}", role.to_uppercase()),
    )
    .unwrap()
}

fn role_arn(account: &str, role: &str) -> String {
    format!("arn:aws:iam::{account}:role/{role}")
}

fn allow(action: &str) -> String {
    format!(r#"{{"Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"*"}}]}}"#)
}

fn deny(action: &str) -> String {
    format!(r#"{{"Statement":[{{"Effect":"Deny","Action":"{action}","Resource":"*"}}]}}"#)
}

fn ec(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs
        .iter()
        .fold(EncryptionContext::new(), |e, (k, v)| e.with(*k, *v))
}

fn kind<T: std::fmt::Debug>(r: Result<T, KmsError>) -> KmsErrorKind {
    r.unwrap_err().kind()
}

fn grant_req(key: &str, grantee: &str, ops: &[GrantOperation]) -> CreateGrantRequest {
    CreateGrantRequest {
        key_id: key.to_owned(),
        grantee_principal: grantee.to_owned(),
        operations: ops.to_vec(),
        ..CreateGrantRequest::default()
    }
}

fn setup() -> (LocalKms, String) {
    let kms = LocalKms::new(REGION, ACCOUNT);
    let key = kms.create_key(&root(), None, "k").unwrap().arn;
    (kms, key)
}

pub(crate) use GrantOperation as G;
