//! `GetCallerIdentity` and `AssumeRole`.
//!
//! `AssumeRole` is decided by the same evaluator as KMS ([`policy::authorize`]), with the
//! role's trust policy as the resource policy of the role ARN and the caller's identity
//! policies from the IAM file (for a session caller: its role's), action `sts:AssumeRole`,
//! and `sts:ExternalId` from the request:
//! - same account: the trust policy naming the caller directly allows; naming the account
//!   (`arn:aws:iam::A:root`) needs an identity policy of the caller that allows too;
//! - another account: the trust policy must name the caller or its account AND an identity
//!   policy of the caller must allow (as in AWS);
//! - an explicit `Deny` in either wins; a role without a trust policy cannot be assumed.

use super::ids;
use super::xml::Xml;
use super::{metadata, Params, StsError};
use crate::kms::local::policy::{self, role_of_session, RequestContext};
use crate::kms::local::{Policy, PolicyKind};
use crate::kms::Credential;
use crate::server::sessions::Session;
use crate::server::sigv4::Clocks;
use crate::server::Shared;
use std::time::Duration;

/// The shortest session (`roleDurationSecondsType`'s minimum).
const MIN_DURATION: u64 = 900;
/// The model's largest session (`roleDurationSecondsType`'s maximum).
const MAX_DURATION: u64 = 43_200;
/// A session assuming a role (role chaining) gets at most one hour, as in AWS.
const CHAINED_MAX: u64 = 3600;

/// `aws:userid` of `caller`: the account id for the root, `AIDA…` for a user, `AROA…:SESSION`
/// for a role session.
fn user_id(caller: &Credential) -> String {
    let arn = caller.principal_arn();
    if arn == policy::root_arn(caller.account()) {
        return caller.account().to_owned();
    }
    if let Some((account, role)) = role_of_session(arn) {
        let session = arn.rsplit('/').next().unwrap_or_default();
        let role_arn = format!("arn:aws:iam::{account}:role/{role}");
        return format!("{}:{session}", ids::unique_id("AROA", &role_arn));
    }
    ids::unique_id("AIDA", arn)
}

pub(crate) fn get_caller_identity(caller: &Credential, request_id: &str) -> Vec<u8> {
    let mut x = Xml::root("GetCallerIdentityResponse");
    x.open("GetCallerIdentityResult")
        .leaf("Arn", caller.principal_arn())
        .leaf("UserId", &user_id(caller))
        .leaf("Account", caller.account())
        .close("GetCallerIdentityResult");
    metadata(&mut x, request_id);
    x.finish("GetCallerIdentityResponse")
}

/// AWS's wording of a constraint failure on `member`.
fn constraint(value: &str, member: &str, rule: &str) -> StsError {
    StsError::validation(format!(
        "1 validation error detected: Value '{}' at '{member}' failed to satisfy constraint: \
         Member must {rule}",
        value.escape_default()
    ))
}

fn required(p: &mut Params, name: &'static str, member: &str) -> Result<String, StsError> {
    p.take(name).ok_or_else(|| {
        StsError::validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy \
             constraint: Member must not be null"
        ))
    })
}

fn check_chars(
    value: &str,
    member: &str,
    min: usize,
    max: usize,
    extra: &[u8],
    pattern: &str,
) -> Result<(), StsError> {
    let n = value.chars().count();
    if n < min {
        return Err(constraint(
            value,
            member,
            &format!("have length greater than or equal to {min}"),
        ));
    }
    if n > max {
        return Err(constraint(
            value,
            member,
            &format!("have length less than or equal to {max}"),
        ));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || extra.contains(&b))
    {
        return Err(constraint(
            value,
            member,
            &format!("satisfy regular expression pattern: {pattern}"),
        ));
    }
    Ok(())
}

/// The validated `AssumeRole` request.
struct AssumeRequest {
    role_arn: String,
    session_name: String,
    duration: Option<u64>,
    external_id: Option<String>,
}

fn parse_request(mut p: Params) -> Result<AssumeRequest, StsError> {
    let role_arn = required(&mut p, "RoleArn", "roleArn")?;
    let session_name = required(&mut p, "RoleSessionName", "roleSessionName")?;
    let duration = p.take("DurationSeconds");
    let external_id = p.take("ExternalId");
    p.finish("AssumeRole")?;
    let n = role_arn.chars().count();
    if n < 20 {
        return Err(constraint(
            &role_arn,
            "roleArn",
            "have length greater than or equal to 20",
        ));
    }
    if n > 2048 {
        return Err(constraint(
            &role_arn,
            "roleArn",
            "have length less than or equal to 2048",
        ));
    }
    check_chars(
        &session_name,
        "roleSessionName",
        2,
        64,
        b"+=,.@-",
        r"[\w+=,.@-]*",
    )?;
    if let Some(e) = &external_id {
        check_chars(e, "externalId", 2, 1224, b"+=,.@:/-", r"[\w+=,.@:\/-]*")?;
    }
    let duration = match duration {
        None => None,
        Some(d) => {
            let v: i64 = d.parse().map_err(|_| {
                StsError::validation(format!(
                    "Value '{}' for DurationSeconds is not a valid integer.",
                    d.escape_default()
                ))
            })?;
            if v < MIN_DURATION as i64 {
                return Err(constraint(
                    &d,
                    "durationSeconds",
                    &format!("have value greater than or equal to {MIN_DURATION}"),
                ));
            }
            if v > MAX_DURATION as i64 {
                return Err(constraint(
                    &d,
                    "durationSeconds",
                    &format!("have value less than or equal to {MAX_DURATION}"),
                ));
            }
            Some(v as u64)
        }
    };
    Ok(AssumeRequest {
        role_arn,
        session_name,
        duration,
        external_id,
    })
}

/// The caller's identity policies (a session's are its role's), parsed.
fn identity_policies(shared: &Shared, caller: &Credential) -> Result<Vec<Policy>, StsError> {
    let arn = match role_of_session(caller.principal_arn()) {
        Some((account, role)) => format!("arn:aws:iam::{account}:role/{role}"),
        None => caller.principal_arn().to_owned(),
    };
    shared
        .iam
        .identity_policies()
        .get(&arn)
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|t| {
            Policy::parse(t, PolicyKind::Identity).map_err(|e| {
                StsError::new("InternalFailure", format!("identity policy of {arn}: {e}"))
            })
        })
        .collect()
}

pub(crate) fn assume_role(
    shared: &Shared,
    caller: &Credential,
    params: Params,
    request_id: &str,
    clocks: Clocks,
) -> Result<Vec<u8>, StsError> {
    let req = parse_request(params)?;
    let denied = || {
        StsError::new(
            "AccessDenied",
            format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {}",
                caller.principal_arn(),
                req.role_arn
            ),
        )
    };
    // An unknown role reads as a refusal, as in AWS (no oracle for which roles exist).
    let role = shared.iam.role(&req.role_arn).ok_or_else(denied)?;
    let trust = role.trust_policy.as_ref().ok_or_else(denied)?;
    let identity = identity_policies(shared, caller)?;
    let identity: Vec<&Policy> = identity.iter().collect();
    let request = policy::Request {
        action: "sts:AssumeRole",
        resource: &role.arn,
        context: RequestContext {
            principal_arn: caller.principal_arn(),
            principal_account: caller.account(),
            external_id: req.external_id.as_deref(),
            ..RequestContext::default()
        },
    };
    if !policy::authorize(Some(trust), &role.account, &identity, &request).is_allowed() {
        return Err(denied());
    }
    let chained = role_of_session(caller.principal_arn()).is_some();
    let seconds = req.duration.unwrap_or(3600);
    if chained && seconds > CHAINED_MAX {
        return Err(StsError::validation(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed \
             by role chaining.",
        ));
    }
    if seconds > u64::from(role.max_session_duration) {
        return Err(StsError::validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }
    // Never an id the IAM file declares (it would shadow the session) or a live session's.
    let access_key_id = loop {
        let id = ids::session_access_key_id();
        if shared.iam.access_key(&id).is_none() && shared.sessions.find(&id, None).is_none() {
            break id;
        }
    };
    let session_arn = format!(
        "arn:aws:sts::{}:assumed-role/{}/{}",
        role.account, role.name, req.session_name
    );
    let credential = Credential::new(&role.account, &session_arn, &access_key_id)
        .map_err(|e| StsError::new("InternalFailure", e.to_string()))?;
    // Issued on the real clock; expiry is checked on the offset one (see `clock_offset`).
    let expiration = clocks.real + Duration::from_secs(seconds);
    let secret = ids::session_secret();
    let token = ids::session_token();
    let mut x = Xml::root("AssumeRoleResponse");
    x.open("AssumeRoleResult")
        .open("Credentials")
        .leaf("AccessKeyId", &access_key_id)
        .leaf("SecretAccessKey", &secret)
        .leaf("SessionToken", &token)
        .leaf(
            "Expiration",
            &humantime::format_rfc3339_seconds(expiration).to_string(),
        )
        .close("Credentials")
        .open("AssumedRoleUser")
        .leaf(
            "AssumedRoleId",
            &format!("{}:{}", ids::unique_id("AROA", &role.arn), req.session_name),
        )
        .leaf("Arn", &session_arn)
        .close("AssumedRoleUser")
        .close("AssumeRoleResult");
    metadata(&mut x, request_id);
    shared.sessions.insert(
        Session::new(credential, secret, token, expiration),
        clocks.sessions,
    );
    Ok(x.finish("AssumeRoleResponse"))
}
