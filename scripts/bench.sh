#!/usr/bin/env bash
# The reproducible bench command: runs the criterion benches once, then prints every figure as a
# ratio against the baseline measured in the same run (these machines are noisy: absolute
# figures from different runs are not comparable, ratios within one run are).
#
#   scripts/bench.sh                 # all groups (about 6 minutes on 2 cores)
#   scripts/bench.sh seal_open       # one bench target
#   scripts/bench.sh kms_server      # `fragseal kms serve` vs moto_server (not criterion; needs
#                                    # the venv of scripts/setup-python.sh; not in the default set)
#   scripts/bench.sh kvs_paired      # PutMedia ingest in paired rounds: every case once per round,
#                                    # its ratio to seal_batch of the same round, the median of 40
#                                    # rounds (KVS_INGEST_PAIRED sets the count; not criterion)
#   scripts/bench.sh engine_paired   # issue 15's engine targets in paired rounds: batch per thread
#                                    # vs single calls, 2 threads vs 1, large fragments vs copy +
#                                    # seal in place, each ratio per round, the median of 200
#                                    # rounds (ENGINE_PAIRED sets the count; about 90 s)
# Extra criterion arguments may follow after `--`, e.g. `scripts/bench.sh seal_open -- 1MiB`.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(seal_open engine primitives local_kms)
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  targets=("$1")
  shift
fi
[ "${1:-}" = "--" ] && shift

# The path of a bench target's binary, built if needed (cargo names it; several may exist).
bench_binary() {
  cargo bench --bench "$1" --no-run --message-format=json |
    python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == sys.argv[1]:
        print(m["executable"])' "$1"
}

if [ "${targets[0]}" = engine_paired ]; then
  bin="$(bench_binary engine)"
  ENGINE_PAIRED="${ENGINE_PAIRED:-200}" "$bin"
  exit 0
fi
if [ "${targets[0]}" = kvs_paired ]; then
  bin="$(bench_binary kvs_ingest)"
  KVS_INGEST_PAIRED="${KVS_INGEST_PAIRED:-40}" "$bin"
  exit 0
fi

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
