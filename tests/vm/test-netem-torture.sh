#!/bin/bash
# vm.netem-torture: runs INSIDE the VM (Debian 6.1 has sch_netem; the host kernel does not). The
# kill torture's netem part (tests/integration/test_kill_torture.cpp, KillTorture.NetemDelayInTheVmGuest):
# the agent SIGKILLed at random moments of plan, apply, hold and revert of delay faults on the lab
# client's TCP 8080 (egress, ingress through the agent's ifb, both; half of them over a foreign
# tbf root qdisc), restarted on the same state dir after each kill, and checked: no journal entry
# outstanding, the lab's namespaces exactly as before (qdiscs, filters, clsact, no chaosifb, the
# tbf back byte for byte as tc prints it), none of the dead agent's programs loaded, requests
# undelayed again. Then iproute2 and bpftool cross-check that nothing of the agent's is left.
set -uo pipefail
export CHAOS_AGENT_BINARY=/usr/local/bin/chaos-agent CHAOS_CHAOSCTL_BINARY=/usr/local/bin/chaosctl
out=/tmp/torture.out
/usr/local/bin/root_test_kill_torture --gtest_filter=KillTorture.NetemDelayInTheVmGuest "$@" 2>&1 |
  grep -vE '^[0-9TZ:.-]+ (info|debug) ' | tee "$out"
rc=${PIPESTATUS[0]}
if grep -q '^\[  SKIPPED \]' "$out" && [ "$rc" = 0 ]; then
  echo "SKIP: the netem torture did not run in the guest (see above)"
  exit 77
fi
# Whatever the test saw, nothing of the agent's may be left anywhere in the guest.
if bpftool prog show 2>/dev/null | grep -q chaos_cls; then
  bpftool prog show | grep -A2 chaos_cls
  echo "FAIL: a chaos_cls program is still loaded after the torture"
  rc=1
fi
for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
  if ip -n "$ns" link show 2>/dev/null | grep -q chaosifb; then echo "FAIL: an ifb left in $ns"; rc=1; fi
  if tc -n "$ns" qdisc show 2>/dev/null | grep -Eq 'htb|netem|clsact'; then
    tc -n "$ns" qdisc show
    echo "FAIL: the agent's qdiscs left in $ns"
    rc=1
  fi
done
if ! grep -q '^\[  PASSED  \] 1 test' "$out" && [ "$rc" = 0 ]; then
  echo "FAIL: the test binary reported no pass"
  rc=1
fi
exit "$rc"
