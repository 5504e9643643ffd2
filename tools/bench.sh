#!/usr/bin/env bash
# Benchmark paramstore against the floor app (bare FastAPI + uvicorn[standard]) in one
# kmsbench run, and print paired ratios and server CPU per op.
#
#   tools/bench.sh                         # SQLite (the default deployment)
#   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/psbench tools/bench.sh
#
# Needs the shared bench directory (BENCH_DIR, default ../shared/bench) and a venv with
# this project installed (VENV, default .venv).  ROUNDS, DURATION, SCENARIOS are tunable;
# KMSBENCH=tools/kmsbench_authz.py gives the benchmark key a 10-statement policy and 10 grants.
# A/B: BASE_VENV=/path/to/venv (a venv with the build before the change installed) runs that
# build too, as "base", in the same interleaved rounds; the table then gains base's figures
# and the ours/base ratios.  OURS_ARGS adds `serve` flags to ours (e.g. "--throttle --quota ssm:reads=1e9").
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-$HERE/../shared/bench}"
VENV="${VENV:-$HERE/.venv}"
ROUNDS="${ROUNDS:-3}"; DURATION="${DURATION:-5}"
SCENARIOS="${SCENARIOS:-kms-encrypt,kms-decrypt,kms-generate-data-key}"
OUT="${OUT:-$(mktemp -d)}"
DATA="$OUT/data"; mkdir -p "$DATA"
export AWS_ACCESS_KEY_ID=AKIABENCHMARK0000000 AWS_SECRET_ACCESS_KEY=bench-secret-not-for-production
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

"$VENV/bin/uvicorn" floor_app:app --app-dir "$BENCH_DIR" --host 127.0.0.1 --port 5110 --workers 1 \
    --no-access-log --log-level warning >"$OUT/floor.log" 2>&1 & PIDS+=($!); FLOOR_PID=$!
DB_ARGS=(); [ -n "${DATABASE_URL:-}" ] && DB_ARGS=(--database-url "$DATABASE_URL")
PARAMSTORE_ADMIN_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID PARAMSTORE_ADMIN_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
    "$VENV/bin/paramstore" serve --port 5101 --data-dir "$DATA" "${DB_ARGS[@]}" ${OURS_ARGS:-} >"$OUT/server.log" 2>&1 &
PIDS+=($!); OURS_PID=$!
ENDPOINTS=(-e floor=http://127.0.0.1:5110 -e ours=http://127.0.0.1:5101)
PIDARGS=(--server-pid "floor=$FLOOR_PID" --server-pid "ours=$OURS_PID")
PORTS=(5110 5101)
if [ -n "${BASE_VENV:-}" ]; then
  mkdir -p "$OUT/base-data"
  PARAMSTORE_ADMIN_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID PARAMSTORE_ADMIN_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
      "$BASE_VENV/bin/paramstore" serve --port 5102 --data-dir "$OUT/base-data" >"$OUT/base.log" 2>&1 &
  PIDS+=($!)
  ENDPOINTS+=(-e base=http://127.0.0.1:5102); PIDARGS+=(--server-pid "base=$!"); PORTS+=(5102)
fi
for port in "${PORTS[@]}"; do
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
done
BENCH_DIR="$BENCH_DIR" "$VENV/bin/python" "${KMSBENCH:-$BENCH_DIR/kmsbench.py}" "${ENDPOINTS[@]}" \
    "${PIDARGS[@]}" -s "noop,$SCENARIOS" -c 1,4 \
    -d "$DURATION" -w 1 -r "$ROUNDS" >"$OUT/runs.jsonl" 2>"$OUT/kmsbench.err" || true  # the floor "fails" our scenarios
"$VENV/bin/python" "$HERE/tools/bench_ratio.py" "$OUT/runs.jsonl" ${BASE_VENV:+--base base}
echo "raw results: $OUT/runs.jsonl" >&2
