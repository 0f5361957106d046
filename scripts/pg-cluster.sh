#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the store tests (docs/store.md "PostgreSQL backend").
#
#   pg-cluster.sh start DIR   initdb into DIR/data, start the server listening only on a
#                             Unix socket in DIR, create database "scep" and print its URL
#   pg-cluster.sh stop DIR    stop the server and remove DIR
#   pg-cluster.sh url DIR     print the URL of a started cluster
#   pg-cluster.sh newdb DIR   create a new, empty database in it and print its URL
#   pg-cluster.sh halt DIR    stop the server at once (as a crash would), keeping the data
#   pg-cluster.sh resume DIR  start a halted cluster again
#
# The server refuses to run as root, so when started by root the cluster belongs to an
# unprivileged user (PG_CLUSTER_USER, default nobody). The database superuser is "scep" and
# the socket trusts every local connection: never point this at anything but a test.
# PG_BINDIR overrides where initdb and pg_ctl are looked for.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop|url|newdb|halt|resume DIR" >&2
  exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
dir=$2
case "$dir" in
  /*) ;;
  *) dir="$(pwd)/$dir" ;;
esac

find_bindir() {
  if [ -n "${PG_BINDIR:-}" ]; then
    echo "$PG_BINDIR"
    return
  fi
  # Debian keeps the server binaries out of PATH, one directory per major version.
  local newest=""
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && newest=$d
  done
  if [ -z "$newest" ] && command -v pg_ctl >/dev/null 2>&1; then
    newest=$(dirname "$(readlink -f "$(command -v pg_ctl)")")
  fi
  echo "$newest"
}

bindir=$(find_bindir)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ] || [ ! -x "$bindir/pg_ctl" ]; then
  echo "pg-cluster: PostgreSQL server binaries (initdb, pg_ctl) not found;" \
    "install the 'postgresql' package or set PG_BINDIR" >&2
  exit 1
fi

as_owner=()
if [ "$(id -u)" -eq 0 ]; then
  as_owner=(runuser -u "${PG_CLUSTER_USER:-nobody}" --)
fi

url() {
  echo "postgresql:///scep?host=$dir&user=scep"
}

stop() {
  if [ -f "$dir/data/postmaster.pid" ]; then
    (cd "$dir" && "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop) \
      >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

# No TCP listener; fsync off because a test cluster never needs to survive a power loss
# (halt is an immediate shutdown: the server's crash recovery still runs on resume).
server_start() {
  (cd "$dir" && "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c fsync=off \
        -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null 2>&1) && return 0
  cat "$dir/server.log" >&2 || true
  echo "pg-cluster: the server did not start within 30 s" >&2
  return 1
}

halt() {
  (cd "$dir" && "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop) \
    >/dev/null 2>&1
}

start() {
  # A cluster left behind by an interrupted run is replaced, not reused.
  stop
  # The socket path (DIR/.s.PGSQL.5432) must fit in sun_path.
  if [ $((${#dir} + 16)) -gt 107 ]; then
    echo "pg-cluster: $dir is too long for a Unix socket path" >&2
    exit 1
  fi
  mkdir -p "$dir"
  chmod 0700 "$dir"
  if [ ${#as_owner[@]} -gt 0 ]; then
    chown "${PG_CLUSTER_USER:-nobody}" "$dir"
  fi
  cd "$dir"
  if ! "${as_owner[@]}" "$bindir/initdb" -D "$dir/data" -U scep --auth=trust --no-sync \
    -E UTF8 --locale=C >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    echo "pg-cluster: initdb failed" >&2
    exit 1
  fi
  if ! server_start; then
    stop
    exit 1
  fi
  local psql=$bindir/psql
  [ -x "$psql" ] || psql=psql
  "$psql" -X -q -h "$dir" -U scep -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE scep" \
    >/dev/null
  url
}

newdb() {
  local psql=$bindir/psql name
  [ -x "$psql" ] || psql=psql
  name="t_$(date +%s%N)_$$"
  "$psql" -X -q -h "$dir" -U scep -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE $name" \
    >/dev/null
  echo "postgresql:///$name?host=$dir&user=scep"
}

case "$cmd" in
  start) start ;;
  newdb) newdb ;;
  halt) halt ;;
  resume) server_start ;;
  stop) stop ;;
  url) url ;;
  *) usage ;;
esac
