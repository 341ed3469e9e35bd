//! No output macro in `src/` mentions key material.

use super::*;

// ---------------------------------------------------------------------------------------------
// 3. No log or print line mentions key material
// ---------------------------------------------------------------------------------------------

/// Macros that write to a log, a terminal or a trace.
const OUTPUT_MACROS: &[&str] = &[
    "println!",
    "eprintln!",
    "print!",
    "eprint!",
    "dbg!",
    "trace!",
    "debug!",
    "info!",
    "warn!",
    "error!",
    "log!",
    "event!",
];
/// Identifiers that reach key material.
const KEY_MATERIAL: &[&str] = &[
    "expose_secret",
    ".plaintext",
    "data_key",
    "material",
    "commit_key",
    "encryption_key",
    "wrapping_key",
    "secret_access_key",
    "session_token",
];

/// Finds output macros (and `log::` / `tracing::` calls) whose arguments mention key
/// material. Returns `line: text` for each finding. Scans up to a `#[cfg(test)]` line (the
/// test modules at the end of our files, whose assertions may show bytes on failure).
fn scan_source(text: &str) -> Vec<String> {
    let mut findings = Vec::new();
    let code: String = text
        .lines()
        .take_while(|l| l.trim() != "#[cfg(test)]")
        .collect::<Vec<_>>()
        .join("\n");
    let bytes = code.as_bytes();
    let mut starts: Vec<usize> = Vec::new();
    for m in OUTPUT_MACROS {
        let mut from = 0;
        while let Some(i) = code[from..].find(m) {
            let at = from + i;
            // Whole macro name: not the tail of another identifier (`my_debug!`).
            let prev = at.checked_sub(1).and_then(|p| bytes.get(p)).copied();
            if !prev.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_') {
                starts.push(at);
            }
            from = at + m.len();
        }
    }
    for prefix in ["log::", "tracing::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(prefix) {
            starts.push(from + i);
            from += i + prefix.len();
        }
    }
    for at in starts {
        // The argument list: from the first opening bracket to its matching close.
        let rest = &code[at..];
        let Some(open) = rest.find(['(', '[', '{']) else {
            continue;
        };
        let mut depth = 0i32;
        let mut end = rest.len();
        for (i, c) in rest[open..].char_indices() {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        let args = &rest[..end];
        if let Some(k) = KEY_MATERIAL.iter().find(|k| args.contains(*k)) {
            let line = code[..at].lines().count().max(1);
            findings.push(format!("line {line}: mentions `{k}`: {args}"));
        }
    }
    findings
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn the_scanner_flags_key_material_in_output_macros() {
    let bad = [
        r#"fn f(k: &DataKey) { println!("{:?}", k.expose_secret()); }"#,
        r#"fn f(g: G) { log::debug!("key {}", hex::encode(&g.plaintext)); }"#,
        "fn f(m: M) {\n    tracing::info!(\n        material = ?m.material,\n    );\n}",
        r#"fn f(dk: D) { dbg!(&data_key); }"#,
        r#"fn f(c: C) { eprintln!("{}", c.secret_access_key); }"#,
    ];
    for src in bad {
        assert!(!scan_source(src).is_empty(), "not flagged: {src}");
    }
    let fine = [
        r#"fn f(n: usize) { println!("{n} fragments"); }"#,
        r#"fn f(e: E) { eprintln!("fragseal: error: {}", e.message); }"#,
        "fn f() {}\n#[cfg(test)]\nmod tests { fn t() { println!(\"{:?}\", k.expose_secret()); } }",
    ];
    for src in fine {
        assert!(scan_source(src).is_empty(), "flagged: {src}");
    }
}

#[test]
fn no_log_or_print_line_mentions_key_material() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 20, "scanned too few files: {}", files.len());
    let mut findings = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for finding in scan_source(&text) {
            findings.push(format!("{}: {finding}", f.display()));
        }
    }
    assert!(
        findings.is_empty(),
        "key material in output macros:\n{}",
        findings.join("\n")
    );
}
