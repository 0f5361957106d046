#!/usr/bin/env bash
# Manual approval end to end with the real programs: scepd with an
# `approval = manual` alias, our `scep` client (enroll stays PENDING and keeps
# its state file, `scep poll` resumes), and scepctl request list/approve/reject.
# certmonger (when installed) against a manual alias on a two-tier CA: it shows the
# request as CA_WORKING, the operator approves, `getcert refresh` polls at once (its own
# poll interval is too long for a test) and it reaches MONITORING. (`getcert resubmit`
# would not do: it sends a PKCSReq with a regenerated CSR, a new request, not the held one.)
#
# usage: scepd-approval.sh SCEPD SCEPCTL SCEP
set -u
SCEPD=$1
SCEPCTL=$(realpath "$2")
SCEP=$3
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=peers.sh
. "$HERE/peers.sh"
PEER_TIMEOUT=${PEER_TIMEOUT:-40}
command -v openssl >/dev/null || { echo "SKIP: openssl is not installed"; exit 77; }

. "$(dirname "$0")/lib.sh"
it_init approval

cat >"$work/scepd.conf" <<CONF
listen = 127.0.0.1:0
database = sqlite:$work/scepd.db
state_dir = $work/state
manual.approval = manual
manual.pendingexpiry = 1h
manual.defaultca = appr
cm.approval = manual
cm.defaultca = issuing
scep.defaultca = appr
CONF
ctl ca init --name appr --subject "CN=Approval CA,O=scepd" --key rsa:2048 >"$work/ctl.log" 2>&1 ||
  { cat "$work/ctl.log"; echo "FAIL: ca init"; exit 1; }
# certmonger verifies replies against the chain: a two-tier CA, as scepd-vs-peers.sh makes.
it_make_two_tier_ca Approval
ctl ca import --name issuing --cert "$work/pki/chain.pem" --key "$work/pki/issuing.key" \
  >>"$work/ctl.log" 2>&1 || { cat "$work/ctl.log"; echo "FAIL: scepctl ca import"; exit 1; }
# USER:CA:ALIAS; each end entity enrolls through its own alias only.
for entry in dev-ok:appr:manual dev-no:appr:manual cm-dev:issuing:cm; do
  user=${entry%%:*} rest=${entry#*:}
  ctl ee add --username "$user" --password "pw-$user" --dn "CN=$user" --ca "${rest%%:*}" \
    --alias "${rest#*:}" >>"$work/ctl.log" 2>&1 || { cat "$work/ctl.log"; echo "FAIL: ee add"; exit 1; }
done
ca=$work/state/cas/appr/ca.pem

it_start_scepd || exit 1
URL=http://127.0.0.1:$port/scep/manual/pkiclient.exe

# ---- approved: enroll stays pending, the operator approves, scep poll gets it ----------
timeout 60 "$SCEP" enroll -u "$URL" -c "$ca" -k "$work/ok.key" --subject CN=dev-ok \
  --challenge pw-dev-ok -l "$work/ok.pem" -t 1 -n 2 >"$work/ok-enroll.log" 2>&1
check "scep enroll -t 1 -n 2 exits 3 (still pending)" test $? -eq 3
check "the state file is kept" test -s "$work/ok.pem.pending"
ctl request list --status pending >"$work/list.log" 2>&1
check "scepctl request list --status pending shows it" grep -q "CN=dev-ok" "$work/list.log"
id_ok=$(awk -F'\t' '$6 == "CN=dev-ok" {print $1}' "$work/list.log" | head -1)
ctl request show "$id_ok" >"$work/show.log" 2>&1
check "scepctl request show names the end entity" grep -q 'End entity:   dev-ok (ca)' "$work/show.log"
check "... and what approval issues (the registered subject)" \
  grep -q '^Issues: *CN=dev-ok$' "$work/show.log"
check "scepctl request approve" ctl request approve "$id_ok"
timeout 60 "$SCEP" poll -u "$URL" -c "$ca" -k "$work/ok.key" -l "$work/ok.pem" -t 1 -n 3 \
  >"$work/ok-poll.log" 2>&1
check "scep poll gets the certificate (exit 0)" test $? -eq 0
check "the certificate verifies against the CA" \
  bash -c "openssl verify -CAfile '$ca' '$work/ok.pem' >/dev/null"
check "scepctl request list shows it issued" \
  bash -c "'$SCEPCTL' --config '$work/scepd.conf' request list --status issued | grep -q 'CN=dev-ok'"

# ---- rejected: scep poll exits 72 and shows the operator's reason ---------------------
timeout 60 "$SCEP" enroll -u "$URL" -c "$ca" -k "$work/no.key" --subject CN=dev-no \
  --challenge pw-dev-no -l "$work/no.pem" -t 1 -n 1 >"$work/no-enroll.log" 2>&1
check "second device pending too (exit 3)" test $? -eq 3
id_no=$(ctl request list --status pending 2>/dev/null | awk -F'\t' '$6 == "CN=dev-no" {print $1}' | head -1)
check "scepctl request reject --reason" ctl request reject "$id_no" --reason "device not in inventory"
timeout 60 "$SCEP" poll -u "$URL" -c "$ca" -k "$work/no.key" -l "$work/no.pem" -t 1 -n 3 \
  >"$work/no-poll.log" 2>&1
check "scep poll of a rejected request exits 72" test $? -eq 72
check "the reason is in scep's output" grep -q "device not in inventory" "$work/no-poll.log"
check "approve of a rejected request is refused" bash -c "! '$SCEPCTL' --config '$work/scepd.conf' request approve '$id_no' 2>/dev/null"
check "the audit trail names the operator" \
  bash -c "'$SCEPCTL' --config '$work/scepd.conf' audit list 2>/dev/null | grep 'request_reject' | grep -q 'scepctl:'"

# ---- certmonger: CA_WORKING while pending, MONITORING once approved ------------------
if command -v certmonger >/dev/null && command -v getcert >/dev/null; then
  cmdir=$work/cm-dev
  mkdir -p "$cmdir"
  (
    _peer_certmonger_env "$cmdir/cm" || exit 1
    cat >"$cmdir/inner.sh" <<'INNER'
set -u
url=$1 dir=$2 scepctl=$3 conf=$4 limit=$5
getcert add-scep-ca -c scepca -u "$url" || exit 1
for ((i = 0; i < limit * 2; i++)); do
  getcert list-cas -c scepca 2>/dev/null | grep -q 'CA certificate thumbprint' && break
  sleep 0.5
done
getcert request -c scepca -k "$dir/key.pem" -f "$dir/cert.pem" -I peer \
  -L pw-cm-dev -N CN=cm-dev -G RSA -g 2048 || exit 1
id=
for ((i = 0; i < limit * 2; i++)); do
  id=$("$scepctl" --config "$conf" request list --status pending --alias cm 2>/dev/null |
    awk -F'\t' '$6 == "CN=cm-dev" {print $1}')
  [ -n "$id" ] && break
  sleep 0.5
done
getcert list -i peer >"$dir/pending.list" 2>&1
[ -n "$id" ] || exit 1
"$scepctl" --config "$conf" request approve "$id" >"$dir/approve.log" 2>&1 || exit 1
getcert refresh -i peer >/dev/null 2>&1
for ((i = 0; i < limit * 2; i++)); do
  state=$(getcert list -i peer | sed -n 's/^[[:space:]]*status: //p')
  [ "$state" = MONITORING ] && break
  case $state in CA_REJECTED|CA_UNREACHABLE|NEED_GUIDANCE) break ;; esac
  sleep 0.5
done
getcert list -i peer >"$dir/final.list" 2>&1
INNER
    exec timeout "$PEER_TIMEOUT" certmonger -n -L -P "$cmdir/cm/sock" -d 2 \
      -c "bash $cmdir/inner.sh 'http://127.0.0.1:$port/scep/cm/pkiclient.exe' '$cmdir' '$SCEPCTL' '$work/scepd.conf' $((PEER_TIMEOUT / 2))"
  ) >"$cmdir/certmonger.log" 2>&1
  check "certmonger: request held, shown as CA_WORKING (pending)" \
    grep -Eq 'status: (CA_WORKING|SUBMITTING)' "$cmdir/pending.list"
  check "certmonger: approved request reaches MONITORING with a certificate" \
    bash -c "grep -q 'status: MONITORING' '$cmdir/final.list' && openssl verify -CAfile '$work/pki/root.pem' -untrusted '$work/pki/issuing.pem' '$cmdir/cert.pem' >/dev/null"
  check "certmonger: its poll got the approved request's certificate, not a new request" \
    grep -q 'alias=cm .*detail="stored certificate' "$work/scepd.log"
else
  echo "SKIP: certmonger is not installed (our client covered the flow above)"
fi

if [ "$failed" -ne 0 ]; then
  cat "$work"/*-enroll.log "$work"/*-poll.log 2>/dev/null
fi
it_finish
