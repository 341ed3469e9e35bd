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

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets --all-features -- -D warnings"
cargo clippy --all-targets --all-features -- -D warnings

step "cargo test --all-features"
test_log="$(mktemp)"
trap 'rm -f "$test_log"' EXIT
cargo test --all-features 2>&1 | tee "$test_log"
# One closing line for the whole run, summed over every test binary and the doctests
# (printed again at the very end).
summary="$(awk '/^test result:/ { p += $4; f += $6; s += $8 } END { printf "tests: %d passed, %d failed, %d skipped", p, f, s }' "$test_log")"
echo "$summary"

if [ -x scripts/fuzz-smoke.sh ] && [ "${FRAGSEAL_SKIP_FUZZ:-0}" != 1 ]; then
  step "fuzz smoke"
  scripts/fuzz-smoke.sh
fi

step "done"
echo "$summary"
