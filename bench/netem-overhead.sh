#!/usr/bin/env bash
# Data-path overhead of an idle classifier: iperf3 (TCP, client -> server) between the lab's
# namespaces on this host, alternating, ROUNDS rounds of SECONDS each:
#   baseline      nothing attached
#   classifier    the agent's classifier attached on the client's eth0, both directions, matching
#                 nothing (a fault whose only peer is 198.19.255.254/32): every packet is parsed and
#                 looked up, none is acted on - the cost a netem or partition fault puts on the
#                 traffic it does not match
#   + htb root    the same, plus the root a netem fault adds on egress (htb, unclassified packets
#                 through its direct queue), built here with tc because this host has no sch_netem
#                 (the agent builds exactly this tree, with a netem class nobody is steered into)
# Usage: bench/netem-overhead.sh BUILD_DIR [ROUNDS] [SECONDS]
set -euo pipefail
BUILD=${1:-build}
ROUNDS=${2:-5}
SECS=${3:-5}
BIN=$(cd "$BUILD/bin" && pwd)
LAB=bno$$
tmp=$(mktemp -d /tmp/chaos-bench.XXXXXX)
agent="" run=""
cleanup() {
  [ -n "$run" ] && kill "$run" 2>/dev/null
  [ -n "$agent" ] && kill -TERM "$agent" 2>/dev/null && wait "$agent" 2>/dev/null
  [ -f "$tmp/iperf.pid" ] && kill "$(cat "$tmp/iperf.pid")" 2>/dev/null || true
  "$BIN/chaosctl" lab down --name "$LAB" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
command -v iperf3 >/dev/null || { echo "SKIP: iperf3 not installed"; exit 0; }
"$BIN/chaosctl" lab up --name "$LAB" >/dev/null
C=$LAB-client S=$LAB-server
ip netns exec "$S" iperf3 -s -D -I "$tmp/iperf.pid"
sleep 0.5
printf 'lease: 3s\nnetwork: {attach: %s}\n' "${ATTACH:-auto}" >"$tmp/agent.yaml"
"$BIN/chaos-agent" --socket "$tmp/s" --state-dir "$tmp/state" --config "$tmp/agent.yaml" --log-level warn 2>"$tmp/agent.log" &
agent=$!
for _ in $(seq 100); do [ -S "$tmp/s" ] && break; sleep 0.05; done
cat >"$tmp/idle.yaml" <<EOF
apiVersion: chaos-agent/v1
kind: Experiment
metadata: {name: idle-classifier}
spec:
  duration: 1h
  faults:
    - name: idle
      duration: 1h
      network:
        action: partition
        netns: $C
        interface: eth0
        direction: both
        match: {cidrs: [198.19.255.254/32]}
EOF

gbps() { ip netns exec "$C" iperf3 -c 198.18.0.20 -t "$SECS" -J | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9)'; }
attach() {
  "$BIN/chaosctl" --socket "$tmp/s" run "$tmp/idle.yaml" >/dev/null 2>&1 &
  run=$!
  for _ in $(seq 200); do
    "$BIN/chaosctl" --socket "$tmp/s" status -o json | grep -q '"idle"' && break
    sleep 0.05
  done
  sleep 0.3
}
detach() {
  "$BIN/chaosctl" --socket "$tmp/s" halt --all >/dev/null
  wait "$run" 2>/dev/null || true
  run=""
}
base=() cls=() htb=()
# Alternating order (odd rounds: baseline first; even rounds: baseline last) so drift in the
# machine's load does not favour one configuration.
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then
    b=$(gbps)
    attach
    c=$(gbps)
    ip netns exec "$C" tc qdisc add dev eth0 root handle ca05: htb default 0 direct_qlen 1000
    h=$(gbps)
    ip netns exec "$C" tc qdisc del dev eth0 root
    detach
  else
    attach
    ip netns exec "$C" tc qdisc add dev eth0 root handle ca05: htb default 0 direct_qlen 1000
    h=$(gbps)
    ip netns exec "$C" tc qdisc del dev eth0 root
    c=$(gbps)
    detach
    b=$(gbps)
  fi
  base+=("$b") cls+=("$c") htb+=("$h")
  printf 'round %d: baseline %.2f Gbit/s, classifier %.2f, + htb root %.2f\n' "$r" "$b" "$c" "$h"
done
# The classifier's own cost per packet, from the kernel's BPF run-time statistics (enabled only for
# this measurement: the statistics themselves cost two clock reads per run).
attach
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
sysctl -qw kernel.bpf_stats_enabled=1
ip netns exec "$C" iperf3 -c 198.18.0.20 -t "$SECS" -J >"$tmp/stats-run.json"
stats=$(bpftool prog show name chaos_cls -j 2>/dev/null || echo '[]')
sysctl -qw kernel.bpf_stats_enabled="$old_stats"
detach
python3 - "${base[*]}" "${cls[*]}" "${htb[*]}" "$ROUNDS" "$SECS" "$stats" "$tmp/stats-run.json" <<'PY'
import statistics, sys
b, c, h = ([float(x) for x in a.split()] for a in sys.argv[1:4])
mb, mc, mh = statistics.median(b), statistics.median(c), statistics.median(h)
# Paired per round (same minute of machine load), then the median of the rounds.
pc = statistics.median([100 * (x - y) / x for x, y in zip(b, c)])
ph = statistics.median([100 * (x - y) / x for x, y in zip(b, h)])
print(f"iperf3 TCP client -> server, {sys.argv[4]} rounds x {sys.argv[5]}s, medians (Gbit/s; loss: median of per-round pairs):")
print(f"  baseline                                      {mb:8.2f}")
print(f"  idle classifier (both directions)             {mc:8.2f}   {pc:+.2f}% throughput loss")
print(f"  idle classifier + htb root (direct queue)     {mh:8.2f}   {ph:+.2f}% throughput loss")
import json
progs = json.loads(sys.argv[6]) if sys.argv[6].strip() else []
run = json.load(open(sys.argv[7]))
secs = run["end"]["sum_received"]["seconds"]
ns = sum(p.get("run_time_ns", 0) for p in progs)
cnt = sum(p.get("run_cnt", 0) for p in progs)
if cnt:
    per = ns / cnt
    cpu = 100 * ns / 1e9 / secs
    print(f"  classifier cost (kernel.bpf_stats_enabled): {per:.0f} ns per packet over {cnt} runs "
          f"({cnt/secs:.0f} packets/s both hooks): {cpu:.3f}% of one CPU at {run['end']['sum_received']['bits_per_second']/1e9:.2f} Gbit/s")
PY
