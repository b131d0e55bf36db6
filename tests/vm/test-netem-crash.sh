#!/bin/bash
# vm.netem-crash: runs INSIDE the VM. The 6.1 guest has no tcx, so the classifier is a classic tc
# filter that outlives the agent: only the dead-man lease brings traffic back.
#   1. a delay on both directions of the lab client's UDP 7001 (egress htb + ingress via the ifb):
#      the round trip grows by ~300ms;
#   2. SIGKILL the agent: the qdiscs, the ifb and the filters stay (nobody removes them), yet the
#      round trip is back to the baseline once the lease (2s) has run out;
#   3. a restarted agent replays its journal and removes every qdisc, ifb, filter and clsact it made,
#      and puts back the foreign root qdisc (a tbf) the fault had moved under its htb, byte for byte.
source /opt/chaos/netem-lib.sh
trap teardown EXIT
t_start=$(now_ms)
LEASE=2s
start_agent
lab_up

# A foreign root qdisc the agent has to keep working underneath and put back from the journal.
tc -n "$CLIENT" qdisc add dev eth0 root handle 1: tbf rate 2gbit burst 256kb latency 50ms
before=$(netem_probe qdump /run/netns/"$CLIENT" eth0)
echo "root before: $before"
b=$(probe 7001 100 20 1000)
bmean=$(field mean "$b")
echo "baseline: $b"

f=$(exp both150 client 120s 'action: delay' 'direction: both' 'match: {protocol: udp, ports: [7001]}' \
  'delay: {latency: 150ms}')
run_bg "$f"
wait_netem "$CLIENT" eth0
for _ in $(seq 200); do ip -n "$CLIENT" link show | grep chaosifb >/dev/null && break; sleep 0.05; done
ifb=$(ip -n "$CLIENT" -o link show | sed -nE 's/^[0-9]+: (chaosifb[0-9]+)[:@].*/\1/p')
[ -n "$ifb" ] || fail "no ifb for the ingress half"
wait_netem "$CLIENT" "$ifb"
d=$(probe 7001 20 50 2000)
echo "both directions: $d"
check "$(field mean "$d") > 295 + $bmean && $(field mean "$d") < 315 + $bmean" "round trip not ~300ms longer"

kill -KILL "$AGENT"
wait "$AGENT" 2>/dev/null || true
AGENT=""
t_kill=$(now_ms)
echo "agent killed; the kernel objects it made stay:"
tc -n "$CLIENT" qdisc show | grep -E 'htb|netem' || fail "qdiscs vanished with the agent (nothing left to prove)"
tc -n "$CLIENT" filter show dev eth0 egress | grep chaos_cls >/dev/null || fail "the classic classifier vanished with the agent"
# Probes every 20ms for 5s from the kill: which ones are still delayed?
k=$(probe 7001 250 20 2000 --raw)
t0=$(awk '$1=="T0" {printf "%d", $2}' <<<"$k")
t_probe=$(( t0 - t_kill ))  # when the first probe left, after the kill (both CLOCK_MONOTONIC-like)
grep '^RTT' <<<"$k"
lease_ms=2000
# The last probe that still took more than baseline + 100ms, in ms after its own start.
last_slow=$(awk -v b="$bmean" '$1=="S" && ($4 < 0 || $4 > b + 100) {t=$3} END{printf "%.3f", t+0}' <<<"$k")
slow_after_kill=$(awk -v s="$last_slow" -v p="$t_probe" 'BEGIN{printf "%d", s + p}')
echo "last delayed probe left ~${slow_after_kill}ms after the kill (lease ${lease_ms}ms)"
check "$slow_after_kill <= $lease_ms + 300" "traffic still delayed ${slow_after_kill}ms after the kill, lease is ${lease_ms}ms"
# After it: nothing delayed by the fault (+150/+300ms) and nothing lost; emulation hiccups of a
# few ms to tens of ms happen on a loaded host, so at most 2% may be above baseline + 20ms.
late=$(awk -v s="$last_slow" -v b="$bmean" '$1=="S" && $3 > s {n++; if ($4 > b + 20) slow++; if ($4 > b + 100 || $4 < 0) bad++} END{printf "%d %d %d", n, slow+0, bad+0}' <<<"$k")
read -r n_late slow_late bad_late <<<"$late"
echo "after that: $n_late probes, $bad_late delayed or lost, $slow_late above baseline + 20ms"
check "$n_late >= 100 && $bad_late == 0 && $slow_late * 50 <= $n_late" "traffic not back to baseline after the lease"
tc -n "$CLIENT" qdisc show dev eth0 | grep netem >/dev/null || fail "the tree went away by itself: the lease was not what restored traffic"

# A restarted agent replays the journal before it accepts work.
wait "$RUN" 2>/dev/null || true
start_agent
for _ in $(seq 100); do
  tc -n "$CLIENT" qdisc show | grep -E 'htb|netem' >/dev/null || break
  sleep 0.05
done
chaosctl --socket "$SOCK" status
assert_clean "after the restarted agent's journal replay"
after=$(netem_probe qdump /run/netns/"$CLIENT" eth0)
echo "root after:  $after"
[ "$before" = "$after" ] || fail "the foreign tbf root is not back byte for byte after the journal replay"
grep -E 'netem|recover|replay' /tmp/agent.log | tail -n 10 || true
a=$(probe 7001 50 20 1000)
check "$(field mean "$a") < $bmean + 5" "round trip not at baseline after recovery: $a"

echo "PASS: SIGKILL: delayed probes stop ${slow_after_kill}ms after the kill (lease ${lease_ms}ms) with the agent's filters still in place; the restarted agent removed htb, netem, $ifb, the u32 redirect and the classifiers, and put the tbf root back byte for byte (in-VM $(( ($(now_ms) - t_start) / 1000 ))s)"
