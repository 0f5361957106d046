#!/usr/bin/env bash
# scepd in CA mode against real third-party SCEP clients from Debian:
# micromdm's scepclient, certmonger (scep-submit) and strongSwan's `pki --scep`.
# For each: GetCACaps, GetCACert, an enrollment whose certificate verifies with
# `openssl verify`, subject and SANs as the profile says, a wrong enrollment code
# refused, a second use of the same code refused, an unknown alias 404, and the
# same enrollment through EJBCA's URL.
#
# usage: scepd-vs-peers.sh SCEPD SCEPCTL
# scepd listens on 127.0.0.1 only, so no network namespace is needed.
set -u
SCEPD=$1
SCEPCTL=$2
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=peers.sh
. "$HERE/peers.sh"
PEER_TIMEOUT=${PEER_TIMEOUT:-40}

for tool in scepclient certmonger pki openssl curl; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool is not installed (make deps installs it)"
    exit 77
  fi
done

. "$(dirname "$0")/lib.sh"
it_init peers

# ---- a two-tier CA (root -> issuing CA), as enterprises run it; certmonger
# ---- needs the chain to verify replies (docs/interop-peers.md).
mkdir -p "$work/state"
it_make_two_tier_ca Test

cat >"$work/scepd.conf" <<CONF
listen = 127.0.0.1:0
database = sqlite:$work/scepd.db
state_dir = $work/state
threads = 4
legacy_algorithms = true
# micromdm's scepclient 2.1.0 always sends single DES with SHA-1.
mdm.legacy = true
mdm.certificateprofile = DEVICE
CONF

ctl ca import --name issuing --cert "$work/pki/chain.pem" --key "$work/pki/issuing.key" \
  >"$work/ctl.log" 2>&1 || { cat "$work/ctl.log"; echo "FAIL: scepctl ca import"; exit 1; }
for user in sc-ok sc-reuse cm-ok cm-reuse ss-reuse sc-ejbca cm-ejbca ss-ejbca; do
  ctl ee add --username "$user" --password "code-$user" --dn "CN=$user" >>"$work/ctl.log" 2>&1 ||
    { cat "$work/ctl.log"; echo "FAIL: scepctl ee add $user"; exit 1; }
done
# CA mode issues the registered names: ss-ok is registered with the SANs strongSwan asks for.
ctl ee add --username ss-ok --password code-ss-ok --dn CN=ss-ok \
  --san dns:ss-ok.example.com,ip:192.0.2.7 >>"$work/ctl.log" 2>&1 ||
  { cat "$work/ctl.log"; echo "FAIL: scepctl ee add ss-ok"; exit 1; }

it_start_scepd || exit 1
base=http://127.0.0.1:$port
URL=$base/scep/pkiclient.exe
MDM=$base/scep/mdm/pkiclient.exe
EJBCA=$base/ejbca/publicweb/apply/scep/pkiclient.exe
EJBCA_MDM=$base/ejbca/publicweb/apply/scep/mdm/pkiclient.exe

verify_cert() { # verify_cert CERT CN
  openssl verify -CAfile "$work/pki/root.pem" -untrusted "$work/pki/issuing.pem" "$1" >/dev/null 2>&1 &&
    openssl x509 -in "$1" -noout -subject -nameopt RFC2253 | grep -q "CN=$2"
}
has_san() { # has_san CERT TEXT
  openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null | grep -q "$2"
}

# ---- HTTP-level checks ----------------------------------------------------------------
check "GetCACaps lists SHA-384 and POSTPKIOperation" \
  bash -c "curl -s '$URL?operation=GetCACaps' | grep -qx SHA-384 && curl -s '$URL?operation=GetCACaps' | grep -qx POSTPKIOperation"
check "GetCACert of an issuing CA is a certs-only chain (RFC 8894 4.2.1.2)" \
  bash -c "curl -s -o '$work/getca.der' -w '%{content_type}' '$URL?operation=GetCACert&message=CAIdentifier' | grep -qx application/x-x509-ca-ra-cert && openssl pkcs7 -inform DER -in '$work/getca.der' -print_certs -noout | grep -c subject= | grep -qx 2"
check "unknown alias answers 404" \
  bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' '$base/scep/nosuch/pkiclient.exe?operation=GetCACaps')\" = 404 ]"

# ---- micromdm scepclient ----------------------------------------------------------------
peer_scepclient_enroll "$MDM" "$work/sc-ok" sc-ok code-sc-ok
check "scepclient enrolls" verify_cert "$work/sc-ok/cert.pem" sc-ok
peer_scepclient_enroll "$MDM" "$work/sc-bad" sc-reuse wrong-code
rc=$?
check "scepclient: wrong code refused with badRequest" \
  bash -c "[ $rc -ne 0 ] && grep -q 'badRequest' '$work/sc-bad/scepclient.log'"
peer_scepclient_enroll "$MDM" "$work/sc-reuse1" sc-reuse code-sc-reuse
peer_scepclient_enroll "$MDM" "$work/sc-reuse2" sc-reuse code-sc-reuse
rc=$?
check "scepclient: second use of a code refused" \
  bash -c "[ -s '$work/sc-reuse1/cert.pem' ] && [ $rc -ne 0 ] && grep -q 'badRequest' '$work/sc-reuse2/scepclient.log'"
peer_scepclient_enroll "$base/scep/nosuch/pkiclient.exe" "$work/sc-404" sc-reuse code
check "scepclient: unknown alias fails" test $? -ne 0
peer_scepclient_enroll "$EJBCA_MDM" "$work/sc-ejbca" sc-ejbca code-sc-ejbca
check "scepclient enrolls through the EJBCA URL" verify_cert "$work/sc-ejbca/cert.pem" sc-ejbca

# ---- certmonger -------------------------------------------------------------------------
check "certmonger: GetCACaps (scep-submit -c)" \
  bash -c "peer_certmonger_getcaps() { timeout 20 /usr/lib/certmonger/scep-submit -u \"\$1\" -c; }; peer_certmonger_getcaps '$URL' | grep -q SCEPStandard"
check "certmonger: GetCACert (scep-submit -C) gets CA and root" \
  bash -c "timeout 20 /usr/lib/certmonger/scep-submit -u '$URL' -C | grep -c 'BEGIN CERTIFICATE' | grep -qx 2"
peer_certmonger_enroll "$URL" "$work/cm-ok" cm-ok code-cm-ok
check "certmonger enrolls" verify_cert "$work/cm-ok/cert.pem" cm-ok
peer_certmonger_enroll "$URL" "$work/cm-bad" cm-reuse wrong-code
check "certmonger: wrong code refused (CA_REJECTED)" grep -q 'CA_REJECTED' "$work/cm-bad/certmonger.status"
peer_certmonger_enroll "$URL" "$work/cm-reuse1" cm-reuse code-cm-reuse
peer_certmonger_enroll "$URL" "$work/cm-reuse2" cm-reuse code-cm-reuse
check "certmonger: second use of a code refused" \
  bash -c "[ -s '$work/cm-reuse1/cert.pem' ] && grep -q 'CA_REJECTED' '$work/cm-reuse2/certmonger.status'"
peer_certmonger_enroll "$EJBCA" "$work/cm-ejbca" cm-ejbca code-cm-ejbca
check "certmonger enrolls through the EJBCA URL" verify_cert "$work/cm-ejbca/cert.pem" cm-ejbca

# ---- strongSwan pki --scep --------------------------------------------------------------
check "strongSwan: GetCACert (pki --scepca)" peer_strongswan_getca "$URL" "$work/ss-ca"
mkdir -p "$work/ss-ok"
timeout 60 pki --gen --type rsa --size 2048 --outform pem >"$work/ss-ok/key.pem" 2>/dev/null
timeout "$PEER_TIMEOUT" pki --scep --url "$URL" --in "$work/ss-ok/key.pem" --dn "CN=ss-ok" \
  --san ss-ok.example.com --san 192.0.2.7 --password code-ss-ok --cacert "$work/pki/root.pem" \
  --cacert-enc "$work/pki/issuing.pem" --cacert-sig "$work/pki/issuing.pem" --outform pem \
  >"$work/ss-ok/cert.pem" 2>"$work/ss-ok/strongswan.log"
check "strongSwan enrolls (AES, SHA-256)" verify_cert "$work/ss-ok/cert.pem" ss-ok
check "strongSwan: the registered SANs (which it asked for) are in the certificate" \
  bash -c "has_san() { openssl x509 -in \"\$1\" -noout -ext subjectAltName 2>/dev/null | grep -q \"\$2\"; }; has_san '$work/ss-ok/cert.pem' 'DNS:ss-ok.example.com' && has_san '$work/ss-ok/cert.pem' 'IP Address:192.0.2.7'"
peer_strongswan_enroll "$URL" "$work/ss-bad" ss-reuse wrong-code
rc=$?
check "strongSwan: wrong code refused" \
  bash -c "[ $rc -ne 0 ] && grep -qi 'badRequest\\|failInfo\\|failed' '$work/ss-bad/strongswan.log'"
peer_strongswan_enroll "$URL" "$work/ss-reuse1" ss-reuse code-ss-reuse
peer_strongswan_enroll "$URL" "$work/ss-reuse2" ss-reuse code-ss-reuse
rc=$?
check "strongSwan: second use of a code refused" \
  bash -c "[ -s '$work/ss-reuse1/cert.pem' ] && [ $rc -ne 0 ]"
peer_strongswan_enroll "$EJBCA" "$work/ss-ejbca" ss-ejbca code-ss-ejbca
check "strongSwan enrolls through the EJBCA URL" verify_cert "$work/ss-ejbca/cert.pem" ss-ejbca

# ---- the server kept serving and logged no secret ---------------------------------------
check "scepd still serves after all of that" \
  bash -c "curl -s '$URL?operation=GetCACaps' | grep -q AES"
check "no enrollment code appears in scepd's log" \
  bash -c "! grep -q 'code-' '$work/scepd.log'"

it_finish
