#!/bin/bash
# vm.netem-smoke: runs INSIDE the VM (run-in-vm.sh). Proves the premise of the vm tier: the distro
# kernel's sch_netem really delays packets. Two namespaces joined by a veth pair; iproute2's tc
# (cross-checking tool, never agent code) adds netem delay 100ms on one side; 20 pings must each
# take at least 100 ms and take about 100 ms (minimum and median); after removal the RTT is back to
# the baseline.
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

# ping_stats -> "received min median max" (ms) for $count pings from A to B. busybox ping prints
#   64 bytes from 198.18.0.2: seq=0 ttl=64 time=0.123 ms       (one line per reply)
#   20 packets transmitted, 20 packets received, 0% packet loss
# busybox ping stamps in user space: a stalled guest makes a few replies late, so the judgement
# uses the minimum (netem is never early; one ping of many is on time) and the median.
ping_stats() {
  local out
  out=$(ip netns exec "$ns_a" ping -c "$count" -i 0.1 -W 5 "$addr_b" 2>&1) || true
  grep -v 'bytes from' <<<"$out" >&2 || true
  local received rtt
  received=$(sed -nE 's/.* ([0-9]+) packets received.*/\1/p' <<<"$out")
  rtt=$(sed -nE 's/.* time=([0-9.]+) ms.*/\1/p' <<<"$out" | sort -n |
        awk '{v[++n] = $1} END {if (n) printf "%s %.3f %s", v[1], n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2, v[n]}')
  [ -n "$received" ] && [ -n "$rtt" ] || fail "could not parse ping output"
  echo "$received $rtt"
}

# awk does the float comparisons; check EXPR MESSAGE
check() { awk "BEGIN{exit !($1)}" || fail "$2"; }

# The first ping may wait for neighbour resolution; warm up so the baseline measures the path.
ip netns exec "$ns_a" ping -q -c 2 -W 5 "$addr_b" >/dev/null || fail "no connectivity between $ns_a and $ns_b"

read -r rx0 min0 med0 max0 < <(ping_stats)
echo "baseline: received $rx0/$count, min/median/max $min0/$med0/$max0 ms"
[ "$rx0" -eq "$count" ] || fail "baseline lost packets ($rx0/$count)"
check "$min0 < 20" "baseline minimum RTT $min0 ms is not a quiet local link"

ip -n "$ns_a" link show "$if_a" >/dev/null
ip netns exec "$ns_a" tc qdisc add dev "$if_a" root netem delay "${delay_ms}ms"
qdisc=$(ip netns exec "$ns_a" tc qdisc show dev "$if_a")
echo "qdisc: $qdisc"
grep -q "netem" <<<"$qdisc" || fail "tc reports no netem qdisc on $if_a"
grep -q "delay ${delay_ms}ms" <<<"$qdisc" || fail "netem qdisc without delay ${delay_ms}ms"

# Judged on the minimum (never early; the earliest of 20 within 15 ms of the delay over the
# baseline: lateness only adds) and the median (within 15 ms). A median late while the minimum is
# on time is a loaded guest: pinged again, 3 times at most, saying so.
for attempt in 1 2 3; do
  read -r rx1 min1 med1 max1 < <(ping_stats)
  echo "netem ${delay_ms}ms: received $rx1/$count, min/median/max $min1/$med1/$max1 ms"
  [ "$rx1" -eq "$count" ] || fail "lost packets under pure delay ($rx1/$count)"
  # netem delays every packet by at least the delay (the reply path is undelayed).
  check "$min1 >= $delay_ms - 1" "min RTT $min1 ms is below the ${delay_ms} ms netem delay"
  check "$min1 <= $delay_ms + 15 + $min0" "min RTT $min1 ms: every ping was late, the delay is not ${delay_ms} ms (baseline $min0 ms)"
  awk "BEGIN{exit !($med1 <= $delay_ms + 15 + $med0)}" && break
  [ "$attempt" -lt 3 ] || fail "median RTT $med1 ms is not ~${delay_ms} ms (baseline $med0 ms) in 3 tries: the guest is too loaded to judge"
  echo "median RTT $med1 ms is late while the minimum is on time: the guest was loaded; pinging again (attempt $((attempt + 1)) of 3)"
done
sent=$(ip netns exec "$ns_a" tc -s qdisc show dev "$if_a" | sed -nE 's/.*Sent [0-9]+ bytes ([0-9]+) pkt.*/\1/p')
sent=${sent%%$'\n'*}  # the first; no `| head` (pipefail + SIGPIPE would end the script with 141)
echo "netem qdisc sent ${sent:-?} packets"
[ "${sent:-0}" -ge "$count" ] || fail "the netem qdisc saw ${sent:-0} packets, expected >= $count"

ip netns exec "$ns_a" tc qdisc del dev "$if_a" root
grep -q netem <<<"$(ip netns exec "$ns_a" tc qdisc show dev "$if_a")" && fail "netem still present after delete"

read -r rx2 min2 med2 max2 < <(ping_stats)
echo "after removal: received $rx2/$count, min/median/max $min2/$med2/$max2 ms"
[ "$rx2" -eq "$count" ] || fail "lost packets after removal ($rx2/$count)"
# A netem left in place would delay every ping by the delay: the minimum and the median say it is gone.
check "$min2 < $delay_ms / 2 && $med2 < $delay_ms / 2" "RTT did not return to baseline (min $min2 ms, median $med2 ms)"

cleanup
trap - EXIT
[ -z "$(ip netns list | grep -E "^($ns_a|$ns_b)( |$)" || true)" ] || fail "namespaces left behind"
echo "PASS: netem delay ${delay_ms}ms -> median RTT $med1 ms (min $min1); baseline median $med0 ms, after removal $med2 ms"
