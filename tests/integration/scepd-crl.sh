#!/usr/bin/env bash
# Revocation end to end: scepctl ca init and ee add, enrollment with our `scep` CLI,
# `scepctl cert revoke`, the revoked serial in `scep getcrl` and in /crl/NAME.crl
# (DER, verified by openssl), the CRL number staying put between fetches, the CRL
# distribution point in issued certificates, and `scepctl crl generate/show`.
#
# usage: scepd-crl.sh SCEPD SCEPCTL SCEP
set -u
SCEPD=$1
SCEPCTL=$2
SCEP=$3
for tool in openssl curl; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done

. "$(dirname "$0")/lib.sh"
it_init crl

cat >"$work/scepd.conf" <<CONF
listen = 127.0.0.1:0
database = sqlite:$work/scepd.db
state_dir = $work/state
crl_validity = 3d
crl_regenerate_before = 12h
crl_base_url = http://127.0.0.1:8080/crl
CONF
ctl ca init --name rev --subject "CN=Revocation CA,O=scepd" --key rsa:2048 >"$work/ctl.log" 2>&1 ||
  { cat "$work/ctl.log"; echo "FAIL: ca init"; exit 1; }
for user in dev-1 dev-2; do
  ctl ee add --username "$user" --password "pw-$user" --dn "CN=$user" >>"$work/ctl.log" 2>&1
done
ca=$work/state/cas/rev/ca.pem

it_start_scepd || exit 1
URL=http://127.0.0.1:$port/scep/pkiclient.exe
CRL_URL=http://127.0.0.1:$port/crl/rev.crl

for user in dev-1 dev-2; do
  check "scep enroll $user" \
    "$SCEP" enroll -u "$URL" -c "$ca" -k "$work/$user.key" --subject "CN=$user" \
    --challenge "pw-$user" -l "$work/$user.pem"
done
check "issued certificate names the CRL distribution point" \
  bash -c "openssl x509 -in '$work/dev-1.pem' -noout -ext crlDistributionPoints | grep -q 'URI:http://127.0.0.1:8080/crl/rev.crl'"
# Upper-case hex in whole octets: the spelling of openssl, scepd, scepctl and the store.
serial=$(openssl x509 -in "$work/dev-1.pem" -noout -serial | cut -d= -f2)

getcrl() { "$SCEP" getcrl -u "$URL" -c "$ca" -k "$work/dev-2.key" -l "$work/dev-2.pem" -w "$1"; }
# The CRL number in decimal (openssl prints it as 0x.., which printf reads).
number() { printf '%d' "$(openssl crl -in "$1" -noout -crlnumber | cut -d= -f2)"; }
check "scep getcrl before any revocation" getcrl "$work/crl0.pem"
check "a second getcrl serves the same CRL number" \
  bash -c "$(declare -f getcrl number); SCEP='$SCEP' URL='$URL' ca='$ca' work='$work'; getcrl '$work/crl0b.pem' && [ \"\$(number '$work/crl0.pem')\" = \"\$(number '$work/crl0b.pem')\" ]"

ctl cert revoke --serial "$serial" --reason nonsense >"$work/revoke0.log" 2>&1
check "an unknown reason is a usage error (exit 2)" test $? -eq 2
check "scepctl cert revoke" bash -c "'$SCEPCTL' --config '$work/scepd.conf' cert revoke --serial '$serial' --reason keyCompromise >'$work/revoke.log' 2>&1"
check "revoke marks the end entity REVOKED" grep -q "dev-1 is now REVOKED" "$work/revoke.log"
ctl cert revoke --serial "$serial" --reason keyCompromise >"$work/revoke2.log" 2>&1
rc=$?
check "revoking twice fails with a clear message" \
  bash -c "[ $rc -eq 1 ] && grep -q 'already revoked' '$work/revoke2.log'"
check "the revocation is in the audit trail" \
  bash -c "'$SCEPCTL' --config '$work/scepd.conf' audit list | grep -q 'revoke.*serial=$serial'"

check "scep getcrl after the revocation" getcrl "$work/crl1.pem"
check "the CRL lists the serial with reason Key Compromise" \
  bash -c "openssl crl -in '$work/crl1.pem' -noout -text | grep -A4 'Serial Number: $serial' | grep -q 'Key Compromise'"
check "the CRL number went up" \
  test "$(number "$work/crl1.pem")" -gt "$(number "$work/crl0.pem")"
check "the GetCRL CRL verifies against the CA" \
  bash -c "openssl crl -in '$work/crl1.pem' -CAfile '$ca' -noout 2>&1 | grep -q 'verify OK'"

check "curl /crl/rev.crl: 200, application/pkix-crl" \
  bash -c "[ \"\$(curl -s -o '$work/http.crl' -w '%{http_code} %{content_type}' '$CRL_URL')\" = '200 application/pkix-crl' ]"
check "the HTTP CRL is DER that verifies against the CA" \
  bash -c "openssl crl -inform DER -in '$work/http.crl' -CAfile '$ca' -noout 2>&1 | grep -q 'verify OK'"
check "the HTTP CRL is the GetCRL CRL" \
  cmp "$work/http.crl" <(openssl crl -in "$work/crl1.pem" -outform DER)
check "an unknown CA's CRL is 404" \
  test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/crl/nope.crl")" = 404
check "scep getcert still returns the revoked certificate" \
  "$SCEP" getcert -u "$URL" -c "$ca" -k "$work/dev-2.key" -l "$work/dev-2.pem" --serial "$serial" \
  -w "$work/got.pem"

before=$(number "$work/crl1.pem")
check "scepctl crl generate --out writes a new DER CRL" \
  bash -c "'$SCEPCTL' --config '$work/scepd.conf' crl generate --ca rev --out '$work/gen.crl' >'$work/gen.log' 2>&1 && openssl crl -inform DER -in '$work/gen.crl' -CAfile '$ca' -noout 2>&1 | grep -q 'verify OK'"
check "crl generate took the next number" \
  test "$(printf '%d' "$(openssl crl -inform DER -in "$work/gen.crl" -noout -crlnumber | cut -d= -f2)")" -eq "$((before + 1))"
check "scepd now serves the generated CRL" \
  bash -c "curl -s -o '$work/http2.crl' '$CRL_URL' && cmp '$work/http2.crl' '$work/gen.crl'"
check "scepctl crl show lists the serial and reason" \
  bash -c "'$SCEPCTL' --config '$work/scepd.conf' crl show --ca rev | grep -q '$serial.*keyCompromise'"
check "nextUpdate is thisUpdate + crl_validity (3d)" \
  bash -c "t=\$(date -d \"\$(openssl crl -inform DER -in '$work/gen.crl' -noout -lastupdate | cut -d= -f2)\" +%s); n=\$(date -d \"\$(openssl crl -inform DER -in '$work/gen.crl' -noout -nextupdate | cut -d= -f2)\" +%s); [ \$((n - t)) -eq 259200 ]"

kill -TERM "$scepd_pid"
wait "$scepd_pid"
scepd_pid=
it_finish
