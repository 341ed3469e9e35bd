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
cargo test --all-features

if [ -x scripts/fuzz-smoke.sh ] && [ "${FRAGSEAL_SKIP_FUZZ:-0}" != 1 ]; then
  step "fuzz smoke"
  scripts/fuzz-smoke.sh
fi

step "done"
