#!/usr/bin/env bash
# CA and RA keys in a PKCS#11 token (docs/operations.md "CA key in an HSM"), with a
# SoftHSM2 token in the work directory: `scepctl ca init --key-uri` generates the CA key
# in the token, our `scep` client and certmonger (through an RA whose key is in the token
# too) enroll, the CRL is signed by the token key, a rollover moves to a second token key,
# a PIN file others can read and a wrong PIN are refused with a clear message, and a token
# taken away from a running scepd makes requests fail until it is back, without a restart.
#
# The module scepd loads is p11shim (tests/integration/p11shim.c) in front of SoftHSM's:
# creating $work/token-down unplugs the token.
#
# usage: scepd-hsm.sh SCEPD SCEPCTL SCEP P11SHIM
set -u
SCEPD=$1
SCEPCTL=$2
SCEP=$3
P11SHIM=$4
HERE=$(cd "$(dirname "$0")" && pwd)
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
for tool in openssl curl softhsm2-util pkcs11-tool; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed (make deps)"; exit 77; }
done
[ -r "$SOFTHSM_MODULE" ] || { echo "SKIP: no SoftHSM2 module at $SOFTHSM_MODULE"; exit 77; }

# shellcheck source=peers.sh
. "$HERE/peers.sh"
# shellcheck source=lib.sh
. "$HERE/lib.sh"
it_init hsm

# ---- the token ---------------------------------------------------------------------------
mkdir -p "$work/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
  "$work" >"$work/softhsm2.conf"
export SOFTHSM2_CONF=$work/softhsm2.conf P11SHIM_MODULE=$SOFTHSM_MODULE
export P11SHIM_DOWN=$work/token-down
# A throwaway test token: softhsm2-util and pkcs11-tool take PINs only as arguments (or from
# a terminal). scepd and scepctl read the PIN from the PIN file and nowhere else.
user_pin=test-pin-$RANDOM$RANDOM
softhsm2-util --init-token --free --label scepd-ca --so-pin "so-$user_pin" --pin "$user_pin" \
  >"$work/softhsm.log" 2>&1 || { cat "$work/softhsm.log"; echo "FAIL: softhsm2-util"; exit 1; }
printf '%s\n' "$user_pin" >"$work/pin"
printf 'wrong-%s\n' "$user_pin" >"$work/wrong-pin"
chmod 644 "$work/pin"

cat >"$work/scepd.conf" <<CONF
listen = 127.0.0.1:0
database = sqlite:$work/scepd.db
state_dir = $work/state
threads = 4
crl_validity = 3d
pkcs11_module = $P11SHIM
pkcs11_pin_file = $work/pin
scep.operationmode = ca
CONF
URI='pkcs11:token=scepd-ca;object=ca-1'

# ---- scepctl: PIN file rules, key generation in the token ----------------------------------
check "a PIN file others can read is refused" \
  bash -c "! '$SCEPCTL' --config '$work/scepd.conf' ca init --name hsm --subject 'CN=HSM CA' --key rsa:2048 --key-uri '$URI' >'$work/init0.log' 2>&1 && grep -q 'mode 0644' '$work/init0.log'"
chmod 600 "$work/pin" "$work/wrong-pin"
check "scepctl ca init --key-uri generates the CA key in the token" \
  bash -c "'$SCEPCTL' --config '$work/scepd.conf' ca init --name hsm --subject 'CN=HSM CA,O=scepd test' --key rsa:2048 --key-uri '$URI' >'$work/init.log' 2>&1 && grep -q 'in the token' '$work/init.log'"
ca=$work/state/cas/hsm/ca.pem
check "no key file was written" bash -c "[ ! -e '$work/state/cas/hsm/ca.key' ]"
check "the store's key reference is the URI" \
  bash -c "sqlite3 '$work/scepd.db' 'SELECT key_ref FROM cas' | grep -qx '$URI'"
pkcs11-tool --module "$SOFTHSM_MODULE" --token-label scepd-ca --login --pin "$user_pin" -O \
  >"$work/objects.txt" 2>&1
check "the token key is sensitive and never extractable" \
  grep -q "sensitive, always sensitive, never extractable" "$work/objects.txt"
check "the CA certificate is self-signed by the token key" \
  bash -c "openssl verify -CAfile '$ca' '$ca' >/dev/null"
check "a second key with the same label is refused" \
  bash -c "! '$SCEPCTL' --config '$work/scepd.conf' ca init --name hsm2 --subject 'CN=HSM CA 2' --key-uri '$URI' >'$work/init2.log' 2>&1 && grep -q 'already holds' '$work/init2.log'"
# Importing goes to a store of its own: a second CA would need scep.defaultca here.
sed -e "s|$work/scepd.db|$work/import.db|" -e "s|$work/state|$work/import-state|" \
  "$work/scepd.conf" >"$work/import.conf"
check "scepctl ca import --key-uri uses the key already in the token" \
  bash -c "'$SCEPCTL' --config '$work/import.conf' ca import --name imported --cert '$ca' --key-uri '$URI' >'$work/import.log' 2>&1 && [ ! -e '$work/import-state/cas/imported/ca.key' ]"
check "ca import --key-uri refuses a key the token does not hold" \
  bash -c "! '$SCEPCTL' --config '$work/import.conf' ca import --name wrong --cert '$ca' --key-uri 'pkcs11:token=scepd-ca;object=nope' >'$work/import2.log' 2>&1 && grep -q 'holds no private key' '$work/import2.log'"
check "a PIN inside the URI is refused" \
  bash -c "! '$SCEPCTL' --config '$work/scepd.conf' ca init --name hsm3 --subject 'CN=x' --key-uri 'pkcs11:token=scepd-ca;object=x?pin-value=1234' >'$work/init3.log' 2>&1 && grep -q 'pin-value is refused' '$work/init3.log'"
# An RA whose key is in the token too: certmonger needs RA + CA from GetCACert.
check "scepctl ra issue --key-uri" \
  bash -c "'$SCEPCTL' --config '$work/scepd.conf' ra issue --alias ra --key-uri 'pkcs11:token=scepd-ca;object=ra-1' >'$work/ra.log' 2>&1"
check "the alias's ra.key is the URI" grep -q '^ra.ra.key *= *pkcs11:token=scepd-ca;object=ra-1' "$work/scepd.conf"
# A split RA (NDES-style): both keys in the token.
check "scepctl ra issue --split --key-uri --sign-key-uri" \
  bash -c "'$SCEPCTL' --config '$work/scepd.conf' ra issue --alias split --split --key-uri 'pkcs11:token=scepd-ca;object=ra-enc' --sign-key-uri 'pkcs11:token=scepd-ca;object=ra-sign' >'$work/ra-split.log' 2>&1"
check "the split alias's ra.key and ra.signkey are the URIs" \
  bash -c "grep -q '^split.ra.key *= *pkcs11:token=scepd-ca;object=ra-enc' '$work/scepd.conf' && grep -q '^split.ra.signkey *= *pkcs11:token=scepd-ca;object=ra-sign' '$work/scepd.conf'"
check "one key for both halves of a split RA is refused" \
  bash -c "! '$SCEPCTL' --config '$work/scepd.conf' ra issue --alias split2 --split --key-uri 'pkcs11:token=scepd-ca;object=x' --sign-key-uri 'pkcs11:token=scepd-ca;object=x' >/dev/null 2>&1"
for user in cli-1 cli-2 cli-3; do
  ctl ee add --username "$user" --password "pw-$user" --dn "CN=$user" >>"$work/ctl.log" 2>&1
done
for user in cm-1 ra-1; do
  ctl ee add --username "$user" --password "pw-$user" --dn "CN=$user" --alias ra >>"$work/ctl.log" 2>&1
done
ctl ee add --username sp-1 --password pw-sp-1 --dn CN=sp-1 --alias split >>"$work/ctl.log" 2>&1

# ---- start: wrong PIN, then the right one --------------------------------------------------
sed -i "s|^pkcs11_pin_file = .*|pkcs11_pin_file = $work/wrong-pin|" "$work/scepd.conf"
it_scepd_check >"$work/check-wrong.log" 2>&1
check "scepd refuses to start with a wrong PIN, saying so" \
  bash -c "[ $? -ne 0 ] && grep -qi 'login .*failed.*PIN' '$work/check-wrong.log'"
check "the PIN is not in scepd's message" bash -c "! grep -q '$user_pin' '$work/check-wrong.log'"
sed -i "s|^pkcs11_pin_file = .*|pkcs11_pin_file = $work/pin|" "$work/scepd.conf"

it_start_scepd || exit 1
URL=http://127.0.0.1:$port/scep/pkiclient.exe
RA_URL=http://127.0.0.1:$port/scep/ra/pkiclient.exe
enroll() { # enroll USER [CA_CERT]
  "$SCEP" enroll -u "$URL" -c "${2:-$ca}" -k "$work/$1.key" --subject "CN=$1" \
    --challenge "pw-$1" -l "$work/$1.pem" >"$work/$1.log" 2>&1
}
check "scep enroll: CMS decrypted and certificate signed by the token key" enroll cli-1
check "the certificate chains to the token CA" \
  bash -c "openssl verify -CAfile '$ca' '$work/cli-1.pem' >/dev/null"
if command -v certmonger >/dev/null && [ -x /usr/lib/certmonger/scep-submit ]; then
  peer_certmonger_enroll "$RA_URL" "$work/cm-1" cm-1 pw-cm-1
  check "certmonger enrolls through the token RA" \
    bash -c "openssl verify -CAfile '$ca' '$work/cm-1/cert.pem' >/dev/null"
else
  echo "note: certmonger is not installed; its check is skipped"
fi
check "scep enroll through the token RA" \
  "$SCEP" enroll -u "$RA_URL" -c "$ca" -k "$work/ra-1.key" --subject CN=ra-1 \
  --challenge pw-ra-1 -l "$work/ra-1.pem"
check "scep enroll through the split RA whose two keys are in the token" \
  "$SCEP" enroll -u "http://127.0.0.1:$port/scep/split/pkiclient.exe" -c "$ca" -k "$work/sp-1.key" \
  --subject CN=sp-1 --challenge pw-sp-1 -l "$work/sp-1.pem"

# ---- CRL signed by the token key ------------------------------------------------------------
serial=$(openssl x509 -in "$work/cli-1.pem" -noout -serial | cut -d= -f2)
ctl cert revoke --serial "$serial" --reason keyCompromise >"$work/revoke.log" 2>&1
check "scepctl crl generate with the token key" \
  bash -c "'$SCEPCTL' --config '$work/scepd.conf' crl generate --ca hsm >'$work/crlgen.log' 2>&1"
curl -s -o "$work/crl.der" "http://127.0.0.1:$port/crl/hsm.crl"
check "the CRL verifies with the token CA and lists the revoked serial" \
  bash -c "openssl crl -inform DER -in '$work/crl.der' -CAfile '$ca' -noout 2>&1 | grep -q 'verify OK' && openssl crl -inform DER -in '$work/crl.der' -noout -text | grep -q '$serial'"

# ---- the token goes away and comes back -----------------------------------------------------
touch "$P11SHIM_DOWN"
sleep 3 # scepd checks a healthy token every 2 s
enroll cli-2
down_rc=$?
check "enrollment fails while the token is gone" test "$down_rc" -ne 0
check "scepd is still running" kill -0 "$scepd_pid"
check "the failure is logged, and answered 503" \
  bash -c "grep -q 'warn event=token_unavailable' '$work/scepd.log' && grep -q 'http_status=503 outcome=token_unavailable' '$work/scepd.log'"
rm -f "$P11SHIM_DOWN"
recovered=1
for _ in $(seq 1 15); do
  if enroll cli-2; then recovered=0; break; fi
  sleep 1
done
check "enrollment works again once the token is back (no restart)" test "$recovered" -eq 0

# ---- rollover to a second token key ---------------------------------------------------------
activate=$(($(date +%s) + 5))
check "scepctl ca rollover --key-uri (new key in the token)" \
  bash -c "'$SCEPCTL' --config '$work/scepd.conf' ca rollover --name hsm --activate-at @$activate --key rsa:2048 --key-uri 'pkcs11:token=scepd-ca;object=ca-2' >'$work/roll.log' 2>&1"
it_hup
for _ in $(seq 1 50); do grep -q "event=rollover_loaded" "$work/scepd.log" && break; sleep 0.1; done
check "scepd loaded the next token key" grep -q "event=rollover_loaded" "$work/scepd.log"
for _ in $(seq 1 100); do [ "$(date +%s)" -gt "$activate" ] && break; sleep 0.1; done
next=$work/state/cas/hsm/next.pem
check "enrollment after activation, signed by the second token key" enroll cli-3 "$next"
check "it chains to the next CA certificate only" \
  bash -c "openssl verify -CAfile '$next' '$work/cli-3.pem' >/dev/null && ! openssl verify -CAfile '$ca' '$work/cli-3.pem' >/dev/null 2>&1"
check "no PIN in scepd's log" bash -c "! grep -q '$user_pin' '$work/scepd.log'"

it_finish
