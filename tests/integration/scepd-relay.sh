#!/usr/bin/env bash
# The RA relay (docs/operations.md "A relay in the DMZ"): two scepd processes on loopback,
# a relay node (relay_listen, alias dmz in operationmode = relay, RA key only) and a CA
# node that connects out to it (relay_connect) over mutual TLS. Our scep client,
# micromdm's scepclient, certmonger and strongSwan enroll through the relay; manual approval
# on the CA node; an answer later than relay_timeout kept for the poll; the CA node
# stopped -> PENDING -> started -> the poll gets the certificate; a relay restarted with a
# request queued still delivers it; GetCACert from the persisted push while the CA is
# away; TLS peers from another CA refused both ways; an alias the CA node does not opt
# in refused; no CA private key on the relay.
#
# usage: scepd-relay.sh SCEPD SCEPCTL SCEP
set -u
SCEPD=$1
SCEPCTL=$2
SCEP=$3
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=peers.sh
. "$HERE/peers.sh"
PEER_TIMEOUT=${PEER_TIMEOUT:-40}

for tool in openssl curl python3; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIP: $tool is not installed (make deps installs it)"
    exit 77
  fi
done

. "$HERE/lib.sh"
it_init relay
CA=$work/ca
RL=$work/relay
TLS=$work/tls
mkdir -p "$CA/state" "$RL/state" "$TLS"
ca_pid=
relay_pid=
extra_pids=

# Every process this script started goes at exit, by its own id.
relay_cleanup() {
  for pid in $ca_pid $relay_pid $extra_pids; do
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  done
  it_cleanup
}
trap relay_cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- the channel's PKI: its CA, the relay's server certificate, the CA node's client
# certificate, and the same two from an unrelated CA -------------------------------------
tls_ca() { # tls_ca NAME CN
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TLS/$1.key" -out "$TLS/$1.pem" -days 10 \
    -subj "/CN=$2" -addext "keyUsage=critical,keyCertSign,cRLSign" >>"$work/tls.log" 2>&1
}
tls_leaf() { # tls_leaf CA NAME CN EKU [SAN]
  local ext="$TLS/$2.ext"
  printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=$4" >"$ext"
  [ -n "${5:-}" ] && printf 'subjectAltName=%s\n' "$5" >>"$ext"
  openssl req -newkey rsa:2048 -nodes -keyout "$TLS/$2.key" -out "$TLS/$2.csr" -subj "/CN=$3" \
    >>"$work/tls.log" 2>&1 &&
    openssl x509 -req -in "$TLS/$2.csr" -CA "$TLS/$1.pem" -CAkey "$TLS/$1.key" -CAcreateserial \
      -days 5 -extfile "$ext" -out "$TLS/$2.pem" >>"$work/tls.log" 2>&1 &&
    chmod 600 "$TLS/$2.key"
}
{
  tls_ca channel "Relay Channel CA" && tls_ca other "Unrelated CA" &&
    tls_leaf channel relay relay.dmz.test serverAuth "IP:127.0.0.1,DNS:relay.dmz.test" &&
    tls_leaf channel canode ca-node clientAuth &&
    tls_leaf other rogue-relay rogue-relay serverAuth "IP:127.0.0.1" &&
    tls_leaf channel elsewhere relay.elsewhere.test serverAuth "DNS:relay.elsewhere.test" &&
    tls_leaf other rogue-canode rogue-ca-node clientAuth &&
    tls_leaf channel othernode other-ca-node clientAuth
} || { cat "$work/tls.log"; echo "FAIL: cannot make the channel's certificates"; exit 1; }

channel_port=$(free_port)
# A fixed SCEP port for the relay, so that clients find it again after its restart.
relay_http=$(free_port)
webhook_port=$(free_port)

# ---- the CA node -------------------------------------------------------------------------
cat >"$CA/scepd.conf" <<CONF
listen = 127.0.0.1:0
database = sqlite:$CA/scepd.db
state_dir = $CA/state
threads = 2
relay_connect = 127.0.0.1:$channel_port
relay_tls_cert = $TLS/canode.pem
relay_tls_key = $TLS/canode.key
relay_tls_ca = $TLS/channel.pem
relay_connections = 2
dmz.operationmode = ra
dmz.ra.authPwd = relay-secret
dmz.relayed = true
dmz.clientCertificateRenewal = true
dmz.renewal.afterHalfLife = false
closed.operationmode = ra
closed.ra.authPwd = relay-secret
# micromdm's scepclient 2.1.0 always sends single DES with SHA-1: the CA node parses its
# message too, so legacy is allowed on both nodes for this alias only.
legacy_algorithms = true
mdm.operationmode = ra
mdm.ra.authPwd = relay-secret
mdm.relayed = true
mdm.legacy = true
# CA mode with manual approval: the end entity's code and the operator decide on the CA node.
held.operationmode = ca
held.relayed = true
held.approval = manual
# A webhook slower than the relay's relay_timeout: the answer comes late, and is kept.
slow.operationmode = ra
slow.ra.authPwd = relay-secret
slow.relayed = true
slow.webhook.url = http://127.0.0.1:$webhook_port/decide
slow.webhook.timeout = 20s
slow.webhook.retries = 0
CONF
cactl() { "$SCEPCTL" --config "$CA/scepd.conf" "$@"; }
cactl ca init --name issuing --subject "CN=Relay Test CA,O=scepd test" --key rsa:2048 --days 30 \
  >"$work/ctl.log" 2>&1 || { cat "$work/ctl.log"; echo "FAIL: scepctl ca init"; exit 1; }
cactl ca show --name issuing 2>>"$work/ctl.log" | sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p' >"$work/ca.pem"
cactl ra issue --alias dmz >>"$work/ctl.log" 2>&1 || { cat "$work/ctl.log"; echo "FAIL: scepctl ra issue"; exit 1; }
ra_cert=$(ls "$CA"/state/ra/dmz/ra-*.pem | head -1)
ra_key=$(ls "$CA"/state/ra/dmz/ra-*.key | head -1)
# The RA certificate and key go to the relay (as an operator copies them into the DMZ).
cactl ee add --username held-dev --password code-held --dn CN=held-dev --alias held \
  >>"$work/ctl.log" 2>&1 || { cat "$work/ctl.log"; echo "FAIL: scepctl ee add"; exit 1; }
cp "$ra_cert" "$RL/ra.pem" && cp "$ra_key" "$RL/ra.key" && chmod 600 "$RL/ra.key"

# ---- the relay node ------------------------------------------------------------------------
cat >"$RL/scepd.conf" <<CONF
listen = 127.0.0.1:$relay_http
database = sqlite:$RL/scepd.db
state_dir = $RL/state
threads = 2
relay_listen = 127.0.0.1:$channel_port
relay_tls_cert = $TLS/relay.pem
relay_tls_key = $TLS/relay.key
relay_tls_ca = $TLS/channel.pem
relay_peer_name = ca-node
relay_timeout = 3s
metrics_listen = 127.0.0.1:0
dmz.operationmode = relay
dmz.ra.cert = $RL/ra.pem
dmz.ra.key = $RL/ra.key
closed.operationmode = relay
closed.ra.cert = $RL/ra.pem
closed.ra.key = $RL/ra.key
legacy_algorithms = true
mdm.operationmode = relay
mdm.legacy = true
mdm.ra.cert = $RL/ra.pem
mdm.ra.key = $RL/ra.key
held.operationmode = relay
held.ra.cert = $RL/ra.pem
held.ra.key = $RL/ra.key
slow.operationmode = relay
slow.ra.cert = $RL/ra.pem
slow.ra.key = $RL/ra.key
CONF

# start_node NAME DIR: scepd on DIR/scepd.conf, log DIR/scepd.log (appended), its pid in
# NAME_pid and its SCEP port in NAME_port; bounded wait for the listening line.
start_node() {
  local name=$1 dir=$2 pid p=
  chmod o-rwx "$dir/scepd.conf"
  if [ "$(id -u)" = 0 ]; then
    grep -q '^user *=' "$dir/scepd.conf" || printf 'user = nobody\n' >>"$dir/scepd.conf"
    chown -R nobody: "$work"
  fi
  local mark
  mark=$(wc -l <"$dir/scepd.log" 2>/dev/null || echo 0)
  "$SCEPD" --config "$dir/scepd.conf" >>"$dir/scepd.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    p=$(tail -n +"$((mark + 1))" "$dir/scepd.log" | sed -n 's/.*event=listening .* port=\([0-9]*\).*/\1/p' | head -1)
    [ -n "$p" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  eval "${name}_pid=$pid ${name}_port=$p"
  [ -n "$p" ] || { tail -20 "$dir/scepd.log"; echo "FAIL: $name did not start"; return 1; }
}
stop_node() { # stop_node NAME
  local pid
  eval "pid=\${$1_pid}"
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  eval "$1_pid="
}
# wait_log FILE PATTERN [SECONDS]: bounded wait for a log line.
wait_log() {
  for _ in $(seq 1 $((${3:-20} * 10))); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
count_log() { grep -c "$2" "$1" 2>/dev/null || true; }

# The relay's own store stays empty: no CA, no end entity (scepctl makes it).
"$SCEPCTL" --config "$RL/scepd.conf" db migrate >>"$work/ctl.log" 2>&1 ||
  { cat "$work/ctl.log"; echo "FAIL: scepctl db migrate on the relay"; exit 1; }

# ---- what a relay configuration must have --------------------------------------------------
# refused FILE PATTERN: scepd --check refuses FILE and says PATTERN.
refused() {
  chmod 600 "$1"
  if [ "$(id -u)" = 0 ]; then
    printf 'user = nobody\n' >>"$1"
    chown -R nobody: "$work"
  fi
  ! "$SCEPD" --config "$1" --check >"$1.log" 2>&1 && grep -q "$2" "$1.log"
}
grep -v '^relay_tls_ca' "$RL/scepd.conf" >"$work/bad1.conf"
check "scepd --check: relay_listen without relay_tls_ca is refused" refused "$work/bad1.conf" relay_tls_ca
grep -v '^dmz.ra.cert' "$RL/scepd.conf" >"$work/bad2.conf"
check "scepd --check: a relay alias without ra.cert is refused" refused "$work/bad2.conf" 'needs ra.cert'
grep -v '^relay_peer_name' "$RL/scepd.conf" >"$work/bad4.conf"
check "scepd --check: relay_listen without relay_peer_name is refused" \
  refused "$work/bad4.conf" 'needs relay_peer_name'
{ cat "$RL/scepd.conf"; echo "relay_connect = 127.0.0.1:1"; } >"$work/bad3.conf"
check "scepd --check: relay_listen and relay_connect in one node are refused" \
  refused "$work/bad3.conf" 'both set'

: >"$RL/scepd.log"
: >"$CA/scepd.log"
start_node relay "$RL" || exit 1
BASE=http://127.0.0.1:$relay_port
URL=$BASE/scep/dmz/pkiclient.exe
CLOSED=$BASE/scep/closed/pkiclient.exe

# ---- before any CA node connected ----------------------------------------------------------
check "relay without a CA node: GetCACert is 503 with Retry-After" \
  bash -c "curl -s -D - -o /dev/null '$URL?operation=GetCACert' | grep -qi '^retry-after' && curl -s -o /dev/null -w '%{http_code}' '$URL?operation=GetCACert' | grep -qx 503"
check "relay /healthz: 200, says no CA node is connected" \
  bash -c "curl -s '$BASE/healthz' | grep -q 'no CA node connected'"

start_node ca "$CA" || exit 1
check "the relay sees the CA node (mutual TLS)" wait_log "$RL/scepd.log" "event=relay_connected peer=ca-node"
check "the CA node sees the relay" wait_log "$CA/scepd.log" "event=relay_connected relay=relay.dmz.test"
check "the relay got the CA node's push" wait_log "$RL/scepd.log" "event=relay_push "
check "relay /healthz: says a CA node is connected" \
  bash -c "curl -s '$BASE/healthz' | grep -q 'CA node connected'"
# relay_metric NAME VALUE: the relay's /metrics shows the gauge at VALUE (within 10 s).
relay_metric() {
  local port
  port=$(sed -n 's/.*event=metrics_listening .* port=\([0-9]*\).*/\1/p' "$RL/scepd.log" | tail -1)
  for _ in $(seq 1 20); do
    curl -s "http://127.0.0.1:$port/metrics" | grep -qx "$1 $2" && return 0
    sleep 0.5
  done
  return 1
}
check "relay /metrics: the CA node's two connections" relay_metric scepd_relay_connections 2
check "relay /metrics: nothing queued" relay_metric scepd_relay_queued_requests 0

# ---- GetCACert, GetCACaps ---------------------------------------------------------------------
curl -s "$URL?operation=GetCACert" -o "$work/getca.der"
check "GetCACert through the relay: the RA certificate, then the CA" \
  bash -c "openssl pkcs7 -inform DER -in '$work/getca.der' -print_certs -noout | grep '^subject' | tr '\n' '|' | grep -q 'dmz SCEP RA.*|.*Relay Test CA'"
curl -s "$URL?operation=GetCACaps" >"$work/caps.txt"
check "GetCACaps through the relay: POSTPKIOperation, AES, SHA-256, SCEPStandard" \
  bash -c "grep -qx POSTPKIOperation '$work/caps.txt' && grep -qx AES '$work/caps.txt' && grep -qx SHA-256 '$work/caps.txt' && grep -qx SCEPStandard '$work/caps.txt'"
check "... and Renewal, because the CA node's alias renews" grep -qx Renewal "$work/caps.txt"

verify_cert() { # verify_cert CERT CN
  openssl verify -CAfile "$work/ca.pem" "$1" >/dev/null 2>&1 &&
    openssl x509 -in "$1" -noout -subject -nameopt RFC2253 | grep -q "CN=$2"
}

# ---- our client through the relay -------------------------------------------------------------
check "scep enroll through the relay (RA mode on the CA node)" \
  timeout 60 "$SCEP" enroll -u "$URL" -c "$work/ca.pem" -k "$work/cli.key" --subject CN=cli-relayed \
  --challenge relay-secret -l "$work/cli.pem"
check "its certificate is the CA's" verify_cert "$work/cli.pem" cli-relayed
check "the certificate is in the CA node's store" \
  bash -c "'$SCEPCTL' --config '$CA/scepd.conf' cert list 2>/dev/null | grep -q cli-relayed"
check "the CA node's audit trail names the relay" \
  bash -c "'$SCEPCTL' --config '$CA/scepd.conf' audit list 2>/dev/null | grep 'relay:relay.dmz.test/' | grep -q issue"
check "the relay's log line: outcome=relayed" \
  grep -q 'operation=PKIOperation message_type=PKCSReq .*outcome=relayed' "$RL/scepd.log"

check "scep renew through the relay (RenewalReq signed by the old certificate)" \
  timeout 60 "$SCEP" renew -u "$URL" -c "$work/ca.pem" -O "$work/cli.pem" -K "$work/cli.key" \
  -k "$work/cli2.key" --subject CN=cli-relayed -l "$work/cli2.pem"
check "... the renewed certificate is the CA's, with a new key" \
  bash -c "openssl verify -CAfile '$work/ca.pem' '$work/cli2.pem' >/dev/null && [ \"\$(openssl x509 -in '$work/cli.pem' -noout -pubkey)\" != \"\$(openssl x509 -in '$work/cli2.pem' -noout -pubkey)\" ]"

timeout 60 "$SCEP" enroll -u "$URL" -c "$work/ca.pem" -k "$work/bad.key" --subject CN=cli-bad \
  --challenge wrong -l "$work/bad.pem" >"$work/bad.log" 2>&1
check "wrong challenge through the relay: FAILURE badRequest (exit 72)" test $? -eq 72
check "an alias the CA node does not relay: GetCACert through the relay is 503" \
  bash -c "curl -s -o /dev/null -w '%{http_code}' '$CLOSED?operation=GetCACert' | grep -qx 503"

# ---- third-party clients ---------------------------------------------------------------------
if command -v scepclient >/dev/null; then
  peer_scepclient_enroll "$BASE/scep/mdm/pkiclient.exe" "$work/mdm" mdm-relayed relay-secret
  check "micromdm scepclient enrolls through the relay" verify_cert "$work/mdm/cert.pem" mdm-relayed
else
  echo "SKIP: micromdm scepclient is not installed (make deps installs it)"
fi
if command -v certmonger >/dev/null; then
  peer_certmonger_enroll "$URL" "$work/cm" cm-relayed relay-secret
  check "certmonger enrolls through the relay" verify_cert "$work/cm/cert.pem" cm-relayed
else
  echo "SKIP: certmonger is not installed (make deps installs it)"
fi
if command -v pki >/dev/null; then
  peer_strongswan_enroll "$URL" "$work/ss" ss-relayed relay-secret
  check "strongSwan pki --scep enrolls through the relay" verify_cert "$work/ss/cert.pem" ss-relayed
else
  echo "SKIP: strongSwan pki is not installed (make deps installs it)"
fi

# ---- manual approval on the CA node: PENDING from the CA, approved, the poll goes through -----
HELD=$BASE/scep/held/pkiclient.exe
timeout 60 "$SCEP" enroll -u "$HELD" -c "$work/ca.pem" -k "$work/held.key" --subject CN=held-dev \
  --challenge code-held -l "$work/held.pem" -t 1 -n 1 >"$work/held.log" 2>&1
check "manual approval on the CA node: PENDING through the relay (exit 3)" test $? -eq 3
id_held=$("$SCEPCTL" --config "$CA/scepd.conf" request list --status pending 2>/dev/null |
  awk -F'\t' '/CN=held-dev/ {print $1}' | head -1)
check "the operator approves on the CA node" \
  bash -c "[ -n '$id_held' ] && '$SCEPCTL' --config '$CA/scepd.conf' request approve '$id_held' >/dev/null 2>&1"
timeout 60 "$SCEP" poll -u "$HELD" -c "$work/ca.pem" -k "$work/held.key" -l "$work/held.pem" -t 1 -n 3 \
  >"$work/held-poll.log" 2>&1
check "the client's poll, forwarded to the CA node, gets the certificate (exit 0)" test $? -eq 0
check "... issued by the CA" verify_cert "$work/held.pem" held-dev

# ---- an answer after relay_timeout: PENDING now, stored when it comes, the poll gets it ----
python3 - "$webhook_port" >"$work/webhook.log" 2>&1 <<'PY' &
import http.server, sys, time
class Slow(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        time.sleep(6)
        body = b'{"allow": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Slow).serve_forever()
PY
extra_pids="$extra_pids $!"
peer_wait_http "http://127.0.0.1:$webhook_port/" 10 >/dev/null 2>&1
SLOW=$BASE/scep/slow/pkiclient.exe
timeout 60 "$SCEP" enroll -u "$SLOW" -c "$work/ca.pem" -k "$work/slow.key" --subject CN=slow-dev \
  --challenge relay-secret -l "$work/slow.pem" -t 1 -n 1 >"$work/slow.log" 2>&1
check "the CA node slower than relay_timeout: PENDING (exit 3), outcome=delayed" \
  bash -c "[ $? -eq 3 ] && grep -q 'alias=slow operation=PKIOperation message_type=PKCSReq .*outcome=delayed' '$RL/scepd.log'"
check "the late answer is stored on the relay" wait_log "$RL/scepd.log" "event=relay_late_answer" 20
timeout 60 "$SCEP" poll -u "$SLOW" -c "$work/ca.pem" -k "$work/slow.key" -l "$work/slow.pem" -t 1 -n 3 \
  >"$work/slow-poll.log" 2>&1
check "the client's poll gets the late certificate (exit 0)" test $? -eq 0
check "... issued by the CA" verify_cert "$work/slow.pem" slow-dev

# ---- the CA node away: PENDING, then the poll gets the certificate ---------------------------
stop_node ca
timeout 60 "$SCEP" enroll -u "$URL" -c "$work/ca.pem" -k "$work/away.key" --subject CN=cli-away \
  --challenge relay-secret -l "$work/away.pem" -t 1 -n 2 >"$work/away.log" 2>&1
check "CA node stopped: the client gets PENDING (exit 3)" test $? -eq 3
check "the relay's log line: outcome=queued" grep -q 'message_type=PKCSReq .*outcome=queued' "$RL/scepd.log"
check "relay /metrics: no CA node connection, one request queued" \
  bash -c "$(declare -f relay_metric); RL='$RL' relay_metric scepd_relay_connections 0 && RL='$RL' relay_metric scepd_relay_queued_requests 1"
# The client's message as the queue holds it while it waits (for the replay below).
python3 - "$RL/state/relay.db" "$work/queued.der" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
row = db.execute("SELECT message FROM relay_requests WHERE alias = 'dmz' AND state = 0 "
                 "ORDER BY id LIMIT 1").fetchone()
open(sys.argv[2], "wb").write(row[0] if row else b"")
PY
start_node ca "$CA" || exit 1
check "the relay sends the queued request when the CA node is back" \
  wait_log "$RL/scepd.log" "event=relay_drained alias=dmz .*outcome=success" 30
timeout 60 "$SCEP" poll -u "$URL" -c "$work/ca.pem" -k "$work/away.key" -l "$work/away.pem" -t 1 -n 5 \
  >"$work/away-poll.log" 2>&1
check "the client's poll gets the certificate (exit 0)" test $? -eq 0
check "... issued by the CA" verify_cert "$work/away.pem" cli-away
check "... and the answered row keeps no message" \
  bash -c "[ \"\$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(\"SELECT count(*) FROM relay_requests WHERE state >= 2 AND length(message) > 0\").fetchone()[0])' '$RL/state/relay.db')\" = 0 ]"

# A relay (or anyone who holds its TLS key) cannot reach an alias the CA node does not
# opt in: the PKCSReq queued above, sent again to alias closed, is refused by the CA node.
curl -s --max-time 30 --data-binary @"$work/queued.der" -H 'Content-Type: application/x-pki-message' \
  "$CLOSED?operation=PKIOperation" -o "$work/closed.der"
check "a request for an alias without relayed = true: the CA node refuses it (log)" \
  wait_log "$CA/scepd.log" "alias=closed .*outcome=refused .*alias closed is not relayed" 5
check "... and the client gets a CertRep, not an HTTP error" \
  bash -c "[ -s '$work/closed.der' ] && grep -q 'alias=closed operation=PKIOperation .*http_status=200 outcome=relayed fail_info=badRequest' '$RL/scepd.log'"

# ---- the relay restarted with a request queued --------------------------------------------
stop_node ca
timeout 60 "$SCEP" enroll -u "$URL" -c "$work/ca.pem" -k "$work/restart.key" --subject CN=cli-restart \
  --challenge relay-secret -l "$work/restart.pem" -t 1 -n 1 >"$work/restart.log" 2>&1
check "queued while the CA node is away (exit 3)" test $? -eq 3
stop_node relay
start_node relay "$RL" || exit 1
check "relay restarted, CA node away: GetCACert from the persisted push" \
  bash -c "curl -s -o /dev/null -w '%{http_code}' '$URL?operation=GetCACert' | grep -qx 200"
check "... and /crl/issuing.crl from the pushed CRL" \
  bash -c "curl -sf '$BASE/crl/issuing.crl' | openssl crl -inform DER -noout -issuer | grep -q 'Relay Test CA'"
check "... and GetCRL (scep getcrl) from the pushed CRL" \
  timeout 30 "$SCEP" getcrl -u "$URL" -c "$work/ca.pem" -k "$work/cli.key" -l "$work/cli.pem" \
  -w "$work/pushed.crl"
check "... and GetCert, which needs the CA node, is 503" \
  bash -c "timeout 30 '$SCEP' getcert -u '$URL' -c '$work/ca.pem' -k '$work/cli.key' -l '$work/cli.pem' --serial 01 >'$work/getcert.log' 2>&1; grep -q 503 '$work/getcert.log'"
start_node ca "$CA" || exit 1
timeout 90 "$SCEP" poll -u "$URL" -c "$work/ca.pem" -k "$work/restart.key" -l "$work/restart.pem" \
  -t 2 -n 15 >"$work/restart-poll.log" 2>&1
check "the request queued before the restart is delivered (exit 0)" test $? -eq 0
check "... issued by the CA" verify_cert "$work/restart.pem" cli-restart

# ---- TLS peers from another CA -----------------------------------------------------------------
# A CA node with a client certificate from another CA: the relay refuses it.
rogue=$work/rogue-ca
mkdir -p "$rogue/state"
sed -e "s|^relay_tls_cert = .*|relay_tls_cert = $TLS/rogue-canode.pem|" \
  -e "s|^relay_tls_key = .*|relay_tls_key = $TLS/rogue-canode.key|" \
  -e "s|^relay_connections = .*|relay_connections = 1|" "$CA/scepd.conf" >"$rogue/scepd.conf"
: >"$rogue/scepd.log"
start_node rogueca "$rogue" || exit 1
extra_pids="$extra_pids $rogueca_pid"
check "the relay refuses a CA node whose certificate another CA issued (log says why)" \
  wait_log "$RL/scepd.log" "event=relay_peer_refused .*reason=\"peer certificate refused" 20
check "... and the rogue CA node gets no request" \
  bash -c "! grep -q 'method=RELAY' '$rogue/scepd.log'"
stop_node rogueca

# A CA node certified by the channel CA under another name (another pair's CA node, say):
# the relay hands requests to relay_peer_name only.
sed -i -e "s|^relay_tls_cert = .*|relay_tls_cert = $TLS/othernode.pem|" \
  -e "s|^relay_tls_key = .*|relay_tls_key = $TLS/othernode.key|" "$rogue/scepd.conf"
: >"$rogue/scepd.log"
start_node rogueca "$rogue" || exit 1
extra_pids="$extra_pids $rogueca_pid"
check "the relay refuses a channel certificate that does not name relay_peer_name" \
  wait_log "$RL/scepd.log" "event=relay_peer_refused .*reason=\"peer certificate refused: hostname mismatch" 20
check "... and that CA node gets no request" \
  bash -c "! grep -q 'method=RELAY' '$rogue/scepd.log'"
stop_node rogueca

# A relay with a server certificate from another CA: the CA node refuses it.
rogue_port=$(free_port)
rr=$work/rogue-relay
mkdir -p "$rr/state"
cp "$RL/scepd.db" "$rr/scepd.db"
sed -e "s|^relay_listen = .*|relay_listen = 127.0.0.1:$rogue_port|" -e "s|^listen = .*|listen = 127.0.0.1:0|" \
  -e "s|^relay_tls_cert = .*|relay_tls_cert = $TLS/rogue-relay.pem|" \
  -e "s|^relay_tls_key = .*|relay_tls_key = $TLS/rogue-relay.key|" \
  -e "s|^database = .*|database = sqlite:$rr/scepd.db|" -e "s|^state_dir = .*|state_dir = $rr/state|" \
  "$RL/scepd.conf" >"$rr/scepd.conf"
ca2=$work/ca2
mkdir -p "$ca2"
sed -e "s|^relay_connect = .*|relay_connect = 127.0.0.1:$rogue_port|" \
  -e "s|^relay_connections = .*|relay_connections = 1|" "$CA/scepd.conf" >"$ca2/scepd.conf"
: >"$rr/scepd.log"
: >"$ca2/scepd.log"
start_node roguerelay "$rr" || exit 1
extra_pids="$extra_pids $roguerelay_pid"
start_node ca2 "$ca2" || exit 1
extra_pids="$extra_pids $ca2_pid"
check "the CA node refuses a relay whose certificate another CA issued (log says why)" \
  wait_log "$ca2/scepd.log" "event=relay_connect_failed .*reason=\"peer certificate refused" 20
check "... and never connects to it" bash -c "! grep -q 'event=relay_connected' '$ca2/scepd.log'"
stop_node ca2
stop_node roguerelay

# A relay certificate from the right CA but for another host: relay_connect's IP is not in it.
sed -i -e "s|^relay_tls_cert = .*|relay_tls_cert = $TLS/elsewhere.pem|" \
  -e "s|^relay_tls_key = .*|relay_tls_key = $TLS/elsewhere.key|" "$rr/scepd.conf"
: >"$rr/scepd.log"
: >"$ca2/scepd.log"
start_node roguerelay "$rr" || exit 1
extra_pids="$extra_pids $roguerelay_pid"
start_node ca2 "$ca2" || exit 1
extra_pids="$extra_pids $ca2_pid"
check "the CA node refuses a relay certificate for another host (IP address mismatch)" \
  wait_log "$ca2/scepd.log" "event=relay_connect_failed .*reason=\"peer certificate refused: IP address mismatch" 20
stop_node ca2
stop_node roguerelay

# Whoever answers at relay_connect's address and trickles its handshake a byte at a time:
# the CA node gives up within the handshake's deadline, and still stops at once on SIGTERM.
trickle_port=$(free_port)
python3 - "$trickle_port" <<'PY' &
import socket, sys, threading, time
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(8)
def trickle(conn):
    try:
        for b in bytes([0x16, 0x03, 0x03, 0x02, 0x00]) + bytes(512):
            conn.send(bytes([b]))
            time.sleep(2)
    except OSError:
        pass
    conn.close()
srv.settimeout(120)
while True:
    try:
        conn, _ = srv.accept()
    except OSError:
        break
    threading.Thread(target=trickle, args=(conn,), daemon=True).start()
PY
extra_pids="$extra_pids $!"
python3 -c 'import socket, sys, time
for _ in range(50):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1]))).close()
        break
    except OSError:
        time.sleep(0.1)' "$trickle_port"
sed -i -e "s|^relay_connect = .*|relay_connect = 127.0.0.1:$trickle_port|" "$ca2/scepd.conf"
: >"$ca2/scepd.log"
start_node ca2 "$ca2" || exit 1
extra_pids="$extra_pids $ca2_pid"
check "the CA node gives up a TLS handshake trickled byte by byte (handshake deadline)" \
  wait_log "$ca2/scepd.log" "event=relay_connect_failed .*handshake took longer" 30
stops_promptly() {
  kill "$ca2_pid" 2>/dev/null
  for _ in $(seq 1 80); do
    kill -0 "$ca2_pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$ca2_pid" 2>/dev/null
  return 1
}
sleep 3
check "... and stops within 8 s of SIGTERM while a handshake trickles" stops_promptly
wait "$ca2_pid" 2>/dev/null
ca2_pid=

# ---- a CA rollover announced on the CA node reaches the relay's GetCACaps/GetNextCACert ------
cactl ca rollover --name issuing --activate-at +30d --key rsa:2048 >>"$work/ctl.log" 2>&1
announced() {
  # The CA node's reload (store_poll_interval) and its next look at the push (10 s).
  for _ in $(seq 1 90); do
    curl -s "$URL?operation=GetCACaps" | grep -qx GetNextCACert && return 0
    sleep 0.5
  done
  return 1
}
check "rollover scheduled on the CA node: the relay's GetCACaps lists GetNextCACert" announced
check "... and GetNextCACert answers the CA-signed reply the CA node pushed" \
  bash -c "curl -s -o '$work/next.der' -w '%{http_code} %{content_type}' '$URL?operation=GetNextCACert' | grep -qx '200 application/x-x509-next-ca-cert' && openssl cms -verify -inform DER -in '$work/next.der' -CAfile '$work/ca.pem' -noout >/dev/null 2>&1"

# ---- a peer that trickles its TLS handshake loses its slot ----------------------------------
# A byte every 2 s never trips the socket's read timeout; the handshake's own deadline ends it.
trickle() {
  python3 - "$channel_port" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(2)
start = time.time()
hello = bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]) + bytes(600)
for b in hello:
    if time.time() - start > 45:
        sys.exit(1)
    try:
        s.send(bytes([b]))
        if s.recv(1) == b"":
            break
    except socket.timeout:
        continue
    except OSError:
        break
sys.exit(0 if time.time() - start < 35 else 1)
PY
}
check "the relay drops a TLS handshake trickled byte by byte (handshake deadline)" trickle
check "... and the CA node is still connected" \
  bash -c "curl -s '$BASE/healthz' | grep -q 'ok relay: CA node connected'"

# ---- nothing on the relay worth stealing -----------------------------------------------------
ca_key=$CA/state/cas/issuing/ca.key
ca_pub=$(openssl pkey -in "$ca_key" -pubout 2>/dev/null)
check "the CA key was found on the CA node (for the comparison below)" test -n "$ca_pub"
leak=0
while IFS= read -r file; do
  [ "$(openssl pkey -in "$file" -pubout 2>/dev/null)" = "$ca_pub" ] && leak=1
done < <(grep -rl "PRIVATE KEY" "$RL" 2>/dev/null)
check "no file in the relay's directory holds the CA's private key" test "$leak" -eq 0
check "the only private key under the relay's directory is its RA key (none in its databases)" \
  bash -c "[ \"\$(grep -rl 'PRIVATE KEY' '$RL' | sort)\" = '$RL/ra.key' ]"
check "the relay's store holds no CA" \
  bash -c "[ -z \"\$('$SCEPCTL' --config '$RL/scepd.conf' ca list 2>/dev/null | tail -n +2)\" ]"

echo "---- relay log (end)"
tail -5 "$RL/scepd.log"
[ "$failed" -ne 0 ] && { echo "---- CA node log (end)"; tail -30 "$CA/scepd.log"; echo "---- relay log"; tail -40 "$RL/scepd.log"; }
it_finish
