//! IAM policy evaluation for the local KMS: key policies and identity policies.
//!
//! Pure and independent of [`super::LocalKms`]: parse a policy document once into a typed
//! [`Policy`], then evaluate requests against it with [`authorize`].
//!
//! # What is modelled (IAM's rules, as AWS KMS applies them)
//! - Documents: `Version` (`2012-10-17` or `2008-10-17`), `Id`, `Statement` as one object or an
//!   array; each statement has `Sid`, `Effect`, `Principal`/`NotPrincipal` (key policies only),
//!   `Action`/`NotAction`, `Resource`/`NotResource`, `Condition`. Unknown elements are rejected
//!   with an error naming them, as are malformed ones (`Statement[2].Effect: expected "Allow" or
//!   "Deny"`).
//! - `Principal`: `"*"`, `{"AWS": "*"}`, `{"AWS": ARN | [ARNs] | account id}`. An account id or
//!   `arn:aws:iam::ACCOUNT:root` names the *account*: it delegates to the account's identity
//!   policies. A role ARN also matches that role's sessions
//!   (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`). `Service`, `Federated` and
//!   `CanonicalUser` principals are parsed but never match a credential. `NotPrincipal` is
//!   accepted only with `Effect: Deny` (AWS does not support it with `Allow`: the policy is
//!   rejected). It exempts the account root when the account is listed, and any other caller
//!   only when both its account and the caller itself (for a role session: the role's or the
//!   session's ARN) are listed, as AWS documents; an account entry alone exempts only the root.
//! - `Action`/`NotAction`: `service:name` with `*` and `?` wildcards, case-insensitive.
//! - `Resource`/`NotResource`: ARNs matched per colon-separated segment, each with `*` and `?`
//!   wildcards (case-sensitive); `"*"` matches everything.
//! - `Condition`: `StringEquals`, `StringNotEquals`, `StringEqualsIgnoreCase`,
//!   `StringNotEqualsIgnoreCase`, `StringLike`, `StringNotLike`, `ArnEquals`, `ArnLike`,
//!   `ArnNotEquals`, `ArnNotLike`, `Bool`, `Null`, the `...IfExists` forms of all but `Null`, and
//!   the `ForAnyValue:`/`ForAllValues:` qualifiers. Operators in a block, keys in an operator and
//!   statements' conditions are ANDed; the values listed for one key are ORed (for the negated
//!   operators: the request value must match none of them). A missing key makes a positive
//!   operator false and a negated one true; `...IfExists` makes it true; `ForAllValues` is true
//!   and `ForAnyValue` false on a missing or empty key. Condition key names are
//!   case-insensitive, including the context-key part of `kms:EncryptionContext:KEY` (as in AWS
//!   KMS; use `kms:EncryptionContextKeys` to pin the case of a key). `aws:PrincipalArn` of a
//!   role session is the role's ARN (`arn:aws:iam::ACCOUNT:role/NAME`), not the session's.
//! - Not modelled: policy variables (`${aws:username}`), numeric/date/IP operators (rejected at
//!   parse time with an error naming the operator), grants.
//!
//! # The decision ([`authorize`])
//! 1. An explicit `Deny` that applies, in the key policy or in any identity policy of the
//!    caller, wins.
//! 2. Otherwise the key policy must `Allow`: either directly (the caller's ARN, or `*`), or
//!    through the caller's account (`arn:aws:iam::ACCOUNT:root` / `ACCOUNT`), in which case an
//!    identity policy of the caller must also `Allow`. The account root itself needs no identity
//!    policy.
//! 3. A caller from another account than the key's needs both: an `Allow` in the key policy
//!    (direct or to its account) and an `Allow` in its identity policies.
//! 4. Otherwise: default deny.

use crate::format::EncryptionContext;
use core::fmt;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// A malformed policy document; the message names the bad element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    path: String,
    message: String,
}

impl PolicyError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The element at fault, for example `Statement[2].Effect` (empty for the document).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong with it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "policy: {}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for PolicyError {}

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

/// How a statement's principal matched the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PrincipalMatch {
    No,
    Direct,
    Account,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PrincipalSpec {
    /// Identity policy: the principal the policy is attached to.
    Attached,
    Principal(Vec<PrincipalEntry>),
    NotPrincipal(Vec<PrincipalEntry>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Patterns {
    Match(Vec<String>),
    NotMatch(Vec<String>),
}

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
                arn_match(pattern, value)
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

#[derive(Clone, Debug, PartialEq, Eq)]
struct Condition {
    op: Operator,
    qualifier: Qualifier,
    if_exists: bool,
    key: String,
    values: Vec<String>,
}

impl Condition {
    fn eval(&self, ctx: &RequestContext<'_>) -> bool {
        let values = ctx.values(&self.key);
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

/// One statement of a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    sid: Option<String>,
    effect: Effect,
    principal: PrincipalSpec,
    actions: Patterns,
    resources: Patterns,
    conditions: Vec<Condition>,
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

    fn principal_match(&self, req: &Request<'_>) -> PrincipalMatch {
        match &self.principal {
            PrincipalSpec::Attached => PrincipalMatch::Direct,
            PrincipalSpec::Principal(entries) => entries
                .iter()
                .map(|e| entry_match(e, req))
                .max_by_key(|m| match m {
                    PrincipalMatch::No => 0,
                    PrincipalMatch::Account => 1,
                    PrincipalMatch::Direct => 2,
                })
                .unwrap_or(PrincipalMatch::No),
            PrincipalSpec::NotPrincipal(entries) => {
                if not_principal_excludes(entries, req) {
                    PrincipalMatch::No
                } else {
                    PrincipalMatch::Direct
                }
            }
        }
    }

    fn action_matches(&self, action: &str) -> bool {
        match &self.actions {
            Patterns::Match(p) => p.iter().any(|p| glob(p, action, true)),
            Patterns::NotMatch(p) => !p.iter().any(|p| glob(p, action, true)),
        }
    }

    fn resource_matches(&self, resource: &str) -> bool {
        match &self.resources {
            Patterns::Match(p) => p.iter().any(|p| arn_match(p, resource)),
            Patterns::NotMatch(p) => !p.iter().any(|p| arn_match(p, resource)),
        }
    }

    /// How this statement applies to `req`: `No` when it does not.
    fn applies(&self, req: &Request<'_>) -> PrincipalMatch {
        if !self.action_matches(req.action) || !self.resource_matches(req.resource) {
            return PrincipalMatch::No;
        }
        let m = self.principal_match(req);
        if m == PrincipalMatch::No {
            return m;
        }
        if self.conditions.iter().all(|c| c.eval(&req.context)) {
            m
        } else {
            PrincipalMatch::No
        }
    }
}

fn entry_match(entry: &PrincipalEntry, req: &Request<'_>) -> PrincipalMatch {
    let caller = req.context.principal_arn;
    match entry {
        PrincipalEntry::Anyone => PrincipalMatch::Direct,
        PrincipalEntry::Account(acct) => {
            if caller == root_arn(acct) {
                PrincipalMatch::Direct
            } else if req.context.principal_account == acct {
                PrincipalMatch::Account
            } else {
                PrincipalMatch::No
            }
        }
        PrincipalEntry::Arn(arn) => {
            if arn == caller || role_of_session(caller).is_some_and(|r| is_role_arn_of(arn, r)) {
                PrincipalMatch::Direct
            } else {
                PrincipalMatch::No
            }
        }
        PrincipalEntry::Other(_) => PrincipalMatch::No,
    }
}

/// Whether a `NotPrincipal` list (always with `Deny`, checked at parse time) exempts the caller.
///
/// AWS may check the caller's account first, then the principal (for a role session: the
/// account, the role, then the session), and documents that the list must name the account
/// as well as the principal. So the account root is exempt when its account is listed; any
/// other caller only when its account is listed *and* it is named directly (its ARN, or for a
/// role session its role's ARN or the session's ARN). An account entry alone exempts only the
/// account root; a principal's ARN without its account exempts nobody.
fn not_principal_excludes(entries: &[PrincipalEntry], req: &Request<'_>) -> bool {
    let account = req.context.principal_account;
    let names_account = entries.iter().any(|e| match e {
        PrincipalEntry::Anyone => true,
        PrincipalEntry::Account(a) => a == account,
        PrincipalEntry::Arn(_) | PrincipalEntry::Other(_) => false,
    });
    if !names_account {
        return false;
    }
    if req.context.principal_arn == root_arn(account) {
        return true;
    }
    entries.iter().any(|e| {
        matches!(e, PrincipalEntry::Anyone | PrincipalEntry::Arn(_))
            && entry_match(e, req) == PrincipalMatch::Direct
    })
}

/// `arn:aws:iam::ACCOUNT:root`.
pub fn root_arn(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

/// For `arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`, `(ACCOUNT, NAME)`.
pub fn role_of_session(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:sts::")?;
    let (account, rest) = rest.split_once(':')?;
    let rest = rest.strip_prefix("assumed-role/")?;
    let (name, _session) = rest.split_once('/')?;
    Some((account, name))
}

/// Whether role ARN `arn:aws:iam::ACCOUNT:role[/path]/NAME` is the role `(account, name)`
/// (as returned by [`role_of_session`]).
pub fn is_role_arn_of(role_arn: &str, (account, name): (&str, &str)) -> bool {
    let Some(rest) = role_arn.strip_prefix("arn:aws:iam::") else {
        return false;
    };
    let Some((acct, res)) = rest.split_once(':') else {
        return false;
    };
    acct == account && res.starts_with("role/") && res.rsplit('/').next() == Some(name)
}

/// A parsed policy document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    kind: PolicyKind,
    version: Option<String>,
    id: Option<String>,
    statements: Vec<Statement>,
}

impl Policy {
    /// Parses a JSON policy document of `kind`.
    ///
    /// # Errors
    /// A [`PolicyError`] naming the first malformed element.
    pub fn parse(json: &str, kind: PolicyKind) -> Result<Self, PolicyError> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| PolicyError::new("", format!("not valid JSON: {e}")))?;
        Self::from_value(&value, kind)
    }

    /// Parses an already decoded JSON document of `kind`.
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

    /// This policy's own verdict on `req`, ignoring how principals matched.
    pub fn evaluate(&self, req: &Request<'_>) -> Decision {
        let mut allowed = false;
        for s in &self.statements {
            if s.applies(req) != PrincipalMatch::No {
                match s.effect {
                    Effect::Deny => return Decision::ExplicitDeny,
                    Effect::Allow => allowed = true,
                }
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }
}

/// A verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed.
    Allow,
    /// A `Deny` statement applies.
    ExplicitDeny,
    /// Nothing allows it (default deny).
    ImplicitDeny,
}

impl Decision {
    /// True for [`Decision::Allow`].
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
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
    /// Further keys, `(name, values)`; names compared case-insensitively.
    pub extra: &'a [(String, Vec<String>)],
}

impl<'a> RequestContext<'a> {
    /// The values of condition key `key` (case-insensitive name); `None` when absent.
    pub fn values(&self, key: &str) -> Option<Vec<Cow<'a, str>>> {
        const EC_PREFIX: &str = "kms:encryptioncontext:";
        let lower_eq = |name: &str| key.eq_ignore_ascii_case(name);
        if lower_eq("kms:CallerAccount") || lower_eq("aws:PrincipalAccount") {
            return Some(vec![Cow::Borrowed(self.principal_account)]);
        }
        if lower_eq("aws:PrincipalArn") {
            let arn = match role_of_session(self.principal_arn) {
                Some((account, name)) => Cow::Owned(format!("arn:aws:iam::{account}:role/{name}")),
                None => Cow::Borrowed(self.principal_arn),
            };
            return Some(vec![arn]);
        }
        if lower_eq("kms:ViaService") {
            return self.via_service.map(|v| vec![Cow::Borrowed(v)]);
        }
        if lower_eq("kms:RequestAlias") {
            return self.request_alias.map(|v| vec![Cow::Borrowed(v)]);
        }
        if lower_eq("kms:EncryptionContextKeys") {
            let ec = self.encryption_context?;
            if ec.is_empty() {
                return None;
            }
            return Some(ec.iter().map(|(k, _)| Cow::Borrowed(k)).collect());
        }
        if key.len() > EC_PREFIX.len()
            && key.is_char_boundary(EC_PREFIX.len())
            && key[..EC_PREFIX.len()].eq_ignore_ascii_case(EC_PREFIX)
        {
            let wanted = &key[EC_PREFIX.len()..];
            let ec = self.encryption_context?;
            let found: Vec<Cow<'a, str>> = ec
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(wanted))
                .map(|(_, v)| Cow::Borrowed(v))
                .collect();
            return if found.is_empty() { None } else { Some(found) };
        }
        self.extra
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.iter().map(|s| Cow::Borrowed(s.as_str())).collect())
    }
}

/// A request to authorize.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// The action, e.g. `kms:GenerateDataKey`.
    pub action: &'a str,
    /// The resource ARN (the key's ARN), or `*` for account-level calls (`kms:CreateKey`).
    pub resource: &'a str,
    /// Condition-key values.
    pub context: RequestContext<'a>,
}

/// Decides `req` against the key policy of a key owned by `key_account` and the caller's
/// identity policies, with the rules in the module documentation.
///
/// `key_policy` is `None` for account-level calls (`kms:CreateKey`, `kms:ListKeys`): then only
/// identity policies (or being the account root of `key_account`) can allow.
pub fn authorize(
    key_policy: Option<&Policy>,
    key_account: &str,
    identity_policies: &[&Policy],
    req: &Request<'_>,
) -> Decision {
    let mut key_direct = false;
    let mut key_account_allow = false;
    if let Some(kp) = key_policy {
        for s in &kp.statements {
            match (s.applies(req), s.effect) {
                (PrincipalMatch::No, _) => {}
                (_, Effect::Deny) => return Decision::ExplicitDeny,
                (PrincipalMatch::Direct, Effect::Allow) => key_direct = true,
                (PrincipalMatch::Account, Effect::Allow) => key_account_allow = true,
            }
        }
    }
    let mut identity_allow = false;
    for p in identity_policies {
        match p.evaluate(req) {
            Decision::ExplicitDeny => return Decision::ExplicitDeny,
            Decision::Allow => identity_allow = true,
            Decision::ImplicitDeny => {}
        }
    }
    let caller_account = req.context.principal_account;
    // The account root holds every identity permission of its own account.
    if req.context.principal_arn == root_arn(caller_account) {
        identity_allow = true;
    }
    let allowed = match key_policy {
        None => caller_account == key_account && identity_allow,
        Some(_) if caller_account == key_account => {
            key_direct || (key_account_allow && identity_allow)
        }
        Some(_) => (key_direct || key_account_allow) && identity_allow,
    };
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
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
    if let Some(rest) = s.strip_prefix("arn:aws:iam::") {
        if let Some(acct) = rest.strip_suffix(":root") {
            if is_account_id(acct) {
                return Ok(PrincipalEntry::Account(acct.to_owned()));
            }
        }
    }
    if s.contains(['*', '?']) {
        return Err(PolicyError::new(
            path,
            format!("wildcards are not allowed in a principal ARN (use \"*\" alone), got {s:?}"),
        ));
    }
    if s.starts_with("arn:") && s.split(':').count() >= 6 {
        return Ok(PrincipalEntry::Arn(s));
    }
    Err(PolicyError::new(
        path,
        format!("expected \"*\", a 12-digit account id or a principal ARN, got {s:?}"),
    ))
}

/// True for a 12-digit AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

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

fn parse_conditions(v: &Value, path: &str) -> Result<Vec<Condition>, PolicyError> {
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
                key: key.clone(),
                values,
            });
        }
    }
    Ok(out)
}

/// Wildcard match: `*` matches any run of characters (possibly empty), `?` exactly one.
/// ASCII case folding when `case_insensitive`.
pub fn glob(pattern: &str, text: &str, case_insensitive: bool) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let eq = |a: u8, b: u8| {
        if case_insensitive {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    // Length of the UTF-8 character starting at byte `i` of `t` (1 for a stray byte).
    let char_len = |i: usize| -> usize {
        let b = t.get(i).copied().unwrap_or(0);
        let n = if b < 0xC0 {
            1
        } else if b < 0xE0 {
            2
        } else if b < 0xF0 {
            3
        } else {
            4
        };
        n.min(t.len().saturating_sub(i)).max(1)
    };
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            Some(b'?') => {
                pi += 1;
                ti += char_len(ti);
                continue;
            }
            Some(&c) if eq(c, t[ti]) => {
                pi += 1;
                ti += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, st)) => {
                let next = st + char_len(st);
                star = Some((sp, next));
                pi = sp + 1;
                ti = next;
            }
            None => return false,
        }
    }
    while p.get(pi) == Some(&b'*') {
        pi += 1;
    }
    pi == p.len()
}

/// ARN match as IAM does it: `"*"` matches everything; otherwise both split into the six
/// colon-separated segments (the last may contain colons) and each segment is matched with
/// [`glob`], case-sensitively.
pub fn arn_match(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let mut ps = pattern.splitn(6, ':');
    let mut vs = arn.splitn(6, ':');
    loop {
        match (ps.next(), vs.next()) {
            (None, None) => return true,
            (Some(p), Some(v)) => {
                if !glob(p, v, false) {
                    return false;
                }
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn glob_basics() {
        assert!(glob("kms:*", "kms:Decrypt", true));
        assert!(glob("KMS:decrypt", "kms:Decrypt", true));
        assert!(!glob("KMS:decrypt", "kms:Decrypt", false));
        assert!(glob("kms:GenerateDataKey*", "kms:GenerateDataKey", true));
        assert!(glob("a?c", "abc", false));
        assert!(glob("a?c", "aéc", false));
        assert!(!glob("a?c", "ac", false));
        assert!(glob("*", "", false));
        assert!(glob("a*b*c", "axxbyyc", false));
        assert!(!glob("a*b*c", "axxbyy", false));
    }

    #[test]
    fn arn_segments() {
        assert!(arn_match(
            "arn:aws:kms:*:111122223333:key/*",
            "arn:aws:kms:us-east-1:111122223333:key/abc"
        ));
        assert!(!arn_match(
            "arn:aws:kms:*:111122223333:key/*",
            "arn:aws:kms:us-east-1:444455556666:key/abc"
        ));
        // `*` in one segment does not cross a colon.
        assert!(!arn_match("arn:aws:kms:*", "arn:aws:kms:us-east-1:1:key/a"));
        assert!(!arn_match("arn:aws:kms:*:*:*", "*"));
    }
}
