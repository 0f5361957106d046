# shellcheck shell=bash
# Drivers for the third-party SCEP peers the integration tests use (Debian 12 packages:
# scep 2.1.0 = micromdm scepserver/scepclient, certmonger 0.79.17, strongswan-pki 5.9.8).
# Source this file; every function is bounded in time, returns the peer's status and
# leaves its output in the DIR it was given. See docs/interop-peers.md for the evidence.
#
#   . tests/integration/peers.sh
#   peer_micromdm_server_start DIR PORT CHALLENGE   # ONLY inside a private netns
#   peer_micromdm_server_stop DIR
#   peer_scepclient_enroll URL DIR CN CHALLENGE [extra scepclient flags...]
#   peer_certmonger_enroll URL DIR CN CHALLENGE
#   peer_certmonger_getcaps URL        /  peer_certmonger_getca URL DIR
#   peer_strongswan_getca URL DIR
#   peer_strongswan_enroll URL DIR CN CHALLENGE [cipher aes|des3] [digest sha256|...]
#   peer_start_relay PORT UPSTREAM CAPDIR  / peer_stop_relay CAPDIR   (capturing proxy)
#
# URL is the full SCEP URL, e.g. http://127.0.0.1:PORT/scep (micromdm serves exactly
# /scep) or http://127.0.0.1:PORT/scep/ALIAS/pkiclient.exe for scepd.
# Results: DIR/cert.pem (PEM certificate) on success; DIR/<peer>.log always.
# Time limits can be tuned with PEER_TIMEOUT (seconds per client run, default 40).

PEER_TIMEOUT=${PEER_TIMEOUT:-40}
PEER_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# True when this shell is in a network namespace whose only interface is loopback.
peer_in_private_netns() {
  local n
  n=$(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | grep -cv '^lo$')
  [ "$n" -eq 0 ]
}

# peer_wait_http URL [SECONDS]: poll until URL answers HTTP (any status), bounded.
peer_wait_http() {
  local url=$1 secs=${2:-10} i
  for ((i = 0; i < secs * 10; i++)); do
    if curl -s -o /dev/null --max-time 1 "$url"; then return 0; fi
    sleep 0.1
  done
  echo "peer_wait_http: $url not answering after ${secs}s" >&2
  return 1
}

# ---------------------------------------------------------------- micromdm scepserver
# peer_micromdm_server_start DIR PORT CHALLENGE [extra scepserver flags...]
# Creates DIR/depot (a 2048-bit RSA CA) if missing and starts scepserver on PORT with
# -debug. scepserver 2.1.0 has no bind option and listens on all interfaces, so this
# refuses to run outside a loopback-only network namespace (unshare -n).
# Endpoint: http://127.0.0.1:PORT/scep (exact path; anything else is 404).
peer_micromdm_server_start() {
  local dir=$1 port=$2 challenge=$3
  shift 3
  if ! peer_in_private_netns; then
    echo "peer_micromdm_server_start: refusing: not in a loopback-only netns (use unshare -n)" >&2
    return 2
  fi
  mkdir -p "$dir" || return 1
  if [ ! -f "$dir/depot/ca.pem" ]; then
    (cd "$dir" && timeout 60 scepserver ca -init -depot depot -keySize 2048 \
      -organization scepd-interop) >"$dir/ca-init.log" 2>&1 || return 1
  fi
  # timeout(1) bounds the server's life even if the caller forgets to stop it.
  (cd "$dir" && exec timeout "${PEER_SERVER_LIFETIME:-600}" scepserver -depot depot \
    -port "$port" -challenge "$challenge" -debug "$@") >"$dir/scepserver.log" 2>&1 &
  echo $! >"$dir/scepserver.pid"
  peer_wait_http "http://127.0.0.1:$port/scep?operation=GetCACaps" 15
}

peer_micromdm_server_stop() {
  local dir=$1 pid
  [ -f "$dir/scepserver.pid" ] || return 0
  pid=$(cat "$dir/scepserver.pid")
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rm -f "$dir/scepserver.pid"
  return 0
}

# ------------------------------------------------------------------ capturing relay
# peer_start_relay PORT UPSTREAM_BASE CAPDIR: logging reverse proxy on 127.0.0.1:PORT
# (scep-relay.py); every request/response is written to CAPDIR. Set RELAY_CAPS to make it
# answer GetCACaps itself.
peer_start_relay() {
  local port=$1 upstream=$2 capdir=$3
  mkdir -p "$capdir" || return 1
  timeout "${PEER_SERVER_LIFETIME:-600}" python3 "$PEER_LIB_DIR/scep-relay.py" \
    "$port" "$upstream" "$capdir" >"$capdir/relay.log" 2>&1 &
  echo $! >"$capdir/relay.pid"
  peer_wait_http "http://127.0.0.1:$port/" 10
}

peer_stop_relay() {
  local capdir=$1 pid
  [ -f "$capdir/relay.pid" ] || return 0
  pid=$(cat "$capdir/relay.pid")
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rm -f "$capdir/relay.pid"
  return 0
}

# ---------------------------------------------------------------- micromdm scepclient
# peer_scepclient_enroll URL DIR CN CHALLENGE [extra flags, e.g. -keySize 3072 -ou X]
# scepclient always runs GetCACert, GetCACaps, then PKCSReq (POST when the server lists
# POSTPKIOperation); it has no getcaps/getca-only mode. It creates DIR/key.pem (RSA
# only, PKCS#1 PEM) and DIR/csr.pem if missing, writes DIR/self.pem (its self-signed
# signer) and on success DIR/cert.pem. Exit: 0 issued; 1 FAILURE reply (prints
# "PKCSReq (19) request failed, failInfo: badRequest (2)"), unreachable, or any error.
# Subject: C=US O=scep-client OU=MDM CN=<CN> unless overridden with -country/-organization/-ou.
peer_scepclient_enroll() {
  local url=$1 dir=$2 cn=$3 challenge=$4 rc
  shift 4
  mkdir -p "$dir" || return 1
  rm -f "$dir/cert.pem"
  (cd "$dir" && timeout "$PEER_TIMEOUT" scepclient -server-url "$url" \
    -challenge "$challenge" -private-key key.pem -certificate cert.pem -cn "$cn" \
    -debug "$@") >"$dir/scepclient.log" 2>&1
  rc=$?
  [ $rc -eq 0 ] && [ ! -s "$dir/cert.pem" ] && rc=99
  return $rc
}

# ---------------------------------------------------------------------- certmonger
# certmonger runs without systemd and without D-Bus: `certmonger -n -L -P SOCK -c CMD`
# listens only on a private socket, runs CMD with CERTMONGER_PVT_ADDRESS set (getcert
# honours it, so no -s/-S is needed), and exits when CMD exits. All state goes to
# DIR/cm via CERTMONGER_{REQUESTS,CAS,LOCAL_CA,CONFIG}_DIR, CERTMONGER_TMPDIR and
# CERTMONGER_SYSTEM_LOCK_FILE; nothing under /var/lib/certmonger or /run is touched.
_peer_certmonger_env() {
  local cm=$1
  mkdir -p "$cm/requests" "$cm/cas" "$cm/local" "$cm/config" "$cm/tmp" || return 1
  export CERTMONGER_REQUESTS_DIR=$cm/requests CERTMONGER_CAS_DIR=$cm/cas \
    CERTMONGER_LOCAL_CA_DIR=$cm/local CERTMONGER_CONFIG_DIR=$cm/config \
    CERTMONGER_TMPDIR=$cm/tmp CERTMONGER_SYSTEM_LOCK_FILE=$cm/lock
}

# peer_certmonger_enroll URL DIR CN CHALLENGE
# Adds SCEP CA "scepca" (getcert add-scep-ca), waits until certmonger has fetched its CA
# certificate, requests a certificate (RSA 2048 key DIR/key.pem, cert DIR/cert.pem,
# subject CN=<CN>, challenge via -L) and polls `getcert list -i peer` until a final state.
# The final status line (MONITORING on success; CA_UNREACHABLE, CA_REJECTED,
# NEED_TO_SUBMIT ... otherwise) and ca-error go to DIR/certmonger.status.
# Returns 0 only if status is MONITORING and DIR/cert.pem exists; 1 otherwise.
peer_certmonger_enroll() {
  local url=$1 dir=$2 cn=$3 challenge=$4 cm rc
  mkdir -p "$dir" || return 1
  dir=$(cd "$dir" && pwd)
  cm=$dir/cm
  rm -rf "$cm" "$dir/cert.pem" "$dir/key.pem" "$dir/certmonger.status"
  (
    _peer_certmonger_env "$cm" || exit 1
    cat >"$cm/inner.sh" <<'INNER'
set -u
url=$1 dir=$2 cn=$3 challenge=$4 limit=$5
getcert add-scep-ca -c scepca -u "$url" || exit 1
# certmonger fetches the CA certificate asynchronously (GetCACert via scep-submit -C).
for ((i = 0; i < limit * 2; i++)); do
  getcert list-cas -c scepca 2>/dev/null | grep -q 'CA certificate thumbprint' && break
  sleep 0.5
done
getcert request -c scepca -k "$dir/key.pem" -f "$dir/cert.pem" -I peer \
  -L "$challenge" -N "CN=$cn" -G RSA -g 2048 || exit 1
state=
for ((i = 0; i < limit * 2; i++)); do
  state=$(getcert list -i peer | sed -n 's/^[[:space:]]*status: //p')
  case $state in
    MONITORING|CA_REJECTED|CA_UNREACHABLE|CA_UNCONFIGURED|NEED_GUIDANCE|NEED_CA) break ;;
  esac
  sleep 0.5
done
getcert list -i peer >"$dir/certmonger.list" 2>&1
{ echo "status: $state"; grep 'ca-error:' "$dir/certmonger.list"; } >"$dir/certmonger.status"
[ "$state" = MONITORING ] && [ -s "$dir/cert.pem" ]
INNER
    exec timeout "$PEER_TIMEOUT" certmonger -n -L -P "$cm/sock" -d 2 \
      -c "bash $cm/inner.sh '$url' '$dir' '$cn' '$challenge' $((PEER_TIMEOUT / 2))"
  ) >"$dir/certmonger.log" 2>&1
  rc=$?
  # certmonger's own exit status does not reflect the command's; judge by the result.
  if grep -q '^status: MONITORING' "$dir/certmonger.status" 2>/dev/null && [ -s "$dir/cert.pem" ]; then
    return 0
  fi
  [ $rc -eq 124 ] && echo "peer_certmonger_enroll: timed out" >>"$dir/certmonger.log"
  return 1
}

# peer_certmonger_getcaps URL: scep-submit -c prints the GetCACaps lines; exit 0 on success.
peer_certmonger_getcaps() {
  timeout "$PEER_TIMEOUT" /usr/lib/certmonger/scep-submit -u "$1" -c
}

# peer_certmonger_getca URL DIR: scep-submit -C writes RA, CA and other certificates
# (PEM, in that order) to DIR/certmonger-getca.pem. Exit 0 on success.
peer_certmonger_getca() {
  mkdir -p "$2" || return 1
  timeout "$PEER_TIMEOUT" /usr/lib/certmonger/scep-submit -u "$1" -C >"$2/certmonger-getca.pem"
}

# --------------------------------------------------------------- strongSwan pki --scep
# pki loads the curl plugin (libstrongswan-extra-plugins) for HTTP; no config needed.
# Its stderr always carries harmless noise: 'TPM 2.0 - could not load
# "libtss2-tcti-tabrmd.so.0"', "plugin 'tpm': failed to load", aesni/openssl not found.

# peer_strongswan_getca URL DIR: GetCACert; CA certificate -> DIR/ca.pem (an RA, when
# the server sends one, -> DIR/ra.pem). Exit 0 on success.
peer_strongswan_getca() {
  local url=$1 dir=$2
  mkdir -p "$dir" || return 1
  rm -f "$dir/ra.pem"
  timeout "$PEER_TIMEOUT" pki --scepca --url "$url" --caout "$dir/ca.pem" \
    --raout "$dir/ra.pem" --outform pem --force --debug 2 >"$dir/strongswan-getca.log" 2>&1
}

# peer_strongswan_enroll URL DIR CN CHALLENGE [CIPHER] [DIGEST]
# Generates DIR/key.pem (RSA 2048; pki --scep takes RSA keys only) if missing, fetches the
# CA certificate unless DIR/ca.pem exists, then enrolls with subject CN=<CN>. With an RA,
# --cacert-enc/--cacert-sig must name the RA cert(s) and --cacert the CA.
# Defaults: cipher aes, digest sha256 (pki's own defaults). Exit 0 issued (DIR/cert.pem),
# 1 otherwise (reason in DIR/strongswan.log: "... not supported by CA", "only RSA digest
# encryption supported", "unable to verify PKCS#7 container", failInfo ...).
# pki polls with --interval while PENDING; --maxpolltime bounds that.
peer_strongswan_enroll() {
  local url=$1 dir=$2 cn=$3 challenge=$4 cipher=${5:-aes} digest=${6:-sha256} rc enc sig
  mkdir -p "$dir" || return 1
  rm -f "$dir/cert.pem"
  if [ ! -s "$dir/key.pem" ]; then
    timeout 60 pki --gen --type rsa --size 2048 --outform pem >"$dir/key.pem" 2>/dev/null || return 1
  fi
  if [ ! -s "$dir/ca.pem" ]; then
    peer_strongswan_getca "$url" "$dir" || return 1
  fi
  enc=$dir/ca.pem sig=$dir/ca.pem
  # With a chain, pki --scepca writes the root as ca.pem and the CA under it as
  # ca-1.pem: the issuing CA (the one not self-signed) decrypts and signs.
  local f
  for f in "$dir"/ca-*.pem; do
    [ -s "$f" ] || continue
    if [ "$(openssl x509 -in "$f" -noout -subject)" != "subject=$(openssl x509 -in "$f" -noout -issuer | sed 's/^issuer=//')" ]; then
      enc=$f sig=$f
    fi
  done
  if [ -s "$dir/ra.pem" ]; then enc=$dir/ra.pem sig=$dir/ra.pem; fi
  local extra=()
  [ "$enc" != "$dir/ca.pem" ] && extra=(--cacert "$dir/ca.pem")
  timeout "$PEER_TIMEOUT" pki --scep --url "$url" --in "$dir/key.pem" --dn "CN=$cn" \
    --password "$challenge" --cacert-enc "$enc" --cacert-sig "$sig" "${extra[@]}" \
    --cipher "$cipher" --digest "$digest" --interval 2 --maxpolltime $((PEER_TIMEOUT / 2)) \
    --outform pem --debug 2 >"$dir/cert.pem.tmp" 2>"$dir/strongswan.log"
  rc=$?
  if [ $rc -eq 0 ] && [ -s "$dir/cert.pem.tmp" ]; then
    mv "$dir/cert.pem.tmp" "$dir/cert.pem"
  else
    rm -f "$dir/cert.pem.tmp"
    [ $rc -eq 0 ] && rc=99
  fi
  return $rc
}
