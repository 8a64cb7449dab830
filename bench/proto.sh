#!/usr/bin/env bash
# The floor under Vigie's allocation throughput on SQLite, in one command:
#   bash bench/proto.sh
#
# Builds bench/proto (a throw-away prototype, its own Cargo workspace, never part of
# Vigie) and Vigie, then, in rounds, on a fresh database each time made by `vigie numbers
# import` (Vigie's schema and the benchmark's numbers, bench/lib.sh; SQLite, then a new
# PostgreSQL database on 127.0.0.1, ANALYZEd after the warm-up as bench/run.sh does),
# measures POST /v1/calls at concurrency 64 with bench/calls.lua, as bench/run.sh does:
#   - vigie:    `vigie serve`, the product;
#   - vigie-b:  `vigie serve` of another build (BENCH_VIGIE_B), such as the one before a
#               change, so that a change is measured in alternated pairs (not run
#               unless BENCH_MODES names it);
#   - full:     the prototype writing Vigie's write set (the calls row with the sealed
#               phone and the pseudonym, the number's and the pool's day counters, a
#               hash-chained audit entry, the batch's known call_refs);
#   - minimal:  the prototype writing the calls row and the number's day counter only;
#   - audit-per-batch: as full, with one audit entry per batch naming its calls
#               instead of one per allocation (not run unless BENCH_MODES names it);
#   - bare:     the prototype writing one row of five columns to a table of its own
#               (no index beyond its key), the cap held by its one writer;
#   - livez:    GET /livez of the prototype, the HTTP ceiling (SQLite's rounds);
#   - naive:    PostgreSQL's baseline of issue 2, one SQL transaction per call
#               (bench/naive_pg.sql, pgbench -c 64 -j 2, as bench/run.sh runs it).
# The prototype's writer is one thread: on SQLite one transaction per batch with
# `synchronous=FULL`; on PostgreSQL one connection, one transaction per batch, each
# statement one UNNEST of the batch's columns.
# The variants alternate within each round, so that the VM's drift touches them alike.
# For each: requests/s, the server process's CPU per request (user + system, µs;
# PostgreSQL's own CPU is not in it), and the median against the prototype's /livez
# (SQLite) or the naive baseline (PostgreSQL). When both ran, a last line per backend
# gives what `vigie serve` made of the prototype with Vigie's write set, round by round:
# what Vigie's design costs beyond the writes it must make.
#
# Settings (environment): BENCH_DURATION=8 (seconds per run), BENCH_ROUNDS=3,
# BENCH_NUMBERS=600, BENCH_BACKENDS="sqlite postgres", BENCH_MODES="vigie full minimal bare"
# (the variants, in the order each round runs them; livez runs after bare),
# BENCH_PG=postgres://postgres@127.0.0.1:5432, BENCH_PG_ADMIN_DB=test,
# BENCH_VIGIE= (a built vigie binary; skips the build), BENCH_VIGIE_B= (the vigie-b
# binary).
set -euo pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DURATION=${BENCH_DURATION:-8}
ROUNDS=${BENCH_ROUNDS:-3}
NUMBERS=${BENCH_NUMBERS:-600}
BACKENDS=${BENCH_BACKENDS:-sqlite postgres}
MODES=${BENCH_MODES:-vigie full minimal bare}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
PG_ADMIN_DB=${BENCH_PG_ADMIN_DB:-test}
log() { printf '[proto %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
for tool in wrk psql pgbench curl; do command -v "$tool" >/dev/null || die "$tool is needed (Debian: wrk, postgresql-client, curl)"; done

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vigie-proto.XXXXXX")
PID=""
PG_DBS=()
cleanup() {
  if [[ -n $PID ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  local db
  for db in "${PG_DBS[@]}"; do
    psql "$PG/$PG_ADMIN_DB" -qAtX -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || log "could not drop database $db"
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

VIGIE=${BENCH_VIGIE:-$ROOT/target/release/vigie}
if [[ -z ${BENCH_VIGIE:-} ]]; then
  log "building: cargo build --release -p vigie"
  cargo build --release -p vigie >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log" >&2; die "build failed"; }
fi
log "building: bench/proto (cargo build --release)"
(cd bench/proto && cargo build --release >"$WORK/proto-build.log" 2>&1) || { tail -30 "$WORK/proto-build.log" >&2; die "prototype build failed"; }
PROTO=$ROOT/bench/proto/target/release/vigie-proto
export VIGIE_DATA_KEY VIGIE_PSEUDONYM_KEY
VIGIE_DATA_KEY=$("$VIGIE" keys data-key)
VIGIE_PSEUDONYM_KEY=$("$VIGIE" keys pseudonym-key)
write_config "$WORK/vigie.toml"
write_numbers "$WORK/numbers.csv"

DB=""
DBARGS=()
fresh_db() { # fresh_db BACKEND DIR: a new database with the numbers (sets DB, DBARGS and KEY)
  mkdir -p "$2"
  if [[ $1 == sqlite ]]; then
    DB="$2/v.db"
    DBARGS=(--db "$DB")
  else
    local name="vigie_proto_$$_${#PG_DBS[@]}"
    psql "$PG/$PG_ADMIN_DB" -qAtX -v ON_ERROR_STOP=1 -c "CREATE DATABASE $name" >/dev/null || die "cannot create a database on $PG"
    PG_DBS+=("$name")
    DB="$PG/$name"
    DBARGS=(--database-url "$DB")
  fi
  KEY=$("$VIGIE" keys create "${DBARGS[@]}" --config "$WORK/vigie.toml" --role dialer --name proto 2>/dev/null)
  "$VIGIE" numbers import "${DBARGS[@]}" --config "$WORK/vigie.toml" "$WORK/numbers.csv" >/dev/null
}

start() { # start LOG CMD...: sets PID and URL
  local out=$1 i
  shift
  RUST_LOG= "$@" >"$out" 2>&1 &
  PID=$!
  URL=""
  for i in $(seq 1 100); do
    URL=$(sed -n -E 's@^(vigie|vigie-proto) listening on (http://127\.0\.0\.1:[0-9]+).*@\2@p' "$out" | head -1)
    [[ -n $URL ]] && curl -fsS "$URL/livez" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$out" >&2
  die "server did not start: $*"
}

stop() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""; }

measure() { # measure NAME MODE KEY: warm-up 2 s, then DURATION s; appends "NAME rps us_per_request non2xx"
  local name=$1 mode=$2 key=$3 out c0 c1 clk
  clk=$(getconf CLK_TCK)
  local args=(livez)
  [[ $mode == calls ]] && args=(calls "$key" "w$RANDOM" "$FACILITIES")
  wrk -t2 -c64 -d2s --timeout 10s -s bench/calls.lua "$URL" -- "${args[@]}" >/dev/null 2>&1
  # As bench/run.sh: the planner's statistics of a table filled in seconds.
  if [[ $DB == postgres://* && $mode == calls ]]; then psql "$DB" -qAtX -c ANALYZE >/dev/null; fi
  [[ $mode == calls ]] && args=(calls "$key" "m$RANDOM" "$FACILITIES")
  out="$WORK/wrk.txt"
  c0=$(awk '{print $14 + $15}' "/proc/$PID/stat")
  wrk -t2 -c64 -d"${DURATION}s" --timeout 10s -s bench/calls.lua "$URL" -- "${args[@]}" >"$out" 2>&1
  c1=$(awk '{print $14 + $15}' "/proc/$PID/stat")
  local rps req non2xx
  rps=$(sed -n 's/^BENCH .* rps=\([^ ]*\).*/\1/p' "$out")
  req=$(sed -n 's/^BENCH requests=\([^ ]*\).*/\1/p' "$out")
  non2xx=$(sed -n 's/^BENCH .* non2xx=\([^ ]*\).*/\1/p' "$out")
  [[ -n $rps ]] || { cat "$out" >&2; die "no BENCH line ($name)"; }
  echo "$name $rps $(awk -v c=$((c1 - c0)) -v clk="$clk" -v r="$req" 'BEGIN{printf "%.1f", c / clk / r * 1e6}') $non2xx" >>"$WORK/results"
  log "$name: $rps requests/s, non-2xx $non2xx"
}

: >"$WORK/results"
naive() { # naive: the baseline on a fresh database, one transaction per call
  fresh_db postgres "$WORK/r$round-naive"
  PGOPTIONS="-c client_min_messages=warning" psql "$DB" -qAtX -v ON_ERROR_STOP=1 -v numbers="$NUMBERS" -v a="$N_A" -v b="$N_B" -v c="$N_C" -v d="$N_D" -f bench/naive_pg_setup.sql >/dev/null
  pgbench -n -M prepared -f bench/naive_pg.sql -T 2 -c 64 -j 2 "$DB" >/dev/null 2>&1 || die "pgbench warm-up failed"
  pgbench -n -M prepared -f bench/naive_pg.sql -T "$DURATION" -c 64 -j 2 "$DB" >"$WORK/pgbench.txt" 2>&1 || { cat "$WORK/pgbench.txt" >&2; die "pgbench failed"; }
  local tps
  tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$WORK/pgbench.txt" | head -1)
  echo "naive-postgres $tps - $(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$WORK/pgbench.txt" | head -1)" >>"$WORK/results"
  log "naive-postgres: $tps transactions/s"
}
for round in $(seq 1 "$ROUNDS"); do
  for backend in $BACKENDS; do
    log "round $round of $ROUNDS, $backend"
    for mode in $MODES; do
      fresh_db "$backend" "$WORK/r$round-$backend-$mode"
      if [[ $mode == vigie || $mode == vigie-b ]]; then
        server_bin=$VIGIE
        [[ $mode == vigie-b ]] && server_bin=${BENCH_VIGIE_B:?BENCH_MODES names vigie-b: BENCH_VIGIE_B must name its binary}
        start "$WORK/r$round-$backend-$mode/out" "$server_bin" serve "${DBARGS[@]}" --config "$WORK/vigie.toml" --listen 127.0.0.1:0
        measure "$mode-$backend" calls "$KEY"; stop
        continue
      fi
      start "$WORK/r$round-$backend-$mode/out" "$PROTO" "$DB" 127.0.0.1:0 "$KEY" "$mode"
      measure "$mode-$backend" calls "$KEY"
      if [[ $mode == bare && $backend == sqlite ]]; then measure livez livez "$KEY"; fi
      stop
    done
    if [[ $backend == postgres ]]; then naive; fi
  done
done

echo
# One row per variant, in this order, for those that ran.
awk -v order="livez bare-sqlite minimal-sqlite audit-per-batch-sqlite full-sqlite vigie-b-sqlite vigie-sqlite naive-postgres bare-postgres minimal-postgres audit-per-batch-postgres full-postgres vigie-b-postgres vigie-postgres" '
  function median(a, k) { asort(a); return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
  { k = ++runs[$1]; rounds[$1] = rounds[$1] (k > 1 ? ", " : "") sprintf("%.0f", $2); rps[$1, k] = $2; cpu[$1, k] = $3 }
  END {
    # A variant is MODE-BACKEND: its label names the backend and what the mode writes.
    what["bare"] = "prototype, one row in a table of its own"
    what["minimal"] = "prototype, calls row and day counter"
    what["audit-per-batch"] = "prototype, Vigie'"'"'s write set, one audit entry per batch"
    what["full"] = "prototype, Vigie'"'"'s write set"
    what["vigie"] = "vigie serve"
    what["vigie-b"] = "vigie serve, the build of BENCH_VIGIE_B"
    what["naive"] = "one transaction per call (pgbench, no HTTP)"
    backend["sqlite"] = "SQLite"; backend["postgres"] = "PostgreSQL"
    print "| variant | requests/s, each round | median | server CPU per request (µs), median | median against /livez (SQLite) or the baseline (PostgreSQL) |"
    print "| --- | --- | ---: | ---: | ---: |"
    n = split(order, names, " ")
    for (i = 1; i <= n; i++) {
      name = names[i]; k = runs[name]
      if (!k) continue
      delete v; delete u
      for (j = 1; j <= k; j++) { v[j] = rps[name, j]; u[j] = cpu[name, j] }
      m[name] = median(v, k)
      mu = (u[1] == "-") ? "-" : sprintf("%.1f", median(u, k))
      against = ""
      if (name ~ /-sqlite$/ && ("livez" in m)) against = sprintf("%.2f", m[name] / m["livez"])
      if (name ~ /-postgres$/ && name != "naive-postgres" && ("naive-postgres" in m)) against = sprintf("%.1f×", m[name] / m["naive-postgres"])
      label = "GET /livez of the prototype (the HTTP ceiling)"
      if (match(name, /-(sqlite|postgres)$/)) label = backend[substr(name, RSTART + 1)] ": " what[substr(name, 1, RSTART - 1)]
      printf "| %s | %s | %.0f | %s | %s |\n", label, rounds[name], m[name], mu, against
    }
    # What Vigie costs beyond its write set: vigie serve against the prototype that
    # writes the same, round by round (the rounds alternate them on the same machine).
    split("sqlite postgres", pair, " ")
    for (i = 1; i <= 2; i++) {
      vn = "vigie-" pair[i]; fn = "full-" pair[i]
      if (!runs[vn] || !runs[fn]) continue
      k = (runs[vn] < runs[fn]) ? runs[vn] : runs[fn]
      each = ""; delete r
      for (j = 1; j <= k; j++) { r[j] = rps[vn, j] / rps[fn, j]; each = each (j > 1 ? ", " : "") sprintf("%.0f %%", 100 * r[j]) }
      printf "\n%s: vigie serve made %.0f %% of the prototype with the same writes (the median of %s: %s)\n", backend[pair[i]], 100 * median(r, k), (k == 1) ? "1 round" : k " rounds", each
    }
  }' "$WORK/results"
if awk '$4 != 0 {bad = 1} END {exit !bad}' "$WORK/results"; then echo; echo "Some runs had non-2xx answers or failed transactions:"; awk '$4 != 0' "$WORK/results"; fi
echo
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(git -C "$ROOT" rev-parse --short HEAD), $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
