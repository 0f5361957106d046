#!/usr/bin/env bash
# Runs the libFuzzer targets of a SCEP_FUZZ build (make fuzz).
# usage: scripts/fuzz.sh BUILD_DIR [SECONDS] [TARGET...]
#   SECONDS 0 (default): each target replays its seed corpus (tests/fuzz/corpus/NAME) once.
#   SECONDS N > 0: each target fuzzes N seconds, one after the other, starting from its
#   seed corpus; what it finds is kept in BUILD_DIR/fuzz-corpus/NAME (the committed seeds
#   are only read) and a crash is written to BUILD_DIR/fuzz-artifacts/.
#   FUZZ_SEED=N (environment) fixes libFuzzer's random seed, so that a run explores the same
#   inputs first every time (CI); unset, each run draws its own.
# Exits non-zero when a target crashes, leaks or aborts (a round-trip check failing).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: $0 BUILD_DIR [SECONDS] [TARGET...]}
seconds=${2:-0}
shift $(($# >= 2 ? 2 : 1))
case "$seconds" in
  ''|*[!0-9]*) echo "SECONDS must be a whole number, got \"$seconds\"" >&2; exit 2 ;;
esac

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for src in "$top"/tests/fuzz/fuzz_*.c; do
    name=$(basename "$src" .c)
    targets+=("${name#fuzz_}")
  done
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"
failed=()
summary=()
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz_$t"
  seeds="$top/tests/fuzz/corpus/$t"
  if [ ! -x "$bin" ] || [ ! -d "$seeds" ]; then
    echo "fuzz_$t: no binary ($bin) or no seed corpus ($seeds)" >&2
    exit 1
  fi
  log="$artifacts/fuzz_$t.log"
  if [ "$seconds" -eq 0 ]; then
    args=(-runs=0 "$seeds")
  else
    work="$build/fuzz-corpus/$t"
    mkdir -p "$work"
    args=(-max_total_time="$seconds" -print_final_stats=1 "$work" "$seeds")
    if [ -n "${FUZZ_SEED:-}" ]; then
      args=(-seed="$FUZZ_SEED" "${args[@]}")
    fi
  fi
  if "$bin" -artifact_prefix="$artifacts/fuzz_$t-" "${args[@]}" >"$log" 2>&1; then
    runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 runs in \2 s/p' "$log" | tail -1)
    summary+=("fuzz_$t: ok, ${runs:-?}")
  else
    summary+=("fuzz_$t: FAILED (log: $log)")
    failed+=("$t")
    grep -E 'ERROR|SUMMARY|Test unit written|^Base64' "$log" | head -6 >&2 || true
  fi
done
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -ne 0 ]; then
  echo "failing fuzz targets: ${failed[*]}" >&2
  exit 1
fi
