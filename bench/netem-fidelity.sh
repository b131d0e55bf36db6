#!/usr/bin/env bash
# Delay fidelity: requested vs measured added delay (UDP round trip minus the baseline mean
# measured just before) - mean, p50, p99, stddev - for a few delay settings applied by the agent
# to one flow (UDP 7001) of the lab client. Runs INSIDE the vm guest (the host has no sch_netem).
# Usage: bench/netem-fidelity.sh BUILD_DIR [SAMPLES]
set -euo pipefail
BUILD=${1:-build}
SAMPLES=${2:-300}
root=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(realpath "$BUILD")
[ -x "$BUILD/bin/netem_probe" ] || { echo "SKIP: $BUILD/bin/netem_probe not built (ninja netem_probe)"; exit 0; }
guest=$(mktemp /tmp/netem-fidelity-guest.XXXXXX)
trap 'rm -f "$guest"' EXIT
cat >"$guest" <<'GUEST'
#!/bin/bash
source /opt/chaos/netem-lib.sh
SAMPLES=$1
trap teardown EXIT
start_agent
lab_up
b=$(probe 7001 "$SAMPLES" 20 1000)
bm=$(field mean "$b")
echo "baseline (VM noise): $b"
rows=()
i=0
while IFS='|' read -r label block interval; do
  i=$((i + 1))
  f=$(exp "fid$i" client 120s 'action: delay' 'match: {protocol: udp, ports: [7001]}' "delay: $block")
  run_bg "$f"
  wait_netem "$CLIENT" eth0
  m=$(probe 7001 "$SAMPLES" "$interval" 3000)
  chaosctl --socket "$SOCK" halt --all >/dev/null
  wait_run
  rows+=("$(printf '%-34s %6s %8.2f %8.2f %8.2f %8.2f' "$label" "$(field recv "$m")" \
    "$(awk -v x="$(field mean "$m")" -v b="$bm" 'BEGIN{print x - b}')" \
    "$(awk -v x="$(field p50 "$m")" -v b="$bm" 'BEGIN{print x - b}')" \
    "$(awk -v x="$(field p99 "$m")" -v b="$bm" 'BEGIN{print x - b}')" "$(field sd "$m")")")
done <<'SETTINGS'
10ms|{latency: 10ms}|20
100ms|{latency: 100ms}|20
100ms +- 10ms normal|{latency: 100ms, jitter: 10ms, distribution: normal}|20
100ms +- 10ms uniform|{latency: 100ms, jitter: 10ms}|20
100ms +- 20ms pareto|{latency: 100ms, jitter: 20ms, distribution: pareto}|20
100ms +- 20ms paretonormal|{latency: 100ms, jitter: 20ms, distribution: paretonormal}|20
500ms +- 100ms normal|{latency: 500ms, jitter: 100ms, distribution: normal}|20
500ms +- 100ms corr 100% (seed)|{latency: 500ms, jitter: 100ms, correlation: 100%}|20
SETTINGS
assert_clean "after the fidelity runs"
echo "delay fidelity, $SAMPLES UDP round trips each, added delay = RTT - baseline mean ($bm ms), ms:"
printf '%-34s %6s %8s %8s %8s %8s\n' requested samples mean p50 p99 stddev
printf '%s\n' "${rows[@]}"
GUEST
bash "$root/tests/vm/run-in-vm.sh" --build "$BUILD" --script "$guest" --name bench-netem-fidelity \
  --file "$root/tests/vm/netem-lib.sh:/opt/chaos/netem-lib.sh" --file "$BUILD/bin/netem_probe:/usr/local/bin/netem_probe" \
  --arg "$SAMPLES" --timeout 900 | grep -vE '^\[ *[0-9.]+\]'
