//! Untrusted text on the terminal.
//!
//! Encryption context keys and values, provider ids and infos, principals and access key ids
//! read from an audit log, an index's stream ARN: all come from files anyone may have written.
//! Printed raw, a `\n` forges an extra line and an escape sequence rewrites the terminal, so
//! every such string goes through [`escape`] before it is printed as text (JSON output is
//! escaped by the JSON encoder).

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal as is: control characters (C0, DEL, C1), and the
/// Unicode format characters that reorder or hide text (bidirectional overrides and isolates,
/// zero-width characters, the BOM).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// `s` with every character of [`needs_escape`] written as `\u{XX}` (and `\` as `\\` when
/// anything is escaped, so that the escaping cannot itself be forged); `s` itself when it
/// is clean.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if needs_escape(c) {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn control_and_reordering_characters_are_escaped() {
        assert_eq!(escape("arn:aws:iam::1:role/p"), "arn:aws:iam::1:role/p");
        assert_eq!(escape("a\nb"), "a\\u{a}b");
        assert_eq!(escape("\u{1b}[2J"), "\\u{1b}[2J");
        assert_eq!(escape("x\u{9b}y"), "x\\u{9b}y");
        assert_eq!(escape("a\u{202e}b"), "a\\u{202e}b");
        assert_eq!(escape("c:\\d\r"), "c:\\\\d\\u{d}");
        assert_eq!(escape("tab\there"), "tab\\u{9}here");
    }
}
