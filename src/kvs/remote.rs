//! The `kinesisvideo:` authority of a KVS layer whose data-plane KMS is remote
//! ([`KvsBuilder::data_kms`](super::KvsBuilder::data_kms)).
//!
//! A remote KMS decides the `kms:` actions with its own policies; the stream actions
//! (`kinesisvideo:PutMedia`, `GetMedia`, ...) are decided here, by the local IAM evaluator
//! ([`super::authz`]), from identity policies held by a
//! [`LocalKms`](crate::kms::local::LocalKms). For a `fragseal kms serve` endpoint these are
//! the server's own: `authority_from_iam` (feature `server`) loads the identity policies of
//! the server's IAM file (`--iam FILE`) into an in-memory local KMS (no keys, no state file),
//! so that one policy document decides both the `kms:` calls (at the server) and the
//! `kinesisvideo:` actions (here), as on AWS.
//!
//! Who the caller is: for long-term access keys, `caller_of_access_key` maps the key id to
//! the user or root the file declares it for, after checking the secret against the file's in
//! constant time (a key id alone proves nothing). A role session's principal
//! (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`) is the one STS answered with; its
//! `kinesisvideo:` permissions are its role's identity policies in the file. A key the file
//! does not declare is refused: there is no default principal (fail closed).

#[cfg(feature = "server")]
pub use self::iam::{authority_from_iam, caller_of_access_key};

#[cfg(feature = "server")]
mod iam {
    use crate::kms::local::LocalKms;
    use crate::kms::Credential;
    use crate::kvs::errors::{KvsError, KvsErrorKind};
    use crate::server::IamConfig;
    use std::sync::Arc;
    use subtle::ConstantTimeEq;

    /// An in-memory local KMS in `region` and `account` holding the identity policies of
    /// `iam` and nothing else: the authority of the `kinesisvideo:` decisions over a remote
    /// KMS (pass it to [`Kvs::builder`](crate::kvs::Kvs::builder)).
    ///
    /// # Errors
    /// `InvalidArgumentException` when the local KMS cannot be made or a policy does not
    /// install (the file was parsed strictly already, so this names an internal mismatch).
    pub fn authority_from_iam(
        region: &str,
        account: &str,
        iam: &IamConfig,
    ) -> Result<Arc<LocalKms>, KvsError> {
        let kms = LocalKms::builder(region.to_owned(), account.to_owned())
            .build()
            .map_err(|e| KvsError::invalid(format!("the IAM authority: {e}")))?;
        kms.replace_identity_policies(iam.identity_policies().clone())
            .map_err(|e| KvsError::invalid(format!("the IAM file's identity policies: {e}")))?;
        Ok(Arc::new(kms))
    }

    /// The principal `iam` declares the long-term access key `access_key_id` for, when
    /// `secret_access_key` is its secret (compared in constant time).
    ///
    /// # Errors
    /// `NotAuthorizedException` when the file does not declare the key or the secret differs
    /// (one message for both: the answer does not tell which key ids exist).
    pub fn caller_of_access_key(
        iam: &IamConfig,
        access_key_id: &str,
        secret_access_key: &str,
    ) -> Result<Credential, KvsError> {
        let refused = || {
            KvsError::new(
                KvsErrorKind::NotAuthorized,
                format!(
                    "the access key {access_key_id} is not one the IAM file declares with this \
                     secret; no principal can be given to it"
                ),
            )
        };
        let key = iam.access_key(access_key_id).ok_or_else(refused)?;
        let same: bool = key
            .secret
            .expose_secret()
            .as_bytes()
            .ct_eq(secret_access_key.as_bytes())
            .into();
        if !same {
            return Err(refused());
        }
        Ok(key.credential.clone())
    }

    #[cfg(test)]
    #[allow(clippy::unwrap_used, reason = "tests")]
    mod tests {
        use super::*;

        const IAM: &str = r#"{"Accounts": [{"AccountId": "111122223333",
          "Users": [{"UserName": "cam",
            "AccessKeys": [{"AccessKeyId": "AKIACAMEXAMPLE000001", "SecretAccessKey": "cam-secret"}],
            "Policies": [{"PolicyName": "w", "PolicyDocument": {"Statement": {"Effect": "Allow",
              "Action": "kinesisvideo:PutMedia", "Resource": "*"}}}]}]}]}"#;

        #[test]
        fn access_keys_map_to_their_user_only_with_their_secret() {
            let iam = IamConfig::from_json(IAM).unwrap();
            let c = caller_of_access_key(&iam, "AKIACAMEXAMPLE000001", "cam-secret").unwrap();
            assert_eq!(c.principal_arn(), "arn:aws:iam::111122223333:user/cam");
            assert_eq!(c.access_key_id(), "AKIACAMEXAMPLE000001");
            for (id, secret) in [
                ("AKIACAMEXAMPLE000001", "cam-secreT"),
                ("AKIACAMEXAMPLE000001", ""),
                ("AKIAUNKNOWNEXAMPLE01", "cam-secret"),
            ] {
                let e = caller_of_access_key(&iam, id, secret).unwrap_err();
                assert_eq!(e.kind(), KvsErrorKind::NotAuthorized, "{id}");
            }
        }

        #[test]
        fn the_authority_holds_the_files_identity_policies() {
            let iam = IamConfig::from_json(IAM).unwrap();
            let kms = authority_from_iam("us-east-1", "111122223333", &iam).unwrap();
            assert_eq!(
                kms.identity_policies("arn:aws:iam::111122223333:user/cam")
                    .len(),
                1
            );
            assert!(kms
                .identity_policies("arn:aws:iam::111122223333:root")
                .is_empty());
        }
    }
}
