#!/bin/bash
# vm.memory-v2: runs INSIDE the VM. The memory fault's integration tests on pure cgroup v2 (the host
# is v1): pressure to 80% within ±5%, oom victim workload/hog, revert, SIGKILL of the agent, lease.
set -uo pipefail
echo "cgroup: $(stat -fc %T /sys/fs/cgroup) controllers: $(cat /sys/fs/cgroup/cgroup.controllers) subtree: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
ls /sys/fs/cgroup/memory.pressure /proc/pressure/memory 2>&1 | head -2
/usr/local/bin/root_test_memory_fault
rc=$?
ls /sys/fs/cgroup | grep chaos-test && { echo "FAIL: test cgroups left behind"; rc=1; }
exit $rc
