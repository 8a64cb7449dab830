#!/usr/bin/env bash
# bench/sim.sh: how long `vigie sim` takes to simulate a year, one policy at a time
# (release build, seed 1). Two volumes: 10,000 calls a working day (the default
# model calls Monday to Friday outside public holidays: 252 days, 2.52 million calls)
# and 14,485 a working day (3.65 million calls, the issue's "10,000 a day" over all
# 365 days). Prints the machine, the load, and for each run the calls, the
# simulator's own timing and /usr/bin/time's wall and CPU seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release -p vigie --quiet
V="$CARGO_TARGET_DIR/release/vigie"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), nproc $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg)"
lscpu | head -n 15 | sed 's/^/# /'
for calls in 10000 14485; do
  for policy in ${BENCH_POLICIES:-baseline seed vigie}; do
    /usr/bin/time -f "  wall %e s, user %U s, max RSS %M kB" \
      "$V" sim --days 365 --calls-per-day "$calls" --policy "$policy" --seed 1 2>&1 >/dev/null \
      | sed "s/^/$calls\/day /"
  done
done
