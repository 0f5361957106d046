#!/usr/bin/env bash
# man/: every page renders without a single groff warning (`groff -ww -z -man`, and
# `man --warnings -l` as man-db formats it), and each program's --help names its page.
# usage: man-pages.sh SOURCE_DIR SCEPD SCEPCTL SCEP
set -euo pipefail
src=$1
command -v groff >/dev/null || { echo "SKIP: no groff"; exit 77; }
failed=0
pages=("$src"/man/*.[1-8])
[ ${#pages[@]} -eq 4 ] || { echo "FAIL: expected 4 pages, found ${#pages[@]}"; failed=1; }
for page in "${pages[@]}"; do
  name=$(basename "$page")
  out=$(groff -ww -z -man "$page" 2>&1)
  if [ -n "$out" ]; then echo "$out"; echo "FAIL: groff -ww warns on $name"; failed=1
  else echo "PASS: groff -ww -z -man $name"; fi
  if command -v man >/dev/null; then
    out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
    if [ -n "$out" ]; then echo "$out"; echo "FAIL: man -l warns on $name"; failed=1
    else echo "PASS: man --warnings -l $name"; fi
  fi
done
for pair in "$2:scepd(8)" "$3:scepctl(8)" "$4:scep(1)"; do
  prog=${pair%%:*} ref=${pair#*:}
  if "$prog" --help 2>&1 | grep -qxF "See $ref."; then echo "PASS: $(basename "$prog") --help: See $ref."
  else echo "FAIL: $(basename "$prog") --help does not say \"See $ref.\""; failed=1; fi
done
exit "$failed"
