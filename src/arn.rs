//! The one ARN parser of the crate: [`Arn`], a strict generic parser, and the views built on
//! it — KMS key ARNs ([`KmsKeyArn`]) and IAM / STS principal ARNs ([`PrincipalArn`]) — plus
//! [`is_account_id`].
//!
//! Only a well-formed KMS key ARN, `arn:<partition>:kms:<region>:<12-digit account>:key/<id>`,
//! is ever sent to KMS by a keyring as the key of an encrypted data key: never an alias, a bare
//! key id or another service's ARN, which an attacker writing a message header could otherwise
//! make KMS resolve.

use core::fmt;

/// True for an AWS account id: exactly 12 ASCII digits.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A partition, service or region label: lowercase ASCII letters, digits and `-`.
fn is_label(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The five parts of an ARN, `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`, borrowed from
/// the string it was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Arn<'a> {
    arn: &'a str,
    partition: &'a str,
    service: &'a str,
    region: &'a str,
    account: &'a str,
    resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Parses `s` strictly: the `arn` prefix; a non-empty partition and service, and a region
    /// that may be empty (IAM, STS), of lowercase ASCII letters, digits and `-`; an account
    /// that is empty or 12 ASCII digits (no wildcard); and a non-empty resource (everything
    /// after the fifth `:`, which may itself contain `:` and `/`) without control characters
    /// or spaces. Anything else is `None`.
    pub fn parse(s: &'a str) -> Option<Self> {
        let mut parts = s.splitn(6, ':');
        let (prefix, partition, service, region, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if prefix != "arn" {
            return None;
        }
        if partition.is_empty() || !is_label(partition) || service.is_empty() || !is_label(service)
        {
            return None;
        }
        if !is_label(region) || !(account.is_empty() || is_account_id(account)) {
            return None;
        }
        if resource.is_empty() || resource.chars().any(|c| c.is_control() || c == ' ') {
            return None;
        }
        Some(Self {
            arn: s,
            partition,
            service,
            region,
            account,
            resource,
        })
    }

    /// The whole ARN.
    pub fn as_str(&self) -> &'a str {
        self.arn
    }

    /// The partition, for example `aws`.
    pub fn partition(&self) -> &'a str {
        self.partition
    }

    /// The service, for example `kms` or `iam`.
    pub fn service(&self) -> &'a str {
        self.service
    }

    /// The region (empty for global services such as IAM and STS).
    pub fn region(&self) -> &'a str {
        self.region
    }

    /// The 12-digit account id (empty for resources without one).
    pub fn account(&self) -> &'a str {
        self.account
    }

    /// The resource: everything after the account.
    pub fn resource(&self) -> &'a str {
        self.resource
    }
}

impl fmt::Display for Arn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.arn)
    }
}

/// What an IAM or STS principal ARN names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Principal<'a> {
    /// `arn:PARTITION:iam::ACCOUNT:root`.
    Root,
    /// `arn:PARTITION:iam::ACCOUNT:user/[PATH/]NAME`: the user's path and name.
    User(&'a str),
    /// `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`: the role's path and name.
    Role(&'a str),
    /// `arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
    AssumedRole {
        /// The role's name.
        role: &'a str,
        /// The session name.
        session: &'a str,
    },
    /// `arn:PARTITION:sts::ACCOUNT:federated-user/NAME`.
    FederatedUser(&'a str),
}

/// A well-formed IAM principal ARN (`root`, `user/...`, `role/...`) or STS session ARN
/// (`assumed-role/ROLE/SESSION`, `federated-user/NAME`): no region, a 12-digit account, no
/// empty name and no wildcard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PrincipalArn<'a> {
    arn: Arn<'a>,
    principal: Principal<'a>,
}

impl<'a> PrincipalArn<'a> {
    /// Parses `s` strictly (see the type's documentation); anything else is `None`.
    pub fn parse(s: &'a str) -> Option<Self> {
        let arn = Arn::parse(s)?;
        if !arn.region().is_empty() || !is_account_id(arn.account()) {
            return None;
        }
        let name = |n: &'a str| (!n.is_empty() && !n.contains('*')).then_some(n);
        let resource = arn.resource();
        let principal = match arn.service() {
            "iam" if resource == "root" => Principal::Root,
            "iam" => match resource.split_once('/') {
                Some(("user", n)) => Principal::User(name(n)?),
                Some(("role", n)) => Principal::Role(name(n)?),
                _ => return None,
            },
            "sts" => match resource.split_once('/') {
                Some(("federated-user", n)) => Principal::FederatedUser(name(n)?),
                Some(("assumed-role", rest)) => {
                    let (role, session) = rest.split_once('/')?;
                    Principal::AssumedRole {
                        role: name(role)?,
                        session: name(session)?,
                    }
                }
                _ => return None,
            },
            _ => return None,
        };
        Some(Self { arn, principal })
    }

    /// The ARN's parts.
    pub fn arn(&self) -> &Arn<'a> {
        &self.arn
    }

    /// The 12-digit account id.
    pub fn account(&self) -> &'a str {
        self.arn.account()
    }

    /// What the ARN names.
    pub fn principal(&self) -> Principal<'a> {
        self.principal
    }
}

/// The parts of a well-formed KMS key ARN, borrowed from the string it was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KmsKeyArn<'a> {
    arn: &'a str,
    partition: &'a str,
    region: &'a str,
    account: &'a str,
    key_id: &'a str,
}

impl<'a> KmsKeyArn<'a> {
    /// Parses `s` strictly, as an [`Arn`] whose service is `kms`, with a non-empty region, a
    /// 12-digit account, and resource `key/<id>` whose id is non-empty ASCII letters, digits
    /// and `-` (key ids are UUIDs or `mrk-` ids). Anything else — alias names and ARNs, bare
    /// key ids, other services or resource types — is `None`.
    pub fn parse(s: &'a str) -> Option<Self> {
        let arn = Arn::parse(s)?;
        if arn.service() != "kms" || arn.region().is_empty() || arn.account().is_empty() {
            return None;
        }
        let key_id = arn.resource().strip_prefix("key/")?;
        if key_id.is_empty()
            || !key_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return None;
        }
        Some(Self {
            arn: s,
            partition: arn.partition(),
            region: arn.region(),
            account: arn.account(),
            key_id,
        })
    }

    /// The whole ARN.
    pub fn as_str(&self) -> &'a str {
        self.arn
    }

    /// The partition, for example `aws`.
    pub fn partition(&self) -> &'a str {
        self.partition
    }

    /// The region, for example `us-east-1`.
    pub fn region(&self) -> &'a str {
        self.region
    }

    /// The 12-digit account id.
    pub fn account(&self) -> &'a str {
        self.account
    }

    /// The key id (a UUID or an `mrk-` id).
    pub fn key_id(&self) -> &'a str {
        self.key_id
    }
}

impl fmt::Display for KmsKeyArn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.arn)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_kms_key_arns_parse() {
        let ok = [
            (
                "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
                "aws",
                "us-east-1",
                "111122223333",
                "1234abcd-12ab-34cd-56ef-1234567890ab",
            ),
            (
                "arn:aws-cn:kms:cn-north-1:000000000000:key/mrk-1234abcd",
                "aws-cn",
                "cn-north-1",
                "000000000000",
                "mrk-1234abcd",
            ),
        ];
        for (arn, partition, region, account, key_id) in ok {
            let p = KmsKeyArn::parse(arn);
            assert_eq!(
                p.map(|p| (
                    p.partition(),
                    p.region(),
                    p.account(),
                    p.key_id(),
                    p.as_str()
                )),
                Some((partition, region, account, key_id, arn)),
                "{arn}"
            );
        }
        let bad = [
            "",
            "alias/aws/kinesisvideo",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-east-1:111122223333:alias/aws/kinesisvideo",
            "arn:aws:kms:us-east-1:111122223333:alias/key/k",
            "arn:aws:s3:us-east-1:111122223333:key/k",
            "arn:aws:kms:us-east-1:111122223333:keys/k",
            "arn:aws:kms:us-east-1:111122223333:key",
            "arn:aws:kms:us-east-1:111122223333:key/",
            "arn:aws:kms:us-east-1:111122223333:key/k/extra",
            "arn:aws:kms:us-east-1:111122223333:key/k:x",
            "arn:aws:kms:us-east-1:11112222333:key/k",
            "arn:aws:kms:us-east-1:1111222233334:key/k",
            "arn:aws:kms:us-east-1:11112222333a:key/k",
            "arn:aws:kms::111122223333:key/k",
            "arn::kms:us-east-1:111122223333:key/k",
            "arn:AWS:kms:us-east-1:111122223333:key/k",
            "arn:aws:KMS:us-east-1:111122223333:key/k",
            "ARN:aws:kms:us-east-1:111122223333:key/k",
            "urn:aws:kms:us-east-1:111122223333:key/k",
            " arn:aws:kms:us-east-1:111122223333:key/k",
            "arn:aws:kms:us-east-1:111122223333:key/k ",
            "arn:aws:kms:us-east-1:111122223333:key/k\0",
            "arn:aws:kms:us-east-1:111122223333",
        ];
        for arn in bad {
            assert_eq!(KmsKeyArn::parse(arn), None, "{arn:?}");
        }
    }

    #[test]
    fn generic_arns_parse_strictly() {
        let a = Arn::parse("arn:aws:logs:us-east-1:111122223333:log-group:name:*").unwrap();
        assert_eq!(
            (
                a.partition(),
                a.service(),
                a.region(),
                a.account(),
                a.resource()
            ),
            (
                "aws",
                "logs",
                "us-east-1",
                "111122223333",
                "log-group:name:*"
            )
        );
        let a = Arn::parse("arn:aws:s3:::bucket/key").unwrap();
        assert_eq!(
            (a.region(), a.account(), a.resource()),
            ("", "", "bucket/key")
        );
        for bad in [
            "",
            "arn",
            "arn:aws:s3:::",
            "arn::s3:::b",
            "arn:aws::::b",
            "arn:AWS:s3:::b",
            "arn:aws:S3:::b",
            "arn:aws:s3:US-EAST-1::b",
            "arn:aws:iam::*:root",
            "arn:aws:iam::11112222333:root",
            "arn:aws:iam::111122223333:role/a b",
            "arn:aws:iam::111122223333:role/a\n",
            "urn:aws:iam::111122223333:root",
            "arn:aws:iam::111122223333",
        ] {
            assert_eq!(Arn::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn principal_arns() {
        let ok = [
            ("arn:aws:iam::111122223333:root", Principal::Root),
            (
                "arn:aws:iam::111122223333:user/alice",
                Principal::User("alice"),
            ),
            (
                "arn:aws:iam::111122223333:role/p/producer",
                Principal::Role("p/producer"),
            ),
            (
                "arn:aws:sts::111122223333:assumed-role/producer/cam-1",
                Principal::AssumedRole {
                    role: "producer",
                    session: "cam-1",
                },
            ),
            (
                "arn:aws-cn:sts::111122223333:federated-user/bob",
                Principal::FederatedUser("bob"),
            ),
        ];
        for (arn, principal) in ok {
            let p = PrincipalArn::parse(arn).unwrap();
            assert_eq!(
                (p.account(), p.principal()),
                ("111122223333", principal),
                "{arn}"
            );
        }
        for bad in [
            "arn:aws:iam::*:role/producer",
            "arn:aws:iam:us-east-1:111122223333:role/producer",
            "arn:aws:iam::111122223333:role/",
            "arn:aws:iam::111122223333:role/*",
            "arn:aws:iam::111122223333:group/devs",
            "arn:aws:sts::111122223333:assumed-role/producer",
            "arn:aws:sts::111122223333:assumed-role//s",
            "arn:aws:s3::111122223333:role/producer",
            "arn:aws:iam:::root",
        ] {
            assert_eq!(PrincipalArn::parse(bad), None, "{bad:?}");
        }
    }
}
