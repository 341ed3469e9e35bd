//! Condition operators, condition keys and the request values they read ([`RequestContext`]).

use super::document::Effect;
use super::pattern::{arn_like, glob};
use super::role_of_session;
use super::{PolicyError, PolicyErrorKind};
use crate::format::EncryptionContext;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// A condition operator without qualifier or `IfExists`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    /// `StringEquals`.
    StringEquals,
    /// `StringNotEquals`.
    StringNotEquals,
    /// `StringEqualsIgnoreCase`.
    StringEqualsIgnoreCase,
    /// `StringNotEqualsIgnoreCase`.
    StringNotEqualsIgnoreCase,
    /// `StringLike` (`*` and `?` wildcards).
    StringLike,
    /// `StringNotLike`.
    StringNotLike,
    /// `ArnEquals` (IAM treats it like `ArnLike`).
    ArnEquals,
    /// `ArnLike` (per-segment wildcards).
    ArnLike,
    /// `ArnNotEquals`.
    ArnNotEquals,
    /// `ArnNotLike`.
    ArnNotLike,
    /// `Bool`.
    Bool,
    /// `Null` (`true`: the key must be absent; `false`: present).
    Null,
}

impl Operator {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "StringEquals" => Self::StringEquals,
            "StringNotEquals" => Self::StringNotEquals,
            "StringEqualsIgnoreCase" => Self::StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => Self::StringNotEqualsIgnoreCase,
            "StringLike" => Self::StringLike,
            "StringNotLike" => Self::StringNotLike,
            "ArnEquals" => Self::ArnEquals,
            "ArnLike" => Self::ArnLike,
            "ArnNotEquals" => Self::ArnNotEquals,
            "ArnNotLike" => Self::ArnNotLike,
            "Bool" => Self::Bool,
            "Null" => Self::Null,
            _ => return None,
        })
    }

    fn negated(self) -> bool {
        matches!(
            self,
            Self::StringNotEquals
                | Self::StringNotEqualsIgnoreCase
                | Self::StringNotLike
                | Self::ArnNotEquals
                | Self::ArnNotLike
        )
    }

    /// The positive form of the comparison between a policy value and a request value.
    fn positive_match(self, pattern: &str, value: &str) -> bool {
        match self {
            Self::StringEquals | Self::StringNotEquals => pattern == value,
            Self::StringEqualsIgnoreCase | Self::StringNotEqualsIgnoreCase => {
                pattern == value || pattern.to_lowercase() == value.to_lowercase()
            }
            Self::StringLike | Self::StringNotLike => glob(pattern, value, false),
            Self::ArnEquals | Self::ArnLike | Self::ArnNotEquals | Self::ArnNotLike => {
                arn_like(pattern, value)
            }
            Self::Bool => pattern.eq_ignore_ascii_case(value),
            // Null is evaluated on presence, never per value.
            Self::Null => false,
        }
    }
}

/// `ForAnyValue:` / `ForAllValues:` or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Qualifier {
    /// No set qualifier.
    Single,
    /// `ForAnyValue:`: some request value satisfies the operator.
    ForAnyValue,
    /// `ForAllValues:`: every request value satisfies the operator (true when there are none).
    ForAllValues,
}

/// A condition key of the modelled set (see the module documentation).
///
/// Names are matched case-insensitively, as IAM does. Any other key is rejected at parse time:
/// a key LocalKms cannot answer would otherwise read as absent, and a `Deny` conditioned on it
/// would never fire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum ConditionKey {
    /// `kms:CallerAccount`.
    CallerAccount,
    /// `aws:PrincipalAccount`.
    PrincipalAccount,
    /// `aws:PrincipalArn`.
    PrincipalArn,
    /// `kms:ViaService`.
    ViaService,
    /// `kms:RequestAlias`.
    RequestAlias,
    /// `kms:EncryptionContextKeys` (multi-valued).
    EncryptionContextKeys,
    /// `kms:EncryptionContext:KEY`, with `KEY` as written in the policy.
    EncryptionContext(String),
    /// `sts:ExternalId` (only an `AssumeRole` request has it, in a role's trust policy).
    ExternalId,
}

/// The names of the modelled condition keys, as listed in errors.
pub(super) const MODELLED_KEYS: &str =
    "kms:CallerAccount, aws:PrincipalAccount, aws:PrincipalArn, \
     kms:ViaService, kms:RequestAlias, kms:EncryptionContextKeys, kms:EncryptionContext:KEY, \
     sts:ExternalId";

impl ConditionKey {
    /// Every key but `kms:EncryptionContextKeys` has at most one value per request.
    fn is_single_valued(&self) -> bool {
        !matches!(self, Self::EncryptionContextKeys)
    }

    /// The modelled key named `name` (case-insensitive), if any.
    pub(super) fn parse(name: &str) -> Option<Self> {
        const EC_PREFIX: &str = "kms:EncryptionContext:";
        let is = |k: &str| name.eq_ignore_ascii_case(k);
        Some(if is("kms:CallerAccount") {
            Self::CallerAccount
        } else if is("aws:PrincipalAccount") {
            Self::PrincipalAccount
        } else if is("aws:PrincipalArn") {
            Self::PrincipalArn
        } else if is("kms:ViaService") {
            Self::ViaService
        } else if is("kms:RequestAlias") {
            Self::RequestAlias
        } else if is("kms:EncryptionContextKeys") {
            Self::EncryptionContextKeys
        } else if is("sts:ExternalId") {
            Self::ExternalId
        } else {
            let prefix = name.get(..EC_PREFIX.len())?;
            let key = &name[EC_PREFIX.len()..];
            if !prefix.eq_ignore_ascii_case(EC_PREFIX) || key.is_empty() {
                return None;
            }
            Self::EncryptionContext(key.to_owned())
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Condition {
    op: Operator,
    qualifier: Qualifier,
    if_exists: bool,
    key: ConditionKey,
    values: Vec<String>,
}

impl Condition {
    /// Whether this condition holds for `ctx`, in a statement of `effect`.
    pub(super) fn eval(&self, ctx: &RequestContext<'_>, effect: Effect) -> bool {
        let values = ctx.lookup(&self.key);
        if self.op == Operator::Null {
            let present = values.as_ref().is_some_and(|v| !v.is_empty());
            return self
                .values
                .iter()
                .any(|p| p.eq_ignore_ascii_case("true") != present);
        }
        let values = match values {
            Some(v) if !v.is_empty() => v,
            _ => {
                return self.if_exists
                    || match self.qualifier {
                        Qualifier::ForAllValues => true,
                        Qualifier::ForAnyValue => false,
                        Qualifier::Single => self.op.negated(),
                    }
            }
        };
        if values.len() > 1 && self.key.is_single_valued() {
            // The context holds case variants of KEY (`kms:EncryptionContext:KEY` is the only
            // single-valued key with more than one value): none of them stands for the key.
            // Fail closed: an Allow does not apply, a Deny does.
            return effect == Effect::Deny;
        }
        let negated = self.op.negated();
        let test = |v: &str| {
            let any = self.values.iter().any(|p| self.op.positive_match(p, v));
            any != negated
        };
        match self.qualifier {
            Qualifier::Single | Qualifier::ForAnyValue => values.iter().any(|v| test(v)),
            Qualifier::ForAllValues => values.iter().all(|v| test(v)),
        }
    }
}

/// The request-side values that condition keys read.
#[derive(Clone, Debug, Default)]
pub struct RequestContext<'a> {
    /// The caller's principal ARN. `aws:PrincipalArn` is this ARN, except for a role session
    /// (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`), for which it is the ARN of the role
    /// (`arn:aws:iam::ACCOUNT:role/NAME`), as in AWS. A session ARN does not carry the role's
    /// path, so a role with a path is named without it.
    pub principal_arn: &'a str,
    /// The caller's account (`kms:CallerAccount`, `aws:PrincipalAccount`).
    pub principal_account: &'a str,
    /// The service the call came through, e.g. `kinesisvideo.us-east-1.amazonaws.com`
    /// (`kms:ViaService`); `None` for a direct call.
    pub via_service: Option<&'a str>,
    /// The request's encryption context (`kms:EncryptionContext:KEY`,
    /// `kms:EncryptionContextKeys`).
    pub encryption_context: Option<&'a EncryptionContext>,
    /// The alias the caller named, e.g. `alias/aws/kinesisvideo` (`kms:RequestAlias`).
    pub request_alias: Option<&'a str>,
    /// The `ExternalId` of an STS `AssumeRole` request (`sts:ExternalId`); `None` for every
    /// KMS call and for an `AssumeRole` without one.
    pub external_id: Option<&'a str>,
}

impl<'a> RequestContext<'a> {
    /// The values of condition key `key` (case-insensitive name); `None` when absent or when
    /// `key` is not one of the modelled keys (a policy naming such a key does not parse).
    ///
    /// `kms:EncryptionContext:KEY` reads every context pair whose key equals `KEY` ignoring
    /// case, so it has more than one value exactly when the context holds case variants of
    /// `KEY`.
    pub fn values(&self, key: &str) -> Option<Vec<Cow<'a, str>>> {
        self.lookup(&ConditionKey::parse(key)?)
    }

    pub(super) fn lookup(&self, key: &ConditionKey) -> Option<Vec<Cow<'a, str>>> {
        match key {
            ConditionKey::CallerAccount | ConditionKey::PrincipalAccount => {
                Some(vec![Cow::Borrowed(self.principal_account)])
            }
            ConditionKey::PrincipalArn => {
                let arn = match role_of_session(self.principal_arn) {
                    Some((account, name)) => {
                        Cow::Owned(format!("arn:aws:iam::{account}:role/{name}"))
                    }
                    None => Cow::Borrowed(self.principal_arn),
                };
                Some(vec![arn])
            }
            ConditionKey::ViaService => self.via_service.map(|v| vec![Cow::Borrowed(v)]),
            ConditionKey::RequestAlias => self.request_alias.map(|v| vec![Cow::Borrowed(v)]),
            ConditionKey::ExternalId => self.external_id.map(|v| vec![Cow::Borrowed(v)]),
            ConditionKey::EncryptionContextKeys => {
                let ec = self.encryption_context?;
                if ec.is_empty() {
                    return None;
                }
                Some(ec.iter().map(|(k, _)| Cow::Borrowed(k)).collect())
            }
            ConditionKey::EncryptionContext(wanted) => {
                let ec = self.encryption_context?;
                let found: Vec<Cow<'a, str>> = ec
                    .iter()
                    .filter(|(k, _)| k.eq_ignore_ascii_case(wanted))
                    .map(|(_, v)| Cow::Borrowed(v))
                    .collect();
                if found.is_empty() {
                    None
                } else {
                    Some(found)
                }
            }
        }
    }
}

fn condition_values(v: &Value, path: &str) -> Result<Vec<String>, PolicyError> {
    fn scalar(x: &Value) -> Option<String> {
        match x {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
    match v {
        Value::Array(a) => {
            if a.is_empty() {
                return Err(PolicyError::new(path, "must not be an empty array"));
            }
            a.iter()
                .enumerate()
                .map(|(i, x)| {
                    scalar(x).ok_or_else(|| {
                        PolicyError::new(
                            format!("{path}[{i}]"),
                            "expected a string, bool or number",
                        )
                    })
                })
                .collect()
        }
        x => scalar(x)
            .map(|s| vec![s])
            .ok_or_else(|| PolicyError::new(path, "expected a string, bool, number or array")),
    }
}

pub(super) fn parse_conditions(v: &Value, path: &str) -> Result<Vec<Condition>, PolicyError> {
    let obj: &Map<String, Value> = v
        .as_object()
        .ok_or_else(|| PolicyError::new(path, "expected an object of condition operators"))?;
    let mut out = Vec::new();
    for (op_name, block) in obj {
        let here = format!("{path}.{op_name}");
        let (qualifier, rest) = if let Some(r) = op_name.strip_prefix("ForAnyValue:") {
            (Qualifier::ForAnyValue, r)
        } else if let Some(r) = op_name.strip_prefix("ForAllValues:") {
            (Qualifier::ForAllValues, r)
        } else {
            (Qualifier::Single, op_name.as_str())
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (rest, false),
        };
        let op = Operator::parse(base).ok_or_else(|| {
            PolicyError::new(&here, format!("unsupported condition operator {op_name:?}"))
        })?;
        if op == Operator::Null && if_exists {
            return Err(PolicyError::new(&here, "Null has no IfExists form"));
        }
        let block = block
            .as_object()
            .ok_or_else(|| PolicyError::new(&here, "expected an object of condition keys"))?;
        if block.is_empty() {
            return Err(PolicyError::new(&here, "must not be empty"));
        }
        for (key, vals) in block {
            let kpath = format!("{here}.{key}");
            let parsed_key = ConditionKey::parse(key).ok_or_else(|| {
                PolicyError::with_kind(
                    PolicyErrorKind::UnsupportedConditionKey,
                    &kpath,
                    format!(
                        "unsupported condition key {key:?}: LocalKms models only {MODELLED_KEYS} \
                         (an unmodelled key would read as absent, so a Deny on it would never fire)"
                    ),
                )
            })?;
            if qualifier == Qualifier::ForAllValues
                && matches!(parsed_key, ConditionKey::EncryptionContext(_))
            {
                return Err(PolicyError::with_kind(
                    PolicyErrorKind::OverlyPermissiveCondition,
                    &kpath,
                    format!(
                        "OverlyPermissiveCondition: {op_name:?} with the single-valued key {key:?} \
                         is true for a request whose encryption context lacks that key \
                         (AWS KMS rejects it); use a single-valued operator such as {rest:?}"
                    ),
                ));
            }
            let values = condition_values(vals, &kpath)?;
            if matches!(op, Operator::Bool | Operator::Null) {
                if let Some(bad) = values
                    .iter()
                    .find(|x| !x.eq_ignore_ascii_case("true") && !x.eq_ignore_ascii_case("false"))
                {
                    return Err(PolicyError::new(
                        &kpath,
                        format!("expected \"true\" or \"false\", got {bad:?}"),
                    ));
                }
            }
            out.push(Condition {
                op,
                qualifier,
                if_exists,
                key: parsed_key,
                values,
            });
        }
    }
    Ok(out)
}
