#!/usr/bin/env bash
# `make bench-static`: GetCACaps and GetCACert of scepd against nginx serving files of the
# same bytes, with the same client (bench/http_load), the same connections and windows,
# interleaved in the same run (scepd, nginx, scepd, nginx, ...). Prints requests/s of
# each, the ratio scepd / nginx, and the server CPU per request (user + system time of
# scepd, or of nginx's master and workers, over the window).
#
# Both log each request (scepd at log_level = info, nginx an access log to a file) and
# both have one process or thread per core (scepd's default `threads`, nginx's
# worker_processes auto). Knobs: BENCH_STATIC_LEVELS (connections, default "1 16"),
# BENCH_STATIC_SECONDS (each window, default 4), BENCH_STATIC_ROUNDS (default 2), BUILD.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
levels=${BENCH_STATIC_LEVELS:-1 16}
seconds=${BENCH_STATIC_SECONDS:-4}
rounds=${BENCH_STATIC_ROUNDS:-2}
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || { echo "nginx is missing: make deps-bench" >&2; exit 1; }

work=$(mktemp -d /tmp/scepd-bench-static.XXXXXX)
nginx_pid=
# shellcheck source=bench/common.sh
. "$top/bench/common.sh"
cleanup() {
  stop_scepd
  if [ -n "$nginx_pid" ]; then
    kill "$nginx_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
  fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

load_before=$(cut -d" " -f1-3 /proc/loadavg)
start_scepd
path=/scep/bench/pkiclient.exe
mkdir -p "$work/www" "$work/nginx"
curl -sf -o "$work/www/caps" "http://127.0.0.1:$port$path?operation=GetCACaps"
curl -sf -o "$work/www/cacert" "http://127.0.0.1:$port$path?operation=GetCACert"
caps_type=$(curl -sf -o /dev/null -w '%{content_type}' "http://127.0.0.1:$port$path?operation=GetCACaps")
cert_type=$(curl -sf -o /dev/null -w '%{content_type}' "http://127.0.0.1:$port$path?operation=GetCACert")

# A port nginx can have: ask the kernel for a free one through a throwaway listener.
nginx_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
nginx_user=
[ "$(id -u)" = 0 ] && nginx_user="user nobody nogroup;"
cat >"$work/nginx/nginx.conf" <<CONF
$nginx_user
worker_processes auto;
daemon off;
master_process on;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log $work/nginx/access.log;
  keepalive_requests 100000000;
  keepalive_timeout 30s;
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/www;
    location = /caps { default_type "$caps_type"; }
    location = /cacert { default_type "$cert_type"; }
  }
}
CONF
[ "$(id -u)" = 0 ] && chown -R nobody: "$work/nginx" "$work/www"
"$nginx" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
for _ in $(seq 1 50); do
  curl -sf -o /dev/null "http://127.0.0.1:$nginx_port/caps" && break
  sleep 0.1
done
cmp -s "$work/www/caps" <(curl -sf "http://127.0.0.1:$nginx_port/caps")
cmp -s "$work/www/cacert" <(curl -sf "http://127.0.0.1:$nginx_port/cacert")

# CPU seconds of a process and its children's threads (nginx: master and workers).
cpu_of() {
  local total=0 p
  for p in "$@" $(pgrep -P "$1" || true); do
    total=$(awk -v t="$total" -v hz="$(getconf CLK_TCK)" '{ printf "%.4f", t + ($14 + $15) / hz }' "/proc/$p/stat")
  done
  echo "$total"
}

echo "$(date -u +%Y-%m-%d), $(nproc) cores; load average before the run: $load_before."
echo "GetCACaps body $(stat -c %s "$work/www/caps") bytes, GetCACert body $(stat -c %s "$work/www/cacert") bytes;" \
  "client bench/http_load, $seconds s windows, $rounds rounds interleaved."
echo
echo "| request | connections | round | scepd req/s | nginx req/s | scepd / nginx | scepd CPU µs/req | nginx CPU µs/req |"
echo "|---|---|---|---|---|---|---|---|"
status=0
for op in GetCACaps GetCACert; do
  if [ "$op" = GetCACaps ]; then file=/caps; else file=/cacert; fi
  for c in $levels; do
    for r in $(seq 1 "$rounds"); do
      c0=$(cpu_of "$scepd_pid")
      read -r s_rate s_failed _ < <("$build/http_load" get 127.0.0.1 "$port" "$path?operation=$op" "$c" "$seconds")
      s_cpu=$(awk -v a="$c0" -v b="$(cpu_of "$scepd_pid")" -v r="$s_rate" -v s="$seconds" \
        'BEGIN { printf "%.1f", (r > 0 ? 1e6 * (b - a) / (r * s) : 0) }')
      c0=$(cpu_of "$nginx_pid")
      read -r n_rate n_failed _ < <("$build/http_load" get 127.0.0.1 "$nginx_port" "$file" "$c" "$seconds")
      n_cpu=$(awk -v a="$c0" -v b="$(cpu_of "$nginx_pid")" -v r="$n_rate" -v s="$seconds" \
        'BEGIN { printf "%.1f", (r > 0 ? 1e6 * (b - a) / (r * s) : 0) }')
      ratio=$(awk -v s="$s_rate" -v n="$n_rate" 'BEGIN { printf "%.2f", (n > 0 ? s / n : 0) }')
      echo "| $op | $c | $r | $s_rate | $n_rate | **$ratio** | $s_cpu | $n_cpu |"
      [ "$s_failed" = 0 ] && [ "$n_failed" = 0 ] || { echo "failed: scepd $s_failed, nginx $n_failed" >&2; status=1; }
    done
  done
done
exit "$status"
