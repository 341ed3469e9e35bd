//! The server's IAM file (`--iam FILE`): accounts, their root and user access keys, users'
//! and roles' identity policies. Parsed strictly: an unknown field, a duplicate access key id,
//! user or role, a malformed account id or name, or a policy that does not parse is a startup
//! error that names the problem. `{}` is a valid file with no identities (every signed request
//! is then refused as unrecognized).
//!
//! Secret access keys live in [`SecretKey`], which zeroizes its bytes on drop, is not `Clone`
//! and prints as `SecretKey(..)`. The file text is read into a zeroizing buffer too.
//! (serde_json may copy an escaped string through its own scratch buffer, which is not
//! zeroized: write secrets without escapes.)

use crate::kms::local::{Policy, PolicyKind};
use crate::kms::Credential;
use serde::de::{Deserializer, Error as _};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::Path;
use zeroize::Zeroizing;

/// Largest IAM file read (bytes).
pub const MAX_IAM_FILE: u64 = 4 << 20;

/// A secret access key: zeroized on drop, never printed, not `Clone`.
pub(crate) struct SecretKey(Zeroizing<String>);

impl SecretKey {
    /// The secret, for the signature check only.
    pub(crate) fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl<'de> Deserialize<'de> for SecretKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Zeroizing::new(String::deserialize(d)?);
        if s.is_empty() {
            return Err(D::Error::custom("SecretAccessKey is empty"));
        }
        Ok(SecretKey(s))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct FileRoot {
    #[serde(default)]
    accounts: Vec<FileAccount>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct FileAccount {
    account_id: String,
    #[serde(default)]
    root_access_keys: Vec<FileKey>,
    #[serde(default)]
    users: Vec<FileUser>,
    #[serde(default)]
    roles: Vec<FileRole>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct FileKey {
    access_key_id: String,
    secret_access_key: SecretKey,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct FileUser {
    user_name: String,
    #[serde(default)]
    access_keys: Vec<FileKey>,
    #[serde(default)]
    policies: Vec<FilePolicy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct FileRole {
    role_name: String,
    #[serde(default)]
    assume_role_policy_document: Option<Value>,
    #[serde(default)]
    max_session_duration: Option<u32>,
    #[serde(default)]
    policies: Vec<FilePolicy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct FilePolicy {
    policy_name: String,
    /// A JSON object, or a string holding one.
    policy_document: Value,
}

/// One access key: who it identifies and its secret.
pub(crate) struct AccessKey {
    pub(crate) credential: Credential,
    pub(crate) secret: SecretKey,
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey")
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

/// A role declared in the file, which STS's `AssumeRole` hands out sessions of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Role {
    pub(crate) arn: String,
    pub(crate) account: String,
    pub(crate) name: String,
    /// The trust policy (`AssumeRolePolicyDocument`), a resource policy of the role: every
    /// statement names principals and applies to the role's ARN. `None`: nobody may assume it.
    pub(crate) trust_policy: Option<Policy>,
    pub(crate) max_session_duration: u32,
}

/// The parsed IAM file: identities by access key id, identity policies by principal ARN.
///
/// Build it with [`IamConfig::from_json`] or [`IamConfig::load`] and hand it to
/// [`ServerConfig`](super::ServerConfig).
pub struct IamConfig {
    accounts: Vec<String>,
    keys: HashMap<String, AccessKey>,
    policies: BTreeMap<String, Vec<String>>,
    roles: Vec<Role>,
}

impl fmt::Debug for IamConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamConfig")
            .field("accounts", &self.accounts)
            .field("access_keys", &self.keys.len())
            .field("principals_with_policies", &self.policies.len())
            .field("roles", &self.roles.len())
            .finish()
    }
}

/// Why an IAM file was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum IamError {
    /// The file could not be read.
    Io(std::io::Error),
    /// The file is larger than [`MAX_IAM_FILE`].
    TooLarge,
    /// The JSON does not have the documented shape (the message names the field and line).
    Syntax(String),
    /// The JSON has the shape but a value breaks a rule (the message names it).
    Invalid(String),
}

impl fmt::Display for IamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IamError::Io(e) => write!(f, "IAM file: {e}"),
            IamError::TooLarge => write!(f, "IAM file: larger than {MAX_IAM_FILE} bytes"),
            IamError::Syntax(m) => write!(f, "IAM file: {m}"),
            IamError::Invalid(m) => write!(f, "IAM file: {m}"),
        }
    }
}

impl std::error::Error for IamError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            IamError::Io(e) => Some(e),
            _ => None,
        }
    }
}

fn invalid(m: String) -> IamError {
    IamError::Invalid(m)
}

/// IAM's `AccessKeyIdType`: 16 to 128 word characters.
fn check_access_key_id(id: &str) -> Result<(), IamError> {
    if (16..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(())
    } else {
        Err(invalid(format!(
            "AccessKeyId {id:?} must be 16 to 128 letters, digits or '_' (IAM's AccessKeyIdType)"
        )))
    }
}

/// IAM's user and role names: 1 to 64 of `[A-Za-z0-9+=,.@_-]`.
fn check_name(what: &str, name: &str) -> Result<(), IamError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "{what} {name:?} must be 1 to 64 of A-Z a-z 0-9 + = , . @ _ -"
        )))
    }
}

/// A policy document as JSON text: an object, or a string that holds one.
fn document_text(what: &str, doc: &Value) -> Result<String, IamError> {
    match doc {
        Value::Object(_) => Ok(doc.to_string()),
        Value::String(s) => Ok(s.clone()),
        _ => Err(invalid(format!(
            "{what} must be a JSON object or a string holding one"
        ))),
    }
}

/// A trust policy: IAM refuses `Resource`/`NotResource` in one (the resource is the role), so
/// it is refused here too, and each statement gets `"Resource": ROLE_ARN` before it is parsed
/// as a resource policy (every statement must then name principals). Its condition keys are
/// the evaluator's (`sts:ExternalId`, `aws:PrincipalArn`, ...); any other is refused.
fn trust_policy(text: &str, role_arn: &str) -> Result<Policy, String> {
    let mut doc: serde_json::Map<String, Value> =
        serde_json::from_str(text).map_err(|e| format!("is not a JSON object: {e}"))?;
    let statements = match doc.get_mut("Statement") {
        Some(Value::Array(a)) => a.iter_mut().collect::<Vec<_>>(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => return Err("has no Statement".to_owned()),
    };
    for (i, st) in statements.into_iter().enumerate() {
        let Value::Object(st) = st else {
            return Err(format!("Statement[{i}] is not an object"));
        };
        if st.contains_key("Resource") || st.contains_key("NotResource") {
            return Err(format!(
                "Statement[{i}] has the prohibited field Resource (a trust policy applies to its role)"
            ));
        }
        st.insert("Resource".to_owned(), Value::String(role_arn.to_owned()));
    }
    Policy::parse(&Value::Object(doc).to_string(), PolicyKind::Key).map_err(|e| e.to_string())
}

impl IamConfig {
    /// Reads and parses `path` (at most [`MAX_IAM_FILE`] bytes).
    ///
    /// # Errors
    /// [`IamError`], naming the problem.
    pub fn load(path: &Path) -> Result<Self, IamError> {
        use std::io::Read;
        let f = std::fs::File::open(path).map_err(IamError::Io)?;
        let mut text = Zeroizing::new(String::new());
        f.take(MAX_IAM_FILE + 1)
            .read_to_string(&mut text)
            .map_err(IamError::Io)?;
        if text.len() as u64 > MAX_IAM_FILE {
            return Err(IamError::TooLarge);
        }
        Self::from_json(&text)
    }

    /// Parses the IAM file's text (format: docs/SERVER.md).
    ///
    /// # Errors
    /// [`IamError::Syntax`] for JSON that is not the documented shape (unknown field, wrong
    /// type, missing member); [`IamError::Invalid`] for a bad account id, a duplicate account,
    /// access key id, user or role, a bad name, or a policy that does not parse.
    pub fn from_json(text: &str) -> Result<Self, IamError> {
        let root: FileRoot =
            serde_json::from_str(text).map_err(|e| IamError::Syntax(e.to_string()))?;
        let mut out = IamConfig {
            accounts: Vec::new(),
            keys: HashMap::new(),
            policies: BTreeMap::new(),
            roles: Vec::new(),
        };
        let mut seen_accounts = BTreeSet::new();
        for account in root.accounts {
            let acct = account.account_id;
            if !crate::arn::is_account_id(&acct) {
                return Err(invalid(format!("AccountId {acct:?} is not 12 digits")));
            }
            if !seen_accounts.insert(acct.clone()) {
                return Err(invalid(format!("AccountId {acct} is declared twice")));
            }
            out.accounts.push(acct.clone());
            let root_arn = format!("arn:aws:iam::{acct}:root");
            for key in account.root_access_keys {
                out.add_key(&acct, &root_arn, key)?;
            }
            let mut names = BTreeSet::new();
            for user in account.users {
                check_name("UserName", &user.user_name)?;
                if !names.insert(user.user_name.clone()) {
                    return Err(invalid(format!(
                        "user {} is declared twice in account {acct}",
                        user.user_name
                    )));
                }
                let arn = format!("arn:aws:iam::{acct}:user/{}", user.user_name);
                for key in user.access_keys {
                    out.add_key(&acct, &arn, key)?;
                }
                out.add_policies(&arn, user.policies)?;
            }
            let mut roles = BTreeSet::new();
            for role in account.roles {
                check_name("RoleName", &role.role_name)?;
                if !roles.insert(role.role_name.clone()) {
                    return Err(invalid(format!(
                        "role {} is declared twice in account {acct}",
                        role.role_name
                    )));
                }
                let arn = format!("arn:aws:iam::{acct}:role/{}", role.role_name);
                let max = role.max_session_duration.unwrap_or(3600);
                if !(3600..=43_200).contains(&max) {
                    return Err(invalid(format!(
                        "role {}: MaxSessionDuration {max} is not between 3600 and 43200",
                        role.role_name
                    )));
                }
                let trust = role
                    .assume_role_policy_document
                    .as_ref()
                    .map(|d| document_text("AssumeRolePolicyDocument", d))
                    .transpose()?
                    .map(|t| trust_policy(&t, &arn))
                    .transpose()
                    .map_err(|m| {
                        invalid(format!(
                            "role {}: AssumeRolePolicyDocument {m}",
                            role.role_name
                        ))
                    })?;
                out.add_policies(&arn, role.policies)?;
                out.roles.push(Role {
                    arn,
                    account: acct.clone(),
                    name: role.role_name,
                    trust_policy: trust,
                    max_session_duration: max,
                });
            }
        }
        Ok(out)
    }

    fn add_key(&mut self, account: &str, arn: &str, key: FileKey) -> Result<(), IamError> {
        check_access_key_id(&key.access_key_id)?;
        if self.keys.contains_key(&key.access_key_id) {
            return Err(invalid(format!(
                "AccessKeyId {} is declared twice",
                key.access_key_id
            )));
        }
        let credential = Credential::new(account, arn, key.access_key_id.clone())
            .map_err(|e| invalid(e.to_string()))?;
        self.keys.insert(
            key.access_key_id,
            AccessKey {
                credential,
                secret: key.secret_access_key,
            },
        );
        Ok(())
    }

    fn add_policies(&mut self, arn: &str, policies: Vec<FilePolicy>) -> Result<(), IamError> {
        let mut names = BTreeSet::new();
        for p in policies {
            if !(1..=128).contains(&p.policy_name.len())
                || !p
                    .policy_name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
            {
                return Err(invalid(format!(
                    "{arn}: PolicyName {:?} must be 1 to 128 of A-Z a-z 0-9 + = , . @ _ -",
                    p.policy_name
                )));
            }
            if !names.insert(p.policy_name.clone()) {
                return Err(invalid(format!(
                    "{arn}: policy {} is declared twice",
                    p.policy_name
                )));
            }
            let text = document_text("PolicyDocument", &p.policy_document)?;
            Policy::parse(&text, PolicyKind::Identity)
                .map_err(|e| invalid(format!("{arn}: policy {}: {e}", p.policy_name)))?;
            self.policies.entry(arn.to_owned()).or_default().push(text);
        }
        Ok(())
    }

    /// The declared accounts, in file order.
    pub fn accounts(&self) -> &[String] {
        &self.accounts
    }

    /// How many access keys the file declares.
    pub fn access_key_count(&self) -> usize {
        self.keys.len()
    }

    /// The access key `id`, if declared.
    pub(crate) fn access_key(&self, id: &str) -> Option<&AccessKey> {
        self.keys.get(id)
    }

    /// The identity policies by principal ARN (users' and roles'), as JSON text.
    pub(crate) fn identity_policies(&self) -> &BTreeMap<String, Vec<String>> {
        &self.policies
    }

    /// The declared roles.
    #[cfg(test)]
    pub(crate) fn roles(&self) -> &[Role] {
        &self.roles
    }

    /// The role whose ARN is `arn`, if declared.
    pub(crate) fn role(&self, arn: &str) -> Option<&Role> {
        self.roles.iter().find(|r| r.arn == arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AKIAIOSFODNN7EXAMPLE";

    fn err(text: &str) -> String {
        IamConfig::from_json(text).expect_err(text).to_string()
    }

    #[test]
    fn empty_file_has_no_identities() {
        let c = IamConfig::from_json("{}").expect("{}");
        assert!(c.accounts().is_empty());
        assert_eq!(c.access_key_count(), 0);
        assert!(c.access_key(KEY).is_none());
    }

    #[test]
    fn keys_map_to_user_and_root_arns() {
        let c = IamConfig::from_json(&format!(
            r#"{{"Accounts":[{{"AccountId":"111122223333",
              "RootAccessKeys":[{{"AccessKeyId":"AKIAROOTROOTROOT01","SecretAccessKey":"r"}}],
              "Users":[{{"UserName":"alice","AccessKeys":[{{"AccessKeyId":"{KEY}","SecretAccessKey":"s"}}],
                "Policies":[{{"PolicyName":"p","PolicyDocument":{{"Statement":{{"Effect":"Allow","Action":"kms:*","Resource":"*"}}}}}}]}}],
              "Roles":[{{"RoleName":"producer","Policies":[{{"PolicyName":"q",
                "PolicyDocument":"{{\"Statement\":{{\"Effect\":\"Allow\",\"Action\":\"kms:Decrypt\",\"Resource\":\"*\"}}}}"}}]}}]}}]}}"#
        ))
        .expect("valid");
        let alice = c.access_key(KEY).expect("alice");
        assert_eq!(
            alice.credential.principal_arn(),
            "arn:aws:iam::111122223333:user/alice"
        );
        assert_eq!(alice.secret.expose_secret(), "s");
        assert_eq!(format!("{:?}", alice.secret), "SecretKey(..)");
        assert!(!format!("{alice:?}").contains("\"s\""));
        let root = c.access_key("AKIAROOTROOTROOT01").expect("root");
        assert_eq!(
            root.credential.principal_arn(),
            "arn:aws:iam::111122223333:root"
        );
        let p = c.identity_policies();
        assert_eq!(p["arn:aws:iam::111122223333:user/alice"].len(), 1);
        assert_eq!(p["arn:aws:iam::111122223333:role/producer"].len(), 1);
        assert_eq!(c.roles()[0].max_session_duration, 3600);
    }

    #[test]
    fn strict_parsing_names_the_problem() {
        assert!(err(r#"{"Acounts":[]}"#).contains("Acounts"));
        assert!(err(r#"{"Accounts":[{"AccountId":"1111"}]}"#).contains("not 12 digits"));
        assert!(
            err(r#"{"Accounts":[{"AccountId":"111122223333"},{"AccountId":"111122223333"}]}"#)
                .contains("declared twice")
        );
        let dup = format!(
            r#"{{"Accounts":[{{"AccountId":"111122223333","RootAccessKeys":[
              {{"AccessKeyId":"{KEY}","SecretAccessKey":"a"}}]}},
              {{"AccountId":"444455556666","RootAccessKeys":[
              {{"AccessKeyId":"{KEY}","SecretAccessKey":"b"}}]}}]}}"#
        );
        assert!(err(&dup).contains(&format!("AccessKeyId {KEY} is declared twice")));
        assert!(err(&format!(
            r#"{{"Accounts":[{{"AccountId":"111122223333","RootAccessKeys":[
              {{"AccessKeyId":"{KEY}","SecretAccessKey":""}}]}}]}}"#
        ))
        .contains("SecretAccessKey is empty"));
        assert!(err(
            r#"{"Accounts":[{"AccountId":"111122223333","RootAccessKeys":[
              {"AccessKeyId":"short","SecretAccessKey":"a"}]}]}"#
        )
        .contains("16 to 128"));
        assert!(
            err(r#"{"Accounts":[{"AccountId":"111122223333","Users":[{"UserName":"a/b"}]}]}"#)
                .contains("UserName")
        );
        assert!(err(
            r#"{"Accounts":[{"AccountId":"111122223333","Users":[{"UserName":"a",
              "Policies":[{"PolicyName":"p","PolicyDocument":{"Statement":{"Effect":"Maybe"}}}]}]}]}"#
        )
        .contains("policy p"));
        assert!(err(
            r#"{"Accounts":[{"AccountId":"111122223333","Roles":[{"RoleName":"r","MaxSessionDuration":60}]}]}"#
        )
        .contains("MaxSessionDuration"));
        assert!(err(
            r#"{"Accounts":[{"AccountId":"111122223333","Users":[{"UserName":"a","Extra":1}]}]}"#
        )
        .contains("Extra"));
    }

    #[test]
    fn trust_policies_apply_to_their_role_and_refuse_resource() {
        let role = |doc: &str| {
            format!(
                r#"{{"Accounts":[{{"AccountId":"111122223333","Roles":[{{"RoleName":"r",
                  "AssumeRolePolicyDocument":{doc}}}]}}]}}"#
            )
        };
        let ok = IamConfig::from_json(&role(
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"sts:AssumeRole"}}"#,
        ))
        .expect("valid");
        let r = ok.role("arn:aws:iam::111122223333:role/r").expect("role");
        assert_eq!((r.account.as_str(), r.name.as_str()), ("111122223333", "r"));
        assert!(r.trust_policy.is_some());
        assert!(ok.role("arn:aws:iam::111122223333:role/s").is_none());
        assert!(err(&role(
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"sts:AssumeRole","Resource":"*"}}"#
        ))
        .contains("prohibited field Resource"));
        // A trust statement must name principals; an unknown condition key is refused.
        assert!(err(&role(
            r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}"#
        ))
        .contains("AssumeRolePolicyDocument"));
        assert!(err(&role(
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole",
                "Condition":{"StringEquals":{"sts:RoleSessionName":"x"}}}}"#
        ))
        .contains("AssumeRolePolicyDocument"));
        assert!(err(&role(r#"[1]"#)).contains("AssumeRolePolicyDocument"));
    }
}
