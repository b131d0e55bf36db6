#!/bin/bash
# vm.netem-smoke: runs INSIDE the VM (run-in-vm.sh). Proves the premise of the vm tier: the distro
# kernel's sch_netem really delays packets. Two namespaces joined by a veth pair; iproute2's tc
# (cross-checking tool, never agent code) adds netem delay 100ms on one side; 20 pings must each
# take at least 100 ms and average about 100 ms; after removal the RTT is back to the baseline.
set -euo pipefail

ns_a="vmA$$" ns_b="vmB$$" if_a="va$$" if_b="vb$$"
addr_a=198.18.0.1 addr_b=198.18.0.2
delay_ms=100
count=20

fail() { echo "FAIL: $*"; exit 1; }
cleanup() {
  ip netns del "$ns_a" 2>/dev/null || true
  ip netns del "$ns_b" 2>/dev/null || true
}
trap cleanup EXIT

ip netns add "$ns_a"
ip netns add "$ns_b"
ip link add "$if_a" netns "$ns_a" type veth peer name "$if_b" netns "$ns_b"
ip -n "$ns_a" addr add "$addr_a/30" dev "$if_a"
ip -n "$ns_b" addr add "$addr_b/30" dev "$if_b"
for ns in "$ns_a" "$ns_b"; do ip -n "$ns" link set lo up; done
ip -n "$ns_a" link set "$if_a" up
ip -n "$ns_b" link set "$if_b" up

# ping_stats -> "received min avg max" (ms) for $count pings from A to B. busybox ping prints
#   20 packets transmitted, 20 packets received, 0% packet loss
#   round-trip min/avg/max = 0.080/0.164/0.492 ms
ping_stats() {
  local out
  out=$(ip netns exec "$ns_a" ping -q -c "$count" -i 0.1 -W 5 "$addr_b" 2>&1) || true
  echo "$out" >&2
  local received rtt
  received=$(sed -nE 's/.* ([0-9]+) packets received.*/\1/p' <<<"$out")
  rtt=$(sed -nE 's#.*min/avg/max = ([0-9.]+)/([0-9.]+)/([0-9.]+) ms.*#\1 \2 \3#p' <<<"$out")
  [ -n "$received" ] && [ -n "$rtt" ] || fail "could not parse ping output"
  echo "$received $rtt"
}

# awk does the float comparisons; check EXPR MESSAGE
check() { awk "BEGIN{exit !($1)}" || fail "$2"; }

# The first ping may wait for neighbour resolution; warm up so the baseline measures the path.
ip netns exec "$ns_a" ping -q -c 2 -W 5 "$addr_b" >/dev/null || fail "no connectivity between $ns_a and $ns_b"

read -r rx0 min0 avg0 max0 < <(ping_stats)
echo "baseline: received $rx0/$count, min/avg/max $min0/$avg0/$max0 ms"
[ "$rx0" -eq "$count" ] || fail "baseline lost packets ($rx0/$count)"
check "$avg0 < 20" "baseline mean RTT $avg0 ms is not a quiet local link"

ip -n "$ns_a" link show "$if_a" >/dev/null
ip netns exec "$ns_a" tc qdisc add dev "$if_a" root netem delay "${delay_ms}ms"
qdisc=$(ip netns exec "$ns_a" tc qdisc show dev "$if_a")
echo "qdisc: $qdisc"
grep -q "netem" <<<"$qdisc" || fail "tc reports no netem qdisc on $if_a"
grep -q "delay ${delay_ms}ms" <<<"$qdisc" || fail "netem qdisc without delay ${delay_ms}ms"

read -r rx1 min1 avg1 max1 < <(ping_stats)
echo "netem ${delay_ms}ms: received $rx1/$count, min/avg/max $min1/$avg1/$max1 ms"
sent=$(ip netns exec "$ns_a" tc -s qdisc show dev "$if_a" | sed -nE 's/.*Sent [0-9]+ bytes ([0-9]+) pkt.*/\1/p')
sent=${sent%%$'\n'*}  # the first; no `| head` (pipefail + SIGPIPE would end the script with 141)
echo "netem qdisc sent ${sent:-?} packets"
[ "$rx1" -eq "$count" ] || fail "lost packets under pure delay ($rx1/$count)"
[ "${sent:-0}" -ge "$count" ] || fail "the netem qdisc saw ${sent:-0} packets, expected >= $count"
# netem delays every packet by at least the delay (the reply path is undelayed).
check "$min1 >= $delay_ms - 1" "min RTT $min1 ms is below the ${delay_ms} ms netem delay"
check "$avg1 >= $delay_ms && $avg1 <= $delay_ms + 15 + $avg0" \
  "mean RTT $avg1 ms is not ~${delay_ms} ms (baseline $avg0 ms)"

ip netns exec "$ns_a" tc qdisc del dev "$if_a" root
grep -q netem <<<"$(ip netns exec "$ns_a" tc qdisc show dev "$if_a")" && fail "netem still present after delete"

read -r rx2 min2 avg2 max2 < <(ping_stats)
echo "after removal: received $rx2/$count, min/avg/max $min2/$avg2/$max2 ms"
[ "$rx2" -eq "$count" ] || fail "lost packets after removal ($rx2/$count)"
check "$avg2 < 20 && $max2 < $delay_ms / 2" "RTT did not return to baseline (mean $avg2 ms, max $max2 ms)"

cleanup
trap - EXIT
[ -z "$(ip netns list | grep -E "^($ns_a|$ns_b)( |$)" || true)" ] || fail "namespaces left behind"
echo "PASS: netem delay ${delay_ms}ms -> mean RTT $avg1 ms (min $min1); baseline $avg0 ms, after removal $avg2 ms"
