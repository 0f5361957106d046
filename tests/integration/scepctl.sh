#!/usr/bin/env bash
# scepctl end to end: every command against a fresh config and SQLite store, and
# `scepd --check` on the result, which proves scepctl writes what scepd reads.
# usage: scepctl.sh SCEPCTL SCEPD TESTS_DIR
set -euo pipefail
scepctl_bin=$1
scepd_bin=$2
tests_dir=$3

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
conf=$dir/scepd.conf
cat >"$conf" <<EOF
# written by tests/integration/scepctl.sh
database = sqlite:$dir/scepd.db
state_dir = $dir/state
pid_file = $dir/scepd.pid
EOF
chmod 640 "$conf"
# scepd refuses root without `user =` (docs/operations.md): as root, --check runs as
# nobody, which must then own what scepctl (run as root) wrote.
scepd_check() {
  if [ "$(id -u)" = 0 ]; then
    grep -q '^user *=' "$conf" || printf 'user = nobody\n' >>"$conf"
    chown -R nobody: "$dir"
  fi
  "$scepd_bin" --config "$conf" --check
}

failures=0
step=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
# expect CODE CMD...: runs scepctl with the config, output in $dir/out and $dir/err.
expect() {
  local want=$1; shift
  step=$((step + 1))
  local got=0
  "$scepctl_bin" --config "$conf" "$@" >"$dir/out" 2>"$dir/err" || got=$?
  if [ "$got" != "$want" ]; then
    fail "scepctl $* exited $got, expected $want"
    sed 's/^/  out: /' "$dir/out" >&2; sed 's/^/  err: /' "$dir/err" >&2
  fi
}
contains() { grep -qF -- "$2" "$dir/$1" || fail "step $step: $1 lacks \"$2\": $(head -c 400 "$dir/$1")"; }
lacks() { ! grep -qF -- "$2" "$dir/$1" || fail "step $step: $1 contains \"$2\""; }

# ---- help and usage ------------------------------------------------------------------------
"$scepctl_bin" --help >"$dir/out" || fail "scepctl --help"
contains out "usage: scepctl"
for group in ca ee cert alias audit; do
  "$scepctl_bin" "$group" --help >"$dir/out" || fail "scepctl $group --help"
  contains out "commands:"
done
for cmd in "ca init" "ca import" "ca list" "ca show" "ee add" "ee list" "ee show" "ee set" "ee reset" \
           "ee remove" "cert list" "cert show" "alias list" "alias show" "alias set" \
           "alias remove" "alias upload" "audit list" "audit verify"; do
  # shellcheck disable=SC2086
  "$scepctl_bin" $cmd --help >"$dir/out" || fail "scepctl $cmd --help exited non-zero"
  contains out "usage: scepctl [--config FILE] $cmd"
done
rc=0; "$scepctl_bin" --config "$conf" ca frobnicate >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "unknown command exited $rc, expected 2"
rc=0; "$scepctl_bin" --config "$conf" frobnicate list >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "unknown group exited $rc, expected 2"
expect 2 ca init --name X
contains err "--subject DN is required"
expect 2 ee list --bogus
contains err "scepctl: ee list: unknown option --bogus"
# Without --config the default is used only when it exists.
if [ ! -e /etc/scepd/scepd.conf ]; then
  rc=0; "$scepctl_bin" ca list >/dev/null 2>"$dir/err" || rc=$?
  [ "$rc" = 2 ] || fail "missing default config exited $rc, expected 2"
  contains err "pass --config FILE"
fi

# ---- ca ---------------------------------------------------------------------------------------
expect 0 cert list
expect 0 ca init --name Demo --subject "CN=Demo CA,O=Example" --key rsa:2048 --days 30
contains out "SHA-256:"
contains out "SHA-1:"
contains out "CN=Demo CA,O=Example"
key=$dir/state/cas/Demo/ca.key
cert=$dir/state/cas/Demo/ca.pem
[ "$(stat -c %a "$key")" = 600 ] || fail "key mode is $(stat -c %a "$key"), expected 600"
[ "$(stat -c %a "$dir/state/cas/Demo")" = 700 ] || fail "CA directory is not 0700"
openssl verify -CAfile "$cert" "$cert" >/dev/null || fail "openssl verify of the CA certificate"
text=$(openssl x509 -in "$cert" -noout -text)
for usage in "Digital Signature" "Key Encipherment" "Certificate Sign"; do
  grep -q "$usage" <<<"$text" || fail "keyUsage lacks $usage"
done
fp=$(openssl x509 -in "$cert" -noout -fingerprint -sha256 | cut -d= -f2)
expect 1 ca init --name Demo --subject "CN=Again"
contains err "already exists"
[ "$(stat -c %s "$key")" -gt 0 ] || fail "the existing key was touched"
expect 0 ca list
contains out "Demo"
contains out "$fp"
expect 0 ca show --name Demo
contains out "$fp"
contains out "BEGIN CERTIFICATE"
contains out "Issuer:       CN=Demo CA,O=Example"
expect 1 ca show --name Nope
contains err "no CA Nope"

# ca import: an existing CA whose keyUsage lacks digitalSignature and keyEncipherment.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/old.key" -out "$dir/old.pem" -days 30 \
  -subj "/CN=Old CA" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
expect 0 ca import --name Old --cert "$dir/old.pem" --key "$dir/old.key"
contains err "warning:"
contains err "digitalSignature"
[ "$(stat -c %a "$dir/state/cas/Old/ca.key")" = 600 ] || fail "imported key is not 0600"
expect 2 ca import --name Bad --cert "$dir/old.pem" --key "$dir/old.key" --passin pass:x

# ---- ee ---------------------------------------------------------------------------------------
expect 2 ee add --username dev1 --password pw1 --dn "CN=dev1"
contains err "pass --ca NAME"
expect 0 ee add --username dev1 --password s3cretpw --dn "CN=dev1,O=Example" --ca Demo --profile DEVICE
lacks out "s3cretpw"
expect 2 ee add --username dev2 --password pw --dn "CN=dev2" --ca Demo --profile NOSUCH
contains err "unknown profile"
expect 0 ee add --username dev2 --generate-password --dn "CN=dev2" --ca Demo
contains out "Password: "
expect 1 ee add --username dev1 --password other --dn "CN=dev1" --ca Demo
step=$((step + 1))
echo "from-stdin" | "$scepctl_bin" -c "$conf" ee add --username dev3 --password - --dn CN=dev3 \
  --ca Demo >"$dir/out" 2>&1 || fail "ee add --password -"
lacks out "from-stdin"
expect 0 ee list
contains out "dev1"
contains out "dev3"
expect 0 ee show --username dev1
contains out "DEVICE"
contains out "NEW"
lacks out "s3cretpw"
expect 0 ee set --username dev1 --san "dns:dev1.example,ip:192.0.2.1" --dn "CN=dev1,O=Other"
expect 0 ee show --username dev1
contains out "dns:dev1.example ip:192.0.2.1"
contains out "CN=dev1,O=Other"
contains out "NEW"
expect 1 ee set --username dev1 --san "dns:bad name"
expect 2 ee set --username dev1 --alias nosuch
expect 1 ee set --username nobody --san dns:x.example
expect 0 ee set --username dev1 --san ""
expect 0 ee show --username dev1
contains out "SANs:         -"
expect 0 ee reset --username dev1 --generate-password
contains out "Password: "
expect 2 ee reset --username dev1
expect 0 ee remove --username dev3
expect 1 ee show --username dev3
contains err "no end entity dev3"

# ---- cert -------------------------------------------------------------------------------------
expect 0 cert list --ca Demo --status valid
expect 2 cert list --status bogus
expect 1 cert show --serial 0A1B --ca Demo

# ---- alias ------------------------------------------------------------------------------------
expect 0 alias list
contains out "scep (built-in) (default)"
expect 0 alias set mdm approval=manual ra.authPwd=Top5ecret defaultca=Demo certificateprofile=DEVICE
contains out "A running scepd reloads within 2s (store_poll_interval)"
# With the watcher off, the hint is the signal.
printf 'store_poll_interval = 0\n' >>"$conf"
expect 0 alias set mdm certificateprofile=DEVICE
contains out "kill -HUP \$(cat $dir/scepd.pid)"
sed -i '/^store_poll_interval = 0$/d' "$conf"
[ "$(stat -c %a "$conf")" = 640 ] || fail "alias set changed the config mode"
grep -q "^mdm.ra.authPwd = Top5ecret" "$conf" || fail "the secret is not kept in the file"
expect 0 alias show mdm
contains out "********"
lacks out "Top5ecret"
contains out "DEVICE"
expect 1 alias set mdm threads=4
expect 1 alias set mdm certificateprofile=NOSUCH
contains err "unknown certificate profile"
grep -q "certificateprofile = DEVICE" "$conf" || fail "a refused change was written"
expect 0 alias set scep defaultca=Demo
expect 0 alias set ra1 operationmode=ra
contains err "ra.authPwd is empty"
expect 0 alias show ra1
contains err "ra.authPwd is empty"
expect 0 alias remove ra1
expect 1 alias show ra1
# The file must still parse, and scepd must load every CA and alias from it.
scepd_check >"$dir/out" 2>&1 || fail "scepd --check: $(cat "$dir/out")"
contains out "2 CA(s) and 2 alias(es)"
expect 0 alias upload --alias routers --file "$tests_dir/data/ejbca-scep-alias.properties"
contains err "useIntune"
contains err "ManagementCA"
expect 0 alias show routers
contains out "-router"
lacks out "foo123"
grep -qF 'routers.ra.authPwd = foo123=bar:baz' "$conf" || fail "uploaded secret not in the file"
expect 0 alias remove routers
expect 0 alias remove mdm
expect 1 alias remove mdm
scepd_check >"$dir/out" 2>&1 || fail "scepd --check: $(cat "$dir/out")"

# ---- purge ------------------------------------------------------------------------------------
expect 2 purge
expect 2 purge --before soon
expect 0 purge --before 30d
contains out "0 requests and 0 expired challenges removed"
if command -v python3 >/dev/null; then
  # Old and new finished requests, an old pending one, an expired challenge.
  python3 - "$dir/scepd.db" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
old, now = int(time.time()) - 40 * 86400, int(time.time())
for tid, status, when in (("T-OLD-FAIL", "FAILED", old), ("T-OLD-REJ", "REJECTED", old),
                          ("T-OLD-PEND", "PENDING", old), ("T-NEW-FAIL", "FAILED", now)):
    db.execute("INSERT INTO requests (alias, transaction_id, message_type, public_key_sha256,"
               " status, created_at, updated_at) VALUES ('scep', ?, 19, zeroblob(32), ?, ?, ?)",
               (tid, status, when, when))
db.execute("INSERT INTO challenges (alias, hash, expires_at, created_at)"
           " VALUES ('scep', zeroblob(32), ?, ?)", (old, old))
db.commit()
PY
  expect 0 purge --before 30d
  contains out "2 requests and 1 expired challenge removed"
  left=$(python3 -c "import sqlite3,sys; print(','.join(r[0] for r in sqlite3.connect(sys.argv[1]).execute('SELECT transaction_id FROM requests ORDER BY transaction_id')))" "$dir/scepd.db")
  [ "$left" = "T-NEW-FAIL,T-OLD-PEND" ] || fail "purge left requests $left"
  expect 0 audit list --limit 5
  contains out "purge"
fi

# ---- audit ------------------------------------------------------------------------------------
expect 0 audit list --limit 100
contains out "ee_add"
contains out "head: event "
lacks out "s3cretpw"
expect 0 audit list --since 1h --limit 5
contains out "alias_remove"
expect 0 audit list --since 2000-01-01
expect 2 audit list --since yesterday
contains err "--since yesterday"
expect 0 audit list --json
python3 -m json.tool "$dir/out" >/dev/null || fail "audit list --json is not JSON: $(head -c 400 "$dir/out")"
python3 -c 'import json,sys; e=json.load(open(sys.argv[1])); assert e and all(len(x["hash"]) == 64 for x in e); assert e[0]["prev_hash"] == e[1]["hash"]' \
  "$dir/out" || fail "audit list --json: events or hashes missing"
expect 0 audit verify --print-head
contains out "audit trail intact"
contains out "head: event "
head_line=$(grep '^head: ' "$dir/out")

# Tampering with the store directly is found, and the event named.
if command -v sqlite3 >/dev/null; then
  db=$dir/scepd.db
  sqlite3 "$db" ".backup '$dir/clean.db'"
  restore() { sqlite3 "$db" ".restore '$dir/clean.db'"; }
  sqlite3 "$db" "UPDATE audit_events SET detail = 'nothing to see' WHERE id = 3"
  expect 1 audit verify
  contains err "broken at event 3:"
  contains err "edited"
  restore
  expect 0 audit verify
  sqlite3 "$db" "DELETE FROM audit_events WHERE id = 4"
  expect 1 audit verify
  contains err "broken at event 5:"
  contains err "deleted"
  restore
  sqlite3 "$db" "INSERT INTO audit_events (time, actor, action, outcome) VALUES (1, 'x', 'issue', 'ok')"
  forged=$(sqlite3 "$db" "SELECT max(id) FROM audit_events")
  expect 1 audit verify
  contains err "broken at event $forged:"
  contains err "inserted"
  restore
  expect 0 audit verify --print-head
  contains out "$head_line"
else
  echo "sqlite3 CLI not found: tampering checks skipped" >&2
fi

echo "$step steps, $failures failures"
[ "$failures" = 0 ]
