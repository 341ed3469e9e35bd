//! The IAM policy parser of LocalKms on arbitrary JSON text: never panics; a parsed policy
//! evaluates without panicking; `parse` and `from_value` agree (except that `parse` alone
//! sees repeated object keys); and the wildcard matcher agrees with a straightforward
//! reference implementation.
#![no_main]

use fragseal::format::EncryptionContext;
use fragseal::kms::local::policy::{
    arn_match, authorize, glob, Policy, PolicyErrorKind, PolicyKind, Request, RequestContext,
};
use libfuzzer_sys::fuzz_target;

/// Reference wildcard match over characters: `*` any run of characters, `?` exactly one.
fn reference_glob(pattern: &str, text: &str, ci: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // dp[j] = pattern prefix of length i matches text prefix of length j.
    let mut dp = vec![false; t.len() + 1];
    dp[0] = true;
    for &pc in &p {
        let mut next = vec![false; t.len() + 1];
        match pc {
            '*' => {
                let mut any = false;
                for j in 0..=t.len() {
                    any |= dp[j];
                    next[j] = any;
                }
            }
            _ => {
                for j in 1..=t.len() {
                    let tc = t[j - 1];
                    let m = pc == '?' || pc == tc || (ci && pc.eq_ignore_ascii_case(&tc));
                    next[j] = dp[j - 1] && m;
                }
            }
        }
        dp = next;
    }
    dp[t.len()]
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };

    // Wildcards: split the text at the first NUL into pattern and subject.
    if let Some((pattern, subject)) = text.split_once('\0') {
        if pattern.len() <= 64 && subject.len() <= 64 {
            let ci = selector & 1 == 1;
            assert_eq!(
                glob(pattern, subject, ci),
                reference_glob(pattern, subject, ci),
                "glob({pattern:?}, {subject:?}, {ci})"
            );
            let _ = arn_match(pattern, subject);
        }
        return;
    }

    let kind = if selector & 1 == 0 {
        PolicyKind::Key
    } else {
        PolicyKind::Identity
    };
    let parsed = Policy::parse(text, kind);
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        // `parse` also refuses repeated object keys, which a `Value` has already dropped;
        // otherwise the two agree.
        let from_value = Policy::from_value(&value, kind);
        match &parsed {
            Err(e) if e.kind() == PolicyErrorKind::DuplicateKey => {}
            _ => assert_eq!(from_value, parsed),
        }
    } else {
        assert!(parsed.is_err());
    }
    let Ok(policy) = parsed else {
        return;
    };
    let ec = EncryptionContext::new()
        .with(
            "aws:kinesisvideo:arn",
            "arn:aws:kinesisvideo:us-east-1:111122223333:stream/s/1",
        )
        .with("Purpose", "Test");
    for (action, principal, via, ec) in [
        (
            "kms:GenerateDataKey",
            "arn:aws:iam::111122223333:role/Producer",
            None,
            Some(&ec),
        ),
        (
            "kms:Decrypt",
            "arn:aws:sts::111122223333:assumed-role/Consumer/s1",
            Some("kinesisvideo.us-east-1.amazonaws.com"),
            Some(&ec),
        ),
        (
            "kms:DescribeKey",
            "arn:aws:iam::444455556666:root",
            None,
            None,
        ),
    ] {
        let account = principal.split(':').nth(4).unwrap_or("");
        let req = Request {
            action,
            resource: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            context: RequestContext {
                principal_arn: principal,
                principal_account: account,
                via_service: via,
                encryption_context: ec,
                request_alias: Some("alias/aws/kinesisvideo"),
                external_id: None,
            },
        };
        let own = policy.evaluate(&req);
        let (key, ids): (Option<&Policy>, Vec<&Policy>) = match kind {
            PolicyKind::Key => (Some(&policy), Vec::new()),
            PolicyKind::Identity => (None, vec![&policy]),
        };
        let d = authorize(key, "111122223333", &ids, &req);
        // An explicit deny in the only policy is final.
        if own == fragseal::kms::local::policy::Decision::ExplicitDeny {
            assert_eq!(d, own);
        }
    }
});
