#!/usr/bin/env bash
# Several scepd nodes sharing one store (docs/operations.md "Several nodes"): three scepd
# processes on their own loopback ports, one database, one state directory (the CA keys).
#
#  1. GET /healthz answers 200 "ok" on every node.
#  2. Parallel enrollments spread over the nodes: serial numbers unique, every certificate
#     a client received is stored.
#  3. One enrollment code sent to two nodes at the same moment: exactly one certificate;
#     ee reset through scepctl lets it enroll again at once. One one-time challenge
#     likewise.
#  4. A request held PENDING through node 1, approved with scepctl, is delivered by node 2
#     on poll; a retransmission reaching another node gets the stored certificate.
#  5. Without a signal: a CA added with scepctl (its alias written into the files first,
#     so the reload fails until the CA exists) is served by every node; a rollover
#     scheduled with scepctl is announced by every node; an alias setting changed with
#     scepctl alias set takes effect on the node whose file it rewrote.
#  6. CRLs fetched from every node at once: no CRL number with two different CRLs.
#  7. SIGKILL of one node in the middle of a load on all three: every certificate a client
#     received is stored, no serial twice, the other nodes keep serving.
#
# The database is SCEP_TEST_DATABASE (a store URL, e.g. postgresql://...; its password, if
# any, in the file SCEP_TEST_DATABASE_PASSWORD_FILE), else a SQLite file in the work
# directory. Everything is checked through scepctl and HTTP, so any
# backend works. Listens on 127.0.0.1 only; every wait is bounded; about 30 s.
#
# usage: scepd-nodes.sh SCEPD SCEPCTL SCEP
set -u
SCEPD=$1
SCEPCTL=$2
SCEP=$3
for tool in openssl curl; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
it_init nodes

NODES=3
SECRET=nodes-Secret-7
DATABASE=${SCEP_TEST_DATABASE:-sqlite:$work/nodes.db}
started=$SECONDS
declare -a node_pid node_port
bg_pids=

nodes_cleanup() {
  for pid in $bg_pids "${node_pid[@]}"; do [ -n "$pid" ] && kill "$pid" 2>/dev/null; done
  for pid in "${node_pid[@]}"; do [ -n "$pid" ] && wait "$pid" 2>/dev/null; done
  it_cleanup
}
trap nodes_cleanup EXIT

# scepctl works on node 1's file; the others differ only in their listen line.
ctl() { "$SCEPCTL" --config "$work/node1.conf" "$@"; }

write_conf() { # write_conf I
  cat >"$work/node$1.conf" <<CONF
listen = 127.0.0.1:0
database = $DATABASE
state_dir = $work/state
threads = 4
store_poll_interval = 1s
default_alias = scep
scep.defaultca = nodes
ra.operationmode = ra
ra.ra.authPwd = $SECRET
ra.ra.defaultCA = nodes
otc.operationmode = ra
otc.ra.onetimechallenges = require
otc.ra.defaultCA = nodes
manual.approval = manual
manual.defaultca = nodes
CONF
  if [ -n "${SCEP_TEST_DATABASE_PASSWORD_FILE:-}" ]; then
    printf 'database_password_file = %s\n' "$SCEP_TEST_DATABASE_PASSWORD_FILE" >>"$work/node$1.conf"
  fi
  chmod o-rwx "$work/node$1.conf"
  if [ "$(id -u)" = 0 ]; then printf 'user = nobody\n' >>"$work/node$1.conf"; fi
}

# Starts node I and waits (at most 10 s) for its listening line.
start_node() { # start_node I
  local i=$1 port=
  [ "$(id -u)" = 0 ] && chown -R nobody: "$work"
  "$SCEPD" --config "$work/node$i.conf" >"$work/node$i.log" 2>&1 &
  node_pid[i]=$!
  for _ in $(seq 1 100); do
    port=$(sed -n 's/.*event=listening .* port=\([0-9]*\).*/\1/p' "$work/node$i.log" | head -1)
    if [ -n "$port" ]; then
      node_port[i]=$port
      return 0
    fi
    kill -0 "${node_pid[$i]}" 2>/dev/null || break
    sleep 0.1
  done
  cat "$work/node$i.log"
  echo "FAIL: node $i did not start"
  exit 1
}

url() { echo "http://127.0.0.1:${node_port[$1]}/scep/$2/pkiclient.exe"; } # url NODE ALIAS
serial_of() { openssl x509 -in "$1" -noout -serial 2>/dev/null | sed 's/serial=//'; }

for i in $(seq 1 "$NODES"); do write_conf "$i"; done
mkdir -p "$work/state" "$work/dev"
ctl ca init --name nodes --subject "CN=Nodes CA,O=scepd" --key rsa:2048 >"$work/ctl.log" 2>&1 ||
  { cat "$work/ctl.log"; echo "FAIL: ca init"; exit 1; }
ca=$work/state/cas/nodes/ca.pem
for i in $(seq 1 "$NODES"); do start_node "$i"; done
echo "nodes on ports ${node_port[*]}, database $DATABASE"

# Every certificate in the store: "SERIAL SUBJECT" lines.
stored() { ctl cert list 2>/dev/null | awk -F'\t' 'NR > 1 { print $1, $6 }'; }

enroll() { # enroll NODE ALIAS DEVICE CHALLENGE [OUT]: the device's key is made on first use
  "$SCEP" enroll -u "$(url "$1" "$2")" -c "$ca" -k "$work/dev/$3.key" --key-type ec:P-256 \
    --subject "CN=$3,O=nodes" --challenge "$4" -l "${5:-$work/dev/$3.pem}" --timeout 10 \
    >>"$work/dev/$3.out" 2>&1
}

# ---- 1. health ------------------------------------------------------------------------------
for i in $(seq 1 "$NODES"); do
  check "node $i: GET /healthz is 200 ok" \
    bash -c "[ \"\$(curl -s --max-time 5 http://127.0.0.1:${node_port[$i]}/healthz)\" = ok ]"
done

# ---- 2. concurrent issuance on all nodes ----------------------------------------------------
client() { # client C: 8 devices through node (C mod 3) + 1
  local c=$1 node=$(($1 % NODES + 1)) d
  for d in $(seq 1 8); do
    if enroll "$node" ra "load$c-$d" "$SECRET"; then echo "load$c-$d"; fi
  done >"$work/client$c.done"
}
for c in $(seq 1 6); do
  client "$c" &
  bg_pids="$bg_pids $!"
done
# shellcheck disable=SC2086 # a list of pids
wait $bg_pids
bg_pids=
received=$(cat "$work"/client*.done | wc -l)
check "48 parallel enrollments over three nodes all succeeded" test "$received" -eq 48
stored >"$work/stored"
missing=0
while read -r dev; do
  grep -q "^$(serial_of "$work/dev/$dev.pem") " "$work/stored" || missing=$((missing + 1))
done < <(cat "$work"/client*.done)
check "every received certificate is in the store" test "$missing" -eq 0
check "no serial twice in the store" test -z "$(awk '{ print $1 }' "$work/stored" | sort | uniq -d)"
check "no serial twice among the received certificates" \
  test -z "$(while read -r dev; do serial_of "$work/dev/$dev.pem"; done < <(cat "$work"/client*.done) | sort | uniq -d)"

# ---- 3. one code, one challenge, two nodes at once -----------------------------------------
race() { # race ALIAS CHALLENGE DEV-A NODE-A DEV-B NODE-B: prints how many succeeded
  local ok=0
  enroll "$4" "$1" "$3" "$2" & local a=$!
  enroll "$6" "$1" "$5" "$2" & local b=$!
  wait "$a" && ok=$((ok + 1))
  wait "$b" && ok=$((ok + 1))
  echo "$ok"
}
for r in 1 2 3; do
  ctl ee add --username "race$r" --password "code-race$r" --dn "CN=race$r,O=nodes" \
    >>"$work/ctl.log" 2>&1 || fail "ee add race$r"
  # Two devices, one end entity: both send the subject CN=race$r with the same code.
  ok=0
  enroll 1 scep "race$r" "code-race$r" "$work/dev/race$r-a.pem" & a=$!
  "$SCEP" enroll -u "$(url 2 scep)" -c "$ca" -k "$work/dev/race$r-b.key" --key-type ec:P-256 \
    --subject "CN=race$r,O=nodes" --challenge "code-race$r" -l "$work/dev/race$r-b.pem" \
    --timeout 10 >>"$work/dev/race$r.out" 2>&1 & b=$!
  wait "$a" && ok=$((ok + 1))
  wait "$b" && ok=$((ok + 1))
  echo "$r $ok" >>"$work/races"
done
check "one enrollment code on two nodes at once: exactly one certificate, three times" \
  test "$(awk '$2 == 1' "$work/races" | wc -l)" -eq 3
check "... and the store holds one certificate per end entity" \
  test "$(stored | grep -c 'CN=race[123],')" -eq 3
ctl ee reset --username race1 --password code-again >>"$work/ctl.log" 2>&1
check "ee reset with scepctl: the end entity enrolls again at once (node 3)" \
  enroll 3 scep race1 code-again "$work/dev/race1-again.pem"

challenge=$(ctl challenge new --alias otc 2>>"$work/ctl.log")
check "scepctl challenge new" test -n "$challenge"
check "one one-time challenge on two nodes at once: exactly one certificate" \
  test "$(race otc "$challenge" otc-a 2 otc-b 3)" -eq 1

# ---- 4. pending on one node, delivered by another; retransmission elsewhere ---------------
ctl ee add --username held --password code-held --dn "CN=held,O=nodes" --alias manual \
  >>"$work/ctl.log" 2>&1
timeout 30 "$SCEP" enroll -u "$(url 1 manual)" -c "$ca" -k "$work/dev/held.key" \
  --key-type ec:P-256 --subject "CN=held,O=nodes" --challenge code-held -l "$work/dev/held.pem" \
  -t 1 -n 2 --timeout 10 >"$work/held-enroll.log" 2>&1
check "node 1 holds the request (PENDING, scep exits 3)" test $? -eq 3
id=$(ctl request list --status pending 2>/dev/null | awk -F'\t' '$6 ~ /CN=held/ { print $1 }' | head -1)
check "scepctl request approve" ctl request approve "$id"
timeout 30 "$SCEP" poll -u "$(url 2 manual)" -c "$ca" -k "$work/dev/held.key" \
  -l "$work/dev/held.pem" -t 1 -n 3 --timeout 10 >"$work/held-poll.log" 2>&1
check "node 2 delivers the approved certificate on poll" test $? -eq 0

enroll 2 ra load1-1 "$SECRET" "$work/dev/load1-1.again.pem"
check "a retransmission reaching another node gets the stored certificate" \
  test "$(serial_of "$work/dev/load1-1.again.pem")" = "$(serial_of "$work/dev/load1-1.pem")"

# ---- 5. changes through scepctl reach running nodes without a signal -----------------------
# Every file names the alias first: each node's reload fails (the CA is not in the store yet)
# and keeps its generation; once scepctl adds the CA, the store's revision moves.
for i in $(seq 1 "$NODES"); do printf 'late.defaultca = late\n' >>"$work/node$i.conf"; done
sleep 1.5
ctl ca init --name late --subject "CN=Late CA,O=scepd" --key rsa:2048 >>"$work/ctl.log" 2>&1 ||
  fail "ca init late"
late_fp=$(openssl x509 -in "$work/state/cas/late/ca.pem" -noout -fingerprint -sha256)
t0=$SECONDS
for i in $(seq 1 "$NODES"); do
  served=
  for _ in $(seq 1 50); do
    if "$SCEP" getca -u "$(url "$i" late)" -c "$work/late$i.pem" --timeout 5 >/dev/null 2>&1; then
      served=$(openssl x509 -in "$work/late$i.pem" -noout -fingerprint -sha256)
      [ "$served" = "$late_fp" ] && break
    fi
    sleep 0.2
  done
  check "node $i serves the CA added with scepctl, without a restart or signal" \
    test "$served" = "$late_fp"
  check "node $i logged the failed reload once and the reload by the store's revision" \
    bash -c "[ \$(grep -c 'event=reload_failed' '$work/node$i.log') -ge 1 ] &&
      [ \$(grep -c 'event=reload_failed' '$work/node$i.log') -le 3 ] &&
      grep -q 'event=reload reason=store' '$work/node$i.log'"
done
echo "the new CA was served by all nodes $((SECONDS - t0)) s after scepctl ca init"

ctl ca rollover --name nodes --key rsa:2048 --activate-at "$(date -u -d '+2 days' +%Y-%m-%d)" \
  >>"$work/ctl.log" 2>&1 || fail "ca rollover"
for i in $(seq 1 "$NODES"); do
  announced=0
  for _ in $(seq 1 50); do
    curl -s --max-time 5 "$(url "$i" scep)?operation=GetCACaps" | grep -q GetNextCACert &&
      { announced=1; break; }
    sleep 0.2
  done
  check "node $i announces the rollover scheduled with scepctl (GetNextCACert)" test "$announced" = 1
done

ctl alias set ra clientcertificaterenewal=true >>"$work/ctl.log" 2>&1 || fail "alias set"
renewal=0
for _ in $(seq 1 50); do
  curl -s --max-time 5 "$(url 1 ra)?operation=GetCACaps" | grep -q '^Renewal' && { renewal=1; break; }
  sleep 0.2
done
check "scepctl alias set takes effect on the node whose file it rewrote" test "$renewal" = 1

# ---- 6. CRLs from every node at once --------------------------------------------------------
# The new CA has no CRL yet: three nodes asked at once each want to make number 1.
ctl cert revoke --serial "$(serial_of "$work/dev/load2-1.pem")" --reason superseded \
  >>"$work/ctl.log" 2>&1 || fail "cert revoke"
for round in 1 2 3; do
  crl_pids=
  for i in $(seq 1 "$NODES"); do
    for ca_name in late nodes; do
      curl -s --max-time 5 -o "$work/crl-$round-$i-$ca_name.der" \
        "http://127.0.0.1:${node_port[$i]}/crl/$ca_name.crl" &
      crl_pids="$crl_pids $!"
    done
  done
  # shellcheck disable=SC2086 # a list of pids
  wait $crl_pids
done
for f in "$work"/crl-*.der; do
  n=$(openssl crl -inform DER -in "$f" -noout -crlnumber 2>/dev/null | sed 's/crlNumber=//')
  echo "${f##*-} $n $(sha256sum <"$f" | cut -c1-16)"
done | sort -u >"$work/crls"
check "CRLs served by every node: each CRL number names one CRL" \
  test -z "$(awk '{ print $1, $2 }' "$work/crls" | sort | uniq -d)"
check "... and every node served one (18 fetches)" \
  test "$(find "$work" -maxdepth 1 -name 'crl-*.der' -size +0 | wc -l)" -eq 18

# ---- 7. SIGKILL of one node during a load on all three -------------------------------------
killed_client() { # killed_client NODE: 30 devices, one attempt each
  local node=$1 d
  for d in $(seq 1 30); do
    if enroll "$node" ra "kill$node-$d" "$SECRET"; then echo "kill$node-$d ok"; else echo "kill$node-$d failed"; fi
  done >"$work/kill$node.done"
}
for i in $(seq 1 "$NODES"); do
  killed_client "$i" &
  bg_pids="$bg_pids $!"
done
# Node 3 dies a few enrollments into its load, while the others are busy too.
for _ in $(seq 1 100); do
  [ "$(wc -l <"$work/kill3.done" 2>/dev/null || echo 0)" -ge 4 ] && break
  sleep 0.05
done
kill -KILL "${node_pid[3]}"
wait "${node_pid[3]}" 2>/dev/null # (the shell's "Killed" notice)
node_pid[3]=
# shellcheck disable=SC2086 # a list of pids
wait $bg_pids
bg_pids=
stored >"$work/stored"
missing=0
while read -r dev; do
  grep -q "^$(serial_of "$work/dev/$dev.pem") " "$work/stored" || missing=$((missing + 1))
done < <(awk '$2 == "ok" { print $1 }' "$work"/kill*.done)
echo "load with a SIGKILL: $(grep -c ' ok' "$work"/kill*.done | tr '\n' ' ')"
check "node 3 was killed during its load (some of its enrollments failed)" \
  grep -q failed "$work/kill3.done"
check "every certificate a client received is in the store" test "$missing" -eq 0
check "no serial twice in the store" test -z "$(awk '{ print $1 }' "$work/stored" | sort | uniq -d)"
check "nodes 1 and 2 served all their enrollments meanwhile" \
  bash -c "! grep -q failed '$work/kill1.done' '$work/kill2.done'"
for i in 1 2; do
  check "node $i: /healthz still 200" \
    bash -c "[ \"\$(curl -s --max-time 5 http://127.0.0.1:${node_port[$i]}/healthz)\" = ok ]"
done

echo "total $((SECONDS - started)) s"
it_finish
