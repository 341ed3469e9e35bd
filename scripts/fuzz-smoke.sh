#!/usr/bin/env bash
# CI fuzz smoke: builds the five cargo-fuzz targets in fuzz/ and runs each for a short period
# (FRAGSEAL_FUZZ_SECONDS, default 11 s: about a minute in total, plus the build), one at a time,
# starting from the committed seed corpora. Exits non-zero if any target crashes, times out
# (an input running longer than 10 s) or fails to build. The long campaigns and their figures
# are in fuzz/README.md.
#
# Needs only the stable toolchain: cargo-fuzz is installed if missing, and RUSTC_BOOTSTRAP=1
# lets stable rustc accept the sanitizer flags cargo-fuzz passes.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FRAGSEAL_FUZZ_SECONDS:-11}"
targets=(parse_message open_fixed_key header_roundtrip mkv_split policy_json)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
echo "building fuzz targets (release, debug assertions, AddressSanitizer)"
cargo fuzz build

# Fresh corpus directories per run, so CI never depends on (or grows) a local corpus.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

failed=()
for t in "${targets[@]}"; do
  echo "== fuzz $t for ${seconds}s"
  mkdir -p "$work/$t"
  if ! cargo fuzz run "$t" "$work/$t" "fuzz/seeds/$t" -- \
      -max_total_time="$seconds" -timeout=10 -print_final_stats=1 2>"$work/$t.log"; then
    failed+=("$t")
    tail -n 60 "$work/$t.log"
    echo "!! $t failed; the input is in fuzz/artifacts/$t/"
  else
    grep -E '^stat::number_of_executed_units' "$work/$t.log" | sed "s/^/$t: /" || true
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz smoke FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz smoke passed: ${targets[*]}"
