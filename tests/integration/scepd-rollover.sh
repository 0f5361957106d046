#!/usr/bin/env bash
# CA rollover (RFC 8894 §4.7) as an operator runs it: `scepctl ca rollover` schedules a
# next certificate, scepd (after SIGHUP) announces it with GetNextCACert, which our
# `scep getnextca` verifies against the current CA; after the activation time scepd's
# GetCACert returns the new certificate without a restart, new enrollments chain to it,
# and a certificate the old CA issued still verifies with the old CA certificate.
#
# usage: scepd-rollover.sh SCEPD SCEPCTL SCEP
set -u
SCEPD=$1
SCEPCTL=$2
SCEP=$3
for tool in openssl curl; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done

. "$(dirname "$0")/lib.sh"
it_init roll

cat >"$work/scepd.conf" <<CONF
listen = 127.0.0.1:0
database = sqlite:$work/scepd.db
state_dir = $work/state
pid_file = $work/scepd.pid
CONF
ctl ca init --name roll --subject "CN=Rollover CA,O=scepd" --key rsa:2048 >"$work/ctl.log" 2>&1 ||
  { cat "$work/ctl.log"; echo "FAIL: ca init"; exit 1; }
for user in before after; do
  ctl ee add --username "$user" --password "pw-$user" --dn "CN=$user" >>"$work/ctl.log" 2>&1
done
old_ca=$work/state/cas/roll/ca.pem

it_start_scepd || exit 1
URL=http://127.0.0.1:$port/scep/pkiclient.exe
fp=$(openssl x509 -in "$old_ca" -noout -fingerprint -sha256 | cut -d= -f2)

check "no GetNextCACert in the caps before a rollover" \
  bash -c "! '$SCEP' getcaps -u '$URL' | grep -q GetNextCACert"
check "enrollment under the old CA" \
  "$SCEP" enroll -u "$URL" -c "$old_ca" -k "$work/before.key" --subject CN=before \
  --challenge pw-before -l "$work/before.pem"

# ---- schedule: activation a few seconds ahead -------------------------------------------
activate=$(($(date +%s) + 6))
check "scepctl ca rollover" ctl ca rollover --name roll --activate-at "@$activate" --key rsa:2048
next_key=$work/state/cas/roll/next.key
check "next.key is 0600" bash -c "[ \"\$(stat -c %a '$next_key')\" = 600 ]"
check "a second rollover is refused while one is scheduled" \
  bash -c "! '$SCEPCTL' --config '$work/scepd.conf' ca rollover --name roll 2>/dev/null"
it_hup
for _ in $(seq 1 50); do grep -q "event=rollover_loaded" "$work/scepd.log" && break; sleep 0.1; done

check "caps list GetNextCACert once a next certificate is announced" \
  bash -c "'$SCEP' getcaps -u '$URL' | grep -qx GetNextCACert"
check "scep getnextca verifies the announcement against the current CA" \
  "$SCEP" getnextca -u "$URL" -c "$work/next.pem" --fingerprint "$fp"
check "the announced certificate is the one scepctl wrote" \
  cmp <(openssl x509 -in "$work/next.pem" -outform DER) \
      <(openssl x509 -in "$work/state/cas/roll/next.pem" -outform DER)
check "GetCACert still returns the old CA before activation" \
  bash -c "'$SCEP' getca -u '$URL' -c '$work/ca-before.pem' --fingerprint '$fp' >/dev/null"

# ---- after activation ------------------------------------------------------------------
for _ in $(seq 1 100); do [ "$(date +%s)" -gt "$activate" ] && break; sleep 0.1; done
next_fp=$(openssl x509 -in "$work/next.pem" -noout -fingerprint -sha256 | cut -d= -f2)
check "after activation scep getca returns the new CA (no restart)" \
  "$SCEP" getca -u "$URL" -c "$work/ca-after.pem" --fingerprint "$next_fp"
check "GetNextCACert stops after activation" \
  bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' '$URL?operation=GetNextCACert')\" = 404 ]"
check "enrollment after activation" \
  "$SCEP" enroll -u "$URL" -c "$work/next.pem" -k "$work/after.key" --subject CN=after \
  --challenge pw-after -l "$work/after.pem"
check "the new certificate chains to the new CA" \
  bash -c "openssl verify -CAfile '$work/next.pem' '$work/after.pem' >/dev/null"
check "the new certificate does not verify with the old CA" \
  bash -c "! openssl verify -CAfile '$old_ca' '$work/after.pem' >/dev/null 2>&1"
check "the old CA's certificate still verifies with the old CA certificate" \
  bash -c "openssl verify -CAfile '$old_ca' '$work/before.pem' >/dev/null"

it_finish
