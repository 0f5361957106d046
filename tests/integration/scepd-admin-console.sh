#!/usr/bin/env bash
# The admin web console (/admin/) in a real browser: scepd with an `approval = manual`
# alias and the admin listener on loopback; our `scep` client's enrollment is held
# PENDING; headless Chromium, driven over the DevTools protocol by
# scepd-admin-console.py, opens the console, logs in by typing the bearer token, sees the
# request in the pending view and clicks Approve; `scep poll` then gets the certificate.
# A second request is rejected with a typed reason, which its poll reads; a certificate
# is revoked and lands on the CRL; an end entity is added and its code shown once.
# The browser also finds the certificate by subject, shows a stored name holding markup
# as text, reads the audit and CA views, and logs in again through HTTP Basic; a script
# error or a CSP violation fails the test.
# curl checks the headers and the cross-origin refusal.
#
# A screenshot of the pending view lands in SCREENSHOT_DIR (ctest: the build directory; else
# the work directory, kept with KEEP_WORK=1); with SCEP_UPDATE_DOCS=1 also in
# docs/admin-console.png.
#
# usage: scepd-admin-console.sh SCEPD SCEPCTL SCEP SOURCE_DIR
set -u
SCEPD=$1
SCEPCTL=$2
SCEP=$3
SOURCE_DIR=$4
command -v openssl >/dev/null || { echo "SKIP: openssl is not installed"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }
CHROMIUM=$(command -v chromium || command -v chromium-browser) ||
  { echo "SKIP: chromium is not installed (scripts/install-deps.sh test)"; exit 77; }
# Debian's python3-websocket is installed for Debian's python3, which may not be the
# first python3 on PATH.
PYTHON=
for candidate in python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import websocket' 2>/dev/null; then
    PYTHON=$candidate
    break
  fi
done
[ -n "$PYTHON" ] || { echo "SKIP: python3-websocket is not installed (scripts/install-deps.sh test)"; exit 77; }

. "$(dirname "$0")/lib.sh"
it_init admin-console

TOKEN=console-t0ken-$RANDOM$RANDOM
cat >"$work/scepd.conf" <<CONF
listen = 127.0.0.1:0
database = sqlite:$work/scepd.db
state_dir = $work/state
admin_listen = 127.0.0.1:0
admin_token = $TOKEN
admin_user = ops
admin_password = console-pass-1
manual.approval = manual
manual.pendingexpiry = 1h
manual.defaultca = cons
CONF
ctl ca init --name cons --subject "CN=Console CA,O=scepd" --key rsa:2048 >"$work/ctl.log" 2>&1 ||
  { cat "$work/ctl.log"; echo "FAIL: ca init"; exit 1; }
for user in kiosk-7 kiosk-8 kiosk-9; do
  ctl ee add --username "$user" --password "pw-$user" --dn "CN=$user,O=Console Test" --ca cons \
    --alias manual >>"$work/ctl.log" 2>&1 || { cat "$work/ctl.log"; echo "FAIL: ee add"; exit 1; }
done
ca=$work/state/cas/cons/ca.pem

it_start_scepd || exit 1
aport=
for _ in $(seq 1 50); do
  aport=$(sed -n 's/.*event=admin_listening .* port=\([0-9]*\).*/\1/p' "$work/scepd.log" | head -1)
  [ -n "$aport" ] && break
  sleep 0.1
done
[ -n "$aport" ] || { cat "$work/scepd.log"; echo "FAIL: no admin listener"; exit 1; }
URL=http://127.0.0.1:$port/scep/manual/pkiclient.exe
ADMIN=http://127.0.0.1:$aport

# get PATH [CURL ARGS]: the status; headers in $work/headers.txt, body in $work/body.
get() {
  local path=$1
  shift
  curl -sS --max-time 10 -o "$work/body" -D "$work/headers.txt" -w '%{http_code}' "$@" \
    "$ADMIN$path"
}
header() { grep -qi "^$1: $2"$'\r'"\?$" "$work/headers.txt"; }
json_error() { # json_error CODE: the last body is {"error": CODE, "message": ...}
  "$PYTHON" -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(not (d["error"] == sys.argv[2] and d["message"]))' \
    "$work/body" "$1"
}
CSP="default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

# ---- the page and its headers, without credentials ------------------------------------
code=$(get /admin/)
check "GET /admin/ without credentials: 200" test "$code" = 200
check "... text/html" header Content-Type 'text/html; charset=utf-8'
check "... Content-Security-Policy without inline script or style" header Content-Security-Policy "$CSP"
check "... X-Frame-Options: DENY" header X-Frame-Options DENY
check "... X-Content-Type-Options: nosniff" header X-Content-Type-Options nosniff
check "... Referrer-Policy: no-referrer" header Referrer-Policy no-referrer
check "... Cache-Control: no-store" header Cache-Control no-store
check "... the page has no inline script or style" \
  bash -c "! grep -Eiq '<script>|<script [^>]*>[^<]|<style|style=| on[a-z]+=' '$work/body'"
code=$(get /admin/console.js)
check "GET /admin/console.js: 200 text/javascript" \
  bash -c "test '$code' = 200 && grep -qi '^Content-Type: text/javascript' '$work/headers.txt'"
check "... builds the page without innerHTML" bash -c "! grep -q 'innerHTML\|outerHTML\|insertAdjacentHTML\|document.write' '$work/body'"
code=$(get /admin/console.css)
check "GET /admin/console.css: 200 text/css" \
  bash -c "test '$code' = 200 && grep -qi '^Content-Type: text/css' '$work/headers.txt'"
code=$(get /admin/nothing)
check "an unknown file without credentials: 401" test "$code" = 401
check "no login events for the console's files" \
  bash -c "test \"\$('$SCEPCTL' --config '$work/scepd.conf' audit list 2>/dev/null | grep -c admin_login)\" -eq 1"

# ---- the API: credentials, cache, cross-origin changes --------------------------------
code=$(get /admin/api/requests)
check "the API without credentials: 401" bash -c "test '$code' = 401"
check "... a JSON error" json_error unauthenticated
check "... offering Basic on a line of its own (the browser's prompt)" \
  header WWW-Authenticate 'Basic realm="scepd admin", charset="UTF-8"'
check "... and Bearer" header WWW-Authenticate 'Bearer realm="scepd admin"'
code=$(get /admin/api/requests -H "Authorization: Bearer $TOKEN")
check "the API with the token: 200, Cache-Control: no-store" \
  bash -c "test '$code' = 200 && grep -qi '^Cache-Control: no-store' '$work/headers.txt'"
check "... and the CSP" header Content-Security-Policy "$CSP"
JSON=(-H 'Content-Type: application/json' -H "Authorization: Bearer $TOKEN")
code=$(get /admin/api/endentities -X POST "${JSON[@]}" -H 'Origin: http://evil.example' \
  --data '{"username": "forged", "dn": "CN=forged"}')
check "a POST from another origin (Origin: http://evil.example): 403" test "$code" = 403
check "... a JSON error" json_error forbidden
code=$(get /admin/api/endentities -X POST "${JSON[@]}" -H 'Sec-Fetch-Site: cross-site' \
  --data '{"username": "forged", "dn": "CN=forged"}')
check "a POST with Sec-Fetch-Site: cross-site: 403" test "$code" = 403
code=$(get /admin/api/endentities/kiosk-7 -X DELETE -H "Authorization: Bearer $TOKEN" \
  -H 'Origin: null')
check "a DELETE from an opaque origin (Origin: null): 403" test "$code" = 403
code=$(get "/admin/challenge?alias=manual" -H "Authorization: Bearer $TOKEN" \
  -H 'Sec-Fetch-Site: cross-site')
check "GET /admin/challenge from another site (it stores a challenge): 403" test "$code" = 403
check "... nothing was added" \
  bash -c "! '$SCEPCTL' --config '$work/scepd.conf' ee show --username forged >/dev/null 2>&1"
# A name holding markup: the console must show it as text (checked in the browser).
MARKUP='<img src=x onerror=window.pwned=1>'
code=$(get /admin/api/endentities -X POST "${JSON[@]}" -H "Origin: $ADMIN" -H 'Sec-Fetch-Site: same-origin' \
  --data "{\"username\": \"$MARKUP\", \"dn\": \"CN=markup\", \"password\": \"pw-markup-1\"}")
check "a POST from the console's own origin: 201" test "$code" = 201

# ---- held enrollments: kiosk-7 to approve, kiosk-8 to reject in the browser; kiosk-9
# approved here, for the browser to revoke ------------------------------------------------
for user in kiosk-7 kiosk-8 kiosk-9; do
  timeout 60 "$SCEP" enroll -u "$URL" -c "$ca" -k "$work/$user.key" \
    --subject "CN=$user,O=Console Test" --challenge "pw-$user" -l "$work/$user.pem" -t 1 -n 1 \
    >"$work/$user-enroll.log" 2>&1
  check "scep enroll of $user is held pending (exit 3)" test $? -eq 3
done
code=$(get "/admin/api/requests?status=pending" -H "Authorization: Bearer $TOKEN")
id9=$("$PYTHON" -c 'import json, sys; print([r["id"] for r in json.load(open(sys.argv[1]))["requests"] if r["subject"].startswith("CN=kiosk-9")][0])' "$work/body")
code=$(get "/admin/api/requests/$id9/approve" -X POST "${JSON[@]}")
check "kiosk-9 approved through the API" test "$code" = 200
timeout 60 "$SCEP" poll -u "$URL" -c "$ca" -k "$work/kiosk-9.key" -l "$work/kiosk-9.pem" -t 1 -n 3 \
  >"$work/kiosk-9-poll.log" 2>&1
check "... and its certificate fetched" test $? -eq 0

# ---- the browser --------------------------------------------------------------------------
shot_dir=${SCREENSHOT_DIR:-$work}
shots=(--screenshot "$shot_dir/admin-console.png")
[ "${SCEP_UPDATE_DOCS:-0}" = 1 ] && shots+=(--screenshot "$SOURCE_DIR/docs/admin-console.png")
mkdir -p "$work/chromium"
timeout 180 "$PYTHON" "$(dirname "$0")/scepd-admin-console.py" --chromium "$CHROMIUM" \
  --profile "$work/chromium" --url "$ADMIN" --token "$TOKEN" --basic ops:console-pass-1 \
  --subject "CN=kiosk-7,O=Console Test" --reject "CN=kiosk-8,O=Console Test" --revoke kiosk-9 \
  --markup "$MARKUP" "${shots[@]}" >"$work/browser.log" 2>&1
browser=$?
cat "$work/browser.log"
check "the console in Chromium: every step passed" test "$browser" -eq 0
check "the screenshot was written" test -s "$shot_dir/admin-console.png"

# ---- the clients get what the browser decided ----------------------------------------------
timeout 60 "$SCEP" poll -u "$URL" -c "$ca" -k "$work/kiosk-7.key" -l "$work/kiosk-7.pem" -t 1 -n 3 \
  >"$work/kiosk-7-poll.log" 2>&1
check "scep poll of the approved request gets the certificate (exit 0)" test $? -eq 0
check "... which verifies against the CA" \
  bash -c "openssl verify -CAfile '$ca' '$work/kiosk-7.pem' >/dev/null"
timeout 60 "$SCEP" poll -u "$URL" -c "$ca" -k "$work/kiosk-8.key" -l "$work/kiosk-8.pem" -t 1 -n 3 \
  >"$work/kiosk-8-poll.log" 2>&1
check "scep poll of the rejected request exits 72" test $? -eq 72
check "... with the reason typed in the browser" grep -q "not in the inventory" "$work/kiosk-8-poll.log"
serial9=$(openssl x509 -in "$work/kiosk-9.pem" -noout -serial | cut -d= -f2)
check "the certificate revoked in the browser is on the CA's CRL" \
  bash -c "'$SCEPCTL' --config '$work/scepd.conf' crl show --ca cons 2>/dev/null | grep -qi '${serial9#0}'"
code=$(get "/admin/api/endentities/kiosk-new" -H "Authorization: Bearer $TOKEN")
check "the end entity added in the browser exists, NEW" \
  bash -c "test '$code' = 200 && grep -q '\"status\":\"NEW\"' '$work/body'"
check "the audit trail names the token admin for the approval" \
  bash -c "'$SCEPCTL' --config '$work/scepd.conf' audit list 2>/dev/null | grep request_approve | grep -q 'scepd:admin:token'"
check "the token is never in scepd's log" bash -c "! grep -q '$TOKEN' '$work/scepd.log'"

it_finish
