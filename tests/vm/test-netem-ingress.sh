#!/bin/bash
# vm.netem-ingress: runs INSIDE the VM.
#   1. ingress delay through the agent's ifb: a delay on the lab server's ingress for UDP 7001
#      adds ~100ms to 7001's round trips, not to 7002's; chaosifbN exists during the fault with
#      htb + netem, a u32 redirect sits on eth0's ingress; all of it is gone after revert;
#   2. two faults on one interface share the tree: 7001 delayed 100ms, 7002 delayed 50ms at once;
#   3. a foreign root qdisc (tbf, then prio) keeps working under the agent's htb during a fault and
#      is back byte for byte after revert (the kernel's netlink dump: kind, handle, options);
#   4. a foreign root the agent cannot restore exactly (htb) makes the fault refused at plan, with
#      the reason, and nothing changes.
# A delay is judged on its minimum and median (judge_delay in netem-lib.sh) and on the netem qdisc's
# own packet count (tc -s): which probes went through it, whatever emulation did to their timing.
source /opt/chaos/netem-lib.sh
trap teardown EXIT
t_start=$(now_ms)
start_agent
lab_up

b=$(probe 7001 100 20 1000)
bmean=$(field p50 "$b")
echo "baseline: $b"

# ---- 1. ingress
f=$(exp ingress100 server 60s 'action: delay' 'direction: ingress' 'match: {protocol: udp, ports: [7001]}' \
  'delay: {latency: 100ms}')
run_bg "$f"
wait_link "$SERVER" chaosifb || true
ifb=$(ip -n "$SERVER" -o link show | sed -nE 's/^[0-9]+: (chaosifb[0-9]+)[:@].*/\1/p')
[ -n "$ifb" ] || { cat /tmp/run.err; fail "no chaosifb device in $SERVER"; }
wait_netem "$SERVER" "$ifb"
echo "--- $ifb: $(tc -n "$SERVER" qdisc show dev "$ifb" | tr '\n' ' ')"
echo "--- eth0 ingress filters: $(tc -n "$SERVER" filter show dev eth0 ingress | tr '\n' ' ')"
tc -n "$SERVER" filter show dev eth0 ingress | grep 'mirred (Egress Redirect to device '"$ifb"')' >/dev/null ||
  fail "no mirred redirect to $ifb on eth0's ingress"
ip -n "$SERVER" -d link show "$ifb" | grep 'alias chaos-agent netem ingress' >/dev/null || fail "$ifb has not the agent's alias"
ingress_once() {
  local n0 n1
  n0=$(qdisc_sent "$SERVER" "$ifb" '^qdisc netem ')
  probe 7002 100 20 2000 >/tmp/i2 &
  i1=$(probe 7001 100 20 2000)
  wait $!
  i2=$(cat /tmp/i2)
  n1=$(qdisc_sent "$SERVER" "$ifb" '^qdisc netem ')
  echo "ingress delay 7001: $i1"
  echo "ingress delay 7002: $i2"
  echo "the ifb's netem sent $((n1 - n0)) packets meanwhile"
  [ "$(field recv "$i1")" -eq 100 ] || fail "7001 lost probes through the ifb"
  [ "$(field recv "$i2")" -eq 100 ] || fail "7002 lost probes through the ifb"
  # The kernel's count: every 7001 request went through the netem, and nothing else did.
  [ "$((n1 - n0))" -eq 100 ] || fail "the ifb's netem sent $((n1 - n0)) packets for 100 requests to 7001"
  # 7002 not delayed: a matched probe would take 100ms or more, every one of them.
  check "$(field p50 "$i2") < $bmean + 5" "ingress delay hit port 7002 ($(field p50 "$i2") ms at the median)"
  judge_delay "ingress 7001" "$i1" "$b" 100
}
measure_judged ingress_once
iadd=$(awk -v m="$(field p50 "$i1")" -v b="$bmean" 'BEGIN{printf "%.3f", m - b}')
chaosctl --socket "$SOCK" halt --all >/dev/null
wait_run
assert_clean "after the ingress fault"

# ---- 2. two faults, one tree
cat >/tmp/two.yaml <<'Y'
apiVersion: chaos-agent/v1
kind: Experiment
metadata: {name: two}
spec:
  duration: 120s
  faults:
    - name: d7001
      duration: 60s
      network: {action: delay, lab: client, match: {protocol: udp, ports: [7001]}, delay: {latency: 100ms}}
    - name: d7002
      duration: 60s
      network: {action: delay, lab: client, match: {protocol: udp, ports: [7002]}, delay: {latency: 50ms}}
Y
run_bg /tmp/two.yaml
wait_netem "$CLIENT" eth0 60 2
tc -n "$CLIENT" class show dev eth0
two_once() {
  local a0 a1 c0 c1 rc=0
  a0=$(qdisc_sent "$CLIENT" eth0 '^qdisc netem .*delay 100ms') c0=$(qdisc_sent "$CLIENT" eth0 '^qdisc netem .*delay 50ms')
  probe 7002 60 20 2000 >/tmp/t2 &
  t1=$(probe 7001 60 20 2000)
  wait $!
  t2=$(cat /tmp/t2)
  a1=$(qdisc_sent "$CLIENT" eth0 '^qdisc netem .*delay 100ms') c1=$(qdisc_sent "$CLIENT" eth0 '^qdisc netem .*delay 50ms')
  echo "two faults 7001: $t1"
  echo "two faults 7002: $t2"
  echo "the 100ms netem sent $((a1 - a0)) packets, the 50ms one $((c1 - c0))"
  [ "$(field recv "$t1")" -eq 60 ] && [ "$(field recv "$t2")" -eq 60 ] || fail "probes lost under pure delay"
  # Each flow through its own netem, all of it and nothing else (the kernel's counts).
  [ "$((a1 - a0))" -eq 60 ] && [ "$((c1 - c0))" -eq 60 ] || fail "the two netems did not each take exactly their 60 probes"
  judge_delay "two faults 7001" "$t1" "$b" 100 || rc=$?
  [ "$rc" -eq 1 ] && return 1
  judge_delay "two faults 7002" "$t2" "$b" 50 || { local r2=$?; [ "$r2" -eq 1 ] && return 1; rc=2; }
  return "$rc"
}
measure_judged two_once
chaosctl --socket "$SOCK" halt --all >/dev/null
wait_run
assert_clean "after two faults"

# ---- 3. foreign root qdiscs, kept underneath and restored byte for byte
foreign() {
  local label=$1
  shift
  tc -n "$CLIENT" qdisc add dev eth0 root "$@"
  local before during after
  before=$(netem_probe qdump /run/netns/"$CLIENT" eth0)
  echo "$label before: $before"
  f=$(exp "foreign-$label" client 60s 'action: delay' 'match: {protocol: udp, ports: [7001]}' 'delay: {latency: 100ms}')
  run_bg "$f"
  wait_netem "$CLIENT" eth0
  during=$(tc -n "$CLIENT" qdisc show dev eth0)
  echo "$during"
  grep -q 'qdisc htb ca05: root' <<<"$during" || fail "$label: no agent htb at the root"
  grep -Eq "qdisc $label [0-9a-f]+: parent ca05:1" <<<"$during" || fail "$label: the foreign qdisc is not under ca05:1"
  local n0 n1
  n0=$(qdisc_sent "$CLIENT" eth0 '^qdisc netem ')
  probe 7002 50 20 2000 >/tmp/f2 &
  f1=$(probe 7001 50 20 2000)
  wait $!
  f2=$(cat /tmp/f2)
  n1=$(qdisc_sent "$CLIENT" eth0 '^qdisc netem ')
  echo "$label 7001: $f1"
  echo "$label 7002: $f2"
  local sent
  # The reader consumes all of tc's output (no early exit): under pipefail a writer killed by
  # SIGPIPE would end the script with 141.
  sent=$(tc -s -n "$CLIENT" qdisc show dev eth0 | awk -v k="qdisc $label" '!done && $0 ~ k {getline; print $2; done = 1}')
  echo "$label under ca05:1 sent ${sent:-?} bytes during the fault (unmatched traffic still goes through it); the netem sent $((n1 - n0)) packets"
  chaosctl --socket "$SOCK" halt --all >/dev/null
  wait_run
  # 7001 delayed (netem is never early: every probe, so the median too), 7002 not (a matched probe
  # would take 100ms or more, every one), and the kernel counted exactly the 50 7001 probes.
  check "$(field min "$f1") >= 99.9 && $(field p50 "$f1") > 98 + $bmean" "$label: 7001 not delayed"
  check "$(field p50 "$f2") < 5 + $bmean" "$label: 7002 delayed"
  [ "$((n1 - n0))" -eq 50 ] || fail "$label: the netem sent $((n1 - n0)) packets for 50 probes to 7001"
  [ "${sent:-0}" -gt 0 ] || fail "$label: no traffic went through the foreign qdisc under ca05:1"
  after=$(netem_probe qdump /run/netns/"$CLIENT" eth0)
  echo "$label after:  $after"
  [ "$before" = "$after" ] || fail "$label: the root qdisc is not back byte for byte"
  tc -n "$CLIENT" qdisc del dev eth0 root
}
foreign tbf handle 1: tbf rate 1gbit burst 128kb latency 100ms
foreign prio handle 5: prio bands 4 priomap 3 2 1 0 3 3 3 3 3 3 3 3 3 3 3 3
foreign fq handle 9: fq limit 5000 flow_limit 50 quantum 3028

# ---- 4. a foreign root that cannot be restored exactly: refused at plan, nothing changes
tc -n "$CLIENT" qdisc add dev eth0 root handle 7: htb default 1
# htb's dumped options carry a live counter (tc_htb_glob.direct_pkts: every packet the guest sends
# through a root with no class 1 counts there, neighbour discovery included), so they are not
# compared byte for byte: the interface's whole qdisc list is, with that one counter taken out,
# plus the root's kind, handle and parent from the kernel's own dump.
htb_shape() {
  netem_probe qdump /run/netns/"$CLIENT" eth0 | sed 's/ options=.*//'
  tc -n "$CLIENT" qdisc show dev eth0 | sed 's/direct_packets_stat [0-9]* //'
}
before=$(htb_shape)
echo "htb before: $before"
f=$(exp refused client 10s 'action: delay' 'match: {protocol: udp, ports: [7001]}' 'delay: {latency: 100ms}')
rc=0
chaosctl --socket "$SOCK" run "$f" >/tmp/refused.out 2>&1 || rc=$?
cat /tmp/refused.out
[ "$rc" -eq 2 ] || fail "a fault over a foreign htb root was not refused (exit $rc)"
grep -q 'root qdisc htb 7:' /tmp/refused.out || fail "the refusal does not name the foreign root"
after=$(htb_shape)
echo "htb after:  $after"
[ "$after" = "$before" ] || fail "the refused fault changed the interface's qdiscs"
tc -n "$CLIENT" qdisc del dev eth0 root
assert_clean "after the refusal"

echo "PASS: ingress via ifb +$iadd ms on 7001 only; two faults share a tree; tbf, prio and fq roots back byte for byte; htb root refused (in-VM $(( ($(now_ms) - t_start) / 1000 ))s)"
