#!/usr/bin/env bash
# Fails when a C source or header differs from what .clang-format produces.
set -euo pipefail
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top"
cf=$(command -v clang-format || command -v clang-format-14 || true)
if [ -z "$cf" ]; then
  echo "clang-format is not installed (make deps installs it)"
  exit 1
fi
bad=0
while IFS= read -r -d '' f; do
  if ! diff -q <("$cf" --style=file "$f") "$f" >/dev/null; then
    echo "not formatted: $f (run: make format)"
    bad=1
  fi
done < <(find include src tests bench -name '*.[ch]' -print0 2>/dev/null)
[ $bad -eq 0 ] && echo "formatting ok"
exit $bad
