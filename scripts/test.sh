#!/usr/bin/env bash
# The whole fragseal test suite, on a fresh machine. This is the README's test command and what
# .ci/run calls. It installs what it needs (a Python venv with the AWS Encryption SDK and moto),
# then runs formatting, lints and every test, including the interop tests, which may not skip here.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$SECONDS
step() { printf '\n== %s (t=%ss)\n' "$*" "$((SECONDS - start))"; }

step "Python venv for interop (aws-encryption-sdk, moto)"
FRAGSEAL_PYTHON="$(scripts/setup-python.sh | tail -n 1)"
export FRAGSEAL_PYTHON
# Interop and AWS-backend tests fail instead of skipping when their peers are missing.
export FRAGSEAL_REQUIRE_INTEROP=1
echo "python: $FRAGSEAL_PYTHON"
# The /proc/self/mem secret-erasure probes (tests/secrets/memory_probes.rs) fail instead of
# skipping when they cannot run; FRAGSEAL_REQUIRE_SECRET_PROBES=0 lets them skip, and every skip
# is counted below.
export FRAGSEAL_REQUIRE_SECRET_PROBES="${FRAGSEAL_REQUIRE_SECRET_PROBES:-1}"

step "Go and CMake for the fips feature's AWS-LC module (Debian packages, when missing)"
# `--all-features` includes `fips`, whose aws-lc-fips-sys build needs Go and CMake.
if ! command -v go >/dev/null 2>&1 || ! command -v cmake >/dev/null 2>&1; then
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo)
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq golang-go cmake >/dev/null
fi
go version
cmake --version | head -n 1

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets --all-features -- -D warnings"
cargo clippy --all-targets --all-features -- -D warnings

step "feature matrix: the lean library and the default build compile without the optional providers"
cargo check --lib --no-default-features
cargo check --all-targets

step "rustdoc -D warnings"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features --quiet

step "cargo test --all-features"
test_log="$(mktemp)"
# Every skipped secret probe appends one line here (libtest reports it as passed).
FRAGSEAL_SECRET_PROBE_SKIPS="$(mktemp)"
export FRAGSEAL_SECRET_PROBE_SKIPS
trap 'rm -f "$test_log" "$FRAGSEAL_SECRET_PROBE_SKIPS"' EXIT
cargo test --all-features 2>&1 | tee "$test_log"
probe_skips="$(wc -l < "$FRAGSEAL_SECRET_PROBE_SKIPS" | tr -d ' ')"
# One closing line for the whole run, summed over every test binary and the doctests, with the
# skipped secret probes moved from passed to skipped (printed again at the very end).
summary="$(awk -v ps="$probe_skips" '/^test result:/ { p += $4; f += $6; s += $8 } END { printf "tests: %d passed, %d failed, %d skipped", p - ps, f, s + ps }' "$test_log")"
probe_line="secret probes skipped: $probe_skips"
if [ "$probe_skips" -gt 0 ]; then
  sed 's/^/  /' "$FRAGSEAL_SECRET_PROBE_SKIPS"
fi
echo "$probe_line"
echo "$summary"

if [ -x scripts/fuzz-smoke.sh ] && [ "${FRAGSEAL_SKIP_FUZZ:-0}" != 1 ]; then
  step "fuzz smoke"
  scripts/fuzz-smoke.sh
fi

step "done"
echo "$probe_line"
echo "$summary"
