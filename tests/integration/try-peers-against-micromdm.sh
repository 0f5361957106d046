#!/usr/bin/env bash
# Runs the three third-party SCEP clients (micromdm scepclient, certmonger, strongSwan
# pki --scep) against micromdm's scepserver 2.1.0 inside a private, loopback-only network
# namespace, through a capturing relay, and prints one PASS/FAIL line per case.
# Usage (root): tests/integration/try-peers-against-micromdm.sh [WORKDIR]
# WORKDIR (default: a new mktemp dir) keeps logs, certificates and captured messages.
# Expected results against micromdm 2.1.0 are in docs/interop-peers.md:
# only scepclient enrolls; certmonger and strongSwan fail on micromdm's CertRep.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/peers.sh"

if ! peer_in_private_netns; then
  [ "$(id -u)" -eq 0 ] || { echo "needs root (unshare -n)" >&2; exit 2; }
  exec timeout 600 unshare -n bash "$0" "$@"
fi
ip link set lo up

work=${1:-$(mktemp -d /tmp/scepd-peers.XXXXXX)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
SRV_PORT=18080 RELAY_PORT=18081 CHALLENGE=secret-$$
relays=()
cleanup() {
  local c
  for c in "${relays[@]}"; do peer_stop_relay "$c"; done
  peer_micromdm_server_stop "$work/server"
}
trap cleanup EXIT

peer_micromdm_server_start "$work/server" $SRV_PORT "$CHALLENGE" || { echo "FAIL server start"; exit 1; }
# relay NAME: start a capturing relay to the server in $work/capture/NAME; sets URL.
relay() {
  RELAY_PORT=$((RELAY_PORT + 1))
  relays+=("$work/capture/$1")
  peer_start_relay $RELAY_PORT "http://127.0.0.1:$SRV_PORT" "$work/capture/$1" || { echo "FAIL relay start"; exit 1; }
  URL=http://127.0.0.1:$RELAY_PORT/scep
}
relay curl
echo "work dir: $work"
echo "GetCACaps: $(curl -s --max-time 5 "$URL?operation=GetCACaps" | tr '\n' ' ')"

fails=0
# result NAME EXPECT(pass|fail) RC DETAIL
result() {
  local name=$1 expect=$2 rc=$3 detail=$4 got=pass
  [ "$rc" -ne 0 ] && got=fail
  if [ "$got" = pass ]; then
    echo "PASS $name (rc=$rc) $detail"
  else
    echo "FAIL $name (rc=$rc) $detail"
  fi
  if [ "$got" != "$expect" ]; then
    echo "     ^ UNEXPECTED: expected $expect against micromdm 2.1.0"
    fails=$((fails + 1))
  elif [ "$got" = fail ]; then
    echo "     ^ expected failure (known peer bug, see docs/interop-peers.md)"
  fi
}

relay scepclient
peer_scepclient_enroll "$URL" "$work/scepclient" client-ok "$CHALLENGE"
rc=$?
result scepclient-enroll pass $rc "$(openssl x509 -in "$work/scepclient/cert.pem" -noout -subject 2>/dev/null)"

relay scepclient-badpw
peer_scepclient_enroll "$URL" "$work/scepclient-badpw" client-bad wrong-challenge
rc=$?
# A wrong challenge must be refused: invert so that "refused" reads PASS.
if [ $rc -ne 0 ] && grep -q 'failInfo: badRequest' "$work/scepclient-badpw/scepclient.log"; then
  echo "PASS scepclient-wrong-challenge refused (rc=$rc): $(grep 'failInfo' "$work/scepclient-badpw/scepclient.log" | tail -1)"
else
  echo "FAIL scepclient-wrong-challenge (rc=$rc) not refused with CertRep FAILURE"
  fails=$((fails + 1))
fi

peer_scepclient_enroll http://127.0.0.1:1/scep "$work/scepclient-unreach" client-x "$CHALLENGE"
rc=$?
if [ $rc -ne 0 ]; then echo "PASS scepclient-unreachable reported (rc=$rc)"; else echo "FAIL scepclient-unreachable rc=0"; fails=$((fails + 1)); fi

relay certmonger
peer_certmonger_enroll "$URL" "$work/certmonger" cm-client "$CHALLENGE"
rc=$?
result certmonger-enroll fail $rc "$(tr '\n' ' ' <"$work/certmonger/certmonger.status" 2>/dev/null)"

relay strongswan-getca
peer_strongswan_getca "$URL" "$work/strongswan"
rc=$?
result strongswan-getca pass $rc "$(openssl x509 -in "$work/strongswan/ca.pem" -noout -subject 2>/dev/null)"

relay strongswan-aes
peer_strongswan_enroll "$URL" "$work/strongswan" ss-aes "$CHALLENGE" aes sha256
rc=$?
result strongswan-enroll-aes fail $rc "$(grep -E 'not supported by CA|only RSA|unable to verify|failInfo' "$work/strongswan/strongswan.log" | head -2 | tr '\n' ' ')"

mkdir -p "$work/strongswan-des3" && cp "$work/strongswan/ca.pem" "$work/strongswan/key.pem" "$work/strongswan-des3/"
relay strongswan-des3
peer_strongswan_enroll "$URL" "$work/strongswan-des3" ss-des3 "$CHALLENGE" des3 sha256
rc=$?
result strongswan-enroll-des3 fail $rc "$(grep -E 'not supported by CA|only RSA|unable to verify|failInfo' "$work/strongswan-des3/strongswan.log" | head -2 | tr '\n' ' ')"

# Same, but the relay adds SHA-384 to GetCACaps: strongSwan 5.9.8 then accepts aes.
RELAY_CAPS='Renewal\nSHA-1\nSHA-256\nSHA-384\nAES\nDES3\nSCEPStandard\nPOSTPKIOperation' \
  relay strongswan-aes-sha384caps
mkdir -p "$work/strongswan-sha384" && cp "$work/strongswan/ca.pem" "$work/strongswan/key.pem" "$work/strongswan-sha384/"
peer_strongswan_enroll "$URL" "$work/strongswan-sha384" ss-aes384 "$CHALLENGE" aes sha256
rc=$?
result strongswan-enroll-aes+SHA-384-caps fail $rc "$(grep -E 'not supported by CA|supported by CA|only RSA|unable to verify|failInfo' "$work/strongswan-sha384/strongswan.log" | head -2 | tr '\n' ' ')"

echo "captured exchanges: $work/capture/<case>/ (tests/integration/collect-peer-vectors.sh copies them)"
echo "unexpected results: $fails"
[ $fails -eq 0 ]
