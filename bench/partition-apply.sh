#!/usr/bin/env bash
# Partition apply + revert: the agent (through its API, timed by the agent around apply() and
# revert()) vs inserting and deleting the same match with iptables commands (how peer tools
# partition), side by side in the same lab namespace, alternating, ROUNDS rounds of N faults.
# Usage: bench/partition-apply.sh BUILD_DIR [ROUNDS] [N]
set -euo pipefail
BUILD=${1:-build}; ROUNDS=${2:-5}; N=${3:-20}
BIN=$(cd "$BUILD/bin" && pwd)
LAB=bpa$$
tmp=$(mktemp -d /tmp/chaos-bench.XXXXXX)
agent=""
cleanup() {
  [ -n "$agent" ] && kill -TERM "$agent" 2>/dev/null && wait "$agent" 2>/dev/null
  "$BIN/chaosctl" lab down --name "$LAB" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
command -v iptables >/dev/null || { echo "SKIP: iptables not installed"; exit 0; }
"$BIN/chaosctl" lab up --name "$LAB" >/dev/null
printf 'lease: 3s\nnetwork: {attach: %s}\n' "${ATTACH:-auto}" >"$tmp/agent.yaml"
"$BIN/chaos-agent" --socket "$tmp/s" --state-dir "$tmp/state" --config "$tmp/agent.yaml" --log-level warn 2>"$tmp/agent.log" &
agent=$!
for _ in $(seq 100); do [ -S "$tmp/s" ] && break; sleep 0.05; done

# N faults back to back, 200ms apart, each held 100ms.
{
  printf 'apiVersion: chaos-agent/v1\nkind: Experiment\nmetadata: {name: bench-partition}\nspec:\n  duration: %ss\n  faults:\n' $(( (N * 200) / 1000 + 1 ))
  for i in $(seq 0 $((N - 1))); do
    printf '    - name: p%d\n      start: %dms\n      duration: 100ms\n      network:\n        action: partition\n        lab: %s/client\n        direction: egress\n        match: {cidrs: [198.18.0.20/32], protocol: tcp, ports: [8080]}\n' "$i" $((i * 200 + 50)) "$LAB"
  done
} >"$tmp/exp.yaml"

agent_ms=(); ipt_ms=(); plan_ms=()
for r in $(seq 1 "$ROUNDS"); do
  "$BIN/chaosctl" --socket "$tmp/s" run "$tmp/exp.yaml" -o json >"$tmp/report.json"
  read -r a p < <(python3 -c '
import json,sys
r=json.load(open(sys.argv[1]))
f=r["faults"]
print(sum(x["apply_ms"]+x["revert_ms"] for x in f)/len(f), sum(x["plan_ms"] for x in f)/len(f))' "$tmp/report.json")
  agent_ms+=("$a"); plan_ms+=("$p")
  t0=$(date +%s%N)
  for i in $(seq 1 "$N"); do
    ip netns exec "$LAB-client" iptables -w -I OUTPUT -o eth0 -d 198.18.0.20/32 -p tcp --dport 8080 -j DROP
    ip netns exec "$LAB-client" iptables -w -D OUTPUT -o eth0 -d 198.18.0.20/32 -p tcp --dport 8080 -j DROP
  done
  t1=$(date +%s%N)
  ipt_ms+=("$(python3 -c "print(($t1-$t0)/1e6/$N)")")
done
python3 - "${agent_ms[*]}" "${ipt_ms[*]}" "${plan_ms[*]}" "$N" "$ROUNDS" <<'PY'
import statistics, sys
a=[float(x) for x in sys.argv[1].split()]; i=[float(x) for x in sys.argv[2].split()]; p=[float(x) for x in sys.argv[3].split()]
n, rounds = sys.argv[4], sys.argv[5]
ma, mi, mp = statistics.median(a), statistics.median(i), statistics.median(p)
print(f"partition apply+revert, median of {rounds} rounds x {n} faults (ms per fault):")
print(f"  chaos-agent (apply+revert, through the API)   {ma:8.3f}")
print(f"  chaos-agent plan (BPF load + verify, once)    {mp:8.3f}")
print(f"  iptables -I + iptables -D (fork/exec)         {mi:8.3f}")
print(f"  ratio iptables / agent apply+revert           {mi/ma:8.1f}x")
print(f"  ratio iptables / agent incl. plan             {mi/(ma+mp):8.1f}x")
PY
