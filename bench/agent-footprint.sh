#!/usr/bin/env bash
# The agent's resident memory and CPU: idle, and with one partition active (lab traffic flowing).
# Usage: bench/agent-footprint.sh BUILD_DIR [SECONDS]
set -euo pipefail
BUILD=${1:-build}; SECS=${2:-10}
BIN=$(cd "$BUILD/bin" && pwd)
LAB=bfp$$
tmp=$(mktemp -d /tmp/chaos-bench.XXXXXX)
agent=""; runpid=""
cleanup() {
  [ -n "$runpid" ] && kill "$runpid" 2>/dev/null; wait "$runpid" 2>/dev/null || true
  [ -n "$agent" ] && kill -TERM "$agent" 2>/dev/null && wait "$agent" 2>/dev/null
  "$BIN/chaosctl" lab down --name "$LAB" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
"$BIN/chaosctl" lab up --name "$LAB" >/dev/null
"$BIN/chaos-agent" --socket "$tmp/s" --state-dir "$tmp/state" --config "$tmp/none.yaml" --log-level warn 2>"$tmp/agent.log" &
agent=$!
for _ in $(seq 100); do [ -S "$tmp/s" ] && break; sleep 0.05; done
hz=$(getconf CLK_TCK)
measure() {  # prints "RSS_KiB CPU_percent" over SECS seconds
  local t0 t1 r
  t0=$(awk '{print $14+$15}' /proc/$agent/stat)
  sleep "$SECS"
  t1=$(awk '{print $14+$15}' /proc/$agent/stat)
  r=$(awk '/VmRSS/{print $2}' /proc/$agent/status)
  python3 -c "print($r, round(100.0*($t1-$t0)/$hz/$SECS, 2))"
}
read -r idle_rss idle_cpu < <(measure)
cat >"$tmp/exp.yaml" <<YAML
apiVersion: chaos-agent/v1
kind: Experiment
metadata: {name: bench-footprint}
spec:
  duration: $((SECS + 4))s
  faults:
    - name: hold
      start: 1s
      duration: $((SECS + 2))s
      network: {action: partition, lab: $LAB/client, direction: both, match: {cidrs: [198.18.0.20/32], protocol: tcp, ports: [8080]}}
YAML
"$BIN/chaosctl" --socket "$tmp/s" run "$tmp/exp.yaml" >/dev/null &
runpid=$!
sleep 1.5
read -r act_rss act_cpu < <(measure)
wait "$runpid" || true; runpid=""
echo "agent footprint over ${SECS}s windows:"
echo "  idle:                 RSS ${idle_rss} KiB, CPU ${idle_cpu}%"
echo "  one partition active: RSS ${act_rss} KiB, CPU ${act_cpu}%  (lease renewed and counters sampled every 100ms tick)"
