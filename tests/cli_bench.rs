//! `fragseal bench` end to end with tiny sizes and 1 ms measurements: the shape of the JSON
//! (every figure with its baseline and ratio), the table, the SVG plot (well-formed XML with
//! drawn lines), and the refusals. Nothing here is timed: the figures are only checked to be
//! positive and finite.

#![allow(clippy::unwrap_used, reason = "tests")]

use assert_cmd::Command;
use serde_json::Value;

fn bench() -> Command {
    let mut c = Command::cargo_bin("fragseal").unwrap();
    c.arg("bench").args(["--time-ms", "1", "--rounds", "1"]);
    c
}

fn json(args: &[&str]) -> Value {
    let out = bench().arg("--json").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn positive(v: &Value, field: &str) -> f64 {
    let x = v[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} missing in {v}"));
    assert!(x.is_finite() && x > 0.0, "{field} = {x} in {v}");
    x
}

#[test]
fn json_has_every_configuration_with_baseline_and_ratio() {
    let v = json(&["--sizes", "1K,4K", "--threads", "1,2"]);
    assert_eq!(v["suite"], "0x0478");
    assert_eq!(v["cache"], true);
    assert_eq!(v["credentials"], 1);
    assert!(v["baseline"].as_str().unwrap().contains("raw AES-256-GCM"));
    let figures = v["figures"].as_array().unwrap();
    assert_eq!(
        figures.len(),
        2 * 2 * 2,
        "sizes x threads x operations: {v}"
    );
    let mut seen = Vec::new();
    for f in figures {
        assert_eq!(f["provider"], "ring");
        let engine = positive(f, "engine_bytes_per_sec");
        positive(f, "raw_bytes_per_sec");
        let ratio = positive(f, "ratio");
        // Rounds = 1: the ratio is that round's engine / raw.
        let raw = f["raw_bytes_per_sec"].as_f64().unwrap();
        assert!(
            ((engine / raw) - ratio).abs() <= 1e-9 * ratio.max(1.0),
            "{f}"
        );
        seen.push((
            f["operation"].as_str().unwrap().to_owned(),
            f["size"].as_u64().unwrap(),
            f["threads"].as_u64().unwrap(),
        ));
    }
    for op in ["seal", "open"] {
        for size in [1024, 4096] {
            for threads in [1, 2] {
                assert!(
                    seen.contains(&(op.to_owned(), size, threads)),
                    "{op} {size} {threads} missing: {seen:?}"
                );
            }
        }
    }
}

#[test]
fn providers_credentials_and_cache_off() {
    let mut providers = vec!["ring", "rustcrypto"];
    if cfg!(feature = "aws-lc") {
        providers.push("aws-lc");
    }
    let list = providers.join(",");
    let v = json(&[
        "--sizes",
        "2K",
        "--threads",
        "1",
        "--credentials",
        "3",
        "--cache",
        "off",
        "--operation",
        "seal",
        "--provider",
        &list,
    ]);
    assert_eq!(v["cache"], false);
    assert_eq!(v["credentials"], 3);
    let figures = v["figures"].as_array().unwrap();
    assert_eq!(figures.len(), providers.len(), "{v}");
    for (f, p) in figures.iter().zip(&providers) {
        assert_eq!(f["provider"], *p);
        assert_eq!(f["operation"], "seal");
        positive(f, "ratio");
    }
}

#[test]
fn aws_lc_provider_needs_its_feature() {
    let out = bench()
        .args(["--sizes", "1K", "--threads", "1", "--provider", "aws-lc"])
        .output()
        .unwrap();
    if cfg!(feature = "aws-lc") {
        assert!(out.status.success());
        let table = String::from_utf8(out.stdout).unwrap();
        assert!(table.contains("aws-lc"), "{table}");
    } else {
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--features aws-lc"), "{err}");
    }
}

#[test]
fn table_shows_baseline_and_ratio() {
    let out = bench()
        .args(["--sizes", "1K", "--threads", "1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("raw MB/s") && table.contains("ratio"),
        "{table}"
    );
    // Header lines + one line per operation.
    let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("ring")).collect();
    assert_eq!(rows.len(), 2, "{table}");
    assert!(rows
        .iter()
        .any(|r| r.contains("seal") && r.contains("1 KiB")));
    assert!(rows
        .iter()
        .any(|r| r.contains("open") && r.contains("1 KiB")));
}

#[test]
fn the_signed_suite_is_measured_and_other_suites_are_refused() {
    let out = bench()
        .args(["--suite", "0x0578", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["suite"], "0x0578");
    let out = bench().args(["--suite", "0x0178"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = bench().args(["--sizes", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn plot_is_well_formed_svg_with_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.svg");
    let v = json(&[
        "--sizes",
        "1K,2K,4K",
        "--threads",
        "1",
        "--plot",
        path.to_str().unwrap(),
    ]);
    assert_eq!(v["figures"].as_array().unwrap().len(), 6);
    let svg = std::fs::read_to_string(&path).unwrap();
    let root = well_formed_root(&svg);
    assert_eq!(root, "svg");
    // Two engine lines (seal, open) and one dashed baseline; each drawn line is a polyline
    // (plotters' SVG backend) or a path.
    let drawn = svg.matches("<polyline").count() + svg.matches("<path").count();
    assert!(drawn >= 3, "{drawn} lines in {svg}");
    for label in [
        "engine seal, ring, 1 thread(s)",
        "raw ring AES-GCM",
        "fragment size",
    ] {
        assert!(svg.contains(label), "{label} missing");
    }
}

/// A small XML well-formedness check: declarations, comments, balanced and properly nested
/// elements, quoted attribute values, one root element. Returns the root element's name.
fn well_formed_root(xml: &str) -> String {
    let mut stack: Vec<String> = Vec::new();
    let mut root = None;
    let mut rest = xml;
    while let Some(start) = rest.find('<') {
        assert!(
            stack.is_empty() && rest[..start].trim().is_empty() || !stack.is_empty(),
            "text outside the root element"
        );
        rest = &rest[start..];
        if let Some(r) = rest.strip_prefix("<?") {
            let end = r.find("?>").expect("unterminated declaration");
            rest = &r[end + 2..];
            continue;
        }
        if let Some(r) = rest.strip_prefix("<!--") {
            let end = r.find("-->").expect("unterminated comment");
            rest = &r[end + 3..];
            continue;
        }
        let end = tag_end(rest);
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().expect("closing tag without an open element");
            assert_eq!(open, name.trim(), "mismatched closing tag");
            continue;
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let name: String = body.chars().take_while(|c| !c.is_whitespace()).collect();
        assert!(!name.is_empty(), "empty element name");
        check_attributes(&body[name.len()..]);
        if stack.is_empty() {
            assert!(root.is_none(), "a second root element <{name}>");
            root = Some(name.clone());
        }
        if !self_closing {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    assert!(rest.trim().is_empty(), "text after the root element");
    root.expect("no element")
}

/// The index of the `>` that ends the tag starting at `s[0] == '<'`, skipping quoted values.
fn tag_end(s: &str) -> usize {
    let mut quote = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return i,
            (None, '<') => panic!("`<` inside a tag"),
            _ => {}
        }
    }
    panic!("unterminated tag");
}

/// `name="value"` pairs separated by whitespace.
fn check_attributes(mut s: &str) {
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return;
        }
        let eq = s.find('=').expect("attribute without a value");
        let name = s[..eq].trim();
        assert!(
            !name.is_empty() && !name.contains(char::is_whitespace),
            "bad attribute name `{name}`"
        );
        let v = s[eq + 1..].trim_start();
        let q = v.chars().next().expect("attribute value missing");
        assert!(q == '"' || q == '\'', "unquoted attribute value");
        let close = v[1..].find(q).expect("unterminated attribute value");
        assert!(!v[1..1 + close].contains('<'), "`<` in an attribute value");
        s = &v[close + 2..];
    }
}
