#!/usr/bin/env bash
# Crash safety of the store, end to end (docs/store.md, "Crash safety").
#
# 1. scepd in RA mode (shared secret) under a load of enrollments from 4 parallel `scep`
#    clients, each enrolling distinct subjects with its own key, is killed with SIGKILL
#    at random points 5 times and restarted on the same port. A client retries a failed
#    enrollment with the same key (so the same transactionID) until it succeeds, at most
#    RETRIES times. Then: every certificate a client received is in the store with the
#    same DER, no serial twice, one certificate per subject (a retried transaction is
#    never issued twice), PRAGMA integrity_check ok (also after a last SIGKILL), and every
#    enrollment sent again with the same key gets the certificate it got before.
# 2. Disk full: scepd's database on a 3 MiB tmpfs in a private mount namespace (root;
#    without root or mount, this part is skipped and says so). The tmpfs is filled, then
#    freed in growing steps (4, 8, 12, ... KiB) with a new enrollment after each, so that
#    some fail while recording the request and some at the issuance step's COMMIT, until
#    one succeeds. Every attempt gets a clean
#    answer within the client's timeout (a FAILURE, or a certificate that is in the
#    store), scepd stays up, the database stays intact, and once space is back the next
#    enrollments succeed without a restart.
#
# usage: scepd-crash.sh SCEPD SCEPCTL SCEP
# scepd listens on 127.0.0.1 only. The whole script takes well under 60 s.
set -u
SCEPD=$1
SCEPCTL=$2
SCEP=$3
for tool in openssl curl sqlite3 xxd; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done

# Part 2 mounts a tmpfs: as root, run in a private mount namespace so the mount is
# invisible outside and disappears with the script.
if [ "$(id -u)" = 0 ] && [ -z "${SCEPD_CRASH_NS:-}" ] && command -v unshare >/dev/null &&
  unshare -m --propagation private true 2>/dev/null; then
  SCEPD_CRASH_NS=1 exec unshare -m --propagation private "$0" "$@"
fi

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
it_init crash

CLIENTS=4          # parallel clients
KILLS=5            # SIGKILLs during the load
MIN_PER_CLIENT=20  # each client enrolls at least this many devices...
MAX_PER_CLIENT=150 # ...and keeps going until the kills are over, at most this many
RETRIES=60         # attempts per enrollment
LOAD_DEADLINE=35   # seconds: no client starts a new device after this
SECRET=crash-Secret-9
started=$SECONDS
small=
bg_pids=

crash_cleanup() {
  for pid in $bg_pids; do kill "$pid" 2>/dev/null; done
  if [ -f "$work/scepd.pid" ]; then
    pid=$(cat "$work/scepd.pid")
    [ -n "$pid" ] && [ "$pid" != "$scepd_pid" ] && kill "$pid" 2>/dev/null
  fi
  if [ -n "$scepd_pid" ]; then
    kill "$scepd_pid" 2>/dev/null && wait "$scepd_pid" 2>/dev/null
    scepd_pid=
  fi
  [ -n "$small" ] && umount "$small" 2>/dev/null
  it_cleanup
}
trap crash_cleanup EXIT

cat >"$work/scepd.conf" <<CONF
listen = 127.0.0.1:0
database = sqlite:$work/scepd.db
state_dir = $work/state
threads = 4
crash.operationmode = ra
crash.ra.authPwd = $SECRET
CONF
mkdir -p "$work/state" "$work/dev"
ctl ca init --name crash --subject "CN=Crash CA,O=scepd" --key rsa:2048 >"$work/ctl.log" 2>&1 ||
  { cat "$work/ctl.log"; echo "FAIL: ca init"; exit 1; }
ca=$work/state/cas/crash/ca.pem

# Whether process PID runs (an orphaned, unreaped zombie does not count).
alive() { ps -o stat= -p "$1" 2>/dev/null | grep -qv '^Z'; }

# Starts scepd on the fixed port of $work/scepd.conf, its log appended to scepd.log, and
# waits (at most 10 s) until it answers GetCACaps. Writes the pid to $work/scepd.pid.
# A scepd that exits at once is started again, up to 5 times: a process killed with
# SIGKILL holds its listening socket until its last thread has ended (one may be waiting
# for an fsync), while its main thread already shows as a zombie, so the new one can find
# the port still taken.
start_fixed() {
  for _ in 1 2 3 4 5; do
    "$SCEPD" --config "$work/scepd.conf" >>"$work/scepd.log" 2>&1 &
    echo $! >"$work/scepd.pid"
    for _ in $(seq 1 100); do
      curl -s -o /dev/null --max-time 1 "$URL?operation=GetCACaps" && return 0
      alive "$(cat "$work/scepd.pid")" || break
      sleep 0.1
    done
    alive "$(cat "$work/scepd.pid")" && break
    sleep 0.2
  done
  echo "scepd did not come back"
  return 1
}

it_start_scepd || exit 1
URL=http://127.0.0.1:$port/scep/crash/pkiclient.exe
# From now on the same port, so that clients find the restarted server; scepd runs in a
# subshell so that this shell does not report its SIGKILLs.
sed -i "s/^listen = .*/listen = 127.0.0.1:$port/" "$work/scepd.conf"
kill "$scepd_pid" && wait "$scepd_pid"
scepd_pid=
(start_fixed) || exit 1

enroll() { # enroll DEVICE [OUT]: one attempt, with the device's key (generated on first use)
  "$SCEP" enroll -u "$URL" -c "$ca" -k "$work/dev/$1.key" --key-type ec:P-256 \
    --subject "CN=$1,O=crash" --challenge "$SECRET" -l "${2:-$work/dev/$1.pem}" --timeout 10 \
    >/dev/null 2>>"$work/dev/$1.err"
}

# A client: devices cC-dI, I = 1, 2, ...; each retried until it succeeds. Writes
# "DEVICE SERIAL ATTEMPTS" to $work/clientC.received, or "DEVICE -" to clientC.failed.
client() {
  local c=$1 i=0 dev attempts serial
  : >"$work/client$c.received"
  : >"$work/client$c.failed"
  while [ "$i" -lt "$MAX_PER_CLIENT" ] && [ $((SECONDS - started)) -lt "$LOAD_DEADLINE" ]; do
    if [ "$i" -ge "$MIN_PER_CLIENT" ] && [ -f "$work/kills.done" ]; then break; fi
    i=$((i + 1))
    dev=c$c-d$i
    attempts=1
    until enroll "$dev"; do
      if [ "$attempts" -ge "$RETRIES" ]; then break; fi
      attempts=$((attempts + 1))
      sleep 0.1
    done
    if [ -s "$work/dev/$dev.pem" ] && serial=$(openssl x509 -in "$work/dev/$dev.pem" -noout -serial); then
      echo "$dev ${serial#serial=} $attempts" >>"$work/client$c.received"
    else
      echo "$dev -" >>"$work/client$c.failed"
    fi
  done
}

# The killer: KILLS times, a random pause (0.4 - 1.3 s) into the load, SIGKILL, restart.
killer() {
  local k pid t
  : >"$work/kills.log"
  sleep 0.5
  for k in $(seq 1 "$KILLS"); do
    t=$((RANDOM % 10 + 4)) # tenths of a second
    sleep "$((t / 10)).$((t % 10))"
    pid=$(cat "$work/scepd.pid")
    kill -KILL "$pid" 2>/dev/null
    for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.05; done
    echo "kill $k at $((SECONDS - started)) s: $(cat "$work"/client*.received | wc -l) received so far" >>"$work/kills.log"
    start_fixed || { echo "restart $k failed" >>"$work/kills.log"; break; }
  done
  touch "$work/kills.done"
}

# ---- 1. SIGKILL under load ----------------------------------------------------------------
load_start=$SECONDS
for c in $(seq 1 "$CLIENTS"); do
  client "$c" &
  bg_pids="$bg_pids $!"
done
killer 2>>"$work/kills.err" & # (the shell's "Killed" notices go there)
killer_pid=$!
bg_pids="$bg_pids $killer_pid"
# shellcheck disable=SC2086 # a list of pids
wait $bg_pids
bg_pids=
scepd_pid=$(cat "$work/scepd.pid")
load_time=$((SECONDS - load_start))
cat "$work/kills.log"

cat "$work"/client*.received >"$work/received"
cat "$work"/client*.failed >"$work/failed"
devices=$(($(wc -l <"$work/received") + $(wc -l <"$work/failed")))
received=$(wc -l <"$work/received")
retried=$(awk '$3 > 1' "$work/received" | wc -l)
attempts=$(awk '{ n += $3 } END { print n + 0 }' "$work/received")
resent=$(grep -c 'sent again' "$work/scepd.log")
echo "load: $devices devices in $load_time s, $received received, $retried needed a retry" \
  "($attempts attempts in all), $resent answered from the store after a kill"

check "scepd was killed $KILLS times during the load and came back each time" \
  bash -c "[ \$(grep -c '^kill ' '$work/kills.log') -eq $KILLS ] && ! grep -q failed '$work/kills.log' && kill -0 $scepd_pid"
check "the kills fell within the load (clients still enrolling after the last)" \
  bash -c "[ \$(tail -1 '$work/kills.log' | sed 's/.*: \([0-9]*\) received.*/\1/') -lt $received ]"
check "every enrollment succeeded within $RETRIES attempts" test ! -s "$work/failed"
check "some enrollments had to be retried" test "$retried" -gt 0

db=$work/scepd.db
sql() { sqlite3 -bail "$db" ".timeout 5000" "$@"; }
# Every received certificate is in the store with the same DER.
declare -A stored_der
while read -r serial der; do
  stored_der[$serial]=$der
done < <(sql "SELECT serial, hex(der) FROM certificates" | tr '|' ' ')
missing=0
while read -r dev serial _; do
  stored=${stored_der[$serial]:-}
  got=$(openssl x509 -in "$work/dev/$dev.pem" -outform DER | xxd -p | tr -d '\n' | tr a-f A-F)
  if [ -z "$stored" ] ||
    [ "$(printf %s "$stored" | xxd -r -p | sha256sum)" != "$(printf %s "$got" | xxd -r -p | sha256sum)" ]; then
    echo "  $dev: serial $serial not in the store with the DER the client got"
    missing=$((missing + 1))
  fi
done <"$work/received"
check "every received certificate ($received) is in the store with the same DER" test "$missing" -eq 0
check "no serial appears twice in the store" \
  test -z "$(sql "SELECT serial, count(*) FROM certificates GROUP BY serial HAVING count(*) > 1")"
check "one certificate per subject: no retried transaction was issued twice" \
  test -z "$(sql "SELECT subject, count(*) FROM certificates GROUP BY subject HAVING count(*) > 1")"
check "the store holds exactly the $received certificates clients received" \
  test "$(sql "SELECT count(*) FROM certificates")" -eq "$received"
check "no request was left ISSUED without its certificate" \
  test "$(sql "SELECT count(*) FROM requests r WHERE r.status = 'ISSUED' AND NOT EXISTS
    (SELECT 1 FROM certificates c WHERE c.ca_name = r.ca_name AND c.serial = r.cert_serial)")" -eq 0
check "scepctl cert list lists them all" \
  test "$(ctl cert list 2>/dev/null | grep -c 'CN=c[0-9]*-d[0-9]*')" -eq "$received"
check "PRAGMA integrity_check: ok (scepd running)" test "$(sql "PRAGMA integrity_check")" = ok

# Retransmissions: every device sends its enrollment again with the same key.
resend() { # resend C: the received devices of client C
  while read -r dev serial _; do
    enroll "$dev" "$work/dev/$dev.again.pem" || { echo "$dev error"; continue; }
    again=$(openssl x509 -in "$work/dev/$dev.again.pem" -noout -serial)
    [ "${again#serial=}" = "$serial" ] || echo "$dev ${again#serial=} instead of $serial"
  done <"$work/client$1.received"
}
for c in $(seq 1 "$CLIENTS"); do
  resend "$c" >"$work/resend$c.log" 2>&1 &
  bg_pids="$bg_pids $!"
done
# shellcheck disable=SC2086 # a list of pids
wait $bg_pids
bg_pids=
cat "$work"/resend*.log
echo "checks and retransmissions done at $((SECONDS - started)) s"
check "every enrollment sent again gets the same certificate (serial) as before" \
  test -z "$(cat "$work"/resend*.log)"
check "the retransmissions issued nothing" \
  test "$(sql "SELECT count(*) FROM certificates")" -eq "$received"

kill -KILL "$scepd_pid"
for _ in $(seq 1 100); do alive "$scepd_pid" || break; sleep 0.05; done
scepd_pid=
rm -f "$work/scepd.pid"
check "PRAGMA integrity_check: ok after a last SIGKILL" test "$(sql "PRAGMA integrity_check")" = ok
check "scepd --check accepts the store" "$SCEPD" --config "$work/scepd.conf" --check

# ---- 2. disk full during issuance ----------------------------------------------------------
small=$work/small
mkdir -p "$small"
if [ "$(id -u)" != 0 ] || [ -z "${SCEPD_CRASH_NS:-}" ] ||
  ! mount -t tmpfs -o size=3m,mode=0700 tmpfs "$small" 2>/dev/null; then
  small=
  echo "SKIPPED: disk-full part (needs root and a private mount namespace for a tmpfs)"
  echo "total $((SECONDS - started)) s"
  it_finish
fi

cat >"$work/scepd.conf" <<CONF
listen = 127.0.0.1:0
database = sqlite:$small/scepd.db
state_dir = $work/state2
threads = 4
crash.operationmode = ra
crash.ra.authPwd = $SECRET
CONF
mkdir -p "$work/state2"
db=$small/scepd.db
ctl ca init --name crash --subject "CN=Crash CA 2,O=scepd" --key rsa:2048 >"$work/ctl.log" 2>&1 ||
  { cat "$work/ctl.log"; echo "FAIL: ca init"; exit 1; }
ca=$work/state2/cas/crash/ca.pem
mv "$work/scepd.log" "$work/scepd-load.log"
it_start_scepd || exit 1
URL=http://127.0.0.1:$port/scep/crash/pkiclient.exe
check "enrollment with space left" enroll full-0

# Fill the tmpfs, then free 4 KiB more at each step (4, 8, 12, ... KiB: a step smaller
# than one enrollment's WAL frames would never catch up) with one new enrollment after each,
# until one succeeds. Every answer is clean: a FAILURE (exit 70-74) or HTTP error, within the
# client's timeout, or a certificate that is in the store.
dd if=/dev/zero of="$small/fill" bs=4k >/dev/null 2>&1
check "the tmpfs is full" test "$(df --output=avail -k "$small" | tail -1 | tr -d ' ')" -eq 0
failures=0
unclean=0
step=0
while [ "$step" -lt 40 ]; do
  step=$((step + 1))
  t0=$SECONDS
  enroll "full-$step"
  rc=$?
  if [ $((SECONDS - t0)) -gt 12 ]; then
    echo "  step $step: the answer took $((SECONDS - t0)) s"
    unclean=$((unclean + 1))
  fi
  if ! kill -0 "$scepd_pid" 2>/dev/null; then
    echo "  step $step: scepd died"
    unclean=$((unclean + 1))
    break
  fi
  if [ "$rc" -eq 0 ]; then
    serial=$(openssl x509 -in "$work/dev/full-$step.pem" -noout -serial)
    if [ -z "$(sql "SELECT serial FROM certificates WHERE serial = '${serial#serial=}'")" ]; then
      echo "  step $step: certificate ${serial#serial=} returned but not in the store"
      unclean=$((unclean + 1))
    fi
    break
  fi
  case $rc in
  70 | 71 | 72 | 73 | 74 | 95) failures=$((failures + 1)) ;;
  *)
    echo "  step $step: scep exited $rc"
    unclean=$((unclean + 1))
    ;;
  esac
  truncate -s "-$((4 * step))K" "$small/fill"
done
refused=$(grep -c 'outcome=failure' "$work/scepd.log")
at_issue=$(grep -c 'outcome=failure.*detail="RA user .*disk is full' "$work/scepd.log")
echo "disk full: $failures enrollments refused ($at_issue at the issuance step) in $step steps"
grep 'outcome=failure' "$work/scepd.log" | sed 's/.*detail=/  detail=/' | sort | uniq -c | head -5
check "a full disk refuses enrollments cleanly (FAILURE, no hang, no crash)" \
  bash -c "[ $failures -gt 0 ] && [ $unclean -eq 0 ] && [ $refused -ge $failures ]"
check "a full disk made the issuance step itself fail at least once" test "$at_issue" -gt 0
check "PRAGMA integrity_check: ok after the disk was full" test "$(sql "PRAGMA integrity_check")" = ok

rm -f "$small/fill"
check "with space again, a new enrollment succeeds (same scepd process)" \
  bash -c "$(declare -f enroll); SCEP='$SCEP' URL='$URL' ca='$ca' work='$work' SECRET='$SECRET'; enroll full-after && kill -0 $scepd_pid"
retry_ok=1
for dev in $(seq 1 "$step"); do
  [ -s "$work/dev/full-$dev.pem" ] && continue
  enroll "full-$dev" || retry_ok=0
done
check "the refused devices enroll on retry" test "$retry_ok" -eq 1
bad=0
for f in "$work"/dev/full-*.pem; do
  s=$(openssl x509 -in "$f" -noout -serial)
  [ -n "$(sql "SELECT serial FROM certificates WHERE serial = '${s#serial=}'")" ] || bad=$((bad + 1))
done
check "every certificate returned around the full disk is in the store" test "$bad" -eq 0
check "PRAGMA integrity_check: ok at the end" test "$(sql "PRAGMA integrity_check")" = ok

echo "total $((SECONDS - started)) s"
it_finish
