# Shared by the bench scripts: a throwaway scepd in RA mode on 127.0.0.1 (as nobody when
# run as root), its CA, and its port. Sourced; expects $build and $work to be set.
#
# start_scepd [CONFIG LINE...]: extra lines are appended to the configuration.
# Sets scepd_pid, port; stop_scepd ends it.
scepd_pid=
port=
bench_secret=bench-Shared-Secret-1
as_user=()

start_scepd() {
  local scepd=${SCEPD:-$build/scepd}
  mkdir -p "$work/state"
  {
    echo "listen = 127.0.0.1:0"
    echo "database = ${BENCH_DATABASE:-sqlite:$work/scepd.db}"
    echo "state_dir = $work/state"
    echo "log_level = info"
    echo "bench.operationmode = ra"
    echo "bench.ra.authPwd = $bench_secret"
    echo "bench.ra.namegenerationscheme = DN"
    echo "bench.ra.namegenerationparameters = CN"
    for line in "$@"; do echo "$line"; done
  } >"$work/scepd.conf"
  chmod 600 "$work/scepd.conf"
  if [ "$(id -u)" = 0 ]; then
    echo "user = nobody" >>"$work/scepd.conf"
    chown -R nobody: "$work"
    as_user=(setpriv --reuid=nobody --regid=nogroup --init-groups)
  fi
  if [ ! -f "$work/state/cas/bench/ca.pem" ]; then
    "${as_user[@]}" "$build/scepctl" --config "$work/scepd.conf" ca init --name bench \
      --subject "CN=Bench CA" --key rsa:2048 --days 30 >/dev/null
  fi
  : >"$work/scepd.log"
  [ "$(id -u)" = 0 ] && chown nobody: "$work/scepd.log"
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
    return 1
  fi
}

stop_scepd() {
  if [ -n "$scepd_pid" ]; then
    kill "$scepd_pid" 2>/dev/null || true
    wait "$scepd_pid" 2>/dev/null || true
  fi
  scepd_pid=
}
