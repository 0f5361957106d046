#!/usr/bin/env bash
# systemd/scepd.service: `systemd-analyze verify` accepts it (ExecStart pointed at the
# built scepd, man pages not looked up), and `systemd-analyze security --offline=yes`
# rates its exposure OK or better (docs/operations.md "Installing" records the score).
# usage: systemd-unit.sh SOURCE_DIR SCEPD
set -euo pipefail
src=$1 scepd=$(realpath "$2")
command -v systemd-analyze >/dev/null || { echo "SKIP: no systemd-analyze"; exit 77; }
work=$(mktemp -d /tmp/scepd-unit.XXXXXX)
trap 'rm -rf "$work"' EXIT
failed=0
sed "s|/usr/sbin/scepd|$scepd|g" "$src/systemd/scepd.service" >"$work/scepd.service"
cd "$work"
if systemd-analyze verify --man=no ./scepd.service 2>"$work/verify.log" && [ ! -s "$work/verify.log" ]; then
  echo "PASS: systemd-analyze verify"
else
  cat "$work/verify.log"
  echo "FAIL: systemd-analyze verify"
  failed=1
fi
if ! systemd-analyze security --offline=yes --no-pager ./scepd.service >"$work/security.log" 2>&1; then
  cat "$work/security.log"
  echo "SKIP: this systemd-analyze cannot rate a unit offline"
  exit 77
fi
grep -E '^✗|→' "$work/security.log" || true
level=$(sed -n 's/.*Overall exposure level for scepd.service: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p' "$work/security.log")
case "${level#* }" in
  OK | SAFE | PERFECT) echo "PASS: exposure $level" ;;
  *) echo "FAIL: exposure '$level', want OK or better"; failed=1 ;;
esac
exit "$failed"
