#!/usr/bin/env bash
# Creates (or reuses) the Python virtual environment that fragseal's interop tests use as peers:
# the AWS Encryption SDK for Python (the other ESDK we check our messages against), moto's
# KMS-protocol server (the loopback KMS endpoint for the AWS backend's tests), and the real AWS
# clients that `fragseal kms serve` is checked with: boto3 and the AWS CLI (awscli v1, which
# carries its own copy of botocore).
#
# Usage: scripts/setup-python.sh [VENV_DIR]      (default: <repo>/.venv-interop, or $FRAGSEAL_VENV)
# Prints the venv's python path as the last line of stdout; everything else goes to stderr, so
#   export FRAGSEAL_PYTHON="$(scripts/setup-python.sh)"
# works. Idempotent: when the venv already holds exactly these pins it returns in well under a
# second without touching the network.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-${FRAGSEAL_VENV:-$repo/.venv-interop}}"
base_python="${FRAGSEAL_BASE_PYTHON:-python3}"

# The pins. aws-encryption-sdk 4.x is the peer ESDK (suite 0x0478, raw AES and KMS master keys);
# moto 5.2.5 with flask + flask-cors is the standalone KMS server (`moto_server`); boto3/botocore
# 1.44.8 are the versions both of them resolve to (and the server tests' SDK); awscli 1.46.3
# (Python >= 3.10) vendors its own botocore, so it does not constrain boto3's. The rest are
# pinned so that a CI run tomorrow resolves the same set as today.
requirements=(
  "aws-encryption-sdk==4.0.7"
  "moto==5.2.5"
  "flask==3.1.3"
  "flask-cors==6.0.2"
  "boto3==1.44.8"
  "botocore==1.44.8"
  "s3transfer==0.19.3"
  "awscli==1.46.3"
)
stamp_text="$(printf '%s\n' "${requirements[@]}")"
stamp="$venv/.fragseal-interop-stamp"

log() { printf 'setup-python: %s\n' "$*" >&2; }

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$stamp_text" ]] &&
  "$venv/bin/python" -c 'import aws_encryption_sdk, moto.server, flask, flask_cors, boto3, awscli' 2>/dev/null; then
  log "reusing $venv"
  printf '%s\n' "$venv/bin/python"
  exit 0
fi

if ! "$base_python" -c 'import sys; assert sys.version_info >= (3, 10)' 2>/dev/null; then
  log "need Python >= 3.10 as '$base_python' (set FRAGSEAL_BASE_PYTHON)"
  exit 1
fi

if [[ ! -x "$venv/bin/python" ]]; then
  log "creating $venv"
  "$base_python" -m venv "$venv" >&2
fi

log "installing ${requirements[*]}"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
  "${requirements[@]}" >&2
"$venv/bin/python" -c 'import aws_encryption_sdk, moto.server, flask, flask_cors, boto3, awscli' >&2

printf '%s\n' "$stamp_text" >"$stamp"
log "ready: aws-encryption-sdk $("$venv/bin/python" -c 'import aws_encryption_sdk; print(aws_encryption_sdk.__version__)'), moto $("$venv/bin/python" -c 'import moto; print(moto.__version__)'), boto3 $("$venv/bin/python" -c 'import boto3; print(boto3.__version__)'), awscli $("$venv/bin/python" -c 'import awscli; print(awscli.__version__)')"
printf '%s\n' "$venv/bin/python"
