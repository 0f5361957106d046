# shellcheck shell=bash
# Shared by the scepd integration scripts: a work directory removed on exit (kept with
# KEEP_WORK=1), PASS/FAIL bookkeeping, scepctl on the script's configuration, and scepd
# started on an ephemeral loopback port. Source it, then call `it_init NAME`.
#
# Sets: work (the directory), passed, failed; after it_start_scepd: port, scepd_pid.
# The configuration file is always $work/scepd.conf and scepd logs to $work/scepd.log.

it_init() { # it_init NAME
  work=$(mktemp -d "/tmp/scepd-$1.XXXXXX") || exit 1
  scepd_pid=
  passed=0
  failed=0
  trap it_cleanup EXIT
  it_as_service_user
}

# As root, scepctl runs as nobody too, as an operator runs it as scepd's `user`
# (docs/operations.md): the keys and the database it writes are then the service's, and
# it can use the keys scepd uses (they must be owned by whoever loads them). $SCEPCTL
# becomes a wrapper that hands the work directory (files made by root: openssl, configs)
# to nobody and runs the real scepctl as nobody.
it_as_service_user() {
  [ "$(id -u)" = 0 ] && [ -n "${SCEPCTL:-}" ] || return 0
  local real
  real=$(realpath "$SCEPCTL") || exit 1
  SCEPCTL=$work/scepctl-as-nobody
  cat >"$SCEPCTL" <<WRAPPER
#!/bin/sh
chown -R nobody: '$work'
exec setpriv --reuid=nobody --regid=nogroup --init-groups '$real' "\$@"
WRAPPER
  chmod 755 "$SCEPCTL"
  chown -R nobody: "$work"
}

it_cleanup() {
  if [ -n "$scepd_pid" ]; then
    kill "$scepd_pid" 2>/dev/null && wait "$scepd_pid" 2>/dev/null
  fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $work"; else rm -rf "$work"; fi
}

pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
check() { # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

ctl() { "$SCEPCTL" --config "$work/scepd.conf" "$@"; }

# scepd refuses to run as root without `user =`, and a configuration holding a secret
# that others may read (docs/operations.md). Run as root, the scripts give it
# `user = nobody` and hand it the work directory: scepctl, run as root, creates keys and
# the database as root, and scepd reads them as `user`. Call before scepd starts, checks
# (--check) or reloads (it_start_scepd, it_scepd_check and it_hup do).
it_prepare_scepd() {
  chmod o-rwx "$work/scepd.conf"
  [ "$(id -u)" = 0 ] || return 0
  grep -q '^user *=' "$work/scepd.conf" || printf 'user = nobody\n' >>"$work/scepd.conf"
  chown -R nobody: "$work"
}
it_scepd_check() { it_prepare_scepd && "$SCEPD" --config "$work/scepd.conf" --check "$@"; }
it_hup() { it_prepare_scepd && kill -HUP "$scepd_pid"; }

# Starts scepd on $work/scepd.conf and waits (at most 10 s) for its listening line; the
# port comes from the log because the configuration asks for port 0. Returns 1, after
# printing the log, when scepd does not come up.
it_start_scepd() {
  it_prepare_scepd
  : >"$work/scepd.log"
  "$SCEPD" --config "$work/scepd.conf" >"$work/scepd.log" 2>&1 &
  scepd_pid=$!
  port=
  for _ in $(seq 1 100); do
    # The text line (event=listening ... port=N) or its JSON form (log_format = json).
    port=$(sed -n -e 's/.*event=listening .* port=\([0-9]*\).*/\1/p' \
      -e 's/.*"event":"listening".*"port":"\([0-9]*\)".*/\1/p' "$work/scepd.log" | head -1)
    [ -n "$port" ] && return 0
    kill -0 "$scepd_pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$work/scepd.log"
  echo "FAIL: scepd did not start"
  return 1
}

# Prints the summary line; exits 1 (with the end of scepd's log) when a check failed.
it_finish() {
  echo "$passed passed, $failed failed"
  if [ "$failed" -ne 0 ]; then
    [ -f "$work/scepd.log" ] && tail -40 "$work/scepd.log"
    exit 1
  fi
  exit 0
}

# A two-tier CA in $work/pki (root.pem/key -> issuing.pem/key, chain.pem = issuing + root),
# as enterprises run it; certmonger needs the chain to verify replies
# (docs/interop-peers.md §7). Import it with `ctl ca import --cert chain.pem --key
# issuing.key`. Exits the script when openssl fails.
it_make_two_tier_ca() { # it_make_two_tier_ca LABEL
  local label=$1
  mkdir -p "$work/pki" || exit 1
  (
    cd "$work/pki" || exit 1
    openssl req -x509 -newkey rsa:2048 -nodes -keyout root.key -out root.pem -days 30 \
      -subj "/O=scepd test/CN=$label Root" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
      openssl req -newkey rsa:2048 -nodes -keyout issuing.key -out issuing.csr \
        -subj "/O=scepd test/CN=$label Issuing CA" &&
      printf '%s\n' "basicConstraints=critical,CA:TRUE,pathlen:0" \
        "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign,cRLSign" \
        "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >ext.cnf &&
      openssl x509 -req -in issuing.csr -CA root.pem -CAkey root.key -CAcreateserial -days 20 \
        -extfile ext.cnf -out issuing.pem &&
      cat issuing.pem root.pem >chain.pem
  ) >"$work/pki.log" 2>&1 || {
    cat "$work/pki.log"
    echo "FAIL: cannot make the test CA"
    exit 1
  }
}
