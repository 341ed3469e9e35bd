#!/usr/bin/env python3
"""Prints criterion results as ratios against a baseline of the same group (same run).

Reads target/criterion/GROUP/FUNCTION/new/estimates.json (median point estimates). A ratio is
baseline_time / time, i.e. throughput relative to the baseline: 1.00 = as fast as the baseline.
"""
import json
import pathlib
import shutil
import sys

ROOT = pathlib.Path("target/criterion")

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
        ("derive_message_keys", None, None),
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
    funcs = sorted(p.name for p in group.iterdir() if (p / "new").exists())
    times = {f: median_ns(group, f) for f in funcs}
    base = min(times.values()) if times else None
    for f in funcs:
        t = times[f]
        print(f"  {group.name:28} {f:34} {t / 1000:12.2f} µs   {t / base:6.2f} × fastest")


def main(argv):
    if len(argv) > 1 and argv[0] == "--clean":
        for t in argv[1:]:
            for prefix, *_ in TABLES.get(t, []):
                for g in groups(prefix):
                    shutil.rmtree(g, ignore_errors=True)
        return
    for target in argv or list(TABLES):
        print(f"== {target}")
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
