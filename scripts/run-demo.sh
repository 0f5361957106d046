#!/usr/bin/env bash
# `make run`: a demo CA and scepd serving SCEP on 127.0.0.1:8080 with the embedded SQLite
# store, all under ./state (created on first run, reused afterwards). Prints the URL and
# ready-to-paste enrollment commands, then runs scepd in the foreground (Ctrl-C stops it).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
state=${STATE_DIR:-$top/state}
port=${PORT:-8080}
scepd=$build/scepd
scepctl=$build/scepctl
conf=$state/scepd.conf

mkdir -p "$state"
chmod 700 "$state"
if [ ! -f "$conf" ]; then
  cat >"$conf" <<CONF
# scepd demo configuration (see docs/configuration.md)
listen = 127.0.0.1:$port
database = sqlite:$state/scepd.db
state_dir = $state
log_level = info
legacy_algorithms = true

# One alias, "mdm" (/scep/mdm/pkiclient.exe; as the only alias also /scep/pkiclient.exe).
# It also speaks single DES and SHA-1, because micromdm's scepclient 2.1.0 sends nothing
# else. End entities enroll through the alias they are registered for (ee add --alias).
mdm.legacy = true
mdm.certificateprofile = DEVICE
CONF
  chmod 600 "$conf"
fi
# scepd does not run as root without `user =` (docs/operations.md). As root, the demo runs
# scepd and scepctl as nobody, which then owns the state directory.
as_user=()
if [ "$(id -u)" = 0 ]; then
  grep -q '^user *=' "$conf" || printf '\n# Started as root: scepd runs as this user.\nuser = nobody\n' >>"$conf"
  chown -R nobody: "$state"
  as_user=(setpriv --reuid=nobody --regid=nogroup --init-groups)
fi
ctl() { "${as_user[@]}" "$scepctl" --config "$conf" "$@"; }

if ! ctl ca list 2>/dev/null | grep -q '^demo\b'; then
  ctl ca init --name demo --subject "CN=scepd demo CA,O=scepd" --key rsa:3072 --days 3650
fi

# A fresh one-time enrollment code at every start for each of two demo devices: one for
# micromdm's scepclient, one for this project's client (a code works once).
register() { # register USERNAME CODE
  if ctl ee show --username "$1" >/dev/null 2>&1; then
    ctl ee reset --username "$1" --password "$2" >/dev/null
  else
    ctl ee add --username "$1" --password "$2" --dn "CN=$1" --alias mdm --ca demo >/dev/null
  fi
}
code=$(openssl rand -hex 8)
code2=$(openssl rand -hex 8)
register demo-device "$code"
register demo-device-2 "$code2"

url=http://127.0.0.1:$port/scep/mdm/pkiclient.exe
cat <<MSG

scepd demo
  SCEP URL (alias mdm):      $url
  CA certificate:            $state/cas/demo/ca.pem
  End entities:              demo-device, one-time enrollment code $code
                             demo-device-2, one-time enrollment code $code2

Enroll with micromdm's scepclient (Debian package "scep"), in another terminal:
  mkdir -p /tmp/demo-device && cd /tmp/demo-device && \\
  scepclient -server-url $url \\
    -cn demo-device -challenge $code -private-key key.pem -certificate cert.pem
  openssl verify -CAfile $state/cas/demo/ca.pem /tmp/demo-device/cert.pem

and with this project's client (its own device and code):
  $build/scep enroll -u $url -c $state/cas/demo/ca.pem \\
    -k /tmp/demo-device-2.key --key-type rsa:2048 --subject CN=demo-device-2 \\
    --challenge $code2 -l /tmp/demo-device-2.pem

Each code works once; 'make run' again prints new ones. Register more devices with
  $scepctl --config $conf ee add --username NAME --password CODE --dn CN=NAME --alias mdm --ca demo
Stop the server with Ctrl-C.

MSG
exec "$scepd" --config "$conf"
