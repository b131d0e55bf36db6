#!/usr/bin/env bash
# make bench: every benchmark this machine can run, side by side with its peer. Results and the
# commands that produced them go into docs/benchmarks.md by hand (numbers move between machines).
set -uo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
rc=0
for b in bench/partition-apply.sh bench/agent-footprint.sh bench/api-load.sh bench/netem-*.sh bench/memory-*.sh bench/etcd-*.sh; do
  [ -f "$b" ] || continue
  echo "=== $b"
  bash "$b" "$BUILD" || rc=1
done
echo "=== GPU benchmarks need a machine with a GPU: tests/gpu/device-check.sh"
exit $rc
