//! The ESDK algorithm suites as the runner sees them: which this build opens, which the
//! commitment policy allows, and how to read a message's suite before parsing it.

/// The ESDK commitment policies that allow fragseal's encryption (fragseal never encrypts
/// with a non-committing suite).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CommitmentPolicy {
    /// Encrypt and decrypt committing suites only (the default).
    #[default]
    RequireEncryptRequireDecrypt,
    /// Encrypt committing suites; decrypt the non-committing (1.x) suites too.
    RequireEncryptAllowDecrypt,
}

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

/// The 11 ESDK suites: id, committing, signed, data key length.
const SUITES: [(u16, bool, bool, usize); 11] = [
    (0x0014, false, false, 16),
    (0x0046, false, false, 24),
    (0x0078, false, false, 32),
    (0x0114, false, false, 16),
    (0x0146, false, false, 24),
    (0x0178, false, false, 32),
    (0x0214, false, true, 16),
    (0x0346, false, true, 24),
    (0x0378, false, true, 32),
    (0x0478, true, false, 32),
    (0x0578, true, true, 32),
];

/// The suites this build opens.
const OPENED: [u16; 1] = [0x0478];

/// The suite of an ESDK suite id.
pub fn info(id: u16) -> Option<SuiteInfo> {
    SUITES
        .iter()
        .find(|s| s.0 == id)
        .map(|&(id, committing, signed, data_key_len)| SuiteInfo {
            id,
            committing,
            signed,
            data_key_len,
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
    if !s.committing && policy == CommitmentPolicy::RequireEncryptRequireDecrypt {
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
        assert_eq!(
            info(0x0478).and_then(|s| skip_reason(s, CommitmentPolicy::default())),
            None
        );
    }
}
