#!/usr/bin/env bash
# The reproducible bench command: runs the criterion benches once, then prints every figure as a
# ratio against the baseline measured in the same run (these machines are noisy: absolute
# figures from different runs are not comparable, ratios within one run are).
#
#   scripts/bench.sh                 # all groups (about 6 minutes on 2 cores)
#   scripts/bench.sh seal_open       # one bench target
#   scripts/bench.sh kms_server      # `fragseal kms serve` vs moto_server (not criterion; needs
#                                    # the venv of scripts/setup-python.sh; not in the default set)
# Extra criterion arguments may follow after `--`, e.g. `scripts/bench.sh seal_open -- 1MiB`.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(seal_open engine primitives local_kms)
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  targets=("$1")
  shift
fi
[ "${1:-}" = "--" ] && shift

for t in "${targets[@]}"; do
  # Remove this target's old results, so the table below only reads figures from this run.
  python3 scripts/bench_ratios.py --clean "$t"
  if [ "$t" = kms_server ]; then
    # Its own harness: both servers measured in one run; writes target/bench/kms_server.json.
    cargo bench --bench kms_server
  elif [ "$t" = primitives ]; then
    # Every provider: ring, RustCrypto and aws-lc-rs (the primitives are `internal`).
    cargo bench --bench primitives --features internal,aws-lc -- --warm-up-time 1 --measurement-time 3 "$@"
  else
    cargo bench --bench "$t" -- --warm-up-time 1 --measurement-time 3 "$@"
  fi
done
python3 scripts/bench_ratios.py "${targets[@]}"
