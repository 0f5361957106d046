#!/usr/bin/env bash
# Rejects calls to functions that are easy to misuse with C strings and numbers.
set -euo pipefail
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top"
banned='sprintf|vsprintf|strcpy|strcat|strncpy|strncat|atoi|atol|atoll|strtok|gets'
hits=$(grep -rnE "(^|[^_[:alnum:]])($banned)[[:space:]]*\(" include src tests bench --include='*.c' --include='*.h' || true)
if [ -n "$hits" ]; then
  echo "banned functions used (use snprintf, memcpy with a checked length, strtol, strtok_r):"
  echo "$hits"
  exit 1
fi
echo "no banned functions"
