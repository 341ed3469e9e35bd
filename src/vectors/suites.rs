//! The ESDK algorithm suites as the runner sees them: which this build opens, which the
//! commitment policy allows, and how to read a message's suite before parsing it.

use crate::format::AlgorithmSuite;
pub use crate::format::CommitmentPolicy;

/// A suite's properties that decide whether a test runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SuiteInfo {
    /// The suite id.
    pub id: u16,
    /// Whether it commits to its key (format version 2).
    pub committing: bool,
    /// Whether it carries an ECDSA signature.
    pub signed: bool,
    /// Its data key length in bytes.
    pub data_key_len: usize,
}

/// The suites this build opens: all eleven (the nine of format version 1 only under
/// [`CommitmentPolicy::RequireEncryptAllowDecrypt`]).
const OPENED: [u16; 11] = [
    0x0014, 0x0046, 0x0078, 0x0114, 0x0146, 0x0178, 0x0214, 0x0346, 0x0378, 0x0478, 0x0578,
];

/// The suite of an ESDK suite id.
pub fn info(id: u16) -> Option<SuiteInfo> {
    AlgorithmSuite::from_id(id).map(|s| SuiteInfo {
        id,
        committing: s.is_committing(),
        signed: s.is_signed(),
        data_key_len: s.data_key_len(),
    })
}

/// The suite named in a message's first bytes (format version 1: `01 80 SUITE`, version 2:
/// `02 SUITE`), when it is an ESDK suite. A malformed message yields `None` and is left to
/// the parser to refuse.
pub fn peek(message: &[u8]) -> Option<SuiteInfo> {
    let id = match message {
        [0x01, 0x80, a, b, ..] => u16::from_be_bytes([*a, *b]),
        [0x02, a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => return None,
    };
    let i = info(id)?;
    // A suite in the wrong format version is malformed: the parser refuses it.
    (i.committing == (message[0] == 0x02)).then_some(i)
}

/// Why a message of suite `s` is not run under `policy`, if it is not.
pub fn skip_reason(s: SuiteInfo, policy: CommitmentPolicy) -> Option<String> {
    let suite = AlgorithmSuite::from_id(s.id)?;
    if !policy.allows_decrypt(suite) {
        return Some(
            "non-committing suite refused by the commitment policy RequireEncryptRequireDecrypt \
             (run with --commitment-policy require-encrypt-allow-decrypt)"
                .to_owned(),
        );
    }
    if !OPENED.contains(&s.id) {
        return Some(format!("suite 0x{:04X} is not opened by this build", s.id));
    }
    None
}

/// Whether this build opens messages of suite `id` (under a policy that allows it).
pub fn opened(id: u16) -> bool {
    OPENED.contains(&id)
}

/// Whether fragseal encrypts with suite `id` (`vectors encrypt`).
pub fn sealed_by_fragseal(id: u16) -> bool {
    id == 0x0478
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peek_and_policy() {
        assert_eq!(peek(&[0x02, 0x04, 0x78, 0]).map(|s| s.id), Some(0x0478));
        assert_eq!(
            peek(&[0x01, 0x80, 0x03, 0x78]).map(|s| s.signed),
            Some(true)
        );
        // A committing suite in a version-1 header, an unknown suite, garbage.
        assert_eq!(peek(&[0x01, 0x80, 0x04, 0x78]), None);
        assert_eq!(peek(&[0x02, 0x12, 0x34]), None);
        assert_eq!(peek(&[0x07]), None);
        let legacy = info(0x0014).map(|s| skip_reason(s, CommitmentPolicy::default()));
        assert!(matches!(legacy, Some(Some(r)) if r.contains("commitment policy")));
        for id in [
            0x0014, 0x0046, 0x0078, 0x0114, 0x0146, 0x0178, 0x0214, 0x0346, 0x0378,
        ] {
            let allow = CommitmentPolicy::RequireEncryptAllowDecrypt;
            assert_eq!(
                info(id).and_then(|s| skip_reason(s, allow)),
                None,
                "{id:#06x}"
            );
            assert!(opened(id));
        }
        assert_eq!(
            info(0x0478).and_then(|s| skip_reason(s, CommitmentPolicy::default())),
            None
        );
    }
}
