#!/usr/bin/env bash
# `cmake --install BUILD --prefix /usr` into a temporary DESTDIR: exactly the files of
# tests/data/install-files.txt, a versioned SONAME, and a program built with
# `pkg-config --cflags --libs libscep` against the installed tree links (libscep.so, and
# libscep.a with the Requires.private) and runs.
# usage: install.sh BUILD_DIR SOURCE_DIR BINDIR SBINDIR LIBDIR INCLUDEDIR DATAROOTDIR MANDIR VERSION SOVERSION
set -euo pipefail
build=$1 src=$2
for tool in cc pkg-config readelf; do
  command -v "$tool" >/dev/null || { echo "SKIP: no $tool"; exit 77; }
done
work=$(mktemp -d /tmp/scepd-install.XXXXXX)
trap 'rm -rf "$work"' EXIT
dest=$work/root
failed=0
fail() { echo "FAIL: $*"; failed=1; }

DESTDIR=$dest cmake --install "$build" --prefix /usr >"$work/install.log"

# The installed tree, symlinks shown with their target.
(cd "$dest" && find . \( -type f -o -type l \) | sed 's|^\.||' | sort | while read -r f; do
  if [ -L "$dest$f" ]; then echo "$f -> $(readlink "$dest$f")"; else echo "$f"; fi
done) >"$work/actual"
grep -v '^#' "$src/tests/data/install-files.txt" |
  sed -e "s|@BINDIR@|$3|; s|@SBINDIR@|$4|; s|@LIBDIR@|$5|; s|@INCLUDEDIR@|$6|" \
      -e "s|@DATAROOTDIR@|$7|; s|@MANDIR@|$8|; s|@VERSION@|$9|; s|@SOVERSION@|${10}|" |
  sort >"$work/expected"
if diff -u "$work/expected" "$work/actual"; then
  echo "PASS: installed files are the expected ones"
else
  fail "installed files differ from tests/data/install-files.txt (- expected, + installed)"
fi

libdir=$dest/usr/$5
soname=$(readelf -d "$libdir/libscep.so.$9" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libscep.so.${10}" ] && echo "PASS: SONAME $soname" || fail "SONAME is '$soname'"

cat >"$work/prog.c" <<'C'
#include <scep/common.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    printf("%s\n", scep_version());
    return strcmp(scep_version(), SCEP_VERSION_STRING) != 0;
}
C
export PKG_CONFIG_PATH=$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest
pcversion=$(pkg-config --modversion libscep)
[ "$pcversion" = "$9" ] && echo "PASS: pkg-config libscep $pcversion" || fail "pkg-config says $pcversion"
# shellcheck disable=SC2046
if cc -o "$work/prog" "$work/prog.c" $(pkg-config --cflags --libs libscep) &&
   out=$(LD_LIBRARY_PATH=$libdir "$work/prog") && [ "$out" = "$9" ]; then
  echo "PASS: linked with pkg-config, scep_version() = $out"
else
  fail "program against the installed libscep.so"
fi
if readelf -d "$work/prog" | grep -q "NEEDED.*\[libscep.so.${10}\]"; then
  echo "PASS: the program needs libscep.so.${10}"
else
  fail "the program does not need libscep.so.${10}"
fi
# libscep.a with its Requires.private linked as shared libraries (a fully static libcurl
# needs -dev packages of all its own dependencies).
private=$(pkg-config --print-requires-private libscep | awk '{print $1}')
# shellcheck disable=SC2046,SC2086
if cc -o "$work/prog-static" "$work/prog.c" $(pkg-config --cflags libscep) "$libdir/libscep.a" \
      $(pkg-config --libs libcrypto $private) -pthread && out=$("$work/prog-static") && [ "$out" = "$9" ] &&
   ! readelf -d "$work/prog-static" | grep -q 'NEEDED.*libscep'; then
  echo "PASS: libscep.a linked with its Requires.private, runs"
else
  fail "program against the installed libscep.a"
fi
exit "$failed"
