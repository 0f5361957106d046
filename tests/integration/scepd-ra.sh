#!/usr/bin/env bash
# scepd in RA mode (EJBCA semantics) against real clients: micromdm's scepclient
# with the right and a wrong RA shared secret, certmonger with a one-time
# challenge from `scepctl challenge new` (and the same challenge again,
# refused), and our own `scep enroll` with the secret, a challenge and a
# subject-pattern mismatch. Checks the end entities scepd created and that no
# secret or challenge reaches the log.
#
# usage: scepd-ra.sh SCEPD SCEPCTL SCEP
# scepd listens on 127.0.0.1 only, so no network namespace is needed.
set -u
SCEPD=$1
SCEPCTL=$2
SCEP=$3
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=peers.sh
. "$HERE/peers.sh"
PEER_TIMEOUT=${PEER_TIMEOUT:-40}

for tool in scepclient certmonger openssl curl; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool is not installed (make deps installs it)"
    exit 77
  fi
done

. "$(dirname "$0")/lib.sh"
it_init ra

# ---- a two-tier CA: certmonger needs the chain to verify replies --------------------
mkdir -p "$work/state"
it_make_two_tier_ca Test

SECRET=ra-Shared-Secret-7
cat >"$work/scepd.conf" <<CONF
listen = 127.0.0.1:0
database = sqlite:$work/scepd.db
state_dir = $work/state
threads = 4
legacy_algorithms = true
# micromdm's scepclient 2.1.0 always sends single DES with SHA-1.
mdm.legacy = true
mdm.operationmode = ra
mdm.ra.authPwd = $SECRET
mdm.ra.namegenerationprefix = mdm-
ndes.operationmode = ra
ndes.ra.onetimechallenges = require
ndes.ra.namegenerationscheme = USERNAME
CONF

ctl ca import --name issuing --cert "$work/pki/chain.pem" --key "$work/pki/issuing.key" \
  >"$work/ctl.log" 2>&1 || { cat "$work/ctl.log"; echo "FAIL: scepctl ca import"; exit 1; }

it_start_scepd || exit 1
base=http://127.0.0.1:$port
MDM=$base/scep/mdm/pkiclient.exe
NDES=$base/scep/ndes/pkiclient.exe

verify_cert() { # verify_cert CERT CN
  openssl verify -CAfile "$work/pki/root.pem" -untrusted "$work/pki/issuing.pem" "$1" >/dev/null 2>&1 &&
    openssl x509 -in "$1" -noout -subject -nameopt RFC2253 | grep -q "CN=$2"
}
ee_status() { # ee_status USERNAME -> prints the status column
  ctl ee list 2>/dev/null | awk -F'\t' -v u="$1" '$1 == u { print $2 }'
}

# ---- micromdm scepclient with the RA shared secret ------------------------------------
peer_scepclient_enroll "$MDM" "$work/sc-ok" sc-ra "$SECRET"
check "scepclient enrolls with the RA shared secret" verify_cert "$work/sc-ok/cert.pem" sc-ra
check "the end entity mdm-sc-ra was created and is GENERATED" \
  bash -c "[ \"\$('$SCEPCTL' --config '$work/scepd.conf' ee list 2>/dev/null | awk -F'\t' '\$1 == \"mdm-sc-ra\" { print \$2 }')\" = GENERATED ]"
peer_scepclient_enroll "$MDM" "$work/sc-bad" sc-bad wrong-secret
rc=$?
check "scepclient: wrong RA shared secret refused with badRequest" \
  bash -c "[ $rc -ne 0 ] && grep -q 'badRequest' '$work/sc-bad/scepclient.log' && [ ! -s '$work/sc-bad/cert.pem' ]"
check "the refusal created no end entity" test -z "$(ee_status mdm-sc-bad)"
# Reissue is the default: the same name enrolls again with a new key.
peer_scepclient_enroll "$MDM" "$work/sc-again" sc-ra "$SECRET"
check "scepclient: same name again is reissued (ra.onexisting = reissue)" \
  verify_cert "$work/sc-again/cert.pem" sc-ra

# ---- certmonger with a one-time challenge ---------------------------------------------
challenge=$(ctl challenge new --alias ndes --ttl 10m 2>>"$work/ctl.log")
check "scepctl challenge new prints 32 hex digits" \
  bash -c "printf '%s' '$challenge' | grep -Eqx '[0-9a-f]{32}'"
peer_certmonger_enroll "$NDES" "$work/cm-ok" cm-otp "$challenge"
check "certmonger enrolls with a one-time challenge" verify_cert "$work/cm-ok/cert.pem" cm-otp
peer_certmonger_enroll "$NDES" "$work/cm-again" cm-otp2 "$challenge"
check "certmonger: the same challenge again is refused (CA_REJECTED)" \
  grep -q 'CA_REJECTED' "$work/cm-again/certmonger.status"

# ---- our scep enroll --------------------------------------------------------------------
ca=$work/pki/issuing.pem
check "scep enroll with the RA shared secret" \
  "$SCEP" enroll -u "$MDM" -c "$ca" -k "$work/cli-1.key" --subject "CN=cli-1,O=Example" \
  --challenge "$SECRET" -l "$work/cli-1.pem"
check "its certificate verifies; end entity mdm-cli-1 exists" \
  bash -c "openssl verify -CAfile '$work/pki/root.pem' -untrusted '$ca' '$work/cli-1.pem' >/dev/null && '$SCEPCTL' --config '$work/scepd.conf' ee list | grep -q '^mdm-cli-1	GENERATED'"
"$SCEP" enroll -u "$MDM" -c "$ca" -k "$work/cli-2.key" --subject CN=cli-2 \
  --challenge not-the-secret -l "$work/cli-2.pem" >/dev/null 2>&1
check "scep enroll with a wrong secret exits 72 (badRequest)" test $? -eq 72
pattern_challenge=$(ctl challenge new --alias ndes --subject-pattern 'CN=kiosk-*' 2>>"$work/ctl.log")
"$SCEP" enroll -u "$NDES" -c "$ca" -k "$work/cli-3.key" --subject CN=laptop-3 \
  --challenge "$pattern_challenge" -l "$work/cli-3.pem" >/dev/null 2>&1
check "scep enroll: subject outside the challenge's pattern exits 72" test $? -eq 72
kiosk_challenge=$(ctl challenge new --alias ndes --subject-pattern 'CN=kiosk-*' 2>>"$work/ctl.log")
check "scep enroll with a one-time challenge matching its pattern" \
  "$SCEP" enroll -u "$NDES" -c "$ca" -k "$work/cli-4.key" --subject CN=kiosk-4 \
  --challenge "$kiosk_challenge" -l "$work/cli-4.pem"
mdm_challenge=$(ctl challenge new --alias mdm 2>>"$work/ctl.log")
"$SCEP" enroll -u "$NDES" -c "$ca" -k "$work/cli-5.key" --subject CN=kiosk-5 \
  --challenge "$mdm_challenge" -l "$work/cli-5.pem" >/dev/null 2>&1
check "scep enroll: another alias's challenge exits 72" test $? -eq 72
check "scepctl challenge purge runs" bash -c "'$SCEPCTL' --config '$work/scepd.conf' challenge purge | grep -q 'removed'"

# ---- the server logged no secret --------------------------------------------------------
check "scepd warned about nothing it should not" \
  bash -c "! grep -q 'without ra.authPwd' '$work/scepd.log'"
check "neither the RA secret nor a challenge appears in scepd's log" \
  bash -c "! grep -q -e '$SECRET' -e '$challenge' -e '$kiosk_challenge' '$work/scepd.log'"

it_finish
