#!/usr/bin/env bash
# `make bench`: enrollment throughput of scepd in RA mode (shared secret, SHA-256,
# AES-128, RSA-2048 CA, SQLite with synchronous=FULL) on 127.0.0.1, against the RSA
# limit of this machine measured in the same run. Prints a Markdown table; with
# BENCH_WRITE_DOCS=1 also writes it into docs/performance.md between its markers.
#
# Knobs: BENCH_LEVELS (connections, default "1,4,8"), BENCH_COUNTS (enrollments per level,
# default "500,2500,2500"), BENCH_SECONDS (cap of each window, default 30),
# BENCH_THREADS / BENCH_WORKERS (scepd's `threads` and `workers`; unset: scepd's defaults),
# BUILD (build directory). The whole run takes about two minutes.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
# Another scepd binary to compare against (A/B): SCEPD=/path/to/scepd.
scepd=${SCEPD:-$build/scepd}
levels=${BENCH_LEVELS:-1,4,8}
counts=${BENCH_COUNTS:-500,2500,2500}
seconds=${BENCH_SECONDS:-30}
secret=bench-Shared-Secret-1

load_before=$(cut -d" " -f1-3 /proc/loadavg)
work=$(mktemp -d /tmp/scepd-bench.XXXXXX)
scepd_pid=
cleanup() {
  if [ -n "$scepd_pid" ]; then
    kill "$scepd_pid" 2>/dev/null || true
    wait "$scepd_pid" 2>/dev/null || true
  fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# The RSA limit first, on an idle machine: per enrollment the server makes 3 RSA-2048
# private-key operations and 3 public-key ones, on both cores (-multi 2).
speed=$(timeout 60 openssl speed -seconds 3 -multi 2 rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $(NF-1), $NF}' | tail -1)
read -r sign_rate verify_rate <<<"$speed"
limit=$(awk -v s="$sign_rate" -v v="$verify_rate" 'BEGIN { printf "%.1f", 1 / (3 / s + 3 / v) }')

mkdir -p "$work/state"
{
  echo "listen = 127.0.0.1:0"
  echo "database = sqlite:$work/scepd.db"
  echo "state_dir = $work/state"
  echo "log_level = info"
  [ -n "${BENCH_THREADS:-}" ] && echo "threads = $BENCH_THREADS"
  [ -n "${BENCH_WORKERS:-}" ] && echo "workers = $BENCH_WORKERS"
  echo "bench.operationmode = ra"
  echo "bench.ra.authPwd = $secret"
  echo "bench.ra.namegenerationscheme = DN"
  echo "bench.ra.namegenerationparameters = CN"
} >"$work/scepd.conf"
chmod 600 "$work/scepd.conf"
# scepd does not run as root without `user =` (docs/operations.md): as root, scepd and
# scepctl run as nobody, which then owns the work directory.
as_user=()
if [ "$(id -u)" = 0 ]; then
  echo "user = nobody" >>"$work/scepd.conf"
  chown -R nobody: "$work"
  as_user=(setpriv --reuid=nobody --regid=nogroup --init-groups)
fi
"${as_user[@]}" "$build/scepctl" --config "$work/scepd.conf" ca init --name bench \
  --subject "CN=Bench CA" --key rsa:2048 --days 30 >/dev/null
"$scepd" --config "$work/scepd.conf" >"$work/scepd.log" 2>&1 &
scepd_pid=$!
port=
for _ in $(seq 1 100); do
  port=$(sed -n 's/.*event=listening .* port=\([0-9]*\).*/\1/p' "$work/scepd.log" | head -1)
  [ -n "$port" ] && break
  kill -0 "$scepd_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$port" ]; then
  cat "$work/scepd.log" >&2
  echo "scepd did not start" >&2
  exit 1
fi

out=$work/table.md
status=0
BENCH_SERVER_PID=$scepd_pid "$build/scep_load" 127.0.0.1 "$port" /scep/bench/pkiclient.exe "$work/state/cas/bench/ca.pem" \
  "$secret" "$limit" "$levels" "$counts" "$seconds" >"$out" || status=$?
kill "$scepd_pid"
wait "$scepd_pid" || true
scepd_pid=
if grep -q ' \(warn\|error\) ' "$work/scepd.log"; then
  echo "scepd's warnings and errors:" >&2
  grep ' \(warn\|error\) ' "$work/scepd.log" | head -20 >&2
fi

{
  echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(openssl version | cut -d' ' -f1-2); load average" \
    "before the run: $load_before."
  echo "Limit: openssl speed -multi 2 rsa2048: $sign_rate signs/s, $verify_rate verifies/s →" \
    "1 / (3/sign + 3/verify) = **$limit enrollments/s**."
  echo
  cat "$out"
} >"$work/result.md"
cat "$work/result.md"

if [ "${BENCH_WRITE_DOCS:-0}" = 1 ]; then
  doc=$top/docs/performance.md
  awk -v table="$work/result.md" '
    /<!-- BEGIN BENCH TABLE -->/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
    /<!-- END BENCH TABLE -->/ { skip = 0 }
    !skip { print }' "$doc" >"$work/doc.md"
  cp "$work/doc.md" "$doc"
  echo "written to $doc"
fi
exit "$status"
