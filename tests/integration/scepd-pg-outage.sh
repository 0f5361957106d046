#!/usr/bin/env bash
# scepd on PostgreSQL while the database goes away and comes back (docs/postgresql.md):
#
#  1. An enrollment works; GET /healthz is 200.
#  2. The database server stops at once (an immediate shutdown, as a crash): enrollments
#     are answered HTTP 503 with Retry-After (never a CertRep FAILURE, which a client takes
#     as final), logged, and nothing is spent: the end entity's code still works later.
#     /healthz is 503; scepd keeps running.
#  3. The server is back: without a restart or signal, /healthz is 200 again and the same
#     enrollment code gets its certificate, exactly one.
#
# Its own throwaway cluster (scripts/pg-cluster.sh), a Unix socket in the work directory.
# usage: scepd-pg-outage.sh SCEPD SCEPCTL SCEP CLUSTER_SCRIPT
set -u
SCEPD=$1
SCEPCTL=$2
SCEP=$3
CLUSTER=$4
for tool in openssl curl; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
it_init pg-outage
pg=$work/pg
outage_cleanup() {
  "$CLUSTER" stop "$pg" >/dev/null 2>&1
  it_cleanup
}
trap outage_cleanup EXIT

url=$("$CLUSTER" start "$pg") || { echo "FAIL: the PostgreSQL test cluster did not start"; exit 1; }
cat >"$work/scepd.conf" <<CONF
listen = 127.0.0.1:0
database = $url
state_dir = $work/state
threads = 2
store_poll_interval = 1s
scep.defaultca = outage
CONF
mkdir -p "$work/state"
ctl ca init --name outage --subject "CN=Outage CA" --key rsa:2048 >"$work/ctl.log" 2>&1 ||
  { cat "$work/ctl.log"; echo "FAIL: ca init"; exit 1; }
for dev in dev1 dev2; do
  ctl ee add --username "$dev" --password "code-$dev" --dn "CN=$dev" >>"$work/ctl.log" 2>&1
done
ca=$work/state/cas/outage/ca.pem
it_start_scepd || exit 1
base=http://127.0.0.1:$port
enroll() { # enroll DEVICE
  "$SCEP" enroll -u "$base/scep/pkiclient.exe" -c "$ca" -k "$work/$1.key" --subject "CN=$1" \
    --challenge "code-$1" -l "$work/$1.pem" --timeout 10 >>"$work/$1.out" 2>&1
}
health() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$base/healthz"; }

check "an enrollment on PostgreSQL" enroll dev1
check "/healthz is 200" test "$(health)" = 200

"$CLUSTER" halt "$pg"
enroll dev2
rc=$?
check "while the database is down, the enrollment fails" test "$rc" -ne 0
check "... answered HTTP 503 (the client says so)" grep -q "503" "$work/dev2.out"
check "/healthz answers 503 with Retry-After while the database is down" \
  bash -c "curl -s -D - -o /dev/null --max-time 5 '$base/healthz' | grep -q '^HTTP/1.1 503' && curl -s -D - -o /dev/null --max-time 5 '$base/healthz' | grep -qi '^Retry-After:'"
check "... logged as store_unavailable" grep -q "event=store_unavailable" "$work/scepd.log"
check "scepd is still running" kill -0 "$scepd_pid"

"$CLUSTER" resume "$pg" || { echo "FAIL: the cluster did not come back"; exit 1; }
for _ in $(seq 1 50); do
  [ "$(health)" = 200 ] && break
  sleep 0.2
done
# Every worker thread's connection broke with the server: each must reconnect on its own,
# so ask more often than there are workers (default four per core).
codes=$(for _ in $(seq 1 24); do health; echo; done | sort | uniq -c | tr -s ' ' | tr '\n' ';')
check "/healthz is 200 again without a restart, on every worker ($codes)" \
  bash -c "[ '$codes' = ' 24 200;' ]"
check "the same enrollment code now gets its certificate" enroll dev2
check "... which chains to the CA" bash -c "openssl verify -CAfile '$ca' '$work/dev2.pem' >/dev/null"
check "... and is the only certificate of dev2 in the store" \
  test "$(ctl cert list 2>/dev/null | grep -c 'CN=dev2')" -eq 1
it_finish
