#!/usr/bin/env bash
# The floor under Vigie's allocation throughput on SQLite, in one command:
#   bash bench/proto.sh
#
# Builds bench/proto (a throw-away prototype, its own Cargo workspace, never part of
# Vigie) and Vigie, then, in rounds, on a fresh SQLite database each time made by
# `vigie numbers import` (Vigie's schema and the benchmark's numbers, bench/lib.sh),
# measures POST /v1/calls at concurrency 64 with bench/calls.lua, as bench/run.sh does:
#   - vigie:    `vigie serve`, the product;
#   - full:     the prototype writing Vigie's write set (the calls row with the sealed
#               phone and the pseudonym, the number's and the pool's day counters, a
#               hash-chained audit entry, the batch's known call_refs);
#   - minimal:  the prototype writing the calls row and the number's day counter only;
#   - livez:    GET /livez of the prototype, the HTTP ceiling.
# The variants alternate within each round, so that the VM's drift touches them alike.
# For each: requests/s, and the server's CPU per request (user + system, µs).
#
# Settings (environment): BENCH_DURATION=8 (seconds per run), BENCH_ROUNDS=3,
# BENCH_NUMBERS=600, BENCH_VIGIE= (a built vigie binary; skips the build).
set -euo pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DURATION=${BENCH_DURATION:-8}
ROUNDS=${BENCH_ROUNDS:-3}
NUMBERS=${BENCH_NUMBERS:-600}
log() { printf '[proto %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
command -v wrk >/dev/null || die "wrk is needed (apt-get install wrk)"

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vigie-proto.XXXXXX")
PID=""
cleanup() {
  if [[ -n $PID ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
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

fresh_db() { # fresh_db DIR: a new database with the numbers; prints a dialer key
  mkdir -p "$1"
  local key
  key=$("$VIGIE" keys create --db "$1/v.db" --config "$WORK/vigie.toml" --role dialer --name proto 2>/dev/null)
  "$VIGIE" numbers import --db "$1/v.db" --config "$WORK/vigie.toml" "$WORK/numbers.csv" >/dev/null
  echo "$key"
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
for round in $(seq 1 "$ROUNDS"); do
  log "round $round of $ROUNDS"
  d="$WORK/r$round-vigie"; key=$(fresh_db "$d")
  start "$d/out" "$VIGIE" serve --db "$d/v.db" --config "$WORK/vigie.toml" --listen 127.0.0.1:0
  measure vigie calls "$key"; stop
  for mode in full minimal; do
    d="$WORK/r$round-$mode"; key=$(fresh_db "$d")
    start "$d/out" "$PROTO" "$d/v.db" 127.0.0.1:0 "$key" "$mode"
    measure "$mode" calls "$key"
    if [[ $mode == minimal ]]; then measure livez livez "$key"; fi
    stop
  done
done

echo
echo "| variant | requests/s, each round | median | server CPU per request (µs), median |"
echo "| --- | --- | ---: | ---: |"
for name in livez minimal full vigie; do
  awk -v n="$name" '$1 == n {r = r (r == "" ? "" : ", ") sprintf("%.0f", $2); v[++k] = $2; u[k] = $3}
    END {
      asort(v); asort(u); m = (k % 2) ? v[(k + 1) / 2] : (v[k / 2] + v[k / 2 + 1]) / 2
      mu = (k % 2) ? u[(k + 1) / 2] : (u[k / 2] + u[k / 2 + 1]) / 2
      label["livez"] = "GET /livez (the prototype: the HTTP ceiling)"
      label["minimal"] = "prototype, calls row and day counter"
      label["full"] = "prototype, Vigie'"'"'s write set"
      label["vigie"] = "vigie serve"
      printf "| %s | %s | %.0f | %.1f |\n", label[n], r, m, mu }' "$WORK/results"
done
if awk '$4 != 0 {bad = 1} END {exit !bad}' "$WORK/results"; then echo; echo "Some runs had non-2xx answers:"; awk '$4 != 0' "$WORK/results"; fi
echo
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(git -C "$ROOT" rev-parse --short HEAD), $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
