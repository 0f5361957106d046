#!/usr/bin/env bash
# Our `scep` CLI against micromdm's scepserver 2.1.0 (Debian package `scep`), inside a
# private network namespace (scepserver listens on every interface and has no bind option).
# Usage: client-vs-micromdm.sh SCEP_BINARY [WORKDIR]
# Exit: 0 all cases as expected, 1 some failed, 77 skipped (not root / no unshare / no scepserver).
set -u
SCEP=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SKIP=77

if [ -z "${SCEP_IN_NETNS:-}" ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root for unshare -n"; exit $SKIP; fi
  command -v scepserver >/dev/null || { echo "SKIP: scepserver not installed (scripts/install-deps.sh test)"; exit $SKIP; }
  command -v unshare >/dev/null || { echo "SKIP: unshare missing"; exit $SKIP; }
  exec timeout 300 unshare -n env SCEP_IN_NETNS=1 bash "$0" "$@"
fi
ip link set lo up || { echo "cannot bring lo up"; exit 1; }
# shellcheck source=peers.sh
. "$HERE/peers.sh"
W=${2:-$(mktemp -d /tmp/scep-client-micromdm.XXXXXX)}
mkdir -p "$W"
PORT=18081
CH=interop-secret
URL=http://127.0.0.1:$PORT/scep
PEER_SERVER_LIFETIME=280 peer_micromdm_server_start "$W/srv" $PORT $CH -allowrenew 0 || { echo "FAIL: scepserver did not start"; cat "$W/srv/scepserver.log"; exit 1; }
trap 'peer_micromdm_server_stop "$W/srv"' EXIT

bad=0
# expect NAME WANT_RC CMD...: runs CMD bounded in time, compares its exit code.
expect() {
  local name=$1 want=$2 rc
  shift 2
  timeout 60 "$@" >"$W/$name.out" 2>"$W/$name.err"
  rc=$?
  if [ "$rc" -eq "$want" ]; then
    echo "PASS $name (rc=$rc)"
  else
    echo "FAIL $name: rc=$rc, want $want"; sed 's/^/    /' "$W/$name.err" "$W/$name.out"; bad=$((bad + 1))
  fi
}
# check NAME DESCRIPTION CONDITION...
check() {
  local name=$1 what=$2
  shift 2
  if "$@"; then echo "PASS $name: $what"; else echo "FAIL $name: $what"; bad=$((bad + 1)); fi
}

expect getcaps 0 "$SCEP" getcaps -u "$URL"
check getcaps "lists POSTPKIOperation and AES" grep -qx POSTPKIOperation "$W/getcaps.out"
grep -qx AES "$W/getcaps.out" || { echo "FAIL getcaps: no AES"; bad=$((bad + 1)); }

expect getca 0 "$SCEP" getca -u "$URL" -c "$W/ca.pem"
FP=$(openssl x509 -in "$W/ca.pem" -noout -fingerprint -sha256 | cut -d= -f2)
check getca "fingerprint printed matches openssl" grep -q "$FP" "$W/getca.out"
expect getca-fingerprint 0 "$SCEP" getca -u "$URL" -c "$W/ca2.pem" --fingerprint "$FP"
MD5=$(openssl x509 -in "$W/ca.pem" -noout -fingerprint -md5 | cut -d= -f2)
expect getca-fingerprint-md5 0 "$SCEP" getca -u "$URL" -c "$W/ca3.pem" -F md5 --fingerprint "$MD5"
WRONG=$(echo "$FP" | tr '0123456789ABCDEF' '123456789ABCDEF0')
expect getca-wrong-fingerprint 80 "$SCEP" getca -u "$URL" -c "$W/ca4.pem" --fingerprint "$WRONG"
check getca-wrong-fingerprint "nothing written" test ! -e "$W/ca4.pem"
check getca-wrong-fingerprint "says mismatch" grep -q "mismatch" "$W/getca-wrong-fingerprint.err"

# micromdm 2.1.0 answers every CertRep with single DES: refused without --legacy.
expect enroll-rsa-no-legacy 1 "$SCEP" enroll -u "$URL" -c "$W/ca.pem" -k "$W/nl.key" \
  --subject "CN=no-legacy,O=scepd" --challenge "$CH" -l "$W/nl.pem"
check enroll-rsa-no-legacy "explains the legacy algorithm" grep -q "legacy" "$W/enroll-rsa-no-legacy.err"
check enroll-rsa-no-legacy "error is badAlg-type (SCEP_EBADALG)" grep -q "SCEP_EBADALG" "$W/enroll-rsa-no-legacy.err"

expect enroll-rsa 0 "$SCEP" enroll -v -u "$URL" -c "$W/ca.pem" -k "$W/rsa.key" -r "$W/rsa.csr" \
  --subject "CN=rsa-device,O=scepd" --challenge "$CH" -l "$W/rsa.pem" --legacy
check enroll-rsa "certificate issued by the CA" openssl verify -CAfile "$W/ca.pem" -partial_chain "$W/rsa.pem"
check enroll-rsa "certificate for our key" test "$(openssl x509 -in "$W/rsa.pem" -noout -pubkey)" = "$(openssl pkey -in "$W/rsa.key" -pubout)"
check enroll-rsa "key written 0600" test "$(stat -c %a "$W/rsa.key")" = 600
check enroll-rsa "challenge never printed" bash -c "! grep -q '$CH' '$W/enroll-rsa.err' '$W/enroll-rsa.out'"
check enroll-rsa "-v shows transactionID and algorithms" grep -q "transactionID=.*digest=SHA-256 cipher=AES-256-CBC method=POST" "$W/enroll-rsa.err"

# A CSR made by openssl (with challengePassword), sent by GET with SHA-1/3DES, DER output.
cat >"$W/req.cnf" <<CNF
[req]
prompt = no
distinguished_name = dn
attributes = attrs
[dn]
CN = openssl-csr
[attrs]
challengePassword = $CH
CNF
openssl req -new -newkey rsa:2048 -nodes -keyout "$W/ext.key" -config "$W/req.cnf" -out "$W/ext.csr" 2>/dev/null
expect enroll-rsa-existing-csr 0 "$SCEP" enroll -u "$URL" -c "$W/ca.pem" -k "$W/ext.key" -r "$W/ext.csr" \
  -l "$W/rsa2.pem" --legacy --der -S sha1 -E des3 --force-get
check enroll-rsa-existing-csr "DER output" openssl x509 -inform DER -in "$W/rsa2.pem" -noout

expect enroll-wrong-challenge 72 "$SCEP" enroll -u "$URL" -c "$W/ca.pem" -k "$W/wc.key" \
  --subject "CN=wrong-challenge" --challenge not-the-secret -l "$W/wc.pem" --legacy
check enroll-wrong-challenge "reports badRequest" grep -q "badRequest" "$W/enroll-wrong-challenge.err"

expect enroll-wrong-ca 80 "$SCEP" enroll -u "$URL" -c "$W/rsa.pem" -k "$W/x.key" \
  --subject "CN=x" --challenge "$CH" -l "$W/x.pem" --legacy

# EC requester: micromdm cannot encrypt its CertRep to an EC certificate; it must fail clearly.
timeout 60 "$SCEP" enroll -u "$URL" -c "$W/ca.pem" -k "$W/ec.key" --key-type ec:P-256 \
  --subject "CN=ec-device" --challenge "$CH" -l "$W/ec.pem" --legacy >"$W/enroll-ec.out" 2>"$W/enroll-ec.err"
rc=$?
if [ $rc -eq 0 ]; then
  check enroll-ec "EC certificate for our key" test "$(openssl x509 -in "$W/ec.pem" -noout -pubkey)" = "$(openssl pkey -in "$W/ec.key" -pubout)"
elif [ $rc -ne 0 ] && grep -q "scep: error\|FAILURE" "$W/enroll-ec.err" && [ ! -e "$W/ec.pem" ]; then
  echo "PASS enroll-ec: server refused EC requester clearly (rc=$rc): $(head -c 300 "$W/enroll-ec.err")"
else
  echo "FAIL enroll-ec: rc=$rc"; cat "$W/enroll-ec.err"; bad=$((bad + 1))
fi

# Renewal signed with the issued certificate (micromdm advertises Renewal -> RenewalReq).
expect renew 0 "$SCEP" renew -u "$URL" -c "$W/ca.pem" -O "$W/rsa.pem" -K "$W/rsa.key" \
  -k "$W/new.key" --subject "CN=rsa-device,O=scepd" --challenge "$CH" -l "$W/new.pem" --legacy -v
check renew "sent RenewalReq" grep -q "RenewalReq" "$W/renew.err"
check renew "new certificate for the new key" test "$(openssl x509 -in "$W/new.pem" -noout -pubkey)" = "$(openssl pkey -in "$W/new.key" -pubout)"
expect renew-pkcsreq 0 "$SCEP" renew -u "$URL" -c "$W/ca.pem" -O "$W/new.pem" -K "$W/new.key" \
  -k "$W/new2.key" --subject "CN=rsa-device,O=scepd" --challenge "$CH" -l "$W/new2.pem" --legacy -v \
  --renewal-type pkcsreq
check renew-pkcsreq "sent PKCSReq" grep -q "PKCSReq transactionID" "$W/renew-pkcsreq.err"

expect unreachable 95 "$SCEP" getcaps -u "http://127.0.0.1:1/scep"
expect usage 64 "$SCEP" enroll -u "$URL"

echo "unexpected results: $bad"
[ $bad -eq 0 ]
