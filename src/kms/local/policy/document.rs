//! The policy document: JSON parsed and validated into [`Policy`] and its [`Statement`]s.

use super::condition::{parse_conditions, Condition};
use super::{PolicyError, PolicyErrorKind};
use crate::arn::{Arn, Principal, PrincipalArn};
use serde_json::Value;

/// Which kind of policy a document is; decides whether statements name principals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    /// A resource (key) policy: every statement has `Principal` or `NotPrincipal`.
    Key,
    /// An identity policy attached to a principal: no statement has a principal.
    Identity,
}

/// `Allow` or `Deny`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Grants.
    Allow,
    /// Explicitly refuses; wins over every `Allow`.
    Deny,
}

/// One entry of a `Principal` element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrincipalEntry {
    /// `"*"` or `{"AWS": "*"}`: everyone.
    Anyone,
    /// An account (`ACCOUNT` or `arn:aws:iam::ACCOUNT:root`): delegates to identity policies.
    Account(String),
    /// A specific principal ARN.
    Arn(String),
    /// A `Service`, `Federated` or `CanonicalUser` principal (never matches a credential).
    Other(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum PrincipalSpec {
    /// Identity policy: the principal the policy is attached to.
    Attached,
    Principal(Vec<PrincipalEntry>),
    NotPrincipal(Vec<PrincipalEntry>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Patterns {
    Match(Vec<String>),
    NotMatch(Vec<String>),
}

/// One statement of a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub(super) sid: Option<String>,
    pub(super) effect: Effect,
    pub(super) principal: PrincipalSpec,
    pub(super) actions: Patterns,
    pub(super) resources: Patterns,
    pub(super) conditions: Vec<Condition>,
}

impl Statement {
    /// The statement id, if any.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// `Allow` or `Deny`.
    pub fn effect(&self) -> Effect {
        self.effect
    }
}

/// A parsed policy document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub(super) kind: PolicyKind,
    version: Option<String>,
    id: Option<String>,
    pub(super) statements: Vec<Statement>,
}

impl Policy {
    /// Parses a JSON policy document of `kind`.
    ///
    /// # Errors
    /// A [`PolicyError`] naming the first malformed element.
    ///
    /// The text is decoded with a duplicate-detecting reader: an object that repeats a key
    /// anywhere in the document (`"Effect":"Deny", ..., "Effect":"Allow"`) is refused, where a
    /// plain [`serde_json::Value`] would silently keep the last value.
    pub fn parse(json: &str, kind: PolicyKind) -> Result<Self, PolicyError> {
        let value = crate::strict_json::from_slice(json.as_bytes(), |key| {
            format!(
                "duplicate JSON object key {key:?} (refused: JSON leaves the meaning of a \
                 repeated key open, and a reader keeping the last one would let \
                 \"Effect\":\"Deny\", ..., \"Effect\":\"Allow\" allow)"
            )
        })
        .map_err(|e| {
            if e.classify() == serde_json::error::Category::Data {
                // The only data error the strict reader raises is a repeated key.
                PolicyError::with_kind(PolicyErrorKind::DuplicateKey, "", e.to_string())
            } else {
                PolicyError::with_kind(PolicyErrorKind::Json, "", format!("not valid JSON: {e}"))
            }
        })?;
        Self::from_value(&value, kind)
    }

    /// Parses an already decoded JSON document of `kind`.
    ///
    /// A [`Value`] has already dropped repeated object keys, so this cannot refuse them:
    /// parse untrusted text with [`Policy::parse`].
    ///
    /// # Errors
    /// A [`PolicyError`] naming the first malformed element.
    pub fn from_value(value: &Value, kind: PolicyKind) -> Result<Self, PolicyError> {
        let obj = value
            .as_object()
            .ok_or_else(|| PolicyError::new("", "expected a JSON object"))?;
        let mut version = None;
        let mut id = None;
        let mut statements = None;
        for (k, v) in obj {
            match k.as_str() {
                "Version" => {
                    let s = v
                        .as_str()
                        .ok_or_else(|| PolicyError::new("Version", "expected a string"))?;
                    if s != "2012-10-17" && s != "2008-10-17" {
                        return Err(PolicyError::new(
                            "Version",
                            format!("expected \"2012-10-17\" or \"2008-10-17\", got {s:?}"),
                        ));
                    }
                    version = Some(s.to_owned());
                }
                "Id" => {
                    id = Some(
                        v.as_str()
                            .ok_or_else(|| PolicyError::new("Id", "expected a string"))?
                            .to_owned(),
                    );
                }
                "Statement" => {
                    let list: Vec<&Value> = match v {
                        Value::Array(a) => a.iter().collect(),
                        Value::Object(_) => vec![v],
                        _ => {
                            return Err(PolicyError::new(
                                "Statement",
                                "expected an object or an array of objects",
                            ))
                        }
                    };
                    if list.is_empty() {
                        return Err(PolicyError::new("Statement", "must not be empty"));
                    }
                    let mut parsed = Vec::with_capacity(list.len());
                    for (i, s) in list.into_iter().enumerate() {
                        parsed.push(parse_statement(s, &format!("Statement[{i}]"), kind)?);
                    }
                    statements = Some(parsed);
                }
                other => {
                    return Err(PolicyError::new(other, "unknown policy element"));
                }
            }
        }
        let statements = statements.ok_or_else(|| PolicyError::new("Statement", "missing"))?;
        Ok(Self {
            kind,
            version,
            id,
            statements,
        })
    }

    /// The kind given at parse time.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// `Version`, if present.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// `Id`, if present.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The statements.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }
}

fn parse_statement(v: &Value, path: &str, kind: PolicyKind) -> Result<Statement, PolicyError> {
    let obj = v
        .as_object()
        .ok_or_else(|| PolicyError::new(path, "expected a JSON object"))?;
    let mut sid = None;
    let mut effect = None;
    let mut principal = None;
    let mut actions = None;
    let mut resources = None;
    let mut conditions = Vec::new();
    for (k, v) in obj {
        let here = format!("{path}.{k}");
        match k.as_str() {
            "Sid" => {
                sid = Some(
                    v.as_str()
                        .ok_or_else(|| PolicyError::new(&here, "expected a string"))?
                        .to_owned(),
                )
            }
            "Effect" => {
                effect = Some(match v.as_str() {
                    Some("Allow") => Effect::Allow,
                    Some("Deny") => Effect::Deny,
                    _ => {
                        return Err(PolicyError::new(&here, "expected \"Allow\" or \"Deny\""));
                    }
                })
            }
            "Principal" | "NotPrincipal" => {
                if kind == PolicyKind::Identity {
                    return Err(PolicyError::new(&here, "not allowed in an identity policy"));
                }
                if principal.is_some() {
                    return Err(PolicyError::new(
                        &here,
                        "only one of Principal and NotPrincipal may be given",
                    ));
                }
                let entries = parse_principal(v, &here)?;
                principal = Some(if k == "Principal" {
                    PrincipalSpec::Principal(entries)
                } else {
                    PrincipalSpec::NotPrincipal(entries)
                });
            }
            "Action" | "NotAction" => {
                if actions.is_some() {
                    return Err(PolicyError::new(
                        &here,
                        "only one of Action and NotAction may be given",
                    ));
                }
                actions = Some(parse_patterns(
                    v,
                    &here,
                    k == "Action",
                    |a| a.contains(':'),
                    "\"service:action\"",
                )?);
            }
            "Resource" | "NotResource" => {
                if resources.is_some() {
                    return Err(PolicyError::new(
                        &here,
                        "only one of Resource and NotResource may be given",
                    ));
                }
                resources = Some(parse_patterns(
                    v,
                    &here,
                    k == "Resource",
                    |r| r.starts_with("arn:"),
                    "an ARN",
                )?);
            }
            "Condition" => conditions = parse_conditions(v, &here)?,
            other => {
                return Err(PolicyError::new(
                    &here,
                    format!("unknown statement element {other:?}"),
                ))
            }
        }
    }
    let effect = effect.ok_or_else(|| PolicyError::new(format!("{path}.Effect"), "missing"))?;
    let actions = actions.ok_or_else(|| {
        PolicyError::new(format!("{path}.Action"), "missing (Action or NotAction)")
    })?;
    let resources = resources.ok_or_else(|| {
        PolicyError::new(
            format!("{path}.Resource"),
            "missing (Resource or NotResource)",
        )
    })?;
    if effect == Effect::Allow && matches!(principal, Some(PrincipalSpec::NotPrincipal(_))) {
        return Err(PolicyError::new(
            format!("{path}.NotPrincipal"),
            "not supported with \"Effect\": \"Allow\" (AWS accepts NotPrincipal only with \"Deny\")",
        ));
    }
    let principal = match (kind, principal) {
        (PolicyKind::Identity, _) => PrincipalSpec::Attached,
        (PolicyKind::Key, Some(p)) => p,
        (PolicyKind::Key, None) => {
            return Err(PolicyError::new(
                format!("{path}.Principal"),
                "missing (a key policy statement needs Principal or NotPrincipal)",
            ))
        }
    };
    Ok(Statement {
        sid,
        effect,
        principal,
        actions,
        resources,
        conditions,
    })
}

fn parse_principal(v: &Value, path: &str) -> Result<Vec<PrincipalEntry>, PolicyError> {
    match v {
        Value::String(s) if s == "*" => Ok(vec![PrincipalEntry::Anyone]),
        Value::String(_) => Err(PolicyError::new(
            path,
            "expected \"*\" or an object such as {\"AWS\": ...}",
        )),
        Value::Object(map) => {
            if map.is_empty() {
                return Err(PolicyError::new(path, "must not be empty"));
            }
            let mut out = Vec::new();
            for (k, v) in map {
                let here = format!("{path}.{k}");
                let list = string_list(v, &here)?;
                match k.as_str() {
                    "AWS" => {
                        for (i, s) in list.into_iter().enumerate() {
                            out.push(parse_aws_principal(s, &format!("{here}[{i}]"))?);
                        }
                    }
                    "Service" | "Federated" | "CanonicalUser" => {
                        out.extend(list.into_iter().map(PrincipalEntry::Other));
                    }
                    other => {
                        return Err(PolicyError::new(
                            &here,
                            format!("unknown principal type {other:?}"),
                        ))
                    }
                }
            }
            Ok(out)
        }
        _ => Err(PolicyError::new(
            path,
            "expected \"*\" or an object such as {\"AWS\": ...}",
        )),
    }
}

fn parse_aws_principal(s: String, path: &str) -> Result<PrincipalEntry, PolicyError> {
    if s == "*" {
        return Ok(PrincipalEntry::Anyone);
    }
    if is_account_id(&s) {
        return Ok(PrincipalEntry::Account(s));
    }
    if let Some(root) = PrincipalArn::parse(&s) {
        if root.principal() == Principal::Root && root.arn().partition() == "aws" {
            return Ok(PrincipalEntry::Account(root.account().to_owned()));
        }
    }
    if s.contains(['*', '?']) {
        return Err(PolicyError::new(
            path,
            format!("wildcards are not allowed in a principal ARN (use \"*\" alone), got {s:?}"),
        ));
    }
    if Arn::parse(&s).is_some() {
        return Ok(PrincipalEntry::Arn(s));
    }
    Err(PolicyError::new(
        path,
        format!("expected \"*\", a 12-digit account id or a principal ARN, got {s:?}"),
    ))
}

pub use crate::arn::is_account_id;

/// An Action/NotAction or Resource/NotResource value: a string or a list of strings, each `*`
/// or accepted by `valid` (described as `expected` in the error).
fn parse_patterns(
    v: &Value,
    here: &str,
    positive: bool,
    valid: impl Fn(&str) -> bool,
    expected: &str,
) -> Result<Patterns, PolicyError> {
    let list = string_list(v, here)?;
    for (i, p) in list.iter().enumerate() {
        if p != "*" && !valid(p) {
            return Err(PolicyError::new(
                format!("{here}[{i}]"),
                format!("expected {expected} or \"*\", got {p:?}"),
            ));
        }
    }
    Ok(if positive {
        Patterns::Match(list)
    } else {
        Patterns::NotMatch(list)
    })
}

fn string_list(v: &Value, path: &str) -> Result<Vec<String>, PolicyError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => {
            if a.is_empty() {
                return Err(PolicyError::new(path, "must not be an empty array"));
            }
            a.iter()
                .enumerate()
                .map(|(i, x)| {
                    x.as_str().map(str::to_owned).ok_or_else(|| {
                        PolicyError::new(format!("{path}[{i}]"), "expected a string")
                    })
                })
                .collect()
        }
        _ => Err(PolicyError::new(
            path,
            "expected a string or an array of strings",
        )),
    }
}
