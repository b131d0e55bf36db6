#!/bin/bash
# vm.netem-crash: runs INSIDE the VM. The 6.1 guest has no tcx, so the classifier is a classic tc
# filter that outlives the agent: only the dead-man lease brings traffic back.
#   1. a delay on both directions of the lab client's UDP 7001 (egress htb + ingress via the ifb):
#      the round trip grows by ~300ms;
#   2. SIGKILL the agent: the qdiscs, the ifb and the filters stay (nobody removes them), yet the
#      round trip is back to the baseline once the lease (2s) has run out: the netem qdiscs' own
#      packet counts say which probes they still delayed, the probes' send times when those left;
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
bmean=$(field p50 "$b")
echo "baseline: $b"

f=$(exp both150 client 120s 'action: delay' 'direction: both' 'match: {protocol: udp, ports: [7001]}' \
  'delay: {latency: 150ms}')
run_bg "$f"
wait_netem "$CLIENT" eth0
wait_link "$CLIENT" chaosifb || true
ifb=$(ip -n "$CLIENT" -o link show | sed -nE 's/^[0-9]+: (chaosifb[0-9]+)[:@].*/\1/p')
[ -n "$ifb" ] || fail "no ifb for the ingress half"
wait_netem "$CLIENT" "$ifb"
both_once() {
  d=$(probe 7001 20 50 2000)
  echo "both directions: $d"
  [ "$(field recv "$d")" -eq 20 ] || fail "probes lost under pure delay"
  judge_delay "both directions (150ms each way)" "$d" "$b" 300
}
measure_judged both_once

# The kernel's own counts say which probes the fault still delayed: the netem qdiscs (egress on eth0,
# ingress on the ifb) count every packet they send. Probes every 20ms for 10s, started before the
# kill so that some leave before it and many after the lease.
eg0=$(qdisc_sent "$CLIENT" eth0 '^qdisc netem ') in0=$(qdisc_sent "$CLIENT" "$ifb" '^qdisc netem ')
probe 7001 500 20 2000 --raw >/tmp/k &
kp=$!
# The kill comes once the probes flow through the netem (its count moves).
deadline=$(( $(now_ms) + 30000 ))
until [ "$(qdisc_sent "$CLIENT" eth0 '^qdisc netem ')" -gt "$eg0" ]; do
  [ "$(now_ms)" -lt "$deadline" ] || fail "the probes did not reach the netem within 30s"
  sleep 0.02
done
kill -KILL "$AGENT"
wait "$AGENT" 2>/dev/null || true
AGENT=""
t_kill=$(now_ms)  # the agent is reaped: it died before this
echo "agent killed; the kernel objects it made stay:"
tc -n "$CLIENT" qdisc show | grep -E 'htb|netem' || fail "qdiscs vanished with the agent (nothing left to prove)"
tc -n "$CLIENT" filter show dev eth0 egress | grep chaos_cls >/dev/null || fail "the classic classifier vanished with the agent"
wait "$kp"
k=$(cat /tmp/k)
grep '^RTT' <<<"$k"
eg1=$(qdisc_sent "$CLIENT" eth0 '^qdisc netem ') in1=$(qdisc_sent "$CLIENT" "$ifb" '^qdisc netem ')
n_eg=$((eg1 - eg0)) n_in=$((in1 - in0))
lease_ms=2000
# The classifier matches a probe when it enters the qdisc before the lease deadline, and the probes
# leave in order: the first n_eg went through the egress netem, the rest passed untouched.
echo "the egress netem took $n_eg of 500 probes, the ingress one $n_in replies"
[ "$n_eg" -ge 1 ] && [ "$n_eg" -lt 500 ] || fail "the egress netem took $n_eg of 500 probes: the lease did not end the delay"
[ "$n_in" -le "$n_eg" ] || fail "the ingress netem took $n_in replies for $n_eg delayed requests"
t0=$(awk '$1=="T0" {printf "%.3f", $2}' <<<"$k")
last_slow=$(awk -v n="$n_eg" '$1=="S" && $2 == n - 1 {print $3}' <<<"$k")
slow_after_kill=$(awk -v s="$last_slow" -v t0="$t0" -v k="$t_kill" 'BEGIN{printf "%d", t0 + s - k}')
echo "last delayed probe left ${slow_after_kill}ms after the kill (lease ${lease_ms}ms)"
check "$slow_after_kill > 0" "no probe that left after the kill was delayed: the kill, not the lease, ended it"
check "$slow_after_kill <= $lease_ms + 300" "traffic still delayed ${slow_after_kill}ms after the kill, lease is ${lease_ms}ms"
# After it: nothing lost, and back at the baseline (the median: emulation makes a few late).
late=$(awk -v n="$n_eg" '$1=="S" && $2 >= n {print $4}' <<<"$k" | sort -n | awk '{v[++c] = $1; if ($1 < 0) lost++}
  END {printf "%d %d %.3f", c, lost + 0, c ? (c % 2 ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2) : -1}')
read -r n_late lost_late med_late <<<"$late"
echo "after that: $n_late probes, $lost_late lost, median $med_late ms (baseline $bmean ms)"
check "$n_late >= 100 && $lost_late == 0 && $med_late < $bmean + 5" "traffic not back to baseline after the lease"
tc -n "$CLIENT" qdisc show dev eth0 | grep netem >/dev/null || fail "the tree went away by itself: the lease was not what restored traffic"

# A restarted agent replays the journal before it accepts work (start_agent waits for its answer).
wait "$RUN" 2>/dev/null || true
start_agent
for _ in $(seq 600); do
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
check "$(field p50 "$a") < $bmean + 5" "round trip not at baseline after recovery: $a"

echo "PASS: SIGKILL: delayed probes stop ${slow_after_kill}ms after the kill (lease ${lease_ms}ms; the netems took $n_eg and $n_in of 500) with the agent's filters still in place; the restarted agent removed htb, netem, $ifb, the u32 redirect and the classifiers, and put the tbf root back byte for byte (in-VM $(( ($(now_ms) - t_start) / 1000 ))s)"
