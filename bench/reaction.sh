#!/usr/bin/env bash
# How fast Vigie acts on a report, in one command:   bash bench/reaction.sh
#
# Starts `target/release/vigie serve` on a fresh SQLite file (or BENCH_DATABASE_URL),
# imports 40 numbers of pool A, gives one number PENDING calls still to dial, then, ROUNDS
# times, posts two reports about a number in service and measures (curl's time_total)
# the second one: its answer comes back only once the quarantine is committed, the
# number's pending calls moved to other numbers, its incident and critical alert
# written. Prints the median and the maximum, and the pending calls moved.
#
# Settings: BENCH_ROUNDS=20, BENCH_PENDING=60 (calls on the first number reported),
# BENCH_VIGIE= (a built binary; default: cargo build --release).
set -euo pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
ROUNDS=${BENCH_ROUNDS:-20}
PENDING=${BENCH_PENDING:-60}
VIGIE=${BENCH_VIGIE:-}
if [[ -z $VIGIE ]]; then
  cargo build --release -p vigie >&2
  VIGIE=target/release/vigie
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vigie-reaction.XXXXXX")
trap '[[ -n ${PID:-} ]] && kill "$PID" 2>/dev/null; rm -rf "$WORK"' EXIT
DB=(--db "$WORK/vigie.db")
export VIGIE_DATA_KEY=$("$VIGIE" keys data-key) VIGIE_PSEUDONYM_KEY=$("$VIGIE" keys pseudonym-key)
# The benchmark's facilities and calling rules (bench/lib.sh, shared with run.sh).
NUMBERS=40
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
write_config "$WORK/vigie.toml"
{
  echo "number,pool,display_name,facility,callback"
  for i in $(seq 1 40); do printf '+33478%06d,A,Clinique St-Jean,clinique-saint-jean,+33478100000\n' $((200000 + i)); done
} >"$WORK/numbers.csv"
"$VIGIE" numbers import "${DB[@]}" --config "$WORK/vigie.toml" "$WORK/numbers.csv" >&2
KEY=$("$VIGIE" keys create "${DB[@]}" --config "$WORK/vigie.toml" --role admin --name bench 2>/dev/null)
RUST_LOG=warn "$VIGIE" serve "${DB[@]}" --config "$WORK/vigie.toml" --listen 127.0.0.1:0 >"$WORK/serve.out" 2>"$WORK/serve.err" &
PID=$!
for _ in $(seq 1 100); do
  URL=$(grep -o 'http://[0-9.:]*' "$WORK/serve.out" 2>/dev/null | head -n 1 || true)
  [[ -n $URL ]] && break
  sleep 0.1
done
[[ -n $URL ]] || { cat "$WORK/serve.err" >&2; exit 1; }
post() { curl -s -o "$WORK/last.json" -w '%{time_total}' -X POST "$URL$1" -H "Authorization: Bearer $KEY" -d "$2"; }
# Pending calls: the same patient keeps the same number (affinity), PENDING times.
for i in $(seq 1 "$PENDING"); do
  AT=$(date -u -d "+$((i + 10)) minutes" +%Y-%m-%dT%H:%M:%SZ)
  post /v1/calls "{\"call_ref\":\"r-$i\",\"facility\":\"clinique-saint-jean\",\"purpose\":\"appointment_reminder\",\"patient_ref\":\"p-1\",\"patient_phone\":\"+33472000001\",\"dial_at\":\"$AT\"}" >/dev/null
done
FIRST=$(grep -o '"caller_number":"[^"]*"' "$WORK/last.json" | cut -d'"' -f4)
TIMES=()
MOVED=""
for r in $(seq 1 "$ROUNDS"); do
  if [[ $r -eq 1 ]]; then N=$FIRST; else N=$(printf '+33478%06d' $((200000 + 40 - r))); fi
  NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  post /v1/reports "{\"number\":\"$N\",\"source\":\"patient\",\"reported_at\":\"$NOW\",\"detail\":\"bench\"}" >/dev/null
  T=$(post /v1/reports "{\"number\":\"$N\",\"source\":\"app_label\",\"reported_at\":\"$NOW\",\"detail\":\"bench\"}")
  grep -q '"quarantined":true' "$WORK/last.json" || { echo "round $r: not quarantined: $(cat "$WORK/last.json")" >&2; exit 1; }
  [[ $r -eq 1 ]] && MOVED=$(grep -o '"reassigned_calls":[0-9]*' "$WORK/last.json" | cut -d: -f2)
  TIMES+=("$T")
done
printf '%s\n' "${TIMES[@]}" | sort -n | awk -v moved="$MOVED" -v n="$ROUNDS" '
  { t[NR] = $1 * 1000 }
  END { printf "second report to durable quarantine (HTTP round trip, ms): median %.1f, max %.1f over %d numbers; the first one moved %s pending calls in that time\n", t[int((NR + 1) / 2)], t[NR], n, moved }'
INCIDENTS=$(curl -s "$URL/v1/incidents" -H "Authorization: Bearer $KEY" | grep -o '"incident_id"' | wc -l)
echo "incidents opened: $INCIDENTS (one per quarantine, in the same transaction)"
echo "machine: $(nproc) cores, $(uname -sr)"
