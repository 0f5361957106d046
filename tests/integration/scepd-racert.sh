#!/usr/bin/env bash
# RA certificates (docs/scepd.md "RA certificates"): `scepctl ra issue` on a root-only
# CA, then certmonger (which needs two certificates from GetCACert: RA + CA) and
# strongSwan `pki --scep` (--cacert-enc/--cacert-sig = the RA certificate) enroll
# through an alias with a single RA, and our `scep enroll` through a split RA.
#
# usage: scepd-racert.sh SCEPD SCEPCTL SCEP
set -u
SCEPD=$1
SCEPCTL=$2
SCEP=$3
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=peers.sh
. "$HERE/peers.sh"
PEER_TIMEOUT=${PEER_TIMEOUT:-40}

for tool in openssl curl; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool is not installed (make deps installs it)"
    exit 77
  fi
done

. "$HERE/lib.sh"
it_init racert

mkdir -p "$work/state"
cat >"$work/scepd.conf" <<CONF
listen = 127.0.0.1:0
database = sqlite:$work/scepd.db
state_dir = $work/state
threads = 4
# The alias without an RA, which /scep/pkiclient.exe serves besides single and split.
scep.operationmode = ca
CONF

ctl ca init --name root --subject "CN=RA Test Root,O=scepd test" --key rsa:2048 --days 30 \
  >"$work/ctl.log" 2>&1 || { cat "$work/ctl.log"; echo "FAIL: scepctl ca init"; exit 1; }
ctl ca show --name root 2>>"$work/ctl.log" | sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p' >"$work/root.pem"
[ -s "$work/root.pem" ] || { cat "$work/ctl.log"; echo "FAIL: scepctl ca show"; exit 1; }

check "scepctl ra issue (single) prints the SIGHUP reminder" \
  bash -c "'$SCEPCTL' --config '$work/scepd.conf' ra issue --alias single >'$work/ra-single.log' 2>&1 && grep -qi 'SIGHUP\|reload' '$work/ra-single.log'"
check "scepctl ra issue --split" \
  bash -c "'$SCEPCTL' --config '$work/scepd.conf' ra issue --alias split --split --subject 'CN=Split RA,O=scepd test' >'$work/ra-split.log' 2>&1"
check "the config names the RA files" \
  bash -c "grep -q '^single.ra.cert *= *$work/state/ra/single/ra-' '$work/scepd.conf' && grep -q '^split.ra.signkey *= *$work/state/ra/split/sign-' '$work/scepd.conf'"
check "RA keys are 0600" \
  bash -c "for k in '$work'/state/ra/*/*.key; do [ \"\$(stat -c %a \"\$k\")\" = 600 ] || exit 1; done"
# Each end entity enrolls through the alias it is registered for.
for pair in cm-ok:single ss-ok:single cli-split:split cli-single:single; do
  user=${pair%%:*}
  ctl ee add --username "$user" --password "code-$user" --dn "CN=$user" --alias "${pair#*:}" \
    >>"$work/ctl.log" 2>&1 || { cat "$work/ctl.log"; echo "FAIL: scepctl ee add $user"; exit 1; }
done
single_cert=$(ls "$work"/state/ra/single/ra-*.pem | head -1)
enc_cert=$(ls "$work"/state/ra/split/enc-*.pem | head -1)
sign_cert=$(ls "$work"/state/ra/split/sign-*.pem | head -1)
check "single RA cert: digitalSignature + keyEncipherment, issued by the CA" \
  bash -c "openssl x509 -in '$single_cert' -noout -ext keyUsage | grep -q 'Digital Signature, Key Encipherment' && openssl verify -CAfile '$work/root.pem' '$single_cert' >/dev/null"
check "split RA: encryption cert keyEncipherment only, signing cert digitalSignature only" \
  bash -c "openssl x509 -in '$enc_cert' -noout -ext keyUsage | grep -qx ' *Key Encipherment' && openssl x509 -in '$sign_cert' -noout -ext keyUsage | grep -qx ' *Digital Signature'"

it_start_scepd || exit 1
base=http://127.0.0.1:$port
SINGLE=$base/scep/single/pkiclient.exe
SPLIT=$base/scep/split/pkiclient.exe

check "GetCACert with an RA: application/x-x509-ca-ra-cert" \
  bash -c "curl -s -o /dev/null -w '%{content_type}' '$SINGLE?operation=GetCACert' | grep -qx 'application/x-x509-ca-ra-cert'"
curl -s "$SPLIT?operation=GetCACert" -o "$work/split-getca.der"
check "split GetCACert: encryption RA, signing RA, CA in that order" \
  bash -c "openssl pkcs7 -inform DER -in '$work/split-getca.der' -print_certs -noout | grep '^subject' | tr '\n' '|' | grep -q 'Split RA.*|.*Split RA.*|.*RA Test Root'"
check "GetCACert without an RA is unchanged (the CA alone)" \
  bash -c "curl -s -o /dev/null -w '%{content_type}' '$base/scep/pkiclient.exe?operation=GetCACert' | grep -qx 'application/x-x509-ca-cert'"

verify_cert() { # verify_cert CERT CN
  openssl verify -CAfile "$work/root.pem" "$1" >/dev/null 2>&1 &&
    openssl x509 -in "$1" -noout -subject -nameopt RFC2253 | grep -q "CN=$2"
}

# ---- our scep enroll --------------------------------------------------------------------
check "scep enroll through a split RA" \
  "$SCEP" enroll -u "$SPLIT" -c "$work/root.pem" -k "$work/cli-split.key" --subject CN=cli-split \
  --challenge code-cli-split -l "$work/cli-split.pem"
check "its certificate is issued by the CA" verify_cert "$work/cli-split.pem" cli-split
check "scep enroll through a single RA" \
  "$SCEP" enroll -u "$SINGLE" -c "$work/root.pem" -k "$work/cli-single.key" --subject CN=cli-single \
  --challenge code-cli-single -l "$work/cli-single.pem"
check "scepd loaded the split RA (log)" \
  grep -q 'event=ra_loaded alias=split split=yes' "$work/scepd.log"

# ---- certmonger and strongSwan ----------------------------------------------------------
if command -v certmonger >/dev/null; then
  check "certmonger: GetCACert gets RA and CA" \
    bash -c "timeout 20 /usr/lib/certmonger/scep-submit -u '$SINGLE' -C | grep -c 'BEGIN CERTIFICATE' | grep -qx 2"
  peer_certmonger_enroll "$SINGLE" "$work/cm-ok" cm-ok code-cm-ok
  check "certmonger enrolls through the RA (root-only CA)" verify_cert "$work/cm-ok/cert.pem" cm-ok
else
  echo "note: certmonger is not installed; its checks are skipped"
fi
if command -v pki >/dev/null; then
  peer_strongswan_enroll "$SINGLE" "$work/ss-ok" ss-ok code-ss-ok
  check "strongSwan pki --scep enrolls with --cacert-enc/--cacert-sig = RA" \
    bash -c "[ -s '$work/ss-ok/ra.pem' ] && openssl x509 -in '$work/ss-ok/ra.pem' -noout -subject | grep -q 'single SCEP RA'"
  check "strongSwan's certificate verifies" verify_cert "$work/ss-ok/cert.pem" ss-ok
else
  echo "note: strongSwan pki is not installed; its checks are skipped"
fi

it_finish
