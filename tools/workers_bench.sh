#!/usr/bin/env bash
# Do workers scale?  wrk server-only throughput (one signed request replayed, as
# wrk_aws_json.lua does) against the floor app and paramstore, each with 1 and 2 workers,
# in interleaved rounds of one run; server CPU per request from /proc (the whole process
# tree: supervisor and workers).  Prints, per scenario, each server's req/s and CPU µs per
# request, the 2-worker gain of each, and ours ÷ floor's gain.
#
#   tools/workers_bench.sh                      # SQLite
#   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/wb tools/workers_bench.sh   # two databases: wb1, wb2
#
# ROUNDS (3), DURATION (5 s), CONNECTIONS (4), SCENARIOS (kms-encrypt,ssm-get-secure).
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
BENCH_DIR="${BENCH_DIR:-$HERE/../shared/bench}"
VENV="${VENV:-$HERE/.venv}"
ROUNDS="${ROUNDS:-3}"; DURATION="${DURATION:-5}"; CONNECTIONS="${CONNECTIONS:-4}"
SCENARIOS="${SCENARIOS:-kms-encrypt,ssm-get-secure}"
OUT="${OUT:-$(mktemp -d)}"; mkdir -p "$OUT"
export AWS_ACCESS_KEY_ID=AKIABENCHMARK0000000 AWS_SECRET_ACCESS_KEY=bench-secret-not-for-production
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT

declare -A URL PID
start_floor() {  # name port workers
  "$VENV/bin/uvicorn" floor_app:app --app-dir "$BENCH_DIR" --host 127.0.0.1 --port "$2" --workers "$3" \
      --no-access-log --log-level warning >"$OUT/$1.log" 2>&1 & PIDS+=($!); PID[$1]=$!; URL[$1]=http://127.0.0.1:$2
}
start_ours() {  # name port workers database-suffix
  local db_args=()
  if [ -n "${DATABASE_URL:-}" ]; then
    local admin="${DATABASE_URL%/*}" name="${DATABASE_URL##*/}$4"
    psql "$admin/postgres" -qc "DROP DATABASE IF EXISTS \"$name\"" -c "CREATE DATABASE \"$name\"" >/dev/null
    db_args=(--database-url "$admin/$name")
  fi
  PARAMSTORE_ADMIN_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID PARAMSTORE_ADMIN_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY \
      "$VENV/bin/paramstore" serve --port "$2" --workers "$3" --data-dir "$OUT/data-$1" "${db_args[@]}" \
      >"$OUT/$1.log" 2>&1 & PIDS+=($!); PID[$1]=$!; URL[$1]=http://127.0.0.1:$2
}
start_floor floor1 5120 1; start_floor floor2 5121 2
start_ours ours1 5122 1 1; start_ours ours2 5123 2 2
for name in floor1 floor2 ours1 ours2; do
  for _ in $(seq 1 200); do curl -s -o /dev/null "${URL[$name]}/health" -X POST && break; sleep 0.1; done
done

db_cpu_ticks() {  # PostgreSQL's processes (backends, WAL writer...), 0 for SQLite
  local total=0 p
  [ -n "${DATABASE_URL:-}" ] || { echo 0; return; }
  for p in $(pgrep -x postgres; pgrep -f '^postgres:'); do
    [ -r "/proc/$p/stat" ] && total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
box_busy_ticks() {  # all CPUs, busy (not idle, not iowait) and total
  awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat
}

tree_cpu_ticks() {  # the process and its descendants, in clock ticks
  local total=0 p
  for p in $(pstree -p -T "$1" | grep -o '([0-9]*)' | tr -d '()'); do
    [ -r "/proc/$p/stat" ] && total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

: >"$OUT/results.tsv"
for scenario in ${SCENARIOS//,/ }; do
  # one signed request per paramstore server (each its own store), the floor takes either
  for name in ours1 ours2; do
    "$VENV/bin/python" "$BENCH_DIR/kmsbench.py" -e "${URL[$name]}" -s "$scenario" --wrk-env >"$OUT/env-$name-$scenario.sh"
  done
  for round in $(seq 1 "$ROUNDS"); do
    for name in floor1 ours1 floor2 ours2; do
      env_file="$OUT/env-${name/floor/ours}-$scenario.sh"
      before=$(tree_cpu_ticks "${PID[$name]}"); db_before=$(db_cpu_ticks); read -r busy_before all_before < <(box_busy_ticks)
      line=$( (set -a; source "$env_file"; wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" -s "$BENCH_DIR/wrk_aws_json.lua" \
               "${URL[$name]}/") | grep WRKJSON | sed 's/WRKJSON //')
      after=$(tree_cpu_ticks "${PID[$name]}"); db_after=$(db_cpu_ticks); read -r busy_after all_after < <(box_busy_ticks)
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$round" "$name" "$((after - before))" "$line" \
          "$((db_after - db_before))" "$(( (busy_after - busy_before) * 100 / (all_after - all_before) ))" >>"$OUT/results.tsv"
    done
  done
done
"$VENV/bin/python" - "$OUT/results.tsv" <<'EOF'
import json, statistics, sys, os
ticks = os.sysconf("SC_CLK_TCK")
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
by = {}
for scenario, rnd, name, used, payload, db_used, busy in rows:
    w = json.loads(payload)
    n = max(w["requests"], 1)
    by.setdefault((scenario, name), []).append((w["req_per_s"], int(used) / ticks / n * 1e6, w["errors"],
                                                int(db_used) / ticks / n * 1e6, int(busy)))
print("| scenario | server | req/s (median) | CPU µs/req | database CPU µs/req | box busy % | non-2xx |")
print("|---|---|---|---|---|---|---|")
gains = {}
for (scenario, name), runs in sorted(by.items()):
    rps = statistics.median(r[0] for r in runs); cpu = statistics.median(r[1] for r in runs)
    dbcpu = statistics.median(r[3] for r in runs) if not name.startswith("floor") else 0
    busy = statistics.median(r[4] for r in runs)
    print(f"| {scenario} | {name} | {rps:.0f} | {cpu:.0f} | {dbcpu:.0f} | {busy:.0f} | {sum(r[2] for r in runs)} |")
    gains[(scenario, name)] = (rps, cpu)
print("\n| scenario | floor 2÷1 workers | ours 2÷1 workers | ours gain ÷ floor gain | ours CPU/req 2÷1 |")
print("|---|---|---|---|---|")
for scenario in sorted({s for s, _ in gains}):
    f = gains[(scenario, "floor2")][0] / gains[(scenario, "floor1")][0]
    o = gains[(scenario, "ours2")][0] / gains[(scenario, "ours1")][0]
    c = gains[(scenario, "ours2")][1] / gains[(scenario, "ours1")][1]
    print(f"| {scenario} | {f:.2f} | {o:.2f} | {o / f:.2f} | {c:.2f} |")
EOF
echo "raw results: $OUT/results.tsv" >&2
