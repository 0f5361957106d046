#!/usr/bin/env bash
# Client certificate renewal with micromdm's scepclient 2.1.0 in CA mode. scepclient has no
# renewal flag: run again in a directory that holds its key.pem, csr.pem and cert.pem, it
# sends a RenewalReq signed by cert.pem (with the CSR it saved, so the same key and
# subject) under the transactionID it derives from the key, i.e. the enrollment's, and
# overwrites cert.pem with the reply.
#  - alias `mdm` (clientCertificateRenewal, allowClientCertificateRenewaWithOldKey,
#    renewal.afterHalfLife = false): the renewal is a new transaction and issues a new
#    certificate (new serial, same subject and key) that verifies; scepd logs "renewed".
#  - negative control, alias `newkey` (the same without the old key allowed): refused.
#  - the end entity's registered DN must be the subject scepclient asks for
#    (C=US,O=scep-client,OU=MDM,CN=...): CA mode issues the registered subject and a
#    renewal must ask for the old certificate's subject, which scepclient's saved CSR does
#    not when they differ (checked too).
#
# usage: scepd-renew-micromdm.sh SCEPD SCEPCTL
# scepd listens on 127.0.0.1 only, so no network namespace is needed.
set -u
SCEPD=$1
SCEPCTL=$2
HERE=$(cd "$(dirname "$0")" && pwd)
PEER_TIMEOUT=${PEER_TIMEOUT:-40}

for tool in scepclient openssl; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool is not installed (make deps installs it)"
    exit 77
  fi
done

. "$HERE/lib.sh"
it_init renew-micromdm

cat >"$work/scepd.conf" <<CONF
listen = 127.0.0.1:0
database = sqlite:$work/scepd.db
state_dir = $work/state
legacy_algorithms = true
default_alias = mdm
# micromdm's scepclient 2.1.0 always sends single DES with SHA-1.
mdm.legacy = true
mdm.clientCertificateRenewal = true
mdm.allowClientCertificateRenewaWithOldKey = true
mdm.renewal.afterHalfLife = false
newkey.legacy = true
newkey.clientCertificateRenewal = true
newkey.allowClientCertificateRenewaWithOldKey = false
newkey.renewal.afterHalfLife = false
CONF
ctl ca init --name mdmca --subject "CN=Renewal Test CA,O=scepd test" --key rsa:2048 --days 30 \
  >"$work/ctl.log" 2>&1 || { cat "$work/ctl.log"; echo "FAIL: scepctl ca init"; exit 1; }
# scepclient's subject: -cn with its defaults -country US -organization scep-client -ou MDM.
for user in sc-renew:mdm sc-newkey:newkey; do
  ctl ee add --username "${user%%:*}" --password "code-${user%%:*}" \
    --dn "CN=${user%%:*},OU=MDM,O=scep-client,C=US" --alias "${user#*:}" >>"$work/ctl.log" 2>&1 ||
    { cat "$work/ctl.log"; echo "FAIL: scepctl ee add ${user%%:*}"; exit 1; }
done
ctl ee add --username sc-otherdn --password code-sc-otherdn --dn "CN=sc-otherdn,O=Example" \
  --alias mdm >>"$work/ctl.log" 2>&1 || { cat "$work/ctl.log"; echo "FAIL: scepctl ee add"; exit 1; }
ca=$work/state/cas/mdmca/ca.pem

it_start_scepd || exit 1
url() { echo "http://127.0.0.1:$port/scep/$1/pkiclient.exe"; }

# sc_run DIR ALIAS CN CHALLENGE: scepclient in DIR; keeps key.pem, csr.pem and cert.pem
# there, so a second run with cert.pem present is its renewal. Output appended to
# DIR/scepclient.log; returns scepclient's status.
sc_run() {
  local dir=$1 alias=$2 cn=$3 challenge=$4
  mkdir -p "$dir" || return 1
  echo "---- $(date -u +%FT%TZ)" >>"$dir/scepclient.log"
  (cd "$dir" && timeout "$PEER_TIMEOUT" scepclient -server-url "$(url "$alias")" \
    -challenge "$challenge" -private-key key.pem -certificate cert.pem -cn "$cn" \
    -debug) >>"$dir/scepclient.log" 2>&1
}
serial_of() { openssl x509 -in "$1" -noout -serial 2>/dev/null | cut -d= -f2; }
verifies() { openssl verify -CAfile "$ca" "$1" >/dev/null 2>&1; }
# tx_of SERIAL: the transactionID scepd logged for the request that issued SERIAL.
tx_of() {
  grep -E "outcome=success .*(issued serial|as) $1" "$work/scepd.log" |
    sed -n 's/.* transaction_id=\([^ ]*\) .*/\1/p' | head -1
}

# ---- enrollment, then renewal with the same key on `mdm` ---------------------------------
dir=$work/sc-renew
sc_run "$dir" mdm sc-renew code-sc-renew
check "scepclient enrolls (PKCSReq)" bash -c "[ $? -eq 0 ] && [ -s '$dir/cert.pem' ]"
cp "$dir/cert.pem" "$dir/first.pem" 2>/dev/null
check "the first certificate verifies and has scepclient's subject" \
  bash -c "openssl verify -CAfile '$ca' '$dir/first.pem' >/dev/null &&
    [ \"\$(openssl x509 -in '$dir/first.pem' -noout -subject -nameopt RFC2253)\" = 'subject=CN=sc-renew,OU=MDM,O=scep-client,C=US' ]"
first=$(serial_of "$dir/first.pem")

sc_run "$dir" mdm sc-renew code-sc-renew
rc=$?
check "scepclient run again with its certificate: exit 0" test $rc -eq 0
check "scepclient sent a RenewalReq signed by its certificate" \
  bash -c "grep -q 'message_type=RenewalReq .*outcome=success' '$work/scepd.log' &&
    grep -q 'signer_cn=sc-renew' '$dir/scepclient.log'"
second=$(serial_of "$dir/cert.pem")
check "the renewed certificate has a new serial ($first -> $second)" \
  bash -c "[ -n '$first' ] && [ -n '$second' ] && [ '$first' != '$second' ]"
check "the renewed certificate verifies" verifies "$dir/cert.pem"
check "the renewed certificate has the same subject" \
  bash -c "[ -n \"\$(openssl x509 -in '$dir/cert.pem' -noout -subject)\" ] &&
    [ \"\$(openssl x509 -in '$dir/first.pem' -noout -subject)\" = \"\$(openssl x509 -in '$dir/cert.pem' -noout -subject)\" ]"
check "the renewed certificate certifies the same key (old key allowed)" \
  bash -c "[ \"\$(openssl x509 -in '$dir/first.pem' -noout -pubkey)\" = \"\$(openssl x509 -in '$dir/cert.pem' -noout -pubkey)\" ]"
check "scepd logged it as renewed: 'user sc-renew renewed serial $first as $second'" \
  grep -q "message_type=RenewalReq .*outcome=success.*user sc-renew renewed serial $first as $second" \
  "$work/scepd.log"
tx1=$(tx_of "$first")
tx2=$(tx_of "$second")
check "the renewal came under the enrollment's transactionID and was a new transaction" \
  bash -c "[ -n '$tx1' ] && [ '$tx1' = '$tx2' ] && ! grep -q 'transaction_id=$tx1 .*message_type=RenewalReq.*sent again' '$work/scepd.log'"
check "scepctl cert list has both certificates" \
  bash -c "'$SCEPCTL' --config '$work/scepd.conf' cert list 2>/dev/null | grep -ic '$first\|$second' | grep -qx 2"

# A third run renews the renewed certificate. scepclient sends what it sent the first time
# (same transactionID, key, CSR, messageType) except the signer certificate: the renewed
# one, whose serial tells scepd it is a new transaction (docs/security.md).
cp "$dir/cert.pem" "$dir/second.pem"
sc_run "$dir" mdm sc-renew code-sc-renew
rc=$?
third=$(serial_of "$dir/cert.pem")
check "scepclient renews again (exit 0)" test $rc -eq 0
check "the second renewal with the same key is a new certificate, not the first renewal again" \
  bash -c "[ -n '$third' ] && [ '$third' != '$second' ] && [ '$third' != '$first' ] &&
    grep -q 'user sc-renew renewed serial $second as $third' '$work/scepd.log'"

# ---- negative control: the old key is not allowed on `newkey` ----------------------------
nk=$work/sc-newkey
sc_run "$nk" newkey sc-newkey code-sc-newkey
check "scepclient enrolls on newkey" verifies "$nk/cert.pem"
cp "$nk/cert.pem" "$nk/first.pem" 2>/dev/null
sc_run "$nk" newkey sc-newkey code-sc-newkey
rc=$?
check "newkey: renewal with the same key refused (exit $rc, badRequest)" \
  bash -c "[ $rc -ne 0 ] && grep -q 'RenewalReq (17) request failed, failInfo: badRequest' '$nk/scepclient.log'"
check "newkey: scepd says the old key is reused" \
  grep -q "alias=newkey .*message_type=RenewalReq .*outcome=failure.*user sc-newkey: renewal with the old key pair" \
  "$work/scepd.log"
check "newkey: no new certificate (cert.pem unchanged)" cmp -s "$nk/first.pem" "$nk/cert.pem"

# ---- a registered DN other than scepclient's subject: its renewal cannot match -----------
od=$work/sc-otherdn
sc_run "$od" mdm sc-otherdn code-sc-otherdn
check "scepclient enrolls sc-otherdn; CA mode issues the registered subject" \
  bash -c "openssl verify -CAfile '$ca' '$od/cert.pem' >/dev/null &&
    [ \"\$(openssl x509 -in '$od/cert.pem' -noout -subject -nameopt RFC2253)\" = 'subject=CN=sc-otherdn,O=Example' ]"
sc_run "$od" mdm sc-otherdn code-sc-otherdn
rc=$?
check "its renewal (the CSR keeps scepclient's subject) is refused: subject differs" \
  bash -c "[ $rc -ne 0 ] && grep -q 'user sc-otherdn: CSR subject differs from the old certificate' '$work/scepd.log'"

if [ "$failed" -ne 0 ]; then
  tail -5 "$dir/scepclient.log" "$nk/scepclient.log" "$od/scepclient.log" 2>/dev/null
fi
it_finish
