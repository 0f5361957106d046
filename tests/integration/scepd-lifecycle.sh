#!/usr/bin/env bash
# scepd as an operator and a scripting user meet it: start-up checks (CA key mode),
# our `scep` CLI for every operation scepd serves, bad input over HTTP, SIGHUP reload of
# aliases written by scepctl, and a clean SIGTERM stop.
#
# usage: scepd-lifecycle.sh SCEPD SCEPCTL SCEP
set -u
SCEPD=$1
SCEPCTL=$2
SCEP=$3
for tool in openssl curl; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done

. "$(dirname "$0")/lib.sh"
it_init life

cat >"$work/scepd.conf" <<CONF
listen = 127.0.0.1:0
database = sqlite:$work/scepd.db
state_dir = $work/state
max_body = 64K
pid_file = $work/scepd.pid
CONF
ctl ca init --name life --subject "CN=Lifecycle CA,O=scepd" --key rsa:2048 >"$work/ctl.log" 2>&1 ||
  { cat "$work/ctl.log"; echo "FAIL: ca init"; exit 1; }
# CA mode issues the registered names: cli-1 is registered with its DNS name.
ctl ee add --username cli-1 --password pw-cli-1 --dn "CN=cli-1,O=Example" --san dns:cli-1.example.com \
  >>"$work/ctl.log" 2>&1
ctl ee add --username cli-2 --password pw-cli-2 --dn CN=cli-2 >>"$work/ctl.log" 2>&1
key=$work/state/cas/life/ca.key
ca=$work/state/cas/life/ca.pem

# ---- the CA key must be 0600 and ours --------------------------------------------------
it_prepare_scepd
chmod 0644 "$key"
"$SCEPD" --config "$work/scepd.conf" --check >"$work/check.log" 2>&1
rc=$?
check "scepd refuses a group/world-readable CA key, naming the file" \
  bash -c "[ $rc -ne 0 ] && grep -q '$key' '$work/check.log'"
chmod 0600 "$key"
check "scepd --check accepts the configuration once the key is 0600" it_scepd_check

it_start_scepd || exit 1
URL=http://127.0.0.1:$port/scep/pkiclient.exe

# ---- our client against scepd ---------------------------------------------------------
fp=$(openssl x509 -in "$ca" -noout -fingerprint -sha256 | cut -d= -f2)
check "scep getcaps" bash -c "'$SCEP' getcaps -u '$URL' | grep -q SCEPStandard"
check "scep getca with the right fingerprint" \
  "$SCEP" getca -u "$URL" -c "$work/getca.pem" --fingerprint "$fp"
"$SCEP" getca -u "$URL" -c "$work/wrong.pem" --fingerprint "00:${fp:3}" >/dev/null 2>&1
check "scep getca with a wrong fingerprint exits 80" test $? -eq 80
check "scep enroll (RSA, one step)" \
  "$SCEP" enroll -u "$URL" -c "$ca" -k "$work/cli-1.key" --subject "CN=cli-1,O=Example" \
  --san dns:cli-1.example.com,dns:other.example.com --challenge pw-cli-1 -r "$work/cli-1.csr" \
  -l "$work/cli-1.pem"
check "issued certificate verifies and carries the registered SAN" \
  bash -c "openssl verify -CAfile '$ca' '$work/cli-1.pem' >/dev/null && openssl x509 -in '$work/cli-1.pem' -noout -ext subjectAltName | grep -q DNS:cli-1.example.com"
check "... and not the unregistered name the CSR asked for" \
  bash -c "! openssl x509 -in '$work/cli-1.pem' -noout -ext subjectAltName | grep -q other.example.com"
# One DN syntax: openssl prints --subject back in the same RFC 4514 text, and the encoding
# order is O then CN, as openssl's own -subj "/O=Example/CN=cli-1" makes it.
check "openssl reads the CSR subject as the RFC 4514 text given to --subject" \
  test "$(openssl req -in "$work/cli-1.csr" -noout -subject -nameopt RFC2253)" = "subject=CN=cli-1,O=Example"
check "the CSR subject is encoded O first, then CN" \
  test "$(openssl req -in "$work/cli-1.csr" -noout -subject -nameopt compat)" = "subject=/O=Example/CN=cli-1"
check "the certificate carries the registered subject, as scepctl parsed it" \
  test "$(openssl x509 -in "$work/cli-1.pem" -noout -subject -nameopt RFC2253)" = "subject=CN=cli-1,O=Example"
check "scep enroll (EC P-384, GET form)" \
  "$SCEP" enroll -u "$URL" -c "$ca" -k "$work/cli-2.key" --key-type ec:P-384 --force-get \
  --subject CN=cli-2 --challenge pw-cli-2 -l "$work/cli-2.pem"
"$SCEP" enroll -u "$URL" -c "$ca" -k "$work/cli-2b.key" --subject CN=cli-2 \
  --challenge pw-cli-2 -l "$work/cli-2b.pem" >/dev/null 2>&1
check "a spent code exits 72 (badRequest)" test $? -eq 72
serial=$(openssl x509 -in "$work/cli-1.pem" -noout -serial | cut -d= -f2)
check "scep getcert returns the certificate by serial" \
  bash -c "'$SCEP' getcert -u '$URL' -c '$ca' -k '$work/cli-1.key' -l '$work/cli-1.pem' --serial $serial -w '$work/got.pem' && cmp <(openssl x509 -in '$work/got.pem' -outform DER) <(openssl x509 -in '$work/cli-1.pem' -outform DER)"
"$SCEP" getcert -u "$URL" -c "$ca" -k "$work/cli-1.key" -l "$work/cli-1.pem" --serial 0BADBEEF \
  -w "$work/none.pem" >/dev/null 2>&1
check "scep getcert of an unknown serial exits 74 (badCertId)" test $? -eq 74
check "scep getcrl returns a CRL that verifies against the CA" \
  bash -c "'$SCEP' getcrl -u '$URL' -c '$ca' -k '$work/cli-1.key' -l '$work/cli-1.pem' -w '$work/crl.pem' && openssl crl -in '$work/crl.pem' -CAfile '$ca' -noout 2>&1 | grep -q 'verify OK'"

# ---- bad input keeps the server serving --------------------------------------------------
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
head -c 200000 /dev/urandom >"$work/big.bin"
check "oversized body gets 413" test "$(code --data-binary @"$work/big.bin" "$URL?operation=PKIOperation")" = 413
check "garbage body gets 400" test "$(code --data-binary 'garbage' "$URL?operation=PKIOperation")" = 400
check "base64 garbage in GET gets 400" test "$(code "$URL?operation=PKIOperation&message=@@@@")" = 400
check "unknown operation gets 400" test "$(code "$URL?operation=Frobnicate")" = 400
check "still serving" test "$(code "$URL?operation=GetCACaps")" = 200

# ---- SIGHUP reloads aliases that scepctl wrote ----------------------------------------
check "alias 'routers' unknown before the reload" \
  test "$(code "http://127.0.0.1:$port/scep/routers/pkiclient.exe?operation=GetCACaps")" = 404
ctl alias set routers includeca=false usernamefield=CN,serialNumber >>"$work/ctl.log" 2>&1
it_prepare_scepd
kill -HUP "$(cat "$work/scepd.pid")"
ok=1
for _ in $(seq 1 50); do
  [ "$(code "http://127.0.0.1:$port/scep/routers/pkiclient.exe?operation=GetCACaps")" = 200 ] && { ok=0; break; }
  sleep 0.1
done
check "after SIGHUP the new alias serves" test $ok -eq 0
printf 'bogus_key = 1\n' >>"$work/scepd.conf"
it_hup
sleep 0.5
check "a broken configuration on reload is logged and the old one keeps serving" \
  bash -c "grep -q 'event=reload_failed' '$work/scepd.log' && [ \"\$(curl -s -o /dev/null -w '%{http_code}' 'http://127.0.0.1:$port/scep/routers/pkiclient.exe?operation=GetCACaps')\" = 200 ]"

# ---- SIGTERM stops cleanly ---------------------------------------------------------------
kill -TERM "$scepd_pid"
wait "$scepd_pid"
rc=$?
scepd_pid=
check "SIGTERM: exit 0 and a 'stopped' log line" \
  bash -c "[ $rc -eq 0 ] && grep -q 'event=stopped' '$work/scepd.log'"
check "no enrollment code in the log" bash -c "! grep -q 'pw-cli' '$work/scepd.log'"

it_finish
