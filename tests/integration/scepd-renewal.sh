#!/usr/bin/env bash
# Client certificate renewal against a real scepd: our `scep renew` CLI with both message
# types (RenewalReq, PKCSReq signed by the old certificate), the half-life refusal, old key
# reuse, revoke-old (the old serial on the CRL as superseded), renewal switched off, and
# certmonger 0.79.17 renewing (`getcert rekey`) a certificate it enrolled.
#
# usage: scepd-renewal.sh SCEPD SCEPCTL SCEP
set -u
SCEPD=$1
SCEPCTL=$2
SCEP=$3
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=peers.sh
. "$HERE/peers.sh"
PEER_TIMEOUT=${PEER_TIMEOUT:-40}
for tool in openssl curl; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done

. "$(dirname "$0")/lib.sh"
it_init renewal

# Aliases: `renew` (no half-life wait, revoke-old), `strict` (defaults: half-life, new key,
# same subject), `oldkey` (the old key may be reused), `cm` (certmonger), `scep` (renewal off).
# Each end entity enrolls and renews through its own alias only.
cat >"$work/scepd.conf" <<CONF
listen = 127.0.0.1:0
database = sqlite:$work/scepd.db
state_dir = $work/state
renew.clientCertificateRenewal = true
renew.renewal.afterHalfLife = false
renew.renewal.revokeOld = true
strict.clientCertificateRenewal = true
oldkey.clientCertificateRenewal = true
oldkey.renewal.afterHalfLife = false
oldkey.allowClientCertificateRenewaWithOldKey = true
cm.clientCertificateRenewal = true
cm.renewal.afterHalfLife = false
scep.clientCertificateRenewal = false
CONF
# A two-tier CA as in scepd-vs-peers.sh: certmonger's PKCS7_verify wants the reply signer
# to chain to a separate root (docs/interop-peers.md).
it_make_two_tier_ca Renewal
ctl ca import --name renewca --cert "$work/pki/chain.pem" --key "$work/pki/issuing.key" \
  >"$work/ctl.log" 2>&1 || { cat "$work/ctl.log"; echo "FAIL: scepctl ca import"; exit 1; }
for pair in dev-1:renew dev-2:strict dev-3:oldkey dev-4:renew dev-5:scep cm-dev:cm; do
  user=${pair%%:*}
  ctl ee add --username "$user" --password "pw-$user" --dn "CN=$user" --alias "${pair#*:}" \
    >>"$work/ctl.log" 2>&1 || { cat "$work/ctl.log"; echo "FAIL: ee add $user"; exit 1; }
done
ca=$work/pki/issuing.pem

it_start_scepd || exit 1
url() { echo "http://127.0.0.1:$port/scep/$1/pkiclient.exe"; }
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
same_subject() {
  [ "$(openssl x509 -in "$1" -noout -subject)" = "$(openssl x509 -in "$2" -noout -subject)" ]
}

check "GetCACaps lists Renewal on an alias with renewal" \
  bash -c "curl -s '$(url renew)?operation=GetCACaps' | grep -qx Renewal"
check "GetCACaps has no Renewal where it is off" \
  bash -c "! curl -s '$(url scep)?operation=GetCACaps' | grep -q Renewal"

enroll() { # enroll ALIAS USER
  "$SCEP" enroll -u "$(url "$1")" -c "$ca" -k "$work/$2.key" --subject "CN=$2" \
    --challenge "pw-$2" -l "$work/$2.pem" >>"$work/scep.log" 2>&1
}
renew() { # renew ALIAS USER TYPE NEWNAME [more options]
  local alias=$1 user=$2 type=$3 new=$4
  shift 4
  "$SCEP" renew -u "$(url "$alias")" -c "$ca" -O "$work/$user.pem" -K "$work/$user.key" \
    -k "$work/$new.key" --subject "CN=$user" -l "$work/$new.pem" --renewal-type "$type" "$@" \
    >>"$work/scep.log" 2>&1
}

# ---- RenewalReq, then PKCSReq signed by the renewed certificate (renew: revoke-old) ------
check "enroll dev-1" enroll renew dev-1
check "scep renew --renewal-type renewalreq" renew renew dev-1 renewalreq dev-1b
check "the renewed certificate verifies, keeps the subject, has a new key" \
  bash -c "openssl verify -CAfile '$work/pki/chain.pem' '$work/dev-1b.pem' >/dev/null &&
    [ \"\$(openssl x509 -in '$work/dev-1.pem' -noout -subject)\" = \"\$(openssl x509 -in '$work/dev-1b.pem' -noout -subject)\" ] &&
    [ \"\$(openssl x509 -in '$work/dev-1.pem' -noout -pubkey)\" != \"\$(openssl x509 -in '$work/dev-1b.pem' -noout -pubkey)\" ]"
check "scep renew --renewal-type pkcsreq (signed by the renewed certificate)" \
  renew renew dev-1b pkcsreq dev-1c --subject CN=dev-1
"$SCEP" getcrl -u "$(url renew)" -c "$ca" -k "$work/dev-1c.key" -l "$work/dev-1c.pem" \
  -w "$work/crl.pem" >>"$work/scep.log" 2>&1
old1=$(serial_of "$work/dev-1.pem")
old2=$(serial_of "$work/dev-1b.pem")
check "revokeOld: both replaced certificates are on the CRL as superseded" \
  bash -c "openssl crl -in '$work/crl.pem' -noout -text > '$work/crl.txt' &&
    grep -A5 -i 'Serial Number: 0*$old1' '$work/crl.txt' | grep -q Superseded &&
    grep -A5 -i 'Serial Number: 0*$old2' '$work/crl.txt' | grep -q Superseded"
renew renew dev-1 renewalreq dev-1x
rc=$?
check "a superseded certificate cannot renew again (exit 72, badRequest)" test $rc -eq 72
check "... and the reason is given" grep -q "revoked" "$work/scep.log"
ctl cert list >"$work/certs.txt" 2>&1
check "the renewed certificates belong to the end entity dev-1" \
  bash -c "[ \$(grep -c 'dev-1' '$work/certs.txt') -ge 3 ]"

# ---- the defaults: half-life, new key, same subject ---------------------------------------
check "enroll dev-2 on strict" enroll strict dev-2
renew strict dev-2 renewalreq dev-2b
rc=$?
check "renewal before half of the validity is refused (exit 72)" test $rc -eq 72
check "... naming the UTC time from which it is allowed" \
  grep -Eq "can be renewed from [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z" "$work/scep.log"

check "enroll dev-3 on oldkey" enroll oldkey dev-3
cp "$work/dev-3.key" "$work/dev-3same.key"
check "oldkey: renewal with the old key pair is accepted" renew oldkey dev-3 pkcsreq dev-3same
check "... and certifies the same key" bash -c \
  "[ \"\$(openssl x509 -in '$work/dev-3.pem' -noout -pubkey)\" = \"\$(openssl x509 -in '$work/dev-3same.pem' -noout -pubkey)\" ]"
: >"$work/scep.log"
renew renew dev-3 renewalreq dev-3r
rc=$?
check "dev-3 (alias oldkey) cannot renew through renew (exit 72)" test $rc -eq 72
check "... the end entity does not enroll through this alias" \
  grep -q "the end entity does not enroll through this alias" "$work/scep.log"
check "enroll dev-4 on renew" enroll renew dev-4
cp "$work/dev-4.key" "$work/dev-4k.key"
: >"$work/scep.log"
renew renew dev-4 renewalreq dev-4k
rc=$?
check "renew (new key required): the old key pair is refused (exit 72)" test $rc -eq 72
check "... saying why" grep -q "reuses the old certificate's key" "$work/scep.log"
: >"$work/scep.log"
renew renew dev-4 renewalreq dev-4s --subject CN=someone-else
rc=$?
check "a CSR subject other than the old certificate's is refused" test $rc -eq 72
check "... saying why" grep -q "subject differs from the old certificate's subject" "$work/scep.log"

# ---- renewal off -----------------------------------------------------------------------
check "enroll dev-5 on scep" enroll scep dev-5
: >"$work/scep.log"
renew scep dev-5 renewalreq dev-5off
rc=$?
check "RenewalReq where renewal is off: exit 72" test $rc -eq 72
check "... 'not enabled on this alias'" \
  grep -q "client certificate renewal is not enabled on this alias" "$work/scep.log"
check "same-subject sanity" same_subject "$work/dev-3.pem" "$work/dev-3same.pem"

# ---- certmonger: enroll, then `getcert rekey` renews with a PKCSReq/RenewalReq -------------
if ! command -v certmonger >/dev/null || [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: certmonger part (needs certmonger and root, as in scepd-vs-peers.sh)"
else
  cmdir=$work/certmonger
  mkdir -p "$cmdir"
  (
    _peer_certmonger_env "$cmdir/cm" || exit 1
    cat >"$cmdir/inner.sh" <<'INNER'
set -u
url=$1 dir=$2 limit=$3
wait_state() {
  local state=
  for ((i = 0; i < limit * 2; i++)); do
    state=$(getcert list -i peer | sed -n 's/^[[:space:]]*status: //p')
    case $state in
      MONITORING|CA_REJECTED|CA_UNREACHABLE|CA_UNCONFIGURED|NEED_GUIDANCE|NEED_CA) break ;;
    esac
    sleep 0.5
  done
  echo "$state"
}
getcert add-scep-ca -c scepca -u "$url" || exit 1
for ((i = 0; i < limit * 2; i++)); do
  getcert list-cas -c scepca 2>/dev/null | grep -q 'CA certificate thumbprint' && break
  sleep 0.5
done
getcert request -c scepca -k "$dir/key.pem" -f "$dir/cert.pem" -I peer \
  -L pw-cm-dev -N CN=cm-dev -G RSA -g 2048 || exit 1
echo "first: $(wait_state)" >"$dir/status"
cp "$dir/cert.pem" "$dir/first.pem"
getcert rekey -i peer -G RSA -g 2048 >>"$dir/status" 2>&1
sleep 1
echo "rekey: $(wait_state)" >>"$dir/status"
getcert list -i peer >>"$dir/status" 2>&1
INNER
    exec timeout "$PEER_TIMEOUT" certmonger -n -L -P "$cmdir/cm/sock" -d 2 \
      -c "bash $cmdir/inner.sh '$(url cm)' '$cmdir' $((PEER_TIMEOUT / 2))"
  ) >"$cmdir/certmonger.log" 2>&1
  check "certmonger enrolls with the code" grep -q "^first: MONITORING" "$cmdir/status"
  check "certmonger renews (getcert rekey) without a new code" \
    bash -c "grep -q '^rekey: MONITORING' '$cmdir/status' &&
      [ \"\$(openssl x509 -in '$cmdir/first.pem' -noout -serial)\" != \"\$(openssl x509 -in '$cmdir/cert.pem' -noout -serial)\" ]"
  # certmonger 0.79.17 sends a PKCSReq signed by the old certificate (interop.md §6); had it
  # been taken for an enrollment, the spent code would have been refused.
  check "scepd took certmonger's request as a renewal of the first certificate" \
    grep -q "user cm-dev renewed serial $(serial_of "$cmdir/first.pem" 2>/dev/null || echo none)" \
    "$work/scepd.log"
fi

it_finish
