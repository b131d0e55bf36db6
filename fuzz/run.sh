#!/usr/bin/env bash
# Runs one fuzz target for $FUZZ_SECONDS (default 30): the ctest tier (label fuzz) and `make fuzz`
# both come here. Everything else is libFuzzer's own: -max_total_time ends the run, -timeout fails
# an input that hangs, -rss_limit_mb one that eats memory, LeakSanitizer reports leaks at exit;
# any of those, a sanitizer report or a failed FUZZ_CHECK exits non-zero with the input saved
# under BUILD/artifacts/NAME/ (replay: BIN FILE).
#
#   run.sh BIN NAME BUILD   (BUILD: the fuzz build tree, which holds seeds/NAME and corpus/NAME)
set -euo pipefail
bin=$1 name=$2 build=$3
here=$(cd "$(dirname "$0")" && pwd)
secs=${FUZZ_SECONDS:-30}
corpus=$build/corpus/$name   # what this machine's runs found: kept, so later runs start from it
seeds=$build/seeds/$name     # made by the build (make-seeds.py)
artifacts=$build/artifacts/$name/
mkdir -p "$corpus" "$artifacts"
args=(-max_total_time="$secs" -timeout="${FUZZ_TIMEOUT:-10}" -rss_limit_mb="${FUZZ_RSS_MB:-2048}"
      -detect_leaks=1 -print_final_stats=1 -artifact_prefix="$artifacts")
[ -f "$here/dicts/$name.dict" ] && args+=(-dict="$here/dicts/$name.dict")
[ -n "${FUZZ_SEED:-}" ] && args+=(-seed="$FUZZ_SEED")
# Symbolized stacks in the report (clang 16 ships no llvm-symbolizer of its own here).
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && command -v llvm-symbolizer >/dev/null; then
  export ASAN_SYMBOLIZER_PATH=$(command -v llvm-symbolizer)
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "fuzz $name: ${secs}s, corpus $corpus, seeds $seeds ($(ls "$seeds" | wc -l) files)"
exec "$bin" "${args[@]}" "$corpus" "$seeds"
