#!/usr/bin/env bash
# The fuzz tier: configures and builds the fuzz tree (fuzz/CMakeLists.txt, clang with
# -fsanitize=fuzzer,address,undefined) and runs every target for $FUZZ_SECONDS (default 30) as
# ctest label `fuzz`. Used by `make fuzz` (60 s each) and by scripts/run-tests.sh.
#
#   scripts/fuzz.sh [FUZZ_BUILD_DIR]       (default build/fuzz)
#   scripts/fuzz.sh --check                 exit 0 when this machine can build the tier, else say why
#
# A crash, a leak, a hang or a failed check fails its test; the input is saved under
# FUZZ_BUILD_DIR/artifacts/TARGET/ (replay: FUZZ_BUILD_DIR/bin/fuzz_TARGET FILE). Every input found
# that way belongs in tests/unit/testdata/fuzz-regressions/TARGET/ with its fix.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CXX_FUZZ=${FUZZ_CXX:-clang++-16}
CC_FUZZ=${FUZZ_CC:-clang-16}

# Why the tier cannot run here, or nothing.
why_not() {
  if ! command -v "$CXX_FUZZ" >/dev/null; then
    echo "$CXX_FUZZ not installed (scripts/install-deps.sh installs clang-16; clang 14 cannot compile libstdc++'s std::expected)"
    return
  fi
  local probe
  probe=$(mktemp -d)
  printf '#include <cstddef>\n#include <cstdint>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n' \
    > "$probe/p.cpp"
  # The flags fuzz/CMakeLists.txt gives libstdc++ 12's std::expected.
  printf '#include <expected>\n#include <string>\nstd::expected<int, std::string> f() { return 1; }\nint main() { return f().value() - 1; }\n' \
    > "$probe/e.cpp"
  if ! "$CXX_FUZZ" -fsanitize=fuzzer,address,undefined "$probe/p.cpp" -o "$probe/p" >/dev/null 2>&1; then
    echo "clang's libFuzzer runtime is missing ($CXX_FUZZ -fsanitize=fuzzer does not link: apt-get install libclang-rt-16-dev)"
  elif ! "$CXX_FUZZ" -std=c++2b -D__cpp_concepts=202002L -Wno-builtin-macro-redefined -Wno-macro-redefined \
      -fsyntax-only "$probe/e.cpp" >/dev/null 2>&1; then
    echo "$CXX_FUZZ cannot compile libstdc++'s std::expected, which the agent uses throughout (clang 16 or later can; set FUZZ_CXX/FUZZ_CC)"
  fi
  rm -rf "$probe"
}

if [ "${1:-}" = "--check" ]; then
  why=$(why_not)
  [ -z "$why" ] && exit 0
  echo "$why"
  exit 1
fi

BUILD=${1:-$ROOT/build/fuzz}
why=$(why_not)
if [ -n "$why" ]; then
  echo "fuzz: cannot run: $why" >&2
  exit 2
fi
if [ ! -f "$BUILD/build.ninja" ]; then
  CC=$CC_FUZZ CXX=$CXX_FUZZ cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCHAOS_FUZZ=ON >/dev/null || exit 1
fi
cmake --build "$BUILD" -j "${JOBS:-$(nproc)}" || exit 1
echo "fuzz: $(ctest --test-dir "$BUILD" -N -L fuzz | grep -c 'Test #') targets, ${FUZZ_SECONDS:-30}s each"
# --no-tests=error: a tree that registered no target must fail, not pass silently.
ctest --test-dir "$BUILD" -L fuzz --output-on-failure --no-tests=error
