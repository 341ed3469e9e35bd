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

/// `v` as JSON (pretty with `pretty`) in which, beyond what JSON itself escapes (C0 controls,
/// `"` and `\`), every character of [`needs_escape`] (C1 controls such as U+009B, a CSI to
/// some terminals; bidirectional overrides) is written as a `\uXXXX` escape: the same JSON
/// value, with nothing a terminal acts on.
pub fn json(v: &serde_json::Value, pretty: bool) -> String {
    let s = if pretty {
        format!("{v:#}")
    } else {
        v.to_string()
    };
    if !s.chars().any(needs_escape_in_json) {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if needs_escape_in_json(c) {
            // Outside the JSON syntax characters only inside strings can these appear, and
            // all of them are in the BMP: one \uXXXX each. Writing to a String cannot fail.
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// [`needs_escape`] minus the newline and spaces of pretty-printed JSON (`serde_json` escapes
/// every C0 control inside strings).
fn needs_escape_in_json(c: char) -> bool {
    needs_escape(c) && !matches!(c, '\n' | '\t' | '\r')
}

#[cfg(test)]
mod tests {
    use super::{escape, json};

    #[test]
    fn json_output_escapes_c1_and_bidi_characters() {
        let v = serde_json::json!({"k": "a\u{9b}b\u{202e}c\u{1b}"});
        let s = json(&v, true);
        assert!(!s.chars().any(|c| c.is_control() && c != '\n'), "{s}");
        let back: serde_json::Value = serde_json::from_str(&s).unwrap_or_default();
        assert_eq!(back, v);
    }

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
