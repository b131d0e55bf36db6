#!/bin/bash
# vm.netem-delay: runs INSIDE the VM. The agent's netem on matching flows only, measured with UDP
# round trips (netem_probe) between the lab's client and server:
#   1. delay 100ms jitter 10ms normal on UDP 7001: the added delay (each probe's RTT minus that of a
#      probe sent at the same moment through a constant 100ms on UDP 7002) has a mean within 2% of
#      100ms and a stddev within 20% of 10ms (400 samples), while UDP 7003 keeps its baseline;
#      when the constant flow shows the guest too loaded to judge, it is measured again (3 times);
#   2. loss 10% on 7001: measured loss within +-4 sigma of 10% over 1000 probes, 7002 loses none;
#   3. the seed (500ms +- 100ms, correlation 100) on one port, native experiment: 7001 delayed by
#      400-600ms, 7002 not, the run's HTTP hypothesis (port 8080) held in every phase;
#   4. the seed Chaos Mesh manifest as written, run with --target: every UDP port delayed.
# After each fault: nothing of the agent's left (qdiscs, filters, clsact).
source /opt/chaos/netem-lib.sh
trap teardown EXIT
t_start=$(now_ms)
start_agent
lab_up

# ---- 1. delay fidelity, and the other port
# Three flows at once: 7001 gets the fault under test (100ms +- 10ms normal); 7002 a constant 100ms
# from a second fault in the same tree: it measures what software emulation on a loaded host adds
# to any netem delay (timers fire late), in the same moments; 7003 is not matched at all. The flows
# send on one schedule (--start-at), so probe i of each leaves at the same moment.
flows() {  # flows COUNT WAIT: the three flows at once, into /tmp/f1 /tmp/f2 /tmp/f3 (7001, 7002, 7003)
  local at=$(( $(now_ms) + 1500 )) pids=()
  probe 7002 "$1" 20 "$2" --raw --start-at "$at" >/tmp/f2 & pids+=($!)
  probe 7003 "$1" 20 "$2" --start-at "$at" >/tmp/f3 & pids+=($!)
  probe 7001 "$1" 20 "$2" --raw --start-at "$at" >/tmp/f1
  wait "${pids[@]}"
}
rtt_line() { grep '^RTT' "$1"; }
flows 240 1000
b1=$(rtt_line /tmp/f1) b2=$(rtt_line /tmp/f2) b3=$(rtt_line /tmp/f3)
echo "baseline 7001: $b1"
echo "baseline 7002: $b2"
echo "baseline 7003: $b3"
[ "$(field recv "$b1")" -eq 240 ] || fail "baseline lost probes"
bmean=$(field p50 "$b1") bmean2=$(field p50 "$b2") bmean3=$(field p50 "$b3")
check "$bmean < 20" "baseline median RTT $bmean ms is not a quiet local link"

cat >/tmp/delay100.yaml <<'Y'
apiVersion: chaos-agent/v1
kind: Experiment
metadata: {name: delay100}
spec:
  duration: 240s
  faults:
    - name: jitter-7001
      duration: 200s
      network:
        action: delay
        lab: client
        match: {protocol: udp, ports: [7001]}
        delay: {latency: 100ms, jitter: 10ms, distribution: normal}
    - name: calibration-7002
      duration: 200s
      network: {action: delay, lab: client, match: {protocol: udp, ports: [7002]}, delay: {latency: 100ms}}
Y
run_bg /tmp/delay100.yaml
wait_netem "$CLIENT" eth0 60 2
tc -n "$CLIENT" qdisc show dev eth0
tc -n "$CLIENT" class show dev eth0
tc -n "$CLIENT" qdisc show dev eth0 | grep 'qdisc htb ca05: root' >/dev/null || fail "no htb ca05: at the root"
tc -n "$CLIENT" qdisc show dev eth0 | grep -E 'netem [0-9a-f]+: parent ca05:2 .*delay 100ms' >/dev/null || fail "netem 100ms 10ms not under ca05:2"
# One measurement of all three flows, judged. Returns 0 when it holds, 2 when it does not and the
# calibration flow shows the guest was too loaded to judge (measure again), 1 otherwise.
# 400 probes: the mean of 100 +- 10ms is then known to 0.5ms (one standard error), so 2% is 4 of them.
fidelity_once() {
  flows 400 2000
  d1=$(rtt_line /tmp/f1) d2=$(rtt_line /tmp/f2) d3=$(rtt_line /tmp/f3)
  echo "delay 7001 (100ms +- 10ms normal): $d1"
  echo "delay 7002 (100ms, calibration):   $d2"
  echo "delay 7003 (not matched):          $d3"
  [ "$(field recv "$d1")" -ge 390 ] || { echo "fewer than 390 of 400 samples under delay"; return 1; }
  # netem is never early: the constant delay's minimum is not below 100ms, whatever the load.
  check "$(field min "$d2") >= 99.9" "the constant 100ms delay came early ($(field min "$d2") ms)"
  # Probe by probe: 7001 minus the calibration flow sent at the same moment, plus its 100ms and the
  # ports' baseline difference. Lateness common to both cancels; pairs 50ms off are emulation.
  ps=$(pair_stats /tmp/f1 /tmp/f2 "$(awk -v a="$bmean2" -v b="$bmean" 'BEGIN{print 100 + a - b}')")
  added=$(field mean " $ps") addsd=$(field sd " $ps") csd=$(field csd " $ps")
  excess=$(awk -v m="$(field p50 "$d2")" -v b="$bmean2" 'BEGIN{printf "%.3f", m - b - 100}')
  echo "added delay on 7001, paired with the calibration flow: $ps"
  echo "added delay on 7001: mean $added ms (want 100 +- 2), stddev $addsd ms (want 10 +- 2); emulation adds $excess ms at the median (sd $csd ms) to any netem delay right now"
  other=$(awk -v m="$(field p50 "$d3")" -v b="$bmean3" 'BEGIN{printf "%.3f", m - b}')
  echo "port 7003 during the faults: median $(field p50 "$d3") ms (baseline $bmean3), min $(field min "$d3") ms"
  # Not matched: a matched probe would take 100ms or more, every one of them.
  check "$other < 2 && $(field min "$d3") < 50" "port 7003 was delayed too (median +$other ms)"
  [ "$(field recv "$d3")" -eq 400 ] || fail "port 7003 lost probes"
  local why=""
  awk -v m="$added" 'BEGIN{exit !(m >= 98 && m <= 102)}' || why="added mean delay $added ms is not within 2% of 100ms"
  awk -v s="$addsd" 'BEGIN{exit !(s >= 8 && s <= 12)}' || why="${why:+$why; }added delay stddev $addsd ms is not within 20% of 10ms"
  [ -z "$why" ] && return 0
  echo "$why"
  # Too loaded to judge: the constant flow itself was spread (a quiet guest keeps it within a ms),
  # its median late, or many pairs far off.
  if awk -v c="$csd" -v e="$excess" -v r="$(field rejected " $ps")" 'BEGIN{exit !(c > 3 || e > 5 || r > 20)}'; then
    echo "the guest was too loaded to judge (calibration sd $csd ms, median $excess ms late, $(field rejected " $ps") pairs rejected)"
    return 2
  fi
  return 1
}
measure_judged fidelity_once
chaosctl --socket "$SOCK" halt --all >/dev/null
wait_run
assert_clean "after the delay faults"
after=$(probe 7001 50 20 1000)
# A netem left behind would delay every probe by 100ms: the median says whether it is gone.
check "$(field p50 "$after") < $bmean + 5" "7001 not back to baseline after revert: $after"

# ---- 2. loss 10%
f=$(exp loss10 client 60s 'action: loss' 'match: {protocol: udp, ports: [7001]}' 'loss: {loss: 10%}')
run_bg "$f"
wait_netem "$CLIENT" eth0
probe 7002 1000 4 3000 >/tmp/l2 &
l1=$(probe 7001 1000 4 3000)
wait $!
l2=$(cat /tmp/l2)
chaosctl --socket "$SOCK" halt --all >/dev/null
wait_run
echo "loss 7001: $l1"
echo "loss 7002: $l2"
lost=$(field lost "$l1")
# Binomial(1000, 0.1): sd 9.5 packets; +-4 sigma.
check "$lost >= 62 && $lost <= 138" "lost $lost of 1000 on 7001, expected 100 +- 38"
[ "$(field lost "$l2")" -eq 0 ] || fail "port 7002 lost $(field lost "$l2") probes"
assert_clean "after the loss fault"

# ---- 3. the seed on one port, native experiment (its HTTP probe checks port 8080 in every phase)
# The shipped file's hypothesis is p99 under 400ms with 2% errors: with 10 requests before the fault
# that is the maximum and no error at all, which user-space HTTP under emulation on a loaded host
# does not promise. This copy keeps the claim (port 8080 is not delayed: a delayed exchange takes
# well over 800ms, so a median under 400ms proves it) and gives the requests 3s.
sed -e 's/^      timeout: 1s$/      timeout: 3s/' \
    -e 's/^      tolerance: {maxErrorRate: 2%, p99: 400ms}$/      tolerance: {maxErrorRate: 10%, p50: 400ms}/' \
    /opt/chaos/experiments/seed-delay-500ms-one-port.yaml >/tmp/seed-one-port.yaml
grep -q '^      tolerance: {maxErrorRate: 10%, p50: 400ms}$' /tmp/seed-one-port.yaml &&
  grep -q '^      timeout: 3s$' /tmp/seed-one-port.yaml ||
  fail "experiments/seed-delay-500ms-one-port.yaml changed: update the vm copy's tolerance"
RUN_OUTPUT=text run_bg /tmp/seed-one-port.yaml
wait_netem "$CLIENT" eth0
probe 7002 60 50 2000 >/tmp/s2 &
s1=$(probe 7001 60 50 2000)
wait $!
s2=$(cat /tmp/s2)
echo "seed one-port 7001: $s1"
echo "seed one-port 7002: $s2"
wait_run
echo "seed one-port run exit status $RUN_RC"
sed -n '/^run .*hypothesis/,$p' /tmp/run.out
[ "$RUN_RC" -eq 0 ] || { cat /tmp/run.err; fail "the seed experiment's hypothesis (HTTP on 8080 untouched) did not hold"; }
# Correlation 100%: every probe gets the same draw in 400..600ms. netem is never early and lateness
# only adds, so the earliest of the 60 probes is that draw (within 3 ms: one probe of many is on
# time, even on a loaded host); the median may be later by what emulation adds to every delay on a
# loaded host (up to ~25 ms seen), not by more.
sadd_min=$(awk -v m="$(field min "$s1")" -v b="$bmean" 'BEGIN{printf "%.3f", m - b}')
sadd_med=$(awk -v m="$(field p50 "$s1")" -v b="$bmean" 'BEGIN{printf "%.3f", m - b}')
echo "seed added delay on 7001: min $sadd_min ms, median $sadd_med ms, max $(field max "$s1") ms"
check "$sadd_min >= 395 && $sadd_min <= 603" "seed delay on 7001 outside 500 +- 100ms (earliest probe +$sadd_min ms)"
check "$sadd_med <= $sadd_min + 30" "seed delay on 7001 not one fixed offset (median +$sadd_med ms, earliest +$sadd_min ms)"
# Not matched: a matched probe would take 400ms or more, every one of them.
check "$(field p50 "$s2") < 50 && $(field min "$s2") < 50" "seed delayed port 7002 too"
assert_clean "after the seed experiment"

# ---- 4. the seed Chaos Mesh manifest as written
if [ -f /opt/chaos/seed-network-delay-500ms.yaml ]; then
  chaosctl import /opt/chaos/seed-network-delay-500ms.yaml --target lab:client --duration 8s
  RUN_OUTPUT=text run_bg /opt/chaos/seed-network-delay-500ms.yaml --target lab:client --duration 8s
  wait_netem "$CLIENT" eth0
  probe 7002 20 100 2000 >/tmp/m2 &
  m1=$(probe 7001 20 100 2000)
  wait $!
  m2=$(cat /tmp/m2)
  echo "seed manifest 7001: $m1"
  echo "seed manifest 7002: $m2"
  wait_run
  sed -n '/^run .*:/,$p' /tmp/run.out | tail -n 8
  [ "$RUN_RC" -eq 0 ] || { cat /tmp/run.err; fail "chaosctl run of the seed manifest exited $RUN_RC"; }
  check "$(field min "$m1") >= 395 && $(field min "$m2") >= 395" "the manifest's delay (every port) is missing"
  assert_clean "after the seed manifest"
else
  echo "FAIL: the seed manifest was not put in the image (../shared/conformance missing at build time)"
  exit 1
fi

echo "PASS: delay 100+-10 normal: added mean $added ms sd $addsd ms (paired with the calibration flow; emulation excess $excess ms at its median); 7003 +$other ms; loss $lost/1000; seed one-port 7001 +$sadd_min ms (median +$sadd_med) (in-VM $(( ($(now_ms) - t_start) / 1000 ))s)"
