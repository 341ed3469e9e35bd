//! Shared pieces of the reports: KVS least-privilege key policy, KMS call counts and costs per
//! credential, throughput, progress bars, and human-readable numbers.

use fragseal::engine::Engine;
use fragseal::kms::local::LocalKms;
use fragseal::kms::Credential;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};
use std::io::IsTerminal;
use std::time::Duration;

/// AWS KMS price per 10,000 symmetric requests (USD), as published for most regions.
pub const KMS_PRICE_PER_10K: f64 = 0.03;

/// The key policy of the Kinesis Video Streams documentation's least-privilege setup: the
/// account root administers the key (which delegates to IAM), the producer may only call
/// `kms:GenerateDataKey` and the consumer only `kms:Decrypt`, each only for `stream_arn`; both
/// may also `kms:DescribeKey` (key metadata only), so that a strict keyring on `alias/NAME`
/// resolves the alias to the key ARN once.
///
/// The data-key statements pin the encryption context's key set to exactly the one key the
/// CLI writes, `aws:kinesisvideo:arn` (`ForAllValues:StringEquals` on
/// `kms:EncryptionContextKeys`, which compares case-sensitively): KMS matches
/// `kms:EncryptionContext:KEY` condition keys case-insensitively, so without the pin an extra
/// pair `AWS:KINESISVIDEO:ARN = <this stream>` would satisfy the condition for a request whose
/// `aws:kinesisvideo:arn` names another stream (AWS recommends exactly this pin).
pub fn least_privilege_policy(
    account: &str,
    producer: &str,
    consumer: &str,
    stream_arn: &str,
) -> String {
    let ec_condition = json!({
        "StringEquals": { "kms:EncryptionContext:aws:kinesisvideo:arn": stream_arn },
        "ForAllValues:StringEquals": { "kms:EncryptionContextKeys": [STREAM_CONTEXT_KEY] }
    });
    json!({
        "Version": "2012-10-17",
        "Id": "fragseal-kvs-least-privilege",
        "Statement": [
            {
                "Sid": "Key administration by the account",
                "Effect": "Allow",
                "Principal": { "AWS": format!("arn:aws:iam::{account}:root") },
                "Action": "kms:*",
                "Resource": "*"
            },
            {
                "Sid": "Producer (PutMedia) may generate data keys for its stream",
                "Effect": "Allow",
                "Principal": { "AWS": producer },
                "Action": "kms:GenerateDataKey",
                "Resource": "*",
                "Condition": ec_condition
            },
            {
                "Sid": "Consumer (GetMedia) may decrypt data keys of its stream",
                "Effect": "Allow",
                "Principal": { "AWS": consumer },
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": ec_condition
            },
            {
                "Sid": "Producer and consumer may describe the key (to resolve an alias to the key ARN)",
                "Effect": "Allow",
                "Principal": { "AWS": [producer, consumer] },
                "Action": "kms:DescribeKey",
                "Resource": "*"
            }
        ]
    })
    .to_string()
}

/// The encryption context key that names the stream.
pub const STREAM_CONTEXT_KEY: &str = "aws:kinesisvideo:arn";

/// Counts, cache figures and cost for one credential.
pub struct CredentialReport {
    pub role: &'static str,
    pub credential: Credential,
    pub kms_calls: Vec<(String, u64)>,
    pub total_kms_calls: u64,
    pub refused_kms_calls: u64,
    pub hits: u64,
    pub misses: u64,
    pub cost_usd: f64,
}

impl CredentialReport {
    pub fn gather(
        role: &'static str,
        credential: &Credential,
        kms: &LocalKms,
        engine: &Engine,
    ) -> Self {
        let counts = kms.audit().counts();
        let kms_calls: Vec<(String, u64)> = counts
            .get(credential)
            .map(|ops| {
                ops.iter()
                    .map(|(op, n)| (op.name().to_owned(), *n))
                    .collect()
            })
            .unwrap_or_default();
        let total_kms_calls = kms_calls.iter().map(|(_, n)| n).sum();
        let refused_kms_calls = kms
            .audit()
            .events()
            .iter()
            .filter(|e| &e.caller == credential && e.is_error())
            .count() as u64;
        let cost_usd = kms
            .audit()
            .cost_estimate(KMS_PRICE_PER_10K)
            .get(credential)
            .copied()
            .unwrap_or(0.0);
        let (hits, misses) = engine
            .stats(credential)
            .map(|s| (s.hits, s.misses))
            .unwrap_or((0, 0));
        Self {
            role,
            credential: credential.clone(),
            kms_calls,
            total_kms_calls,
            refused_kms_calls,
            hits,
            misses,
            cost_usd,
        }
    }

    pub fn hit_rate(&self) -> Option<f64> {
        let total = self.hits + self.misses;
        (total > 0).then(|| ratio(self.hits, total))
    }

    pub fn to_json(&self) -> Value {
        let calls: serde_json::Map<String, Value> = self
            .kms_calls
            .iter()
            .map(|(op, n)| (op.clone(), Value::from(*n)))
            .collect();
        json!({
            "role": self.role,
            "principal_arn": self.credential.principal_arn(),
            "access_key_id": self.credential.access_key_id(),
            "kms_calls": calls,
            "total_kms_calls": self.total_kms_calls,
            "refused_kms_calls": self.refused_kms_calls,
            "cache": {
                "hits": self.hits,
                "misses": self.misses,
                "hit_rate": self.hit_rate(),
            },
            "estimated_kms_cost_usd": self.cost_usd,
        })
    }

    pub fn calls_text(&self) -> String {
        if self.kms_calls.is_empty() {
            return "none".into();
        }
        let calls = self
            .kms_calls
            .iter()
            .map(|(op, n)| format!("{op} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ");
        if self.refused_kms_calls > 0 {
            format!("{calls} ({} refused)", self.refused_kms_calls)
        } else {
            calls
        }
    }
}

/// `a / b` as a float (counts far below 2^53, where the conversion is exact).
#[allow(clippy::cast_precision_loss)]
pub fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// MiB per second for `bytes` in `elapsed`.
#[allow(clippy::cast_precision_loss)]
pub fn mib_per_s(bytes: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    bytes as f64 / (1024.0 * 1024.0) / secs
}

/// `29309` → `29,309`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration as `1.23 ms` / `4.56 s`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1e-3 {
        format!("{:.1} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// A progress bar on stderr when it is a terminal and the output is for humans; hidden
/// otherwise.
pub fn progress(len: u64, label: &str, json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{msg:8} [{bar:30}] {pos}/{len} fragments ({elapsed})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(label.to_owned());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(29309), "29,309");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(ratio(1, 4), 0.25);
        assert_eq!(ratio(1, 0), 0.0);
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.50 s");
    }

    #[test]
    fn policy_is_json_with_four_statements() {
        let p = least_privilege_policy("111122223333", "arn:p", "arn:c", "arn:s");
        let v: Value = serde_json::from_str(&p).unwrap_or_default();
        assert_eq!(v["Statement"].as_array().map(Vec::len), Some(4));
        assert_eq!(v["Statement"][1]["Action"], "kms:GenerateDataKey");
        assert_eq!(v["Statement"][2]["Action"], "kms:Decrypt");
        assert_eq!(v["Statement"][3]["Action"], "kms:DescribeKey");
        for i in [1, 2] {
            assert_eq!(
                v["Statement"][i]["Condition"]["ForAllValues:StringEquals"]
                    ["kms:EncryptionContextKeys"],
                json!(["aws:kinesisvideo:arn"]),
                "statement {i} pins the context keys"
            );
        }
    }

    /// Issue 11 #1 against the policy itself: with the least-privilege policy for stream A,
    /// producer A asks for a data key whose `aws:kinesisvideo:arn` is stream B and adds the
    /// case variant `AWS:KINESISVIDEO:ARN = A`; the consumer of B asks to decrypt with the same
    /// context. Both must be denied.
    #[test]
    fn case_variant_context_key_is_denied_by_the_least_privilege_policy() {
        use fragseal::kms::{DataKeySpec, Kms};
        use fragseal::EncryptionContext;
        const ACCOUNT: &str = "111122223333";
        let a = "arn:aws:kinesisvideo:us-east-1:111122223333:stream/a/1";
        let b = "arn:aws:kinesisvideo:us-east-1:111122223333:stream/b/1";
        let cred = |name: &str| {
            Credential::new(
                ACCOUNT,
                format!("arn:aws:iam::{ACCOUNT}:role/{name}"),
                "AKIAIOSFODNN7EXAMPLE",
            )
            .unwrap()
        };
        let (admin, prod_a, cons_b) = (
            Credential::new(ACCOUNT, format!("arn:aws:iam::{ACCOUNT}:root"), "AKIAADMIN").unwrap(),
            cred("prodA"),
            cred("consB"),
        );
        let kms = LocalKms::new("us-east-1", ACCOUNT);
        let key = kms
            .create_key(&admin, None, "shared")
            .map(|k| k.arn)
            .unwrap_or_default();
        // prodA for A and consB for B, in one key policy of the shape above.
        let pa: Value = serde_json::from_str(&least_privilege_policy(
            ACCOUNT,
            prod_a.principal_arn(),
            "arn:aws:iam::111122223333:role/nobody",
            a,
        ))
        .unwrap_or_default();
        let pb: Value = serde_json::from_str(&least_privilege_policy(
            ACCOUNT,
            "arn:aws:iam::111122223333:role/nobody",
            cons_b.principal_arn(),
            b,
        ))
        .unwrap_or_default();
        let policy = json!({
            "Version": "2012-10-17",
            "Statement": [pa["Statement"][0], pa["Statement"][1], pb["Statement"][2]]
        });
        assert!(kms
            .put_key_policy(&admin, &key, &policy.to_string())
            .is_ok());
        let honest = EncryptionContext::new().with(STREAM_CONTEXT_KEY, a);
        assert!(
            kms.generate_data_key(&prod_a, &key, DataKeySpec::Aes256, &honest)
                .is_ok(),
            "the producer may seal for its own stream"
        );
        let forged = EncryptionContext::new()
            .with(STREAM_CONTEXT_KEY, b)
            .with("AWS:KINESISVIDEO:ARN", a);
        assert!(
            kms.generate_data_key(&prod_a, &key, DataKeySpec::Aes256, &forged)
                .is_err(),
            "producer A must not get a data key for stream B"
        );
        // And a blob made (by the admin) under the forged context does not open for consB
        // under a policy that lets it decrypt only B... with exactly B's keys.
        let admin_policy = json!({
            "Version": "2012-10-17",
            "Statement": [pa["Statement"][0], pb["Statement"][2],
                {"Effect": "Allow", "Principal": {"AWS": prod_a.principal_arn()},
                 "Action": "kms:GenerateDataKey", "Resource": "*"}]
        });
        assert!(kms
            .put_key_policy(&admin, &key, &admin_policy.to_string())
            .is_ok());
        let blob = kms
            .generate_data_key(&prod_a, &key, DataKeySpec::Aes256, &forged)
            .map(|g| g.ciphertext_blob.clone())
            .unwrap_or_default();
        assert!(
            kms.decrypt(&cons_b, &blob, &forged, None).is_err(),
            "the consumer of B must not decrypt a context with extra keys"
        );
    }
}
