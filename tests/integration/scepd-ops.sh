#!/usr/bin/env bash
# What an operator runs day to day: scepd with log_format = json (every line of its log
# parses as JSON, tricky client input included), `scepctl db backup` while scepd issues
# certificates (the copy passes integrity_check and holds what was issued before it
# began; an existing file is never overwritten; the copy is 0600), and --version.
#
# usage: scepd-ops.sh SCEPD SCEPCTL SCEP
set -u
SCEPD=$1
SCEPCTL=$2
SCEP=$3
for tool in openssl curl python3; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done

. "$(dirname "$0")/lib.sh"
it_init ops

cat >"$work/scepd.conf" <<CONF
listen = 127.0.0.1:0
database = sqlite:$work/scepd.db
state_dir = $work/state
threads = 4
log_format = json
admin_listen = 127.0.0.1:0
admin_token = ops-Admin-Token-1
CONF
ctl ca init --name ops --subject "CN=Ops CA,O=scepd" --key rsa:2048 >"$work/ctl.log" 2>&1 ||
  { cat "$work/ctl.log"; echo "FAIL: ca init"; exit 1; }
N=8
for i in $(seq 1 $N); do
  ctl ee add --username "dev-$i" --password "code-$i" --dn "CN=dev-$i" >>"$work/ctl.log" 2>&1 ||
    { cat "$work/ctl.log"; echo "FAIL: ee add"; exit 1; }
done
ca=$work/state/cas/ops/ca.pem

# ---- --version ------------------------------------------------------------------------
check "scepd --version prints its version" \
  bash -c "'$SCEPD' --version | grep -Eq '^scepd [0-9]+\.[0-9]+\.[0-9]+'"
check "scepctl --version prints the same version" \
  test "$("$SCEPCTL" --version | cut -d' ' -f2)" = "$("$SCEPD" --version | cut -d' ' -f2)"

it_start_scepd || exit 1
URL=http://127.0.0.1:$port/scep/pkiclient.exe

enroll() { # enroll I
  "$SCEP" enroll -u "$URL" -c "$ca" -k "$work/dev-$1.key" --key-type ec:P-256 \
    --subject "CN=dev-$1" --challenge "code-$1" -l "$work/dev-$1.pem" >"$work/enroll-$1.log" 2>&1
}

# ---- a backup while scepd issues ------------------------------------------------------
for i in 1 2 3; do enroll "$i"; done
(for i in $(seq 4 $N); do enroll "$i"; done) &
enrolling=$!
# Everything a client holds before the backup begins must be in the copy.
before=$(cd "$work" && ls dev-*.pem | sed 's/\.pem$//' | sort)
ctl db backup "$work/backup.db" >"$work/backup.log" 2>&1
backup_rc=$?
wait "$enrolling"
check "scepctl db backup succeeds while scepd enrolls" test "$backup_rc" -eq 0
check "the backup is 0600" test "$(stat -c %a "$work/backup.db")" = 600
check "the backup passes PRAGMA integrity_check" \
  test "$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0])' "$work/backup.db")" = ok
in_backup=$(python3 -c 'import sqlite3,sys; [print(r[0]) for r in sqlite3.connect(sys.argv[1]).execute("SELECT username FROM certificates")]' "$work/backup.db" | sort)
missing=$(comm -23 <(echo "$before") <(echo "$in_backup"))
check "the backup holds the $(echo "$before" | wc -l) certificates issued before it began" \
  test -z "$missing"
check "all $N enrollments succeeded" test "$(ls "$work"/dev-*.pem | wc -l)" -eq "$N"
cp "$work/backup.db" "$work/backup.copy"
ctl db backup "$work/backup.db" >"$work/backup2.log" 2>&1
rc=$?
check "db backup refuses an existing file, and leaves it alone" \
  bash -c "[ $rc -ne 0 ] && grep -q 'already exists' '$work/backup2.log' && cmp -s '$work/backup.db' '$work/backup.copy'"
check "scepctl reads the backup as a store" \
  bash -c "printf 'database = sqlite:%s\n' '$work/backup.db' >'$work/backup.conf' && '$SCEPCTL' --config '$work/backup.conf' cert list | grep -q dev-1"

# ---- db check, db copy (moving an installation to another store) ----------------------
ctl db check >"$work/check.log" 2>&1
check "db check: consistent, audit chain intact" \
  bash -c "[ $? -eq 0 ] && grep -q 'database: consistent' '$work/check.log' && grep -q 'audit trail: intact' '$work/check.log'"
ctl db copy --to "sqlite:$work/moved.db" >"$work/copy.log" 2>&1
check "db copy into a new store" bash -c "[ $? -eq 0 ] && grep -q 'certificates .* $N rows' '$work/copy.log'"
printf 'database = sqlite:%s\n' "$work/moved.db" >"$work/moved.conf"
check "the copy passes db check" "$SCEPCTL" --config "$work/moved.conf" db check
check "the copy holds every certificate" \
  test "$("$SCEPCTL" --config "$work/moved.conf" cert list | grep -c 'dev-')" -eq "$N"
ctl db copy --to "sqlite:$work/moved.db" >"$work/copy2.log" 2>&1
check "db copy refuses a store that is not empty" \
  bash -c "[ $? -ne 0 ] && grep -q 'not empty' '$work/copy2.log'"

# ---- input that the text log must quote, then every line as JSON --------------------
curl -s -o /dev/null "$URL?operation=x%22y%5Cz%1b%20w=1"
curl -s -o /dev/null "http://127.0.0.1:$port/scep/no%20such%22alias/pkiclient.exe?operation=GetCACaps"
"$SCEP" enroll -u "$URL" -c "$ca" -k "$work/odd.key" --key-type ec:P-256 \
  --subject 'CN=odd \"user\" a=b' --challenge wrong -l "$work/odd.pem" >/dev/null 2>&1
# The admin API's JSON (jansson's wiping allocator) beside JSON logging: requests without
# and with credentials, then more log lines, must leave scepd running.
aport=$(sed -n 's/.*"event":"admin_listening".*"port":"\([0-9]*\)".*/\1/p' "$work/scepd.log" | head -1)
for _ in 1 2 3; do
  curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$aport/admin/api/requests"
done
curl -s -o /dev/null --max-time 5 -H "Authorization: Bearer ops-Admin-Token-1" \
  "http://127.0.0.1:$aport/admin/api/requests?status=pending"
enroll 1
check "the admin API (401 and 200) beside the JSON log: scepd still runs and answers" \
  bash -c "[ -n '$aport' ] && kill -0 $scepd_pid && [ \"\$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 'http://127.0.0.1:$aport/admin/api/requests')\" = 401 ]"
kill -HUP "$scepd_pid"
sleep 0.5
kill "$scepd_pid" && wait "$scepd_pid"
scepd_pid=
check "every line of scepd's log is a JSON object with time, level and event" \
  python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert isinstance(o, dict) and "time" in o and "level" in o and "event" in o, line
    n += 1
assert n >= 20, n
' "$work/scepd.log"
check "a request line carries its fields as JSON strings" \
  python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
reqs = [o for o in lines if o.get("event") == "request" and o.get("operation") == "PKIOperation"]
assert reqs and all(o["outcome"] and o["http_status"] and o["transaction_id"] for o in reqs)
assert any(o["event"] == "stopped" for o in lines)
' "$work/scepd.log"

it_finish
