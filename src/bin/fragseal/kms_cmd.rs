//! `fragseal kms ...`: manage the local KMS (state file) and read its audit trail.

use crate::backend::check_audit;
use crate::cli::{KmsArgs, KmsCommand};
use crate::error::{CliError, CliResult};
use crate::report::{self, thousands};
use crate::text::escape;
use fragseal::kms::Kms;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::path::Path;

/// Largest policy file read (AWS's limit is 32 KiB; the KMS checks it too).
const MAX_POLICY_FILE: u64 = 1 << 20;
/// Longest audit line accepted.
const MAX_AUDIT_LINE: usize = 1 << 20;

fn read_policy(path: &Path) -> CliResult<String> {
    let mut text = String::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .take(MAX_POLICY_FILE)
            .read_to_string(&mut text)
            .map_err(|e| CliError::input(format!("cannot read the policy from stdin: {e}")))?;
        return Ok(text);
    }
    let bytes = crate::files::read_regular(path, MAX_POLICY_FILE, "a policy file")?;
    String::from_utf8(bytes)
        .map_err(|_| CliError::input(format!("{} is not UTF-8 text", path.display())))
}

pub fn run(args: &KmsArgs) -> CliResult<()> {
    let caller = args.caller.credential(&args.kms)?;
    match &args.command {
        KmsCommand::CreateKey {
            description,
            policy,
            alias,
            json,
        } => {
            let policy = policy.as_deref().map(read_policy).transpose()?;
            let kms = args.kms.local(true)?;
            let key = kms.create_key(&caller, policy.as_deref(), description)?;
            if let Some(a) = alias {
                kms.create_alias(&caller, a, &key.arn)?;
            }
            check_audit(&kms, &args.kms.audit_file())?;
            if *json {
                outln!(
                    "{:#}",
                    json!({"key_id": key.key_id, "arn": key.arn, "alias": alias, "state": key.state.as_str()})
                );
            } else {
                outln!("{}", key.arn);
                if let Some(a) = alias {
                    outln!("alias {a} → {}", key.key_id);
                }
            }
        }
        KmsCommand::Serve(serve) => crate::serve::run(serve, &args.kms)?,
        KmsCommand::Alias { name, key } => {
            let kms = args.kms.local(false)?;
            kms.create_alias(&caller, name, key)?;
            check_audit(&kms, &args.kms.audit_file())?;
            outln!("alias {name} → {key}");
        }
        KmsCommand::PutPolicy {
            key,
            file,
            least_privilege,
            producer,
            consumer,
            stream_arn,
        } => {
            let policy =
                match (file, least_privilege, producer, consumer) {
                    (Some(f), _, _, _) => read_policy(f)?,
                    (None, true, Some(p), Some(c)) => {
                        report::least_privilege_policy(&args.kms.account, p, c, stream_arn)
                    }
                    _ => return Err(CliError::usage(
                        "give a policy file, or --least-privilege with --producer and --consumer",
                    )),
                };
            let kms = args.kms.local(false)?;
            kms.put_key_policy(&caller, key, &policy)?;
            check_audit(&kms, &args.kms.audit_file())?;
            outln!("policy of {key} replaced");
        }
        KmsCommand::GetPolicy { key } => {
            let kms = args.kms.local(false)?;
            let p = kms.get_key_policy(&caller, key)?;
            check_audit(&kms, &args.kms.audit_file())?;
            // Pretty-print when it parses; print as stored otherwise.
            match serde_json::from_str::<Value>(&p) {
                Ok(v) => outln!("{}", crate::text::json(&v, true)),
                Err(_) => outln!("{}", escape(&p)),
            }
        }
        KmsCommand::List { json } => {
            let kms = args.kms.local(false)?;
            let keys = kms.list_keys(&caller)?;
            let aliases = kms.list_aliases(&caller, None)?;
            let mut rows = Vec::new();
            for arn in &keys {
                let d = kms.describe_key(&caller, arn)?;
                let names: Vec<&str> = aliases
                    .iter()
                    .filter(|a| a.target_key_id == d.key_id)
                    .map(|a| a.alias_name.as_str())
                    .collect();
                rows.push((d, names));
            }
            check_audit(&kms, &args.kms.audit_file())?;
            if *json {
                let v: Vec<Value> = rows
                    .iter()
                    .map(|(d, names)| {
                        json!({
                            "arn": d.arn,
                            "key_id": d.key_id,
                            "state": d.state.as_str(),
                            "manager": d.manager,
                            "description": d.description,
                            "aliases": names,
                        })
                    })
                    .collect();
                outln!("{}", crate::text::json(&Value::Array(v), true));
            } else if rows.is_empty() {
                outln!("no keys");
            } else {
                for (d, names) in rows {
                    outln!(
                        "{}  {}  {}{}",
                        d.arn,
                        d.state.as_str(),
                        if names.is_empty() {
                            String::new()
                        } else {
                            format!("{}  ", escape(&names.join(", ")))
                        },
                        escape(&d.description)
                    );
                }
            }
        }
        KmsCommand::Audit {
            json,
            events,
            price_per_10k,
        } => audit(&args.kms.audit_file(), *json, *events, *price_per_10k)?,
    }
    Ok(())
}

/// Calls of one credential.
#[derive(Default)]
struct CallerSummary {
    calls: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
    total: u64,
}

fn audit(path: &Path, json_out: bool, with_events: bool, price: f64) -> CliResult<()> {
    let file = std::fs::File::open(path).map_err(|e| {
        CliError::read(path, &e).with_hint(
            "the audit trail is written by every command that uses the local KMS (--audit-log)",
        )
    })?;
    let mut reader = std::io::BufReader::new(file);
    // Keyed by (role of a session, or the caller's own ARN; ARN; access key id): the sessions
    // of a role sort together, under it.
    let mut by_caller: BTreeMap<(String, String, String), CallerSummary> = BTreeMap::new();
    let mut all = Vec::new();
    let mut line = String::new();
    let mut n = 0usize;
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_AUDIT_LINE as u64 + 1)
            .read_line(&mut line)
            .map_err(|e| CliError::read(path, &e))?;
        if read == 0 {
            break;
        }
        n += 1;
        if line.len() > MAX_AUDIT_LINE {
            return Err(CliError::input(format!(
                "{} line {n} is longer than {MAX_AUDIT_LINE} bytes",
                path.display()
            )));
        }
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line).map_err(|e| {
            CliError::input(format!(
                "{} line {n} is not a JSON event: {e}",
                path.display()
            ))
        })?;
        let field = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned()
        };
        // A request refused before it reached the KMS (bad signature, unknown key, ...) has
        // no known caller: listed with the events, not counted nor priced.
        if v.pointer("/userIdentity/type").and_then(Value::as_str) == Some("Unknown") {
            if with_events {
                all.push(v);
            }
            continue;
        }
        let arn = field("/userIdentity/arn");
        let group = v
            .pointer("/userIdentity/sessionContext/sessionIssuer/arn")
            .and_then(Value::as_str)
            .map_or_else(|| arn.clone(), str::to_owned);
        let s = by_caller
            .entry((group, arn, field("/userIdentity/accessKeyId")))
            .or_default();
        *s.calls.entry(field("/eventName")).or_default() += 1;
        if let Some(code) = v.get("errorCode").and_then(Value::as_str) {
            *s.errors.entry(code.to_owned()).or_default() += 1;
        }
        s.total += 1;
        if with_events {
            all.push(v);
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let cost = |calls: u64| calls as f64 * price / 10_000.0;
    if json_out {
        let callers: Vec<Value> = by_caller
            .iter()
            .map(|((group, arn, akid), s)| {
                json!({
                    "principal_arn": arn,
                    "session_issuer": if group == arn { Value::Null } else { Value::from(group.as_str()) },
                    "access_key_id": akid,
                    "calls": s.calls,
                    "errors": s.errors,
                    "total_calls": s.total,
                    "estimated_cost_usd": cost(s.total),
                })
            })
            .collect();
        let mut v = json!({"audit_log": path.display().to_string(), "price_per_10k_usd": price, "callers": callers});
        if with_events {
            v["events"] = Value::Array(all);
        }
        outln!("{}", crate::text::json(&v, true));
        return Ok(());
    }
    if with_events {
        for e in &all {
            outln!("{}", crate::text::json(e, false));
        }
    }
    if by_caller.is_empty() {
        outln!("no KMS calls recorded in {}", path.display());
        return Ok(());
    }
    outln!("KMS calls recorded in {}:", path.display());
    // Every string below comes from the log file: escaped, so that a principal or access key
    // id holding `\n` or an escape sequence cannot forge or hide lines.
    let mut current_role: Option<&str> = None;
    for ((group, arn, akid), s) in &by_caller {
        let session = group != arn;
        if session && current_role != Some(group.as_str()) {
            outln!("  role {}, sessions:", escape(group));
        }
        current_role = session.then_some(group.as_str());
        let calls: Vec<String> = s
            .calls
            .iter()
            .map(|(op, n)| format!("{} ×{n}", escape(op)))
            .collect();
        let errors: Vec<String> = s
            .errors
            .iter()
            .map(|(c, n)| format!("{} ×{n}", escape(c)))
            .collect();
        outln!(
            "  {}{} ({}): {} call(s): {}{}; est. ${:.6}",
            if session { "  " } else { "" },
            escape(arn),
            escape(akid),
            thousands(s.total),
            calls.join(", "),
            if errors.is_empty() {
                String::new()
            } else {
                format!("; errors: {}", errors.join(", "))
            },
            cost(s.total)
        );
    }
    Ok(())
}
