#!/usr/bin/env bash
# Vigie's benchmark, in one command:   bash bench/run.sh
#
# For SQLite (a fresh temporary file) and PostgreSQL (a fresh database on the local
# server, dropped at the end), it starts `target/release/vigie serve` on a free
# 127.0.0.1 port, seeds facilities and numbers, creates a dialer key, and measures with
# wrk (bench/calls.lua):
#   - POST /v1/calls, every request a new allocation (durable when answered),
#   - GET /livez, the trivial endpoint: the HTTP ceiling of the same server,
# at concurrency 1 (wrk -t1 -c1) and 64 (wrk -t2 -c64). Then, on the PostgreSQL
# database, the baseline of issue 2: one SQL transaction per call (SELECT ... FOR
# UPDATE SKIP LOCKED, UPDATE, INSERT; bench/naive_pg.sql) with pgbench at -c 1 and
# -c 64 -j 2. It prints a Markdown table and the machine's facts.
#
# Settings (environment):
#   BENCH_DURATION=10          seconds per measured run
#   BENCH_NUMBERS=600          numbers in pools A-D, split 40/25/20/15 like the calls
#   BENCH_BACKENDS="sqlite postgres"
#   BENCH_PG=postgres://postgres@127.0.0.1:5432   PostgreSQL server (127.0.0.1 only)
#   BENCH_PG_ADMIN_DB=test     database to connect to for CREATE/DROP DATABASE
#   BENCH_WAIT_QUIET=1         first wait (30 s polls, at most BENCH_QUIET_MAX_S=900)
#                              until no rustc runs and the machine is idle
#   BENCH_KEEP=0               1 keeps the work directory (logs, wrk outputs)
#   BENCH_OUT=                 also write the Markdown report to this file
#   BENCH_VIGIE=               an already built vigie binary to measure (skips the build)
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DURATION=${BENCH_DURATION:-10}
NUMBERS=${BENCH_NUMBERS:-600}
BACKENDS=${BENCH_BACKENDS:-sqlite postgres}
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
PG_ADMIN_DB=${BENCH_PG_ADMIN_DB:-test}
WAIT_QUIET=${BENCH_WAIT_QUIET:-1}
QUIET_MAX_S=${BENCH_QUIET_MAX_S:-900}
KEEP=${BENCH_KEEP:-0}
OUT=${BENCH_OUT:-}
WARMUP_S=2
OTHER_MAX=0.5      # cores of other work above which a row is measured again, or marked
CAP=80             # calls per number per day (the default policy)
INTENSIVE=70       # a day with this many calls is intensive (rests follow 3 in a row)
DAYS=13            # dial_at is spread over now + 60 s .. now + 13 days

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $DURATION =~ ^[0-9]+$ && $DURATION -ge 1 && $DURATION -le 600 ]] || die "BENCH_DURATION must be 1 to 600 seconds"
[[ $NUMBERS =~ ^[0-9]+$ && $NUMBERS -ge 40 && $NUMBERS -le 9000 ]] || die "BENCH_NUMBERS must be 40 to 9000"
case "$PG" in
  postgres://*@127.0.0.1:*|postgres://*@127.0.0.1|postgresql://*@127.0.0.1:*) ;;
  *) die "BENCH_PG must point at 127.0.0.1 (all benchmark traffic stays local): $PG" ;;
esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vigie-bench.XXXXXX")
SERVER_PID=""
PG_DBS=()
RESULTS="$WORK/results.tsv"
: >"$RESULTS"
NOTES="$WORK/notes.txt"
: >"$NOTES"

stop_pid() { # stop_pid PID: TERM, up to 10 s, then KILL
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $SERVER_PID ]]; then stop_pid "$SERVER_PID"; fi
  local db
  for db in "${PG_DBS[@]}"; do
    psql "$PG/$PG_ADMIN_DB" -qAtX -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 ||
      log "could not drop database $db; drop it by hand"
  done
  if [[ $KEEP == 1 ]]; then log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ----- tools -----------------------------------------------------------------------

need_apt() { # need_apt COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  log "installing $2 (for $1)"
  local sudo=""
  [[ $(id -u) == 0 ]] || sudo="sudo"
  $sudo apt-get install -y -qq "$2" >/dev/null 2>&1 ||
    { $sudo apt-get update -qq >/dev/null && $sudo apt-get install -y -qq "$2" >/dev/null; } ||
    die "could not install $2"
}
need_apt wrk wrk
need_apt curl curl
need_apt psql postgresql-client
need_apt pgbench postgresql-client

VIGIE=${BENCH_VIGIE:-$ROOT/target/release/vigie}
if [[ -z ${BENCH_VIGIE:-} ]]; then
  log "building: cargo build --release -p vigie"
  cargo build --release -p vigie >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log" >&2; die "build failed"; }
fi

# ----- measuring CPU ---------------------------------------------------------------

CLK=$(getconf CLK_TCK)
cpu_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }     # jiffies, all cores
proc_cpu() { if [[ -r /proc/$1/stat ]]; then awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; else echo 0; fi; }
# PostgreSQL's share: its auxiliary processes and the backends connected to the
# benchmark's database (PG_MATCH). Backends of other databases (other people's tests on
# the same server) are left to the "other" column.
PG_MATCH="(none)"
pg_cpu_snap() { # pg_cpu_snap FILE: "pid jiffies" of the benchmark's PostgreSQL processes
  # Builtins only, so that the snapshot is quick next to backends that come and go.
  local pid cmd f
  for pid in $(pgrep -x postgres 2>/dev/null || true); do
    { read -r -d '' cmd </proc/"$pid"/cmdline; } 2>/dev/null || [[ -n ${cmd:-} ]] || continue
    case $cmd in
      *"127.0.0.1("*|*"[local]"*|*"::1("*) [[ $cmd == *" $PG_MATCH "* ]] || continue ;;
    esac
    { read -r -a f </proc/"$pid"/stat; } 2>/dev/null || continue
    echo "$pid $((f[13] + f[14]))"
  done >"$1"
  return 0
}
pg_cpu_delta() { # pg_cpu_delta BEFORE AFTER: jiffies the processes used in between (new ones from 0)
  awk 'NR == FNR {b[$1] = $2; next} {d += $2 - (($1 in b) ? b[$1] : 0)} END{print d + 0}' "$1" "$2"
}
cpu_cols() { # cpu_cols WALL_S BUSY_J VIGIE_J PG_J CLIENT_S: "vigie pg client other" in cores
  awk -v w="$1" -v db="$2" -v dv="$3" -v dp="$4" -v cs="$5" -v clk="$CLK" 'BEGIN{
    busy = db / clk / w; v = dv / clk / w; p = dp / clk / w; c = cs / w; o = busy - v - p - c; if (o < 0) o = 0
    printf "%.2f\t%.2f\t%.2f\t%.2f", v, p, c, o }'
}
client_s() { awk '{print $1 + $2}' "$1"; }  # user + system seconds from a `time` output (TIMEFORMAT='%U %S')
rustc_count() { pgrep -c -x rustc 2>/dev/null || true; }
busy_cores_over() { # busy_cores_over SECONDS: mean busy cores of the machine
  local b0 b1
  b0=$(cpu_busy); sleep "$1"; b1=$(cpu_busy)
  awk -v d=$((b1 - b0)) -v clk="$CLK" -v s="$1" 'BEGIN{printf "%.2f", d / clk / s}'
}

UNDER_LOAD=0
wait_quiet() { # wait_quiet MAX_SECONDS
  local max=$1 waited=0 r busy
  while :; do
    r=$(rustc_count); busy=$(busy_cores_over 3)
    if [[ $r == 0 ]] && awk -v b="$busy" 'BEGIN{exit !(b < 0.25)}'; then
      log "machine quiet (no rustc, ${busy} busy cores)"
      return 0
    fi
    if ((waited >= max)); then
      log "still busy after ${waited} s (rustc: $r, busy cores: $busy): measuring anyway, marked as under load"
      UNDER_LOAD=1
      return 0
    fi
    log "machine busy (rustc: $r, busy cores: $busy); waiting 30 s (${waited}/${max} s)"
    sleep 30
    waited=$((waited + 30))
  done
}

# ----- the inventory ---------------------------------------------------------------

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
# A pool fills when its share of the calls reaches its numbers x cap x days; with the
# numbers in the calls' mix that is the same for every pool (+-1 from rounding).
CAPACITY=$(awk -v a=$N_A -v b=$N_B -v c=$N_C -v d=$N_D -v per=$((CAP * DAYS)) 'BEGIN{
  m = a*per/0.40; if (b*per/0.25 < m) m = b*per/0.25; if (c*per/0.20 < m) m = c*per/0.20; if (d*per/0.15 < m) m = d*per/0.15;
  printf "%d", m }')
RESTFREE=$((CAPACITY * (INTENSIVE - 1) / CAP))

# ----- one server ------------------------------------------------------------------

URL=""
start_server() { # start_server NAME DBARGS...: starts vigie serve on a free port, sets SERVER_PID and URL
  local name=$1 i
  shift
  RUST_LOG= VIGIE_DATA_KEY="$DATA_KEY" VIGIE_PSEUDONYM_KEY="$PSEUDONYM_KEY" "$VIGIE" serve "$@" --config "$WORK/$name/vigie.toml" --listen 127.0.0.1:0 \
    >"$WORK/$name/serve.out" 2>"$WORK/$name/serve.err" &
  SERVER_PID=$!
  URL=""
  for i in $(seq 1 300); do
    URL=$(sed -n 's|^vigie listening on \(http://127\.0\.0\.1:[0-9]*\).*|\1|p' "$WORK/$name/serve.out" | head -1)
    [[ -n $URL ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/$name/serve.err" >&2; die "vigie serve ($name) exited"; }
    sleep 0.1
  done
  [[ -n $URL ]] || die "vigie serve ($name) did not report its address within 30 s"
  for i in $(seq 1 50); do
    curl -fsS "$URL/livez" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  die "vigie serve ($name) does not answer $URL/livez"
}

metric() { # metric NAME: a counter from /metrics
  curl -fsS "$URL/metrics" | awk -v m="vigie_$1" '$1 == m {print $2}'
}

kv() { # kv KEY FILE: a value from the BENCH line of a wrk output
  sed -n "s/^BENCH .* $1=\([^ ]*\).*/\1/p" "$2" | head -1
}

ALLOCATED=0
ROWFILE=$RESULTS
ATTEMPT=1
row() { # row BACKEND WORKLOAD CONCURRENCY RPS P50 P99 NON2XX VIGIE_CPU PG_CPU CLIENT_CPU OTHER_CPU NOTE
  local IFS=$'\t'
  echo "$*" >>"$ROWFILE"
}

measure() { # measure FUNCTION ARGS...: one row; measured again (3 attempts at most, after a
  # quiet moment) while other work on the machine takes more than OTHER_MAX cores, and the
  # least disturbed attempt is kept
  local attempt line other best="" best_other=999
  for attempt in 1 2 3; do
    ATTEMPT=$attempt
    ROWFILE="$WORK/row.$attempt"
    : >"$ROWFILE"
    "$@"
    line=$(head -1 "$ROWFILE")
    other=$(cut -f11 <<<"$line")
    if awk -v o="$other" -v b="$best_other" 'BEGIN{exit !(o < b)}'; then best=$line; best_other=$other; fi
    if awk -v o="$other" -v m="$OTHER_MAX" 'BEGIN{exit !(o <= m)}' || ((attempt == 3 || WAIT_QUIET != 1)); then break; fi
    log "other work took $other cores during that row: measuring it again after a quiet moment (attempt $((attempt + 1)) of 3)"
    wait_quiet 120
  done
  ROWFILE=$RESULTS
  awk -F'\t' -v OFS='\t' -v n="$attempt" '{
    if (n > 1) $12 = $12 ($12 == "" ? "" : "; ") "least disturbed of " n " attempts"; print }' <<<"$best" >>"$RESULTS"
}

run_wrk() { # run_wrk BACKEND WORKLOAD CONC THREADS MODE ARGS...
  local backend=$1 workload=$2 conc=$3 threads=$4
  shift 4
  # Each attempt gets its own call_refs (the same call_ref with another body is a 409).
  if [[ $1 == calls ]]; then set -- "$1" "$2" "$3-a$ATTEMPT" "$4"; fi
  local out="$WORK/$backend/wrk-$workload-c$conc-a$ATTEMPT.txt"
  local b0 b1 s0 s1 t0 t1 a0 a1 c0 c1 q0 q1 wall cpu note
  a0=$(metric allocations_total); q0=$(metric no_capacity_total)
  c0=$(metric writer_commits_total)
  pg_cpu_snap "$out.pg0"
  b0=$(cpu_busy); s0=$(proc_cpu "$SERVER_PID"); t0=$(date +%s.%N)
  local TIMEFORMAT='%U %S'
  { time wrk -t"$threads" -c"$conc" -d"${DURATION}s" --timeout 10s --latency -s "$ROOT/bench/calls.lua" "$URL" -- "$@" >"$out" 2>&1; } 2>"$out.time" ||
    { cat "$out" >&2; die "wrk failed ($backend $workload c$conc)"; }
  t1=$(date +%s.%N); b1=$(cpu_busy); s1=$(proc_cpu "$SERVER_PID")
  pg_cpu_snap "$out.pg1"
  a1=$(metric allocations_total); q1=$(metric no_capacity_total)
  c1=$(metric writer_commits_total)
  grep -q '^BENCH requests=' "$out" || { cat "$out" >&2; die "no BENCH line from wrk ($backend $workload c$conc)"; }
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')
  cpu=$(cpu_cols "$wall" $((b1 - b0)) $((s1 - s0)) "$(pg_cpu_delta "$out.pg0" "$out.pg1")" "$(client_s "$out.time")")
  note=""
  if [[ $workload == calls ]]; then
    ALLOCATED=$a1
    note="$((a1 - a0)) allocations in $((c1 - c0)) commits"
    if ((c1 > c0)); then note="$note ($(awk -v a=$((a1 - a0)) -v c=$((c1 - c0)) 'BEGIN{printf "%.1f", a / c}') per commit)"; fi
    if ((q1 > q0)); then note="$note; $((q1 - q0)) refused no_capacity"; fi
  fi
  row "$backend" "$workload" "$conc" "$(kv rps "$out")" "$(kv p50_ms "$out")" "$(kv p99_ms "$out")" \
    "$(kv non2xx "$out")$( [[ $(kv by_status "$out") != - ]] && echo " ($(kv by_status "$out"))")" \
    ${cpu} "$note"
  log "$backend $workload c$conc: $(grep '^BENCH requests=' "$out" | cut -c7-)"
  if grep -q '^BENCH first_non2xx=' "$out"; then log "  first non-2xx: $(sed -n 's/^BENCH first_non2xx=//p' "$out")"; fi
}

bench_backend() { # bench_backend NAME DBARGS...
  local name=$1
  shift
  mkdir -p "$WORK/$name"
  write_config "$WORK/$name/vigie.toml"
  write_numbers "$WORK/$name/numbers.csv"
  local key
  key=$("$VIGIE" keys create "$@" --config "$WORK/$name/vigie.toml" --role dialer --name bench-dialer 2>/dev/null) ||
    die "vigie keys create failed ($name)"
  "$VIGIE" numbers import "$@" --config "$WORK/$name/vigie.toml" "$WORK/$name/numbers.csv" >"$WORK/$name/import.log" 2>&1 ||
    { cat "$WORK/$name/import.log" >&2; die "vigie numbers import failed ($name)"; }
  log "$name: $(cat "$WORK/$name/import.log")"
  start_server "$name" "$@"
  log "$name: vigie serve at $URL (pid $SERVER_PID)"

  # One allocation by hand: the request is accepted and answered as expected.
  local dial_at probe
  dial_at=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
  probe=$(curl -sS -o "$WORK/$name/probe.json" -w '%{http_code}' -X POST "$URL/v1/calls" \
    -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d "{\"call_ref\":\"probe-$name\",\"facility\":\"chu-nantes\",\"purpose\":\"appointment_reminder\",\"patient_ref\":\"patient-probe\",\"patient_phone\":\"+33612345678\",\"dial_at\":\"$dial_at\"}")
  [[ $probe == 201 ]] || { cat "$WORK/$name/probe.json" >&2; die "$name: the probe allocation got HTTP $probe"; }
  log "$name: probe allocation: $(cat "$WORK/$name/probe.json")"

  local tag="b$$-$name"
  log "$name: warm-up, ${WARMUP_S} s of allocations at c64 (not reported)"
  wrk -t2 -c64 -d"${WARMUP_S}s" --timeout 10s -s "$ROOT/bench/calls.lua" "$URL" -- calls "$key" "$tag-warm" "$FACILITIES" \
    >"$WORK/$name/wrk-warmup.txt" 2>&1 || die "warm-up failed"
  # A table filled in seconds has no planner statistics yet; in service autovacuum
  # gathers them within a minute of the first calls. Without them PostgreSQL scans
  # `calls` for the writer's lookups by call_ref and patient: gather them now, as the
  # steady state would have them.
  if [[ $name == postgres ]]; then
    psql "$PG/$PG_MATCH" -qAtX -c "ANALYZE" >/dev/null || die "ANALYZE failed"
  fi
  measure run_wrk "$name" livez 1 1 livez
  measure run_wrk "$name" calls 1 1 calls "$key" "$tag-c1" "$FACILITIES"
  measure run_wrk "$name" livez 64 2 livez
  measure run_wrk "$name" calls 64 2 calls "$key" "$tag-c64" "$FACILITIES"

  local commits batched
  commits=$(metric writer_commits_total); batched=$(metric writer_batched_requests_total)
  echo "$name: $ALLOCATED allocations in this run's database, $(awk -v a="$ALLOCATED" -v c="$RESTFREE" 'BEGIN{printf "%.1f", 100 * a / c}')% of the capacity below the intensive threshold ($RESTFREE); $batched requests in $commits writer commits over the whole run" >>"$NOTES"
  local wal
  wal=$(metric sqlite_wal_bytes)
  if [[ -n $wal ]]; then
    echo "$name: WAL file at the end of the run: $(awk -v b="$wal" 'BEGIN{printf "%.1f", b / 1048576}') MB; $(metric writer_checkpoint_tails_total) checkpoints finished by the writer" >>"$NOTES"
  fi
  if ((ALLOCATED > RESTFREE)); then
    echo "$name: WARNING: more allocations than the capacity below the intensive threshold: rests and 409 no_capacity can appear; raise BENCH_NUMBERS" >>"$NOTES"
  fi
  stop_pid "$SERVER_PID"
  SERVER_PID=""
}

run_pgbench() { # run_pgbench DBURL CONC THREADS
  local db=$1 conc=$2 threads=$3
  local dir="$WORK/pgbench-c$conc-a$ATTEMPT"
  mkdir -p "$dir"
  local b0 b1 t0 t1 wall pid
  pg_cpu_snap "$dir/pg0"
  b0=$(cpu_busy); t0=$(date +%s.%N)
  local TIMEFORMAT='%U %S'
  { time pgbench -n -M prepared -f "$ROOT/bench/naive_pg.sql" -T "$DURATION" -c "$conc" -j "$threads" \
      -l --log-prefix="$dir/log" "$db" >"$dir/out.txt" 2>&1; } 2>"$dir/time" &
  pid=$!
  # pgbench's backends end with it: sample the machine just before the end of the run.
  sleep "$(awk -v d="$DURATION" 'BEGIN{print d - 0.3}')"
  t1=$(date +%s.%N); b1=$(cpu_busy)
  pg_cpu_snap "$dir/pg1"
  wait "$pid" || { cat "$dir/out.txt" >&2; die "pgbench failed (c$conc)"; }
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')
  local tps failed pct cpu
  tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$dir/out.txt" | head -1)
  failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$dir/out.txt" | head -1)
  # The per-transaction log: column 3 is the latency in microseconds.
  pct=$(cat "$dir"/log.* | awk '$3 ~ /^[0-9]+$/ {print $3}' | sort -n | awk '{v[NR] = $1} END{
    if (NR == 0) { print "- -"; exit }
    i50 = int(NR * 0.50); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
    printf "%.3f %.3f", v[i50] / 1000, v[i99] / 1000 }')
  # The client's CPU over the whole run, spread over the sampled window's length.
  cpu=$(cpu_cols "$wall" $((b1 - b0)) 0 "$(pg_cpu_delta "$dir/pg0" "$dir/pg1")" \
    "$(awk -v c="$(client_s "$dir/time")" -v w="$wall" -v d="$DURATION" 'BEGIN{print c * w / d}')")
  row postgres "naive SQL (pgbench)" "$conc" "$tps" ${pct% *} ${pct#* } "${failed:-0} failed" ${cpu} "one transaction per call"
  log "pgbench c$conc: tps $tps, p50/p99 ms ${pct}, failed ${failed:-0}"
}

# ----- the run ---------------------------------------------------------------------

DATA_KEY=$("$VIGIE" keys data-key)
PSEUDONYM_KEY=$("$VIGIE" keys pseudonym-key)
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$ROOT" status --porcelain --untracked-files=no -- crates Cargo.toml Cargo.lock 2>/dev/null) ]]; then COMMIT="$COMMIT + uncommitted changes"; fi

log "inventory: $NUMBERS numbers (A $N_A, B $N_B, C $N_C, D $N_D); capacity at the cap ($CAP/day over $DAYS days, calls in the seed's mix): $CAPACITY allocations; below the intensive threshold ($((INTENSIVE - 1))/day, so no rests): $RESTFREE"
if [[ $WAIT_QUIET == 1 ]]; then wait_quiet "$QUIET_MAX_S"; fi
# The disk's synchronous write latency bounds durable commits made one after another
# (concurrency 1 commits once per allocation).
FSYNC_MS=$(dd if=/dev/zero of="$WORK/fsync.probe" bs=4k count=300 oflag=dsync 2>&1 |
  sed -n 's/.* copied, \([0-9.]*\) s,.*/\1/p' | awk '{printf "%.3f", $1 / 300 * 1000}')
rm -f "$WORK/fsync.probe"
log "synchronous 4 KiB write: ${FSYNC_MS} ms"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg); RUSTC_BEFORE=$(rustc_count)
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)

for backend in $BACKENDS; do
  case $backend in
    sqlite)
      mkdir -p "$WORK/sqlite"
      bench_backend sqlite --db "$WORK/sqlite/vigie.db"
      ;;
    postgres)
      PGDB="vigie_bench_$$_$(date +%s)"
      psql "$PG/$PG_ADMIN_DB" -qAtX -v ON_ERROR_STOP=1 -c "CREATE DATABASE $PGDB" >/dev/null ||
        die "cannot create a database on $PG (is PostgreSQL running on 127.0.0.1?)"
      PG_DBS+=("$PGDB")
      PG_MATCH=$PGDB
      bench_backend postgres --database-url "$PG/$PGDB"
      stored=$(psql "$PG/$PGDB" -qAtX -c "SELECT count(*) FROM calls")
      echo "postgres: $stored calls stored; /metrics counted $ALLOCATED allocations" >>"$NOTES"
      log "postgres baseline: schema bench, $NUMBERS numbers, one transaction per call"
      psql "$PG/$PGDB" -qAtX -v numbers="$NUMBERS" -v a="$N_A" -v b="$N_B" -v c="$N_C" -v d="$N_D" \
        -f "$ROOT/bench/naive_pg_setup.sql" >/dev/null
      measure run_pgbench "$PG/$PGDB" 1 1
      measure run_pgbench "$PG/$PGDB" 64 2
      ;;
    *) die "unknown backend $backend (sqlite, postgres)" ;;
  esac
done

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg); RUSTC_AFTER=$(rustc_count)

# ----- the report ------------------------------------------------------------------

value() { # value BACKEND WORKLOAD CONC: requests/s of a row
  awk -F'\t' -v b="$1" -v w="$2" -v c="$3" '$1 == b && $2 == w && $3 == c {print $4}' "$RESULTS"
}
verdict() { # verdict LABEL NUM DEN FACTOR: "NUM / DEN = R (aim >= FACTOR: met|NOT met)"
  awk -v l="$1" -v n="$2" -v d="$3" -v f="$4" 'BEGIN{
    if (n == "" || d == "" || d == 0) { printf "- %s: not measured\n", l; exit }
    r = n / d; printf "- %s: %.0f / %.0f = %.2f (aim: at least %s): %s\n", l, n, d, r, f, (r >= f) ? "met" : "NOT met" }'
}

report() {
  echo "## Results"
  echo
  echo "Started $STARTED; ${DURATION} s per row; $NUMBERS numbers (A $N_A, B $N_B, C $N_C, D $N_D)."
  echo
  echo "| backend | workload | concurrency | requests/s | p50 ms | p99 ms | non-2xx | CPU vigie | CPU PostgreSQL | CPU client | CPU other | note |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |"
  awk -F'\t' -v limit="$OTHER_MAX" '{
    w = ($2 == "calls") ? "POST /v1/calls" : ($2 == "livez") ? "GET /livez" : $2
    v = ($2 ~ /pgbench/) ? "-" : $8
    note = $12
    if ($11 + 0 > limit) note = note (note == "" ? "" : "; ") "**disturbed: other work took " $11 " cores**"
    printf "| %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, w, $3, $4, $5, $6, $7, v, $9, $10, $11, note }' "$RESULTS"
  echo
  echo "CPU columns: cores busy during the row, of the machine's $(nproc): the vigie server process; PostgreSQL (its"
  echo "background processes and the backends of the benchmark's database); the load generator (wrk or pgbench);"
  echo "everything else: other people's work on the machine, kernel threads (some of the disk I/O of the benchmark"
  echo "itself lands there) and time taken by the hypervisor. A row where that exceeded $OTHER_MAX cores was measured again"
  echo "after a quiet moment (at most 3 attempts, the least disturbed kept); one still above it is marked as disturbed."
  echo
  echo "## Aims"
  echo
  verdict "SQLite allocations/s vs the /livez ceiling, concurrency 1" "$(value sqlite calls 1)" "$(value sqlite livez 1)" 0.5
  verdict "SQLite allocations/s vs the /livez ceiling, concurrency 64" "$(value sqlite calls 64)" "$(value sqlite livez 64)" 0.5
  verdict "PostgreSQL allocations/s vs one transaction per call, concurrency 1" "$(value postgres calls 1)" "$(value postgres 'naive SQL (pgbench)' 1)" 5
  verdict "PostgreSQL allocations/s vs one transaction per call, concurrency 64" "$(value postgres calls 64)" "$(value postgres 'naive SQL (pgbench)' 64)" 5
  echo
  echo "## Run"
  echo
  sed 's/^/- /' "$NOTES"
  echo "- capacity: $CAPACITY allocations at the cap of $CAP/day over $DAYS days in the seed's mix, $RESTFREE below the intensive threshold"
  echo "- load average before/after: $LOAD_BEFORE / $LOAD_AFTER; rustc processes before/after: $RUSTC_BEFORE / $RUSTC_AFTER"
  if [[ $UNDER_LOAD == 1 ]]; then echo "- **measured under load**: the machine was not quiet when the run started"; fi
  echo
  echo "## Machine"
  echo
  echo "- CPU: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  echo "- memory: $(awk '/^MemTotal/{printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "- kernel: $(uname -sr)"
  echo "- storage of the work directory: $(df -T "$WORK" | awk 'NR == 2 {print $2}') on $(df "$WORK" | awk 'NR == 2 {print $1}'); one synchronous 4 KiB write (dd oflag=dsync): ${FSYNC_MS} ms, so at most $(awk -v m="$FSYNC_MS" 'BEGIN{ if (m > 0) printf "%.0f", 1000 / m; else print "?" }') durable commits/s one after another"
  echo "- PostgreSQL: $(psql "$PG/$PG_ADMIN_DB" -qAtX -c "SELECT split_part(version(), ' on ', 1) || ', fsync=' || current_setting('fsync') || ', synchronous_commit=' || current_setting('synchronous_commit')" 2>/dev/null || echo unknown)"
  echo "- wrk: $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2); pgbench: $(pgbench --version | cut -d' ' -f3)"
  echo "- rustc: $(rustc --version 2>/dev/null || echo unknown)"
  echo "- git commit: $COMMIT"
}

echo
report | tee "${OUT:-/dev/null}"
