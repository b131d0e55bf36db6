#!/usr/bin/env bash
# Runs every test tier this machine can run, in order, and says loudly which tier cannot run and why.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
cd "$BUILD"
rc=0
run_tier() {
  local label=$1 why=$2
  if [ -n "$why" ]; then
    echo "=== tier $label: SKIPPED: $why"
    return
  fi
  echo "=== tier $label"
  ctest -L "^${label}\$" --output-on-failure --timeout 900 || rc=1
  # ctest prints only the names of skipped tests; the reasons are in its log (gtest writes
  # "FILE:LINE: Skipped" then the message, then "[  SKIPPED ] Suite.Name"). Show name: reason.
  if [ -f Testing/Temporary/LastTest.log ]; then
    awk -v tier="$label" '
      / Skipped$/ { grab = 1; why = ""; next }
      grab && /^\[  SKIPPED \]/ { grab = 0 }
      grab { why = why (why == "" ? "" : " ") $0; next }
      /^\[  SKIPPED \] [A-Za-z0-9_.\/]+ \(/ { printf "    skipped (%s): %s: %s\n", tier, $4, (why == "" ? "(no reason given)" : why); why = "" }
    ' Testing/Temporary/LastTest.log | sort -u
  fi
}
root_why=""
[ "$(id -u)" -eq 0 ] || root_why="needs root (CAP_NET_ADMIN, CAP_BPF, CAP_SYS_ADMIN); run make test as root"
vm_why=""
command -v qemu-system-x86_64 >/dev/null || vm_why="qemu-system-x86_64 not installed"
run_tier unit ""
# The fuzz tier builds its own clang tree (BUILD/fuzz): each libFuzzer target for 30 s.
fuzz_why=$(bash "$ROOT/scripts/fuzz.sh" --check)
if [ -n "$fuzz_why" ]; then
  echo "=== tier fuzz: SKIPPED: $fuzz_why"
else
  echo "=== tier fuzz (scripts/fuzz.sh: 5 targets, ${FUZZ_SECONDS:-30}s each)"
  # A fixed seed in the test tier: the inputs it tries are the same sequence on every machine (a
  # faster one gets further along it), so the tier finds what a developer's run found, not a new
  # bug at random in CI; `make fuzz` explores with a random seed.
  FUZZ_SEED=${FUZZ_SEED:-20261202} FUZZ_SECONDS=${FUZZ_SECONDS:-30} bash "$ROOT/scripts/fuzz.sh" "$(pwd)/fuzz" || rc=1
fi
run_tier bpf "$root_why"
run_tier root "$root_why"
run_tier vm "${root_why:-$vm_why}"
# The GPU tier needs a GPU and the NVIDIA driver; it builds its own tree (CUDA forced on).
if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
  echo "=== tier gpu (tests/gpu/device-check.sh)"
  (cd "$ROOT" && SKIP_BENCH=1 bash tests/gpu/device-check.sh) || rc=1
else
  echo "=== tier gpu: SKIPPED: no NVIDIA GPU on this machine (nvidia-smi lists none); the GPU fault is covered by the unit tier's fake driver"
fi
exit $rc
