#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, only those missing.
# Usage: scripts/install-deps.sh [build|test|fuzz|bench|all]   (default: all)
set -euo pipefail

build_pkgs=(gcc make cmake pkg-config git clang-format
            libssl-dev openssl libcurl4-openssl-dev libmicrohttpd-dev
            libsqlite3-dev sqlite3 libpq-dev libcmocka-dev libjansson-dev
            libp11-dev libp11-kit-dev)
# Third-party SCEP peers and the tools the integration tests drive them with; groff and
# man-db check the man pages, systemd-analyze the unit; SoftHSM2 and pkcs11-tool stand in
# for a hardware security module; postgresql is the server the store tests start a
# throwaway cluster of (scripts/pg-cluster.sh); chromium, driven over its DevTools protocol
# with python3-websocket, is the browser the admin console is tested in.
test_pkgs=(scep certmonger strongswan-pki libstrongswan-extra-plugins python3 xxd postgresql
           python3-prometheus-client python3-jsonschema chromium python3-websocket
           iproute2 util-linux curl procps
           groff-base man-db systemd
           softhsm2 opensc)
# make fuzz: clang, and its runtime libraries (libFuzzer, ASan, UBSan), which Debian 12
# ships in libclang-rt-14-dev, only recommended by clang (libclang-rt-dev picks the
# default version's).
fuzz_pkgs=(clang libclang-rt-dev)
# make bench-static compares scepd with nginx serving the same bytes; the profile recipe
# of docs/performance.md uses valgrind (callgrind) and perf. Not needed by the tests.
bench_pkgs=(nginx-light valgrind linux-perf curl python3)

case "${1:-all}" in
  build) want=("${build_pkgs[@]}") ;;
  fuzz) want=("${build_pkgs[@]}" "${fuzz_pkgs[@]}") ;;
  bench) want=("${build_pkgs[@]}" "${bench_pkgs[@]}") ;;
  test|all) want=("${build_pkgs[@]}" "${test_pkgs[@]}" "${fuzz_pkgs[@]}") ;;
  *) echo "usage: $0 [build|test|fuzz|bench|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo)
else
  echo "need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
# Package scripts must not start services in a build environment.
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
