#!/usr/bin/env bash
# scepd's folders are layers and include only downwards (docs/scepd.md "Shape"):
#   http (transport), log  <  state  <  ops  <  enroll  <  relay  <  front  <  main.c
# A file may include scepd headers of its own layer and of the layers below it.
# usage: check-layers.sh [SOURCE_DIR]
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root/src/scepd"

rank() {
  case "$1" in
    log.h|log.c|http/*) echo 0 ;;
    state/*) echo 1 ;;
    ops/*) echo 2 ;;
    enroll/*) echo 3 ;;
    relay/*) echo 4 ;;
    front/*) echo 5 ;;
    main.c) echo 6 ;;
    *) echo "?" ;;
  esac
}

bad=0
while IFS= read -r file; do
  from=$(rank "$file")
  if [ "$from" = "?" ]; then
    echo "$file: in no layer (put it in http/, state/, ops/, enroll/, relay/ or front/)"
    bad=1
    continue
  fi
  while IFS= read -r header; do
    to=$(rank "$header")
    if [ "$to" = "?" ] || [ "$to" -gt "$from" ]; then
      echo "$file includes scepd/$header, a layer above it"
      bad=1
    fi
  done < <(sed -n 's/^#include "scepd\/\([^"]*\)".*/\1/p' "$file")
done < <(find . -name '*.[ch]' | sed 's|^\./||' | sort)

if [ "$bad" -ne 0 ]; then
  echo "scepd layers: see docs/scepd.md \"Shape\""
  exit 1
fi
echo "scepd layers: every include points downwards"
