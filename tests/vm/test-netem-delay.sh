#!/bin/bash
# vm.netem-delay: runs INSIDE the VM. The agent's netem on matching flows only, measured with UDP
# round trips (netem_probe) between the lab's client and server:
#   1. delay 100ms jitter 10ms normal on UDP 7001: the added delay (RTT minus the baseline measured
#      just before) has a mean within 2% of 100ms and a stddev within 20% of 10ms (>= 200
#      samples), while UDP 7002 keeps its baseline;
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
# to any netem delay (timers fire late), in the same moments; 7003 is not matched at all.
probe 7002 240 25 1000 >/tmp/b2 &
p2=$!
probe 7003 240 25 1000 >/tmp/b3 &
p3=$!
b1=$(probe 7001 240 25 1000)
wait $p2 $p3
b2=$(cat /tmp/b2) b3=$(cat /tmp/b3)
echo "baseline 7001: $b1"
echo "baseline 7002: $b2"
echo "baseline 7003: $b3"
[ "$(field recv "$b1")" -eq 240 ] || fail "baseline lost probes"
bmean=$(field mean "$b1") bsd=$(field sd "$b1") bmean2=$(field mean "$b2") bmean3=$(field mean "$b3")
check "$bmean < 20" "baseline RTT $bmean ms is not a quiet local link"

cat >/tmp/delay100.yaml <<'Y'
apiVersion: chaos-agent/v1
kind: Experiment
metadata: {name: delay100}
spec:
  duration: 120s
  faults:
    - name: jitter-7001
      duration: 60s
      network:
        action: delay
        lab: client
        match: {protocol: udp, ports: [7001]}
        delay: {latency: 100ms, jitter: 10ms, distribution: normal}
    - name: calibration-7002
      duration: 60s
      network: {action: delay, lab: client, match: {protocol: udp, ports: [7002]}, delay: {latency: 100ms}}
Y
run_bg /tmp/delay100.yaml
wait_netem "$CLIENT" eth0
for _ in $(seq 200); do [ "$(tc -n "$CLIENT" qdisc show dev eth0 | grep -c netem)" -ge 2 ] && break; sleep 0.05; done
tc -n "$CLIENT" qdisc show dev eth0
tc -n "$CLIENT" class show dev eth0
tc -n "$CLIENT" qdisc show dev eth0 | grep 'qdisc htb ca05: root' >/dev/null || fail "no htb ca05: at the root"
tc -n "$CLIENT" qdisc show dev eth0 | grep -E 'netem [0-9a-f]+: parent ca05:2 .*delay 100ms' >/dev/null || fail "netem 100ms 10ms not under ca05:2"
probe 7002 240 25 2000 >/tmp/d2 &
p2=$!
probe 7003 240 25 1000 >/tmp/d3 &
p3=$!
d1=$(probe 7001 240 25 2000)
wait $p2 $p3
d2=$(cat /tmp/d2) d3=$(cat /tmp/d3)
echo "delay 7001 (100ms +- 10ms normal): $d1"
echo "delay 7002 (100ms, calibration):   $d2"
echo "delay 7003 (not matched):          $d3"
chaosctl --socket "$SOCK" halt --all >/dev/null
wait_run
[ "$(field recv "$d1")" -ge 200 ] || fail "fewer than 200 samples under delay"
# What emulation adds to a netem delay: the constant-delay flow's excess over 100ms (netem is never
# early: its minimum must not be below 100ms).
check "$(field min "$d2") >= 99.9" "the constant 100ms delay came early ($(field min "$d2") ms)"
excess=$(awk -v m="$(field mean "$d2")" -v b="$bmean2" 'BEGIN{printf "%.3f", m - b - 100}')
exsd=$(field sd "$d2")
check "$excess >= -0.5 && $excess <= 5" "the constant 100ms delay measured $excess ms off: the guest is too loaded to judge"
raw=$(awk -v m="$(field mean "$d1")" -v b="$bmean" 'BEGIN{printf "%.3f", m - b}')
added=$(awk -v r="$raw" -v e="$excess" 'BEGIN{printf "%.3f", r - e}')
addsd=$(sqrt_of "$(awk -v s="$(field sd "$d1")" -v b="$exsd" 'BEGIN{print s*s - b*b}')")
echo "added delay on 7001: raw mean $raw ms, sd $(field sd "$d1") ms; emulation adds $excess ms (sd $exsd ms) to any netem delay right now"
echo "added delay on 7001, emulation excess removed: mean $added ms (want 100 +- 2), stddev $addsd ms (want 10 +- 2)"
check "$added >= 98 && $added <= 102" "added mean delay $added ms is not within 2% of 100ms"
check "$addsd >= 8 && $addsd <= 12" "added delay stddev $addsd ms is not within 20% of 10ms"
other=$(awk -v m="$(field mean "$d3")" -v b="$bmean3" 'BEGIN{printf "%.3f", m - b}')
echo "port 7003 during the faults: mean $(field mean "$d3") ms (baseline $bmean3), p99 $(field p99 "$d3") ms"
check "$other < 2 && $(field p99 "$d3") < 20" "port 7003 was delayed too (mean +$other ms)"
[ "$(field recv "$d3")" -eq 240 ] || fail "port 7003 lost probes"
assert_clean "after the delay faults"
after=$(probe 7001 50 20 1000)
check "$(field mean "$after") < $bmean + 5" "7001 not back to baseline after revert: $after"

# ---- 2. loss 10%
f=$(exp loss10 client 60s 'action: loss' 'match: {protocol: udp, ports: [7001]}' 'loss: {loss: 10%}')
run_bg "$f"
wait_netem "$CLIENT" eth0
probe 7002 1000 4 1000 >/tmp/l2 &
l1=$(probe 7001 1000 4 1000)
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
RUN_OUTPUT=text run_bg /opt/chaos/experiments/seed-delay-500ms-one-port.yaml
wait_netem "$CLIENT" eth0
probe 7002 60 50 1000 >/tmp/s2 &
s1=$(probe 7001 60 50 2000)
wait $!
s2=$(cat /tmp/s2)
echo "seed one-port 7001: $s1"
echo "seed one-port 7002: $s2"
wait_run
echo "seed one-port run exit status $RUN_RC"
sed -n '/^run .*hypothesis/,$p' /tmp/run.out
[ "$RUN_RC" -eq 0 ] || { cat /tmp/run.err; fail "the seed experiment's hypothesis (HTTP on 8080 untouched) did not hold"; }
sadd_min=$(awk -v m="$(field min "$s1")" -v b="$bmean" 'BEGIN{printf "%.3f", m - b}')
sadd_max=$(awk -v m="$(field max "$s1")" -v b="$bmean" 'BEGIN{printf "%.3f", m - b}')
echo "seed added delay on 7001: min $sadd_min ms, max $sadd_max ms, mean $(field mean "$s1") ms"
check "$sadd_min >= 395 && $sadd_max <= 610" "seed delay on 7001 outside 500 +- 100ms"
check "$(field max "$s2") < 50" "seed delayed port 7002 too"
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

echo "PASS: delay 100+-10 normal: added mean $added ms sd $addsd ms (raw $raw, emulation excess $excess); 7003 +$other ms; loss $lost/1000; seed one-port 7001 +$sadd_min..$sadd_max ms (in-VM $(( ($(now_ms) - t_start) / 1000 ))s)"
