#!/usr/bin/env bash
# scepd started as root: it binds, then runs as `user` (nobody here) and still enrolls;
# root without `user` is refused; a wrong database path is an error naming it and creates
# nothing; the database scepctl creates is not world-readable; a configuration holding a
# secret that others may read is refused (docs/operations.md).
#
# usage: scepd-privileges.sh SCEPD SCEPCTL SCEP
set -u
SCEPD=$1
SCEPCTL=$2
SCEP=$3
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (scepd drops from root to nobody)"; exit 77; }
id nobody >/dev/null 2>&1 || { echo "SKIP: no user nobody"; exit 77; }
command -v openssl >/dev/null || { echo "SKIP: openssl is not installed"; exit 77; }
. "$(dirname "$0")/lib.sh"
it_init priv
real_scepctl=$(realpath "$2")

cat >"$work/scepd.conf" <<CONF
listen = 127.0.0.1:0
database = sqlite:$work/state/scepd.db
state_dir = $work/state
CONF
mkdir -p "$work/state"

# ---- the store is scepctl's to create, and private ----------------------------------------
# Run as root on purpose: the mode must not depend on who creates it.
"$real_scepctl" --config "$work/scepd.conf" ca init --name priv --subject "CN=Priv CA" \
  --key rsa:2048 >"$work/ctl.log" 2>&1 || { cat "$work/ctl.log"; echo "FAIL: ca init"; exit 1; }
check "the database scepctl created is 0600" test "$(stat -c %a "$work/state/scepd.db")" = 600
ctl ee add --username dev1 --password pw-dev1 --dn CN=dev1 >>"$work/ctl.log" 2>&1

# ---- root without `user` is refused --------------------------------------------------------
chmod 600 "$work/scepd.conf"
"$SCEPD" --config "$work/scepd.conf" >"$work/root.log" 2>&1
rc=$?
check "root without user: scepd exits non-zero" test "$rc" -ne 0
check "root without user: the message names the setting" grep -q 'user = NAME' "$work/root.log"

# ---- a missing database is an error and creates nothing --------------------------------------
sed "s|scepd.db|missing.db|" "$work/scepd.conf" >"$work/missing.conf"
printf 'user = nobody\n' >>"$work/missing.conf"
chown -R nobody: "$work"
"$SCEPD" --config "$work/missing.conf" >"$work/missing.log" 2>&1
rc=$?
check "missing database: scepd exits non-zero" test "$rc" -ne 0
check "missing database: the message names the path" \
  grep -q "$work/state/missing.db" "$work/missing.log"
check "missing database: no file was created" test ! -e "$work/state/missing.db"
"$SCEPD" --config "$work/missing.conf" --check >"$work/missing.log" 2>&1
rc=$?
check "missing database: scepd --check exits non-zero and creates nothing" \
  bash -c "[ $rc -ne 0 ] && [ ! -e '$work/state/missing.db' ]"

# ---- a secret in a world-readable configuration is refused -----------------------------------
cp "$work/missing.conf" "$work/secret.conf"
printf 'admin_token = t0ken\n' >>"$work/secret.conf"
chmod 644 "$work/secret.conf"
"$SCEPD" --config "$work/secret.conf" --check >"$work/secret.log" 2>&1
rc=$?
check "a world-readable configuration holding a secret is refused, naming the setting" \
  bash -c "[ $rc -ne 0 ] && grep -q 'admin_token' '$work/secret.log'"

# ---- user = nobody: dropped, and serving -------------------------------------------------------
it_start_scepd || exit 1
status=/proc/$scepd_pid/status
check "Uid: real, effective, saved and fs uid are nobody's" \
  bash -c "awk '/^Uid:/ { exit !(\$2 == \$3 && \$3 == \$4 && \$4 == \$5 && \$2 == $(id -u nobody)) }' $status"
check "Gid: nobody's group" \
  bash -c "awk '/^Gid:/ { exit !(\$2 == \$3 && \$3 == \$4 && \$4 == \$5 && \$2 == $(id -g nobody)) }' $status"
check "the drop is logged" grep -q 'event=privileges_dropped user=nobody' "$work/scepd.log"
URL=http://127.0.0.1:$port/scep/pkiclient.exe
check "scep enroll works under the unprivileged scepd" \
  "$SCEP" enroll -u "$URL" -c "$work/state/cas/priv/ca.pem" -k "$work/dev1.key" \
  --subject CN=dev1 --challenge pw-dev1 -r "$work/dev1.csr" -l "$work/dev1.pem"
check "files scepd made are not world-readable" \
  bash -c "[ -z \"\$(find '$work/state' -newer '$work/scepd.conf' -perm -o=r -type f)\" ]"

it_finish
