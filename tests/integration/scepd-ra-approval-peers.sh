#!/usr/bin/env bash
# Manual approval in RA mode against real clients: scepd with an RA alias `rahold`
# (ra.authPwd, approval = manual) on a two-tier CA.
#  - certmonger enrolls with the RA secret: the request is held (CA_WORKING), scepctl
#    request list/show name it, the operator approves, certmonger (restarted, so that it
#    sends the held transaction again at once) reaches MONITORING with a certificate that
#    verifies and carries the requested subject.
#  - strongSwan `pki --scep` polls (--interval/--maxpolltime) while the script approves;
#    it gets the certificate. A third request, rejected while pki polls, makes pki fail.
#  - positive control: RA alias `ranow` (no manual approval) issues to both at once.
#
# usage: scepd-ra-approval-peers.sh SCEPD SCEPCTL
# scepd listens on 127.0.0.1 only, so no network namespace is needed.
set -u
SCEPD=$1
SCEPCTL=$(realpath "$2")
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=peers.sh
. "$HERE/peers.sh"
PEER_TIMEOUT=${PEER_TIMEOUT:-40}

for tool in certmonger getcert pki openssl curl; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool is not installed (make deps installs it)"
    exit 77
  fi
done

. "$HERE/lib.sh"
it_init ra-approval-peers

mkdir -p "$work/state"
it_make_two_tier_ca RaHold

SECRET=ra-Hold-Secret-3
cat >"$work/scepd.conf" <<CONF
listen = 127.0.0.1:0
database = sqlite:$work/scepd.db
state_dir = $work/state
threads = 4
default_alias = ranow
rahold.operationmode = ra
rahold.ra.authPwd = $SECRET
rahold.approval = manual
rahold.pendingexpiry = 1h
ranow.operationmode = ra
ranow.ra.authPwd = $SECRET
CONF

ctl ca import --name issuing --cert "$work/pki/chain.pem" --key "$work/pki/issuing.key" \
  >"$work/ctl.log" 2>&1 || { cat "$work/ctl.log"; echo "FAIL: scepctl ca import"; exit 1; }

it_start_scepd || exit 1
base=http://127.0.0.1:$port
HOLD=$base/scep/rahold/pkiclient.exe
NOW=$base/scep/ranow/pkiclient.exe

verify_cert() { # verify_cert CERT SUBJECT (RFC 2253, exact)
  openssl verify -CAfile "$work/pki/root.pem" -untrusted "$work/pki/issuing.pem" "$1" >/dev/null 2>&1 &&
    [ "$(openssl x509 -in "$1" -noout -subject -nameopt RFC2253)" = "subject=$2" ]
}
pending_id() { # pending_id CN: the id of the pending request on rahold for CN=<CN>
  ctl request list --status pending --alias rahold 2>/dev/null |
    awk -F'\t' -v s="CN=$1" '$6 == s {print $1}' | head -1
}
wait_pending_id() { # wait_pending_id CN [SECONDS]: prints the id once the request is held
  local i id
  for ((i = 0; i < ${2:-20} * 2; i++)); do
    id=$(pending_id "$1")
    [ -n "$id" ] && { echo "$id"; return 0; }
    sleep 0.5
  done
  return 1
}

# ---- certmonger: CA_WORKING while held, MONITORING once approved -------------------------
# Two certmonger runs on the same state directory. The first requests and stops once the
# request is held; the operator approves; the second resumes the CA_WORKING request at
# start, sending its stored PKCSReq again (the same transaction: a retransmission, which
# gets the approved certificate) instead of waiting for its own poll delay (far too long
# for a test). `getcert resubmit` would not do: certmonger 0.79.17 makes a new CSR (with a
# new subjectKeyIdentifier), which scepd rightly takes for a new request and holds again.
cmdir=$work/cm-hold
mkdir -p "$cmdir"
cat >"$cmdir/request.sh" <<'INNER'
set -u
url=$1 dir=$2 scepctl=$3 conf=$4 secret=$5 limit=$6
status() { getcert list -i peer | sed -n 's/^[[:space:]]*status: //p'; }
getcert add-scep-ca -c scepca -u "$url" || exit 1
for ((i = 0; i < limit * 2; i++)); do
  getcert list-cas -c scepca 2>/dev/null | grep -q 'CA certificate thumbprint' && break
  sleep 0.5
done
getcert request -c scepca -k "$dir/key.pem" -f "$dir/cert.pem" -I peer \
  -L "$secret" -N "CN=cm-hold,O=Example" -G RSA -g 2048 || exit 1
# Held: scepd has the request as pending and certmonger waits for the CA (CA_WORKING).
id=
for ((i = 0; i < limit * 2; i++)); do
  [ -z "$id" ] && id=$("$scepctl" --config "$conf" request list --status pending --alias rahold \
    2>/dev/null | awk -F'\t' '$6 ~ /(^|,)CN=cm-hold(,|$)/ {print $1}' | head -1)
  [ -n "$id" ] && [ "$(status)" = CA_WORKING ] && break
  sleep 0.5
done
getcert list -i peer >"$dir/pending.list" 2>&1
[ -n "$id" ] && echo "$id" >"$dir/id"
# Still held a little later: nothing issues before the operator decides.
sleep 2
getcert list -i peer >"$dir/still.list" 2>&1
INNER
cat >"$cmdir/resume.sh" <<'INNER'
set -u
dir=$1 limit=$2
state=
for ((i = 0; i < limit * 2; i++)); do
  state=$(getcert list -i peer | sed -n 's/^[[:space:]]*status: //p')
  case $state in MONITORING|CA_REJECTED|CA_UNREACHABLE|NEED_GUIDANCE) break ;; esac
  sleep 0.5
done
getcert list -i peer >"$dir/final.list" 2>&1
INNER
run_certmonger() { # run_certmonger COMMAND: one certmonger session on $cmdir/cm
  (
    _peer_certmonger_env "$cmdir/cm" || exit 1
    exec timeout "$PEER_TIMEOUT" certmonger -n -L -P "$cmdir/cm/sock" -d 2 -c "$1"
  ) >>"$cmdir/certmonger.log" 2>&1
}
run_certmonger "bash $cmdir/request.sh '$HOLD' '$cmdir' '$SCEPCTL' '$work/scepd.conf' '$SECRET' $((PEER_TIMEOUT / 2))"
cm_id=$(cat "$cmdir/id" 2>/dev/null)
cm_tx=$(ctl request list --alias rahold 2>/dev/null | awk -F'\t' -v id="$cm_id" '$1 == id {print $7}')
ctl request show "$cm_id" >"$cmdir/show.log" 2>&1
ctl request approve "$cm_id" >"$cmdir/approve.log" 2>&1
cm_approved=$?
run_certmonger "bash $cmdir/resume.sh '$cmdir' $((PEER_TIMEOUT / 2))"
check "certmonger: the RA request is held, certmonger shows CA_WORKING" \
  grep -q 'status: CA_WORKING' "$cmdir/pending.list"
check "scepctl request list showed it pending on rahold" test -n "$cm_id"
# certmonger (NSS) encodes `-N CN=cm-hold,O=Example` with CN as the first RDN, so the
# CSR's subject in RFC 4514 order is O=Example,CN=cm-hold: compare with what it sent.
sed -n '/^csr=/,/END CERTIFICATE REQUEST/p' "$cmdir"/cm/requests/* 2>/dev/null |
  sed 's/^csr=//; s/^ //' >"$cmdir/csr.pem"
cm_subject=$(openssl req -in "$cmdir/csr.pem" -noout -subject -nameopt RFC2253 2>/dev/null | sed 's/^subject=//')
check "certmonger's CSR asks for CN=cm-hold and O=Example" \
  bash -c "[ '$cm_subject' = 'O=Example,CN=cm-hold' ] || [ '$cm_subject' = 'CN=cm-hold,O=Example' ]"
check "scepctl request show: Issues: the requested subject" \
  grep -Eq "^Issues: +$cm_subject\$" "$cmdir/show.log"
check "scepctl request show: With names: line present" grep -q '^With names:' "$cmdir/show.log"
check "certmonger: no certificate before approval (still CA_WORKING)" \
  bash -c "grep -q 'status: CA_WORKING' '$cmdir/still.list' && ! grep -q 'status: MONITORING' '$cmdir/still.list'"
check "scepctl request approve (certmonger's request)" test "$cm_approved" -eq 0
check "certmonger: approved request reaches MONITORING" grep -q 'status: MONITORING' "$cmdir/final.list"
check "scepd answered certmonger's retransmission with the approved certificate" \
  bash -c "[ -n '$cm_tx' ] && grep -q 'transaction_id=$cm_tx .*outcome=success.*stored certificate .* sent again' '$work/scepd.log'"
check "certmonger's certificate verifies and has the requested subject" \
  verify_cert "$cmdir/cert.pem" "$cm_subject"
check "scepctl request list shows certmonger's request issued" \
  bash -c "'$SCEPCTL' --config '$work/scepd.conf' request list --status issued --alias rahold | grep -q 'CN=cm-hold'"

# ---- strongSwan: pki polls, the operator approves while it waits ---------------------------
# ss_start DIR CN URL: pki --scep in the background (bounded by --maxpolltime and by
# timeout); its pid goes to DIR/pid.
ss_start() {
  local dir=$1 cn=$2 url=$3
  mkdir -p "$dir"
  timeout 60 pki --gen --type rsa --size 2048 --outform pem >"$dir/key.pem" 2>/dev/null || return 1
  timeout "$PEER_TIMEOUT" pki --scep --url "$url" --in "$dir/key.pem" --dn "CN=$cn" \
    --password "$SECRET" --cacert "$work/pki/root.pem" --cacert-enc "$work/pki/issuing.pem" \
    --cacert-sig "$work/pki/issuing.pem" --interval 1 --maxpolltime $((PEER_TIMEOUT / 2)) \
    --outform pem --debug 2 >"$dir/cert.pem" 2>"$dir/strongswan.log" &
  echo $! >"$dir/pid"
}
ss_wait() { # ss_wait DIR: pki's exit status
  local pid
  pid=$(cat "$1/pid")
  wait "$pid"
}

ssdir=$work/ss-hold
ss_start "$ssdir" ss-hold "$HOLD"
ss_id=$(wait_pending_id ss-hold "$((PEER_TIMEOUT / 2))")
check "strongSwan: the request is held (scepctl request list)" test -n "$ss_id"
sleep 2
check "strongSwan: pki is still polling (no certificate before approval)" \
  bash -c "kill -0 $(cat "$ssdir/pid") 2>/dev/null && grep -qi 'pending\|poll' '$ssdir/strongswan.log'"
check "scepctl request approve (while pki polls)" ctl request approve "$ss_id"
ss_wait "$ssdir"
rc=$?
check "strongSwan: pki exits 0 after approval" test $rc -eq 0
check "strongSwan's certificate verifies and has the requested subject" \
  verify_cert "$ssdir/cert.pem" "CN=ss-hold"

# ---- negative control: a third request, rejected while pki polls ---------------------------
rjdir=$work/ss-reject
ss_start "$rjdir" ss-reject "$HOLD"
rj_id=$(wait_pending_id ss-reject "$((PEER_TIMEOUT / 2))")
check "the third request is held" test -n "$rj_id"
check "scepctl request reject --reason" ctl request reject "$rj_id" --reason "not in inventory"
ss_wait "$rjdir"
rc=$?
check "strongSwan: pki fails after the rejection (non-zero exit, no certificate)" \
  bash -c "[ $rc -ne 0 ] && ! openssl x509 -in '$rjdir/cert.pem' -noout 2>/dev/null"
check "strongSwan reports the failure" grep -qi 'fail' "$rjdir/strongswan.log"
check "scepctl request list shows it rejected" \
  bash -c "'$SCEPCTL' --config '$work/scepd.conf' request list --status rejected --alias rahold | grep -q 'CN=ss-reject'"

# ---- positive control: the RA alias without manual approval issues at once -----------------
peer_certmonger_enroll "$NOW" "$work/cm-now" cm-now "$SECRET"
check "control: certmonger enrolls on ranow at once" verify_cert "$work/cm-now/cert.pem" "CN=cm-now"
ss_start "$work/ss-now" ss-now "$NOW"
ss_wait "$work/ss-now"
rc=$?
check "control: strongSwan enrolls on ranow at once" \
  bash -c "[ $rc -eq 0 ] && ! grep -qi 'pending' '$work/ss-now/strongswan.log'"
check "control: strongSwan's ranow certificate verifies" verify_cert "$work/ss-now/cert.pem" "CN=ss-now"
check "control: nothing was held on ranow" \
  bash -c "[ -z \"\$('$SCEPCTL' --config '$work/scepd.conf' request list --status pending --alias ranow 2>/dev/null)\" ]"

check "the RA secret does not appear in scepd's log" bash -c "! grep -q '$SECRET' '$work/scepd.log'"

if [ "$failed" -ne 0 ]; then
  tail -20 "$cmdir/certmonger.log" "$ssdir/strongswan.log" "$rjdir/strongswan.log" 2>/dev/null
fi
it_finish
