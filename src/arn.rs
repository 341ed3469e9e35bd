//! The one ARN parser of the crate: strict parsing of KMS key ARNs.
//!
//! Only a well-formed KMS key ARN, `arn:<partition>:kms:<region>:<12-digit account>:key/<id>`,
//! is ever sent to KMS by a keyring as the key of an encrypted data key: never an alias, a bare
//! key id or another service's ARN, which an attacker writing a message header could otherwise
//! make KMS resolve.

use core::fmt;

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
    /// Parses `s` strictly: exactly six `:`-separated parts, `arn` prefix, non-empty partition
    /// and region of lowercase letters, digits and `-`, service `kms`, an account of 12 ASCII
    /// digits, and resource `key/<id>` whose id is non-empty ASCII letters, digits and `-`
    /// (key ids are UUIDs or `mrk-` ids). Anything else — alias names and ARNs, bare key ids,
    /// other services or resource types — is `None`.
    pub fn parse(s: &'a str) -> Option<Self> {
        let mut parts = s.split(':');
        let (prefix, partition, service, region, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        if parts.next().is_some() || prefix != "arn" || service != "kms" {
            return None;
        }
        let label = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        if !label(partition) || !label(region) {
            return None;
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let key_id = resource.strip_prefix("key/")?;
        if key_id.is_empty()
            || !key_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return None;
        }
        Some(Self {
            arn: s,
            partition,
            region,
            account,
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
}
