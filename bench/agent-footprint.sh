#!/usr/bin/env bash
# The agent's resident memory and CPU: idle, and with one partition active (lab traffic flowing),
# first without the /metrics endpoint, then with it on and scraped every second (a Prometheus at
# a 1 s scrape interval, 15x the usual rate).
# Usage: bench/agent-footprint.sh BUILD_DIR [SECONDS]
set -euo pipefail
BUILD=${1:-build}; SECS=${2:-10}
BIN=$(cd "$BUILD/bin" && pwd)
LAB=bfp$$
tmp=$(mktemp -d /tmp/chaos-bench.XXXXXX)
agent=""; runpid=""; scraper=""
stop_agent() {
  [ -n "$scraper" ] && kill "$scraper" 2>/dev/null; wait "$scraper" 2>/dev/null || true; scraper=""
  [ -n "$runpid" ] && kill "$runpid" 2>/dev/null; wait "$runpid" 2>/dev/null || true; runpid=""
  [ -n "$agent" ] && kill -TERM "$agent" 2>/dev/null && wait "$agent" 2>/dev/null || true; agent=""
}
cleanup() {
  stop_agent
  "$BIN/chaosctl" lab down --name "$LAB" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
"$BIN/chaosctl" lab up --name "$LAB" >/dev/null
hz=$(getconf CLK_TCK)
measure() {  # prints "RSS_KiB CPU_percent" over SECS seconds
  local t0 t1 r
  t0=$(awk '{print $14+$15}' /proc/$agent/stat)
  sleep "$SECS"
  t1=$(awk '{print $14+$15}' /proc/$agent/stat)
  r=$(awk '/VmRSS/{print $2}' /proc/$agent/status)
  python3 -c "print($r, round(100.0*($t1-$t0)/$hz/$SECS, 2))"
}
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
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
: >"$tmp/none.yaml"
printf 'metrics: {listen: "127.0.0.1:%s"}\n' "$port" >"$tmp/metrics.yaml"

arm() {  # CONFIG SCRAPE(0|1) -> "idle_rss idle_cpu active_rss active_cpu"
  rm -rf "$tmp/state"
  "$BIN/chaos-agent" --socket "$tmp/s" --state-dir "$tmp/state" --config "$tmp/$1" --log-level warn 2>>"$tmp/agent.log" &
  agent=$!
  for _ in $(seq 100); do [ -S "$tmp/s" ] && break; sleep 0.05; done
  if [ "$2" = 1 ]; then
    (while sleep 1; do curl -fsS "http://127.0.0.1:$port/metrics" >/dev/null || true; done) &
    scraper=$!
  fi
  local ir ic ar ac
  read -r ir ic < <(measure)
  "$BIN/chaosctl" --socket "$tmp/s" run "$tmp/exp.yaml" >/dev/null &
  runpid=$!
  sleep 1.5
  read -r ar ac < <(measure)
  wait "$runpid" || true; runpid=""
  stop_agent
  echo "$ir $ic $ar $ac"
}
read -r i1 c1 a1 d1 < <(arm none.yaml 0)
read -r i2 c2 a2 d2 < <(arm metrics.yaml 1)
echo "agent footprint over ${SECS}s windows:"
echo "  no /metrics:                idle RSS ${i1} KiB, CPU ${c1}%;  one partition active: RSS ${a1} KiB, CPU ${d1}%"
echo "  /metrics scraped every 1s:  idle RSS ${i2} KiB, CPU ${c2}%;  one partition active: RSS ${a2} KiB, CPU ${d2}%"
echo "  (a partition: lease renewed, counters and the namespace's TCP counters sampled every 100ms tick)"
