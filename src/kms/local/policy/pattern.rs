//! Wildcard and ARN matching: `Action` patterns, `Resource` ARNs, `ArnLike` conditions.

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

/// `Resource`/`NotResource` matching, as the IAM reference for the `Resource` element states:
/// wildcards are used "within the individual segments of an ARN (the parts separated by
/// colons)", and "if the `*` wildcard is the last character of a resource ARN segment, it can
/// expand to match beyond the colon boundaries".
///
/// So, case-sensitively: `"*"` alone matches everything; a `*` that ends a segment of the
/// pattern (followed by `:` or by the end of the pattern) matches any run of characters,
/// colons included (`arn:aws:kms:us-east-1:*` matches every key and alias ARN of that
/// region); any other `*` matches a run of characters without a colon, and `?` exactly one
/// character other than a colon; every other character matches itself.
pub fn arn_match(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if !pattern.contains(['*', '?']) {
        return pattern == arn;
    }
    #[derive(Clone, Copy)]
    enum Token {
        Char(char),
        /// `?`: one character other than `:`.
        One,
        /// `*` inside a segment: a run without `:`.
        InSegment,
        /// `*` ending a segment: any run.
        Spanning,
    }
    let p: Vec<char> = pattern.chars().collect();
    let tokens = p.iter().enumerate().map(|(i, &c)| match c {
        '?' => Token::One,
        '*' if matches!(p.get(i + 1), None | Some(':')) => Token::Spanning,
        '*' => Token::InSegment,
        c => Token::Char(c),
    });
    let t: Vec<char> = arn.chars().collect();
    // matched[j]: the pattern so far matches the first j characters of the ARN.
    let mut matched = vec![false; t.len() + 1];
    let mut next = vec![false; t.len() + 1];
    matched[0] = true;
    for token in tokens {
        match token {
            Token::Spanning => {
                let mut any = false;
                for j in 0..=t.len() {
                    any |= matched[j];
                    next[j] = any;
                }
            }
            Token::InSegment => {
                next[0] = matched[0];
                for j in 1..=t.len() {
                    next[j] = matched[j] || (next[j - 1] && t[j - 1] != ':');
                }
            }
            Token::One | Token::Char(_) => {
                next[0] = false;
                for j in 1..=t.len() {
                    let fits = match token {
                        Token::Char(c) => t[j - 1] == c,
                        _ => t[j - 1] != ':',
                    };
                    next[j] = matched[j - 1] && fits;
                }
            }
        }
        std::mem::swap(&mut matched, &mut next);
        if !matched.iter().any(|&m| m) {
            return false;
        }
    }
    matched[t.len()]
}

/// `ArnLike`/`ArnEquals` (and the negated forms) in a condition: both ARNs are split into the
/// six colon-separated components (the last may contain colons) and each is matched with
/// [`glob`], case-sensitively, so a wildcard never spans components. IAM documents the
/// operators this way ("each of the six colon-delimited components of the ARN is checked
/// separately"), unlike the `Resource` element ([`arn_match`]).
pub(super) fn arn_like(pattern: &str, arn: &str) -> bool {
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
        // A `*` that ends a segment spans colons (the IAM Resource reference).
        assert!(arn_match("arn:aws:kms:*", "arn:aws:kms:us-east-1:1:key/a"));
        assert!(arn_match(
            "arn:aws:kms:us-east-1:*",
            "arn:aws:kms:us-east-1:111122223333:key/abc"
        ));
        assert!(arn_match(
            "arn:aws:kms:us-east-1:*",
            "arn:aws:kms:us-east-1:111122223333:alias/cam"
        ));
        assert!(arn_match(
            "arn:aws:kms:us-*:key/a",
            "arn:aws:kms:us-east-1:1:key/a"
        ));
        assert!(!arn_match(
            "arn:aws:kms:us-east-1:*",
            "arn:aws:kms:eu-west-1:111122223333:key/abc"
        ));
        // Any other `*`, and `?`, stay within a segment.
        assert!(!arn_match(
            "arn:aws:kms:us-*1:key/a",
            "arn:aws:kms:us-east-1:1:key/a"
        ));
        assert!(arn_match(
            "arn:aws:kms:us-*-1:1:key/a",
            "arn:aws:kms:us-east-1:1:key/a"
        ));
        assert!(!arn_match(
            "arn:aws:kms:us-east-1?1:key/a",
            "arn:aws:kms:us-east-1:1:key/a"
        ));
        assert!(arn_match(
            "arn:aws:kms:us-east-?:1:key/a",
            "arn:aws:kms:us-east-1:1:key/a"
        ));
        assert!(!arn_match("arn:aws:kms:*:*:*", "*"));
        assert!(!arn_match(
            "arn:aws:kms:*:1:key/a",
            "arn:aws:kms:us-east-1:1:key/ab"
        ));
        assert!(arn_match(
            "arn:aws:kms:*:1:key/a*",
            "arn:aws:kms:us-east-1:1:key/ab"
        ));
        assert!(arn_match(
            "arn:aws:kms:**:1:key/a",
            "arn:aws:kms:x:y:1:key/a"
        ));
        assert!(!arn_match(
            "arn:aws:kms:us-east-1:1:key/a",
            "arn:aws:kms:us-east-1:1:key/A"
        ));
        assert!(arn_match("arn:aws:kms:*é:1:key/a", "arn:aws:kms:é:1:key/a"));
    }

    #[test]
    fn arn_like_components() {
        // Conditions check the six components separately: no wildcard spans a colon.
        assert!(!arn_like("arn:aws:kms:*", "arn:aws:kms:us-east-1:1:key/a"));
        assert!(arn_like(
            "arn:aws:kms:*:*:*",
            "arn:aws:kms:us-east-1:1:key/a"
        ));
        assert!(arn_like(
            "arn:aws:iam::*:role/*",
            "arn:aws:iam::123456789012:role/path/Admin"
        ));
        assert!(!arn_like(
            "arn:aws:iam::*:role/*",
            "arn:aws:iam::123456789012:user/u"
        ));
    }
}
