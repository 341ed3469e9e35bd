#!/usr/bin/env python3
"""Prints criterion results as ratios against a baseline of the same group (same run).

Reads target/criterion/GROUP/FUNCTION/new/estimates.json (median point estimates). A ratio is
baseline_time / time, i.e. throughput relative to the baseline: 1.00 = as fast as the baseline.

`kms_server` is not a criterion bench: its figures (fragseal kms serve vs moto_server, same run)
are read from target/bench/kms_server.json, and the ratio is fragseal's requests/s over moto's.
"""
import json
import pathlib
import shutil
import sys

ROOT = pathlib.Path("target/criterion")
KMS_SERVER_JSON = pathlib.Path("target/bench/kms_server.json")

# bench target -> list of (group prefix, baseline function, [functions to compare])
TABLES = {
    "seal_open": [
        ("seal_open_", "raw_ring_seal", ["seal", "seal_alloc", "raw_ring_copy_seal"]),
        ("seal_open_", "raw_ring_copy_seal", ["seal", "seal_alloc"]),
        ("seal_open_", "raw_ring_open_in_place", ["open", "open_alloc", "raw_ring_open"]),
        ("seal_open_", "raw_ring_open", ["open", "open_alloc"]),
    ],
    "engine": [
        ("engine_seal_", "raw_ring_seal", ["engine_seal_into", "engine_seal"]),
        ("engine_batch_", None, None),
    ],
    "primitives": [
        ("aead_seal", None, None),
        ("aead_open", None, None),
        ("derive_message_keys", None, None),
        ("hkdf_sha512_32", None, None),
        ("random_16", None, None),
    ],
    "local_kms": [("local_kms", None, None)],
}


def median_ns(group: pathlib.Path, function: str):
    f = group / function / "new" / "estimates.json"
    if not f.exists():
        return None
    return json.loads(f.read_text())["median"]["point_estimate"]


def groups(prefix: str):
    return sorted(
        (g for g in ROOT.glob(prefix + "*") if g.is_dir()),
        key=lambda g: g.name,
    )


def show_all(group: pathlib.Path):
    """Every function of the group (and every parameter of a function benched with several
    inputs, e.g. aead_seal/ring/16384), each as a throughput ratio against `ring` (the default
    provider, `ring` or `ring-hkdf`) at the same parameter when the group has it, else against
    the fastest."""
    rows = []  # (parameter, function, ns)
    for p in sorted(group.iterdir()):
        if not p.is_dir() or p.name == "report":
            continue
        if (p / "new").exists():
            rows.append(("", p.name, median_ns(group, p.name)))
            continue
        for q in sorted(p.iterdir(), key=lambda q: (len(q.name), q.name)):
            if (q / "new").exists():
                rows.append((q.name, p.name, median_ns(group, f"{p.name}/{q.name}")))
    for param in sorted({r[0] for r in rows}, key=lambda x: (len(x), x)):
        times = {f: t for (pa, f, t) in rows if pa == param}
        base_name = next((f for f in ("ring", "ring-hkdf") if f in times), None)
        base = times[base_name] if base_name else min(times.values())
        label = f"{base_name} (same run)" if base_name else "fastest"
        for f, t in sorted(times.items()):
            name = f"{f}/{param}" if param else f
            print(f"  {group.name:28} {name:34} {t / 1000:12.2f} µs   {base / t:6.2f} × {label}")


def show_kms_server():
    if not KMS_SERVER_JSON.exists():
        print("  (no target/bench/kms_server.json: run `cargo bench --bench kms_server`)")
        return
    v = json.loads(KMS_SERVER_JSON.read_text())
    for r in v["rows"]:
        f, m = r["fragseal"], r["moto"]
        print(
            f"  kms_server {r['operation']:16} {r['connections']:3} conn: fragseal vs moto"
            f" {r['ratio_rps']:7.1f} ×   ({f['rps']:.0f} vs {m['rps']:.0f} req/s;"
            f" p99 {f['p99_us'] / 1000:.2f} vs {m['p99_us'] / 1000:.2f} ms)"
        )
    t = v["targets"]
    print(
        f"  targets: lowest ratio {v['lowest_ratio_rps']:.1f} × (want >= {t['ratio_rps_min']:.0f});"
        f" worst p99 at 8 conn {v['fragseal_worst_p99_us_at_8'] / 1000:.2f} ms"
        f" (want <= {t['p99_us_at_8_max'] / 1000:.0f} ms)"
    )


def main(argv):
    if len(argv) > 1 and argv[0] == "--clean":
        for t in argv[1:]:
            if t == "kms_server":
                KMS_SERVER_JSON.unlink(missing_ok=True)
            for prefix, *_ in TABLES.get(t, []):
                for g in groups(prefix):
                    shutil.rmtree(g, ignore_errors=True)
        return
    for target in argv or list(TABLES):
        print(f"== {target}")
        if target == "kms_server":
            show_kms_server()
            continue
        for prefix, baseline, funcs in TABLES.get(target, []):
            for g in groups(prefix):
                if baseline is None:
                    show_all(g)
                    continue
                b = median_ns(g, baseline)
                if b is None:
                    continue
                for f in funcs:
                    t = median_ns(g, f)
                    if t is not None:
                        print(
                            f"  {g.name:28} {f:22} vs {baseline:24}"
                            f" {b / t:6.2f} ×   ({t / 1000:.2f} µs vs {b / 1000:.2f} µs)"
                        )


if __name__ == "__main__":
    main(sys.argv[1:])
