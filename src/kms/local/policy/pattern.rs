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

/// ARN match as IAM does it: `"*"` matches everything; otherwise both split into the six
/// colon-separated segments (the last may contain colons) and each segment is matched with
/// [`glob`], case-sensitively.
pub fn arn_match(pattern: &str, arn: &str) -> bool {
    if pattern == "*" {
        return true;
    }
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
        // `*` in one segment does not cross a colon.
        assert!(!arn_match("arn:aws:kms:*", "arn:aws:kms:us-east-1:1:key/a"));
        assert!(!arn_match("arn:aws:kms:*:*:*", "*"));
    }
}
