#!/usr/bin/env bash
# Runs every test tier this machine can run, in order, and says loudly which tier cannot run and why.
set -uo pipefail
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
  # ctest does not print why a test skipped; the reasons are in its log. Show them.
  if [ -f Testing/Temporary/LastTest.log ]; then
    grep -hE '^(SKIP|\[  SKIPPED \]|.*GTEST_SKIP|.*Skipped:)' Testing/Temporary/LastTest.log | sort -u | sed "s/^/    skipped ($label): /" || true
  fi
}
root_why=""
[ "$(id -u)" -eq 0 ] || root_why="needs root (CAP_NET_ADMIN, CAP_BPF, CAP_SYS_ADMIN); run make test as root"
vm_why=""
command -v qemu-system-x86_64 >/dev/null || vm_why="qemu-system-x86_64 not installed"
run_tier unit ""
run_tier bpf "$root_why"
run_tier root "$root_why"
run_tier vm "${root_why:-$vm_why}"
echo "=== GPU tier: not part of make test (no GPU here); on a GPU machine run tests/gpu/device-check.sh"
exit $rc
