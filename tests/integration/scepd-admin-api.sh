#!/usr/bin/env bash
# The admin REST API (/admin/api/) end to end: scepd with an `approval = manual` alias
# and the admin listener; our `scep` client's enrollment is held PENDING, the API lists
# it, approves it and `scep poll` gets the certificate; a second one is rejected through
# the API and the poll reads the reason. Every route: success, 401 without and with wrong
# credentials, 404, 405, bad input, 409, 413, 415. Responses are checked against
# docs/admin-api.openapi.json (with python3-jsonschema when installed) and every route of
# src/scepd/front/api.c must appear in it.
#
# usage: scepd-admin-api.sh SCEPD SCEPCTL SCEP SOURCE_DIR
set -u
SCEPD=$1
SCEPCTL=$2
SCEP=$3
SOURCE_DIR=$4
command -v openssl >/dev/null || { echo "SKIP: openssl is not installed"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed"; exit 77; }

. "$(dirname "$0")/lib.sh"
it_init admin-api

TOKEN=api-t0ken-$RANDOM$RANDOM
cat >"$work/scepd.conf" <<CONF
listen = 127.0.0.1:0
database = sqlite:$work/scepd.db
state_dir = $work/state
admin_listen = 127.0.0.1:0
admin_token = $TOKEN
admin_user = ops
admin_password = pass word:1
manual.approval = manual
manual.pendingexpiry = 1h
manual.defaultca = appr
mdm.operationmode = ra
mdm.ra.authPwd = ra-shared-secret-42
mdm.ra.onetimechallenges = accept
mdm.defaultca = appr
CONF
ctl ca init --name appr --subject "CN=API CA,O=scepd" --key rsa:2048 >"$work/ctl.log" 2>&1 ||
  { cat "$work/ctl.log"; echo "FAIL: ca init"; exit 1; }
for user in dev-ok dev-no; do
  ctl ee add --username "$user" --password "pw-$user" --dn "CN=$user" --ca appr \
    --alias manual >>"$work/ctl.log" 2>&1 || { cat "$work/ctl.log"; echo "FAIL: ee add"; exit 1; }
done
ca=$work/state/cas/appr/ca.pem

it_start_scepd || exit 1
aport=
for _ in $(seq 1 50); do
  aport=$(sed -n 's/.*event=admin_listening .* port=\([0-9]*\).*/\1/p' "$work/scepd.log" | head -1)
  [ -n "$aport" ] && break
  sleep 0.1
done
[ -n "$aport" ] || { cat "$work/scepd.log"; echo "FAIL: no admin listener"; exit 1; }
URL=http://127.0.0.1:$port/scep/manual/pkiclient.exe
BASE=http://127.0.0.1:$aport/admin/api

# api METHOD PATH [CURL ARGS]: the bearer token; the body lands in $work/body.json,
# the headers in $work/headers.txt; prints the status.
api() {
  local method=$1 path=$2
  shift 2
  curl -sS --max-time 10 -o "$work/body.json" -D "$work/headers.txt" -w '%{http_code}' \
    -X "$method" -H "Authorization: Bearer $TOKEN" "$@" "$BASE/$path"
}
# As api, with other (or no) credentials: curl's own options only.
api_as() {
  local method=$1 path=$2
  shift 2
  curl -sS --max-time 10 -o "$work/body.json" -D "$work/headers.txt" -w '%{http_code}' \
    -X "$method" "$@" "$BASE/$path"
}
# jget EXPR: a Python expression over the last body `d`.
jget() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$work/body.json" "$1"; }
# is_error STATUS CODE GOT: the status and the JSON error code of the last reply.
is_error() { [ "$3" = "$1" ] && [ "$(jget 'd["error"]')" = "$2" ] && [ -n "$(jget 'd["message"]')" ]; }
# conforms SCHEMA: the last body against components/schemas/SCHEMA, or for KEY:SCHEMA a
# list {"KEY": [SCHEMA]}; true when jsonschema is not installed.
conforms() {
  python3 - "$SOURCE_DIR/docs/admin-api.openapi.json" "$work/body.json" "$1" <<'PY'
import json, sys
try:
    import jsonschema
except ImportError:
    sys.exit(0)
doc = json.load(open(sys.argv[1]))
body = json.load(open(sys.argv[2]))
name = sys.argv[3]
if ":" in name:
    key, name = name.split(":")
    schema = {"type": "object", "required": [key],
              "properties": {key: {"type": "array",
                                   "items": {"$ref": "#/components/schemas/" + name}}}}
else:
    schema = {"$ref": "#/components/schemas/" + name}
def draft(node):
    # OpenAPI 3.0's "nullable" is JSON Schema's type list with "null".
    if isinstance(node, dict):
        if node.pop("nullable", False) and "type" in node:
            node["type"] = [node["type"], "null"]
        for value in node.values():
            draft(value)
    elif isinstance(node, list):
        for value in node:
            draft(value)
schema["components"] = doc["components"]
draft(schema)
jsonschema.validate(body, schema)
PY
}

# ---- authentication ------------------------------------------------------------------
code=$(api_as GET requests)
check "no credentials: 401 unauthenticated" is_error 401 unauthenticated "$code"
check "... with WWW-Authenticate" grep -qi '^WWW-Authenticate: Bearer' "$work/headers.txt"
code=$(api_as GET requests -H "Authorization: Bearer wrong-$TOKEN")
check "wrong token: 401" is_error 401 unauthenticated "$code"
code=$(api_as GET requests -u "ops:wrong")
check "wrong Basic password: 401" is_error 401 unauthenticated "$code"
code=$(api_as GET requests -u "ops:pass word:1")
check "Basic: 200" test "$code" = 200

# ---- the document ----------------------------------------------------------------------
code=$(api GET openapi.json)
check "GET openapi.json: 200" test "$code" = 200
check "... is the document in docs/" \
  python3 -c 'import json, sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' \
  "$work/body.json" "$SOURCE_DIR/docs/admin-api.openapi.json"
check "every route of api.c is in the document" python3 - "$SOURCE_DIR/src/scepd/front/api.c" \
  "$work/body.json" <<'PY'
import json, re, sys
doc = json.load(open(sys.argv[2]))
paths = {re.sub(r"\{[^}]*\}", "*", p): set(ops) for p, ops in doc["paths"].items()}
routes = re.findall(r'\{"(GET|POST|DELETE)", \{([^}]*)\}, \w+\}', open(sys.argv[1]).read())
assert routes, "no routes found in api.c"
missing = []
for method, segments in routes:
    path = "/" + "/".join(s.strip().strip('"') for s in segments.split(","))
    if method.lower() not in paths.get(path, set()):
        missing.append(method + " " + path)
if missing:
    print("not in the OpenAPI document:", missing)
    sys.exit(1)
PY
if python3 -c 'import openapi_spec_validator' 2>/dev/null; then
  check "the document is valid OpenAPI 3" python3 -c \
    'import json, sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1])))' \
    "$work/body.json"
fi

# ---- routing and input ------------------------------------------------------------------
code=$(api GET nothing/here)
check "unknown path: 404 not_found" is_error 404 not_found "$code"
code=$(api GET requests/999999)
check "unknown request: 404" is_error 404 not_found "$code"
code=$(api GET requests/abc)
check "malformed request ID: 404" is_error 404 not_found "$code"
code=$(api POST requests)
check "POST on a GET route: 405" is_error 405 method_not_allowed "$code"
code=$(api GET "requests?status=bogus")
check "status=bogus: 400" is_error 400 bad_request "$code"
code=$(api GET "requests?limit=0")
check "limit=0: 400" is_error 400 bad_request "$code"
code=$(api GET "requests?limit=1001")
check "limit=1001: 400" is_error 400 bad_request "$code"

# ---- approved through the API: enroll pending, list, approve, poll ----------------------
timeout 60 "$SCEP" enroll -u "$URL" -c "$ca" -k "$work/ok.key" --subject CN=dev-ok \
  --challenge pw-dev-ok -l "$work/ok.pem" -t 1 -n 2 >"$work/ok-enroll.log" 2>&1
check "scep enroll exits 3 (pending)" test $? -eq 3
code=$(api GET "requests?status=pending&limit=10")
check "GET requests?status=pending: 200" test "$code" = 200
check "... conforms to the document" conforms requests:Request
id_ok=$(jget '[r["id"] for r in d["requests"] if r.get("subject") == "CN=dev-ok"][0]' 2>/dev/null)
check "... lists the held request" test -n "$id_ok"
check "... with what approval issues" \
  test "$(jget '[r["decided"]["endEntity"] for r in d["requests"] if r["id"] == '"$id_ok"'][0]')" = dev-ok
code=$(api GET "requests/$id_ok")
check "GET requests/ID: 200" test "$code" = 200
check "... conforms to the document" conforms Request
check "... pending, for end entity dev-ok" \
  test "$(jget 'd["status"] + " " + d["decided"]["endEntity"]')" = "pending dev-ok"
code=$(api GET "requests/$id_ok/approve")
check "GET on approve: 405" is_error 405 method_not_allowed "$code"
code=$(api POST "requests/$id_ok/approve" -H 'Content-Type: text/plain' --data '{}')
check "approve with a text/plain body: 415" is_error 415 unsupported_media_type "$code"
code=$(api POST "requests/$id_ok/approve" -H 'Content-Type: application/json' --data '[1')
check "approve with malformed JSON: 400 bad_json" is_error 400 bad_json "$code"
# A browser holding the Basic credentials cannot send an approval cross-site: a POST
# without Content-Type application/json (what a form or a no-cors fetch sends) is refused.
code=$(api_as POST "requests/$id_ok/approve" -u "ops:pass word:1")
check "an approval without Content-Type application/json: 415, nothing approved" \
  is_error 415 unsupported_media_type "$code"
code=$(api_as POST "requests/$id_ok/approve" -u "ops:pass word:1" -H 'Content-Type: text/plain')
check "... nor as text/plain (a simple cross-site request): 415" \
  is_error 415 unsupported_media_type "$code"
code=$(api_as POST "requests/$id_ok/approve" -u "ops:pass word:1" -H 'Content-Type: application/json')
check "POST requests/ID/approve (Basic): 200" test "$code" = 200
check "... conforms to the document" conforms Request
check "... issued, with a serial" test "$(jget 'd["status"] + str(bool(d["serial"]))')" = issuedTrue
serial=$(jget 'd["serial"]')
timeout 60 "$SCEP" poll -u "$URL" -c "$ca" -k "$work/ok.key" -l "$work/ok.pem" -t 1 -n 3 \
  >"$work/ok-poll.log" 2>&1
check "scep poll gets the certificate (exit 0)" test $? -eq 0
check "the certificate verifies against the CA" \
  bash -c "openssl verify -CAfile '$ca' '$work/ok.pem' >/dev/null"
check "... and is the serial the API returned" \
  bash -c "openssl x509 -in '$work/ok.pem' -noout -serial | grep -qi '=0*${serial#0}$'"
code=$(api POST "requests/$id_ok/approve" -H 'Content-Type: application/json')
check "approving it again: 409 conflict" is_error 409 conflict "$code"
check "the audit trail names the Basic admin" \
  bash -c "'$SCEPCTL' --config '$work/scepd.conf' audit list 2>/dev/null | grep request_approve | grep -q 'scepd:admin:basic'"

# ---- certificates ---------------------------------------------------------------------
code=$(api_as GET certificates)
check "certificates without credentials: 401" is_error 401 unauthenticated "$code"
code=$(api GET certificates)
check "GET certificates: 200" test "$code" = 200
check "... conforms to the document" conforms certificates:Certificate
check "... lists the approved certificate" \
  test "$(jget "[c['status'] for c in d['certificates'] if c['serial'] == '$serial'][0]")" = valid
code=$(api GET "certificates?subject=dev-OK&status=valid&ca=appr&limit=5")
check "subject (any case), status and ca filters: the one certificate" \
  test "$code:$(jget 'len(d["certificates"])')" = 200:1
code=$(api GET "certificates?subject=nobody")
check "a subject nothing has: none" test "$code:$(jget 'len(d["certificates"])')" = 200:0
code=$(api GET "certificates?serial=${serial:2:6}")
check "part of the serial finds it" test "$code:$(jget 'd["certificates"][0]["serial"]')" = "200:$serial"
code=$(api GET "certificates?status=bogus")
check "status=bogus: 400" is_error 400 bad_request "$code"
code=$(api GET "certificates/$serial")
check "GET certificates/SERIAL: 200" test "$code" = 200
check "... conforms to the document" conforms Certificate
check "... subject, issuer and validity decoded" \
  test "$(jget 'd["subject"] + "|" + str("CN=API CA" in d["issuer"]) + "|" + str(bool(d["notAfter"]))')" = \
  "CN=dev-ok|True|True"
jget 'd["pem"]' >"$work/api-cert.pem"
check "... its PEM is the certificate the client got" \
  bash -c "cmp <(openssl x509 -in '$work/api-cert.pem' -outform DER) <(openssl x509 -in '$work/ok.pem' -outform DER)"
code=$(api GET "certificates/appr/$(echo "$serial" | tr 'A-F' 'a-f')")
check "GET certificates/CA/serial (lower case): 200" test "$code:$(jget 'd["serial"]')" = "200:$serial"
code=$(api GET "certificates/nosuchca/$serial")
check "an unknown CA: 404" is_error 404 not_found "$code"
code=$(api GET "certificates/7F7F7F7F7F7F")
check "an unknown serial: 404" is_error 404 not_found "$code"
code=$(api GET "certificates/not-hex")
check "not a serial: 404" is_error 404 not_found "$code"
code=$(api GET "certificates/$serial/revoke")
check "GET on revoke: 405" is_error 405 method_not_allowed "$code"
code=$(api POST "certificates/$serial/revoke" -H 'Content-Type: application/json')
check "revoke without a body: 400" is_error 400 bad_request "$code"
code=$(api POST "certificates/$serial/revoke" -H 'Content-Type: application/json' \
  --data '{"reason": "lostIt"}')
check "revoke with an unknown reason: 400" is_error 400 bad_request "$code"
code=$(api POST "certificates/$serial/revoke" --data 'reason=keyCompromise')
check "revoke with a form body: 415" is_error 415 unsupported_media_type "$code"
code=$(api POST "certificates/7F7F7F7F7F7F/revoke" -H 'Content-Type: application/json' \
  --data '{"reason": "keyCompromise"}')
check "revoke an unknown serial: 404" is_error 404 not_found "$code"
code=$(api POST "certificates/appr/$serial/revoke" -H 'Content-Type: application/json' \
  --data '{"reason": "keyCompromise"}')
check "POST certificates/CA/SERIAL/revoke: 200" test "$code" = 200
check "... conforms to the document" conforms Certificate
check "... revoked, keyCompromise, with the new CRL's number" \
  test "$(jget 'd["status"] + " " + d["revocationReason"] + " " + str(d["crlNumber"] > 0)')" = \
  "revoked keyCompromise True"
code=$(api POST "certificates/$serial/revoke" -H 'Content-Type: application/json' \
  --data '{"reason": "superseded"}')
check "revoking it again: 409 conflict" is_error 409 conflict "$code"
check "the end entity is REVOKED (as scepctl cert revoke does)" \
  bash -c "'$SCEPCTL' --config '$work/scepd.conf' ee show --username dev-ok 2>/dev/null | grep -qi 'REVOKED'"
check "the CA's CRL lists it" bash -c "'$SCEPCTL' --config '$work/scepd.conf' crl show --ca appr 2>/dev/null | grep -qi '$serial'"
check "the audit trail names the token admin for the revocation" \
  bash -c "'$SCEPCTL' --config '$work/scepd.conf' audit list 2>/dev/null | grep -w revoke | grep -q 'scepd:admin:token'"

# ---- end entities ---------------------------------------------------------------------
JSON=(-H 'Content-Type: application/json')
code=$(api_as POST endentities "${JSON[@]}" --data '{"username": "x", "dn": "CN=x"}')
check "endentities without credentials: 401" is_error 401 unauthenticated "$code"
code=$(api GET endentities)
check "GET endentities: 200" test "$code" = 200
check "... conforms to the document" conforms endentities:EndEntity
check "... lists dev-no as NEW" \
  test "$(jget "[e['status'] for e in d['endentities'] if e['username'] == 'dev-no'][0]")" = NEW
code=$(api POST endentities "${JSON[@]}" --data '{"username": "api-dev", "dn": "CN=api-dev,O=Example",
  "san": ["dns:api-dev.example", "ip:192.0.2.7"], "ca": "appr", "alias": "manual"}')
check "POST endentities (code generated): 201" test "$code" = 201
check "... conforms to the document" conforms EndEntity
check "... NEW, its SANs canonical" \
  test "$(jget 'd["status"] + " " + ",".join(d["subjectAltNames"])')" = "NEW dns:api-dev.example,ip:192.0.2.7"
generated=$(jget 'd["password"]')
check "... the generated code returned once (20 characters)" test "${#generated}" -eq 20
timeout 60 "$SCEP" enroll -u "$URL" -c "$ca" -k "$work/api.key" --subject CN=api-dev \
  --challenge "$generated" -l "$work/api.pem" -t 1 -n 1 >"$work/api-enroll.log" 2>&1
check "the generated code enrolls (held: exit 3)" test $? -eq 3
code=$(api POST endentities "${JSON[@]}" --data '{"username": "api-dev", "dn": "CN=api-dev", "alias": "manual"}')
check "the same username again: 409 conflict" is_error 409 conflict "$code"
code=$(api POST endentities "${JSON[@]}" --data '{"username": "api-dev2", "dn": "CN=api-dev2",
  "ca": "appr", "alias": "manual", "password": "given-code-1"}')
check "POST endentities with a code: 201, the code not echoed" \
  test "$code:$(jget '"password" in d')" = 201:False
code=$(api POST endentities "${JSON[@]}" --data '{"username": "nodn"}')
check "no dn: 400" is_error 400 bad_request "$code"
code=$(api POST endentities "${JSON[@]}" --data '{"username": "baddn", "dn": "not a dn"}')
check "a malformed dn: 400" is_error 400 bad_request "$code"
code=$(api POST endentities "${JSON[@]}" --data '{"username": "noca", "dn": "CN=x", "ca": "nosuch"}')
check "an unknown CA: 400" is_error 400 bad_request "$code"
code=$(api POST endentities "${JSON[@]}" --data '{"username": "nop", "dn": "CN=x", "profile": "NOSUCH"}')
check "an unknown profile: 400" is_error 400 bad_request "$code"
code=$(api POST endentities "${JSON[@]}" --data '{"username": 7, "dn": "CN=x"}')
check "a number as username: 400" is_error 400 bad_request "$code"
code=$(api POST endentities "${JSON[@]}" --data '{"username": "badsan", "dn": "CN=x", "san": "bogus:x"}')
check "a malformed san: 400" is_error 400 bad_request "$code"
code=$(api DELETE endentities)
check "DELETE on the collection: 405" is_error 405 method_not_allowed "$code"
code=$(api GET endentities/api-dev2)
check "GET endentities/NAME: 200" test "$code:$(jget 'd["username"]')" = 200:api-dev2
code=$(api GET endentities/nobody)
check "an unknown end entity: 404" is_error 404 not_found "$code"
code=$(api POST endentities/api-dev2/reset -H 'Content-Type: application/json')
check "POST endentities/NAME/reset: 200 with a generated code" \
  test "$code:$(jget 'd["status"] + str(len(d["password"]))')" = 200:NEW20
reset_code=$(jget 'd["password"]')
code=$(api POST endentities/api-dev2/reset "${JSON[@]}" --data '{"password": "chosen-2"}')
check "reset with a code: 200, not echoed" test "$code:$(jget '"password" in d')" = 200:False
code=$(api POST endentities/nobody/reset -H 'Content-Type: application/json')
check "reset an unknown end entity: 404" is_error 404 not_found "$code"
code=$(api DELETE endentities/api-dev2)
check "DELETE endentities/NAME: 200" test "$code:$(jget 'd["removed"]')" = 200:api-dev2
code=$(api DELETE endentities/api-dev2)
check "DELETE it again: 404" is_error 404 not_found "$code"
code=$(api POST endentities "${JSON[@]}" --data '{"username": "api dev 3", "dn": "CN=api dev 3",
  "alias": "manual", "password": "p-3"}')
check "a username with spaces: 201" test "$code" = 201
code=$(api DELETE "endentities/api%20dev%203")
check "... addressed percent-encoded in the path" test "$code:$(jget 'd["removed"]')" = "200:api dev 3"
check "the audit trail names the admin for ee_add, ee_reset, ee_remove" \
  bash -c "'$SCEPCTL' --config '$work/scepd.conf' audit list 2>/dev/null | grep -E 'ee_(add|reset|remove)' | grep -c 'scepd:admin:token' | grep -qx 7"
check "generated codes are never in scepd's log" \
  bash -c "! grep -qe '$generated' -e '$reset_code' '$work/scepd.log'"

# ---- challenges, CAs, aliases -----------------------------------------------------------
code=$(api_as POST challenges "${JSON[@]}" --data '{"alias": "mdm"}')
check "challenges without credentials: 401" is_error 401 unauthenticated "$code"
code=$(api POST challenges "${JSON[@]}" --data '{"alias": "mdm", "ttl": 600, "subject": "CN=kiosk-*"}')
check "POST challenges: 201" test "$code" = 201
check "... conforms to the document" conforms Challenge
challenge=$(jget 'd["challenge"]')
check "... 32 hex digits, no warning on an RA alias" \
  test "${#challenge}:$(jget '"warning" in d')" = 32:False
check "... expires in about ten minutes" python3 -c '
import datetime, json, sys
d = json.load(open(sys.argv[1]))
left = datetime.datetime.strptime(d["expires"], "%Y-%m-%dT%H:%M:%SZ").replace(
    tzinfo=datetime.timezone.utc) - datetime.datetime.now(datetime.timezone.utc)
sys.exit(not 540 <= left.total_seconds() <= 610)' "$work/body.json"
code=$(api POST challenges "${JSON[@]}" --data '{"alias": "manual"}')
check "a challenge for a CA-mode alias carries a warning" test "$code:$(jget '"warning" in d')" = 201:True
code=$(api POST challenges "${JSON[@]}" --data '{"alias": "nosuch"}')
check "an unknown alias: 404" is_error 404 not_found "$code"
code=$(api POST challenges "${JSON[@]}" --data '{"alias": "mdm", "ttl": 0}')
check "ttl 0: 400" is_error 400 bad_request "$code"
code=$(api POST challenges "${JSON[@]}" --data '{"alias": "mdm", "ttl": "1h"}')
check "ttl as text: 400" is_error 400 bad_request "$code"
code=$(api POST challenges "${JSON[@]}" --data '{"ttl": 60}')
check "no alias: 400" is_error 400 bad_request "$code"
check "the challenge is never in scepd's log" bash -c "! grep -q '$challenge' '$work/scepd.log'"
check "the audit trail names the admin for challenge_new" \
  bash -c "'$SCEPCTL' --config '$work/scepd.conf' audit list 2>/dev/null | grep challenge_new | grep -q 'scepd:admin:token'"
code=$(api GET cas)
check "GET cas: 200" test "$code" = 200
check "... conforms to the document" conforms cas:Ca
check "... the CA with its expiry and its CRL" \
  test "$(jget '[c["name"] + " " + str(bool(c["notAfter"])) + " " + str(c["crl"]["number"] > 0) for c in d["cas"]][0]')" = "appr True True"
code=$(api GET aliases)
check "GET aliases: 200" test "$code" = 200
check "... conforms to the document" conforms aliases:Alias
check "... the RA secret masked" \
  test "$(jget '[a["settings"]["ra.authPwd"] for a in d["aliases"] if a["name"] == "mdm"][0]')" = "********"
check "... and nowhere in the reply" bash -c "! grep -q ra-shared-secret-42 '$work/body.json'"
code=$(api POST aliases)
check "POST aliases: 405" is_error 405 method_not_allowed "$code"

# ---- rejected through the API -----------------------------------------------------------
timeout 60 "$SCEP" enroll -u "$URL" -c "$ca" -k "$work/no.key" --subject CN=dev-no \
  --challenge pw-dev-no -l "$work/no.pem" -t 1 -n 1 >"$work/no-enroll.log" 2>&1
check "second device pending too (exit 3)" test $? -eq 3
api GET "requests?status=pending" >/dev/null
id_no=$(jget '[r["id"] for r in d["requests"] if r.get("subject") == "CN=dev-no"][0]' 2>/dev/null)
check "... listed" test -n "$id_no"
code=$(api POST "requests/$id_no/reject" -H 'Content-Type: application/json')
check "reject without a body: 400" is_error 400 bad_request "$code"
code=$(api POST "requests/$id_no/reject" -H 'Content-Type: application/json' --data '{"reason": 5}')
check "reject with a number as reason: 400" is_error 400 bad_request "$code"
code=$(api POST "requests/$id_no/reject" -H 'Content-Type: application/json' \
  --data '{"reason": "a\u0001b"}')
check "reject with a control character: 400" is_error 400 bad_request "$code"
code=$(api POST "requests/$id_no/reject" -H 'Content-Type: application/json' \
  --data "{\"reason\": \"$(head -c 5000 /dev/zero | tr '\0' x)\"}")
check "a body over the admin listener's limit: 413" test "$code" = 413
code=$(api POST "requests/999999/reject" -H 'Content-Type: application/json' \
  --data '{"reason": "x"}')
check "reject an unknown request: 404" is_error 404 not_found "$code"
code=$(api POST "requests/$id_no/reject" -H 'Content-Type: application/json; charset=utf-8' \
  --data '{"reason": "device not in inventory"}')
check "POST requests/ID/reject: 200" test "$code" = 200
check "... rejected with the reason" \
  test "$(jget 'd["status"] + ":" + d["reason"]')" = "rejected:device not in inventory"
timeout 60 "$SCEP" poll -u "$URL" -c "$ca" -k "$work/no.key" -l "$work/no.pem" -t 1 -n 3 \
  >"$work/no-poll.log" 2>&1
check "scep poll of the rejected request exits 72" test $? -eq 72
check "... and shows the reason" grep -q "device not in inventory" "$work/no-poll.log"
code=$(api POST "requests/$id_no/approve" -H 'Content-Type: application/json')
check "approving a rejected request: 409" is_error 409 conflict "$code"
check "scepctl refuses it too (the same library call)" \
  bash -c "! '$SCEPCTL' --config '$work/scepd.conf' request approve '$id_no' 2>/dev/null"
check "the audit trail names the token admin" \
  bash -c "'$SCEPCTL' --config '$work/scepd.conf' audit list 2>/dev/null | grep request_reject | grep -q 'scepd:admin:token'"
code=$(api GET "requests?status=rejected&limit=1")
check "status=rejected&limit=1: one request" test "$code:$(jget 'len(d["requests"])')" = 200:1

# ---- the audit trail ----------------------------------------------------------------------
code=$(api_as GET audit)
check "audit without credentials: 401" is_error 401 unauthenticated "$code"
code=$(api GET "audit?limit=5")
check "GET audit?limit=5: 200" test "$code" = 200
check "... conforms to the document" conforms events:AuditEvent
check "... five events, newest first, with a cursor" \
  test "$(jget 'str(len(d["events"])) + str([e["id"] for e in d["events"]] == sorted([e["id"] for e in d["events"]], reverse=True)) + str(d["nextCursor"] == d["events"][-1]["id"])')" = 5TrueTrue
first=$(jget 'd["events"][0]["id"]')
cursor=$(jget 'd["nextCursor"]')
code=$(api GET "audit?limit=5&cursor=$cursor")
check "the next page starts right below the cursor" \
  test "$code:$(jget 'd["events"][0]["id"]')" = "200:$((cursor - 1))"
code=$(api GET "audit?limit=1000")
check "every event in one page: down to the first, without a cursor" \
  test "$code:$(jget '"nextCursor" in d'):$(jget 'len(d["events"]) == d["events"][0]["id"]'):$(jget 'd["events"][-1]["id"]')" = \
  "200:False:True:1"
check "... the approval by the Basic admin among them" \
  test "$(jget '[e["actor"] for e in d["events"] if e["action"] == "request_approve"][0]')" = scepd:admin:basic
check "... the newest first (the event of this very request's login, or a later one)" \
  test "$(jget 'd["events"][0]["id"]')" -ge "$first"
code=$(api GET "audit?cursor=0")
check "cursor=0: 400" is_error 400 bad_request "$code"
code=$(api GET "audit?cursor=abc")
check "cursor=abc: 400" is_error 400 bad_request "$code"
code=$(api GET "audit?limit=0")
check "audit limit=0: 400" is_error 400 bad_request "$code"
code=$(api POST audit -H 'Content-Type: application/json')
check "POST audit: 405" is_error 405 method_not_allowed "$code"

# ---- changes from another origin (cross-site request forgery) ----------------------------
code=$(api POST "requests/999999/approve" -H 'Content-Type: application/json' \
  -H 'Origin: http://evil.example')
check "a POST with Origin: http://evil.example: 403 forbidden" is_error 403 forbidden "$code"
code=$(api_as POST "requests/999999/approve" -u "ops:pass word:1" \
  -H 'Content-Type: application/json' -H 'Sec-Fetch-Site: cross-site')
check "a POST (Basic) with Sec-Fetch-Site: cross-site: 403" is_error 403 forbidden "$code"
code=$(api DELETE "endentities/dev-ok" -H "Origin: http://127.0.0.1:$aport.evil.example")
check "a DELETE from a host that merely starts like ours: 403" is_error 403 forbidden "$code"
code=$(api POST "requests/999999/approve" -H 'Content-Type: application/json' \
  -H "Origin: http://127.0.0.1:$aport" -H 'Sec-Fetch-Site: same-origin')
check "a POST from the listener's own origin passes (404: no such request)" \
  is_error 404 not_found "$code"
code=$(api GET "requests?limit=1" -H 'Origin: http://evil.example')
check "a GET is read only: not refused (the browser keeps its answer from the other site)" \
  test "$code" = 200

check "the token is never in scepd's log" bash -c "! grep -q '$TOKEN' '$work/scepd.log'"
check "nor the Basic password" bash -c "! grep -q 'pass word:1' '$work/scepd.log'"

if [ "$failed" -ne 0 ]; then
  cat "$work"/*-enroll.log "$work"/*-poll.log 2>/dev/null
fi
it_finish
