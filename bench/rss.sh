#!/usr/bin/env bash
# `make bench-rss`: scepd's memory with many open, idle, kept-alive connections, and across
# repeated rounds. Each round enrolls BENCH_RSS_ENROLL certificates (bench/scep_load, 4
# connections), then opens BENCH_RSS_CONNECTIONS connections (bench/http_load hold: one
# GetCACaps each, then idle) and reads VmRSS and VmHWM from /proc/PID/status while they
# are held, and again after they closed. Goal: under 64 MiB with 1,000 connections, and
# no growth from round to round.
#
# Knobs: BENCH_RSS_CONNECTIONS (default 1000), BENCH_RSS_ROUNDS (default 3),
# BENCH_RSS_ENROLL (default 300), BUILD, SCEPD.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
connections=${BENCH_RSS_CONNECTIONS:-1000}
rounds=${BENCH_RSS_ROUNDS:-3}
enroll=${BENCH_RSS_ENROLL:-300}
# A descriptor per connection on both sides, and some to spare.
ulimit -n $((connections * 2 + 256)) 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d /tmp/scepd-bench-rss.XXXXXX)
# shellcheck source=bench/common.sh
. "$top/bench/common.sh"
cleanup() {
  stop_scepd
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$scepd_pid/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

load_before=$(cut -d" " -f1-3 /proc/loadavg)
start_scepd "max_connections = $((connections + 100))" \
  "max_connections_per_client = $((connections + 100))" "connection_timeout = 120s"
path=/scep/bench/pkiclient.exe
echo "$(date -u +%Y-%m-%d), $(nproc) cores; load average before the run: $load_before."
echo "scepd after start: VmRSS $(mib "$(kib VmRSS)") MiB; $connections connections held per round," \
  "$enroll enrollments before each."
echo
echo "| round | VmRSS after enrolling MiB | VmRSS with $connections open MiB | open (answered) | VmRSS after they closed MiB | VmHWM MiB |"
echo "|---|---|---|---|---|---|"
status=0
for r in $(seq 1 "$rounds"); do
  BENCH_CAPS_SECONDS=0 "$build/scep_load" 127.0.0.1 "$port" "$path" "$work/state/cas/bench/ca.pem" \
    "$bench_secret" 0 4 "$enroll" 60 >"$work/enroll.out" 2>/dev/null || { cat "$work/enroll.out" >&2; status=1; }
  after_enroll=$(kib VmRSS)
  "$build/http_load" hold 127.0.0.1 "$port" "$path?operation=GetCACaps" "$connections" 8 >"$work/hold.out" &
  hold_pid=$!
  held=
  for _ in $(seq 1 600); do
    held=$(sed -n 's/^held //p' "$work/hold.out")
    [ -n "$held" ] && break
    sleep 0.1
  done
  sleep 1
  open=$(kib VmRSS)
  wait "$hold_pid" || status=1
  sleep 1
  closed=$(kib VmRSS)
  echo "| $r | $(mib "$after_enroll") | $(mib "$open") | ${held:-?} | $(mib "$closed") | $(mib "$(kib VmHWM)") |"
done
exit "$status"
