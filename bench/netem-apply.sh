#!/usr/bin/env bash
# Netem apply + revert of a matched-flow delay: the agent (through its API, timed by the agent
# around apply() and revert()) vs building the same tree with tc commands the way peer tools do
# (htb root, a class, netem under it, a u32 filter for the flow; tc qdisc del to revert), side by
# side in the same lab namespace, alternating, ROUNDS rounds of N faults each.
#
# Runs INSIDE the vm guest (Debian's 6.1 kernel under qemu, software emulation): the development
# host has no sch_netem. Absolute times are emulation-slow; the ratio is the point.
# Usage: bench/netem-apply.sh BUILD_DIR [ROUNDS] [N]
set -euo pipefail
BUILD=${1:-build}
ROUNDS=${2:-3}
N=${3:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(realpath "$BUILD")
[ -x "$BUILD/bin/netem_probe" ] || { echo "SKIP: $BUILD/bin/netem_probe not built (ninja netem_probe)"; exit 0; }
guest=$(mktemp /tmp/netem-apply-guest.XXXXXX)
trap 'rm -f "$guest"' EXIT
cat >"$guest" <<'GUEST'
#!/bin/bash
source /opt/chaos/netem-lib.sh
ROUNDS=$1 N=$2
trap teardown EXIT
start_agent
lab_up
{
  printf 'apiVersion: chaos-agent/v1\nkind: Experiment\nmetadata: {name: bench-netem}\nspec:\n  duration: %ss\n  faults:\n' $(( N * 400 / 1000 + 2 ))
  for i in $(seq 0 $((N - 1))); do
    printf '    - name: d%d\n      start: %dms\n      duration: 150ms\n      network:\n        action: delay\n        lab: client\n        match: {protocol: udp, ports: [7001]}\n        delay: {latency: 100ms, jitter: 10ms, distribution: normal}\n' "$i" $((i * 400 + 100))
  done
} >/tmp/bench.yaml
us() { echo "${EPOCHREALTIME/./}"; }
sum_field() { grep -o "\"$1\": *[0-9.e+-]*" /tmp/report.json | awk -F: '{s += $2; n++} END {printf "%.3f", s / n}'; }
agent=() plan=() tcs=()
for r in $(seq "$ROUNDS"); do
  chaosctl --socket "$SOCK" run /tmp/bench.yaml -o json >/tmp/report.json 2>/tmp/run.err || true
  a=$(sum_field apply_ms) v=$(sum_field revert_ms) p=$(sum_field plan_ms)
  agent+=("$(awk -v a="$a" -v v="$v" 'BEGIN{printf "%.3f", a + v}')") plan+=("$p")
  t0=$(us)
  for i in $(seq "$N"); do
    tc -n "$CLIENT" qdisc add dev eth0 root handle ca05: htb default 0
    tc -n "$CLIENT" class add dev eth0 parent ca05: classid ca05:2 htb rate 1tbit
    tc -n "$CLIENT" qdisc add dev eth0 parent ca05:2 netem delay 100ms 10ms distribution normal
    tc -n "$CLIENT" filter add dev eth0 parent ca05: protocol ip prio 1 u32 match ip protocol 17 0xff \
      match ip dport 7001 0xffff flowid ca05:2
    tc -n "$CLIENT" qdisc del dev eth0 root
  done
  t1=$(us)
  tcs+=("$(awk -v a="$t0" -v b="$t1" -v n="$N" 'BEGIN{printf "%.3f", (b - a) / 1000 / n}')")
  echo "round $r: agent apply+revert ${agent[-1]} ms, plan ${plan[-1]} ms; tc ${tcs[-1]} ms (per fault)"
done
assert_clean "after the benchmark"
med() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ma=$(med "${agent[@]}") mp=$(med "${plan[@]}") mt=$(med "${tcs[@]}")
echo "netem apply+revert (delay 100ms +-10ms normal on UDP 7001), median of $ROUNDS rounds x $N faults (ms per fault):"
printf '  chaos-agent (apply+revert, through the API)      %8.3f\n' "$ma"
printf '  chaos-agent plan (BPF load + verify + tables)    %8.3f\n' "$mp"
printf '  tc: htb + class + netem + u32 filter, qdisc del   %8.3f\n' "$mt"
awk -v a="$ma" -v p="$mp" -v t="$mt" 'BEGIN{printf "  ratio tc / agent apply+revert                     %8.1fx\n  ratio tc / agent incl. plan                       %8.1fx\n", t / a, t / (a + p)}'
GUEST
bash "$root/tests/vm/run-in-vm.sh" --build "$BUILD" --script "$guest" --name bench-netem-apply \
  --file "$root/tests/vm/netem-lib.sh:/opt/chaos/netem-lib.sh" --file "$BUILD/bin/netem_probe:/usr/local/bin/netem_probe" \
  --arg "$ROUNDS" --arg "$N" --timeout 900 | grep -vE '^\[ *[0-9.]+\]'
