//! The KMS operations LocalKms serves, with their IAM actions and CloudTrail properties.

/// A KMS API operation, named as CloudTrail's `eventName`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Operation {
    /// `GenerateDataKey`.
    GenerateDataKey,
    /// `Decrypt`.
    Decrypt,
    /// `Encrypt`.
    Encrypt,
    /// `DescribeKey`.
    DescribeKey,
    /// `CreateKey`.
    CreateKey,
    /// `CreateAlias`.
    CreateAlias,
    /// `DeleteAlias`.
    DeleteAlias,
    /// `ListAliases`.
    ListAliases,
    /// `ListKeys`.
    ListKeys,
    /// `EnableKey`.
    EnableKey,
    /// `DisableKey`.
    DisableKey,
    /// `ScheduleKeyDeletion`.
    ScheduleKeyDeletion,
    /// `CancelKeyDeletion`.
    CancelKeyDeletion,
    /// `GetKeyPolicy`.
    GetKeyPolicy,
    /// `PutKeyPolicy`.
    PutKeyPolicy,
    /// `GenerateDataKeyWithoutPlaintext`.
    GenerateDataKeyWithoutPlaintext,
    /// `ReEncrypt` (authorized as `kms:ReEncryptFrom` on the source key and `kms:ReEncryptTo` on the destination key).
    ReEncrypt,
    /// `GenerateRandom`.
    GenerateRandom,
    /// `TagResource`.
    TagResource,
    /// `UntagResource`.
    UntagResource,
    /// `ListResourceTags`.
    ListResourceTags,
    /// `CreateGrant`.
    CreateGrant,
    /// `ListGrants`.
    ListGrants,
    /// `ListRetirableGrants`.
    ListRetirableGrants,
    /// `RetireGrant`.
    RetireGrant,
    /// `RevokeGrant`.
    RevokeGrant,
}

impl Operation {
    /// The API name (`GenerateDataKey`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::GenerateDataKey => "GenerateDataKey",
            Self::Decrypt => "Decrypt",
            Self::Encrypt => "Encrypt",
            Self::DescribeKey => "DescribeKey",
            Self::CreateKey => "CreateKey",
            Self::CreateAlias => "CreateAlias",
            Self::DeleteAlias => "DeleteAlias",
            Self::ListAliases => "ListAliases",
            Self::ListKeys => "ListKeys",
            Self::EnableKey => "EnableKey",
            Self::DisableKey => "DisableKey",
            Self::ScheduleKeyDeletion => "ScheduleKeyDeletion",
            Self::CancelKeyDeletion => "CancelKeyDeletion",
            Self::GetKeyPolicy => "GetKeyPolicy",
            Self::PutKeyPolicy => "PutKeyPolicy",
            Self::GenerateDataKeyWithoutPlaintext => "GenerateDataKeyWithoutPlaintext",
            Self::ReEncrypt => "ReEncrypt",
            Self::GenerateRandom => "GenerateRandom",
            Self::TagResource => "TagResource",
            Self::UntagResource => "UntagResource",
            Self::ListResourceTags => "ListResourceTags",
            Self::CreateGrant => "CreateGrant",
            Self::ListGrants => "ListGrants",
            Self::ListRetirableGrants => "ListRetirableGrants",
            Self::RetireGrant => "RetireGrant",
            Self::RevokeGrant => "RevokeGrant",
        }
    }

    /// The IAM action (`kms:GenerateDataKey`, ...).
    pub fn action(self) -> &'static str {
        match self {
            Self::GenerateDataKey => "kms:GenerateDataKey",
            Self::Decrypt => "kms:Decrypt",
            Self::Encrypt => "kms:Encrypt",
            Self::DescribeKey => "kms:DescribeKey",
            Self::CreateKey => "kms:CreateKey",
            Self::CreateAlias => "kms:CreateAlias",
            Self::DeleteAlias => "kms:DeleteAlias",
            Self::ListAliases => "kms:ListAliases",
            Self::ListKeys => "kms:ListKeys",
            Self::EnableKey => "kms:EnableKey",
            Self::DisableKey => "kms:DisableKey",
            Self::ScheduleKeyDeletion => "kms:ScheduleKeyDeletion",
            Self::CancelKeyDeletion => "kms:CancelKeyDeletion",
            Self::GetKeyPolicy => "kms:GetKeyPolicy",
            Self::PutKeyPolicy => "kms:PutKeyPolicy",
            Self::GenerateDataKeyWithoutPlaintext => "kms:GenerateDataKeyWithoutPlaintext",
            Self::ReEncrypt => "kms:ReEncryptFrom",
            Self::GenerateRandom => "kms:GenerateRandom",
            Self::TagResource => "kms:TagResource",
            Self::UntagResource => "kms:UntagResource",
            Self::ListResourceTags => "kms:ListResourceTags",
            Self::CreateGrant => "kms:CreateGrant",
            Self::ListGrants => "kms:ListGrants",
            Self::ListRetirableGrants => "kms:ListRetirableGrants",
            Self::RetireGrant => "kms:RetireGrant",
            Self::RevokeGrant => "kms:RevokeGrant",
        }
    }

    /// Whether a principal of another account may make this call on a key of this account.
    ///
    /// AWS KMS allows cross-account use only for the cryptographic operations, `DescribeKey`
    /// and the grant operations on a key (`CreateGrant`, `ListGrants`, `RetireGrant`,
    /// `RevokeGrant`); other permissions granted to other accounts have no effect.
    pub fn cross_account(self) -> bool {
        matches!(
            self,
            Self::GenerateDataKey
                | Self::GenerateDataKeyWithoutPlaintext
                | Self::Decrypt
                | Self::Encrypt
                | Self::ReEncrypt
                | Self::DescribeKey
                | Self::CreateGrant
                | Self::ListGrants
                | Self::RetireGrant
                | Self::RevokeGrant
        )
    }

    /// Whether the call only reads (CloudTrail's `readOnly`).
    pub fn read_only(self) -> bool {
        matches!(
            self,
            Self::DescribeKey
                | Self::ListAliases
                | Self::ListKeys
                | Self::GetKeyPolicy
                | Self::ListResourceTags
                | Self::ListGrants
                | Self::ListRetirableGrants
        )
    }
}
