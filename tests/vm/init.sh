#!/bin/sh
# /init of the vm test tier's initramfs (busybox sh, PID 1). Prepares the machine the way the agent
# expects a node to look, loads the modules, runs /test.sh and reports its exit status on the
# console as one line the host looks for:
#     VMTEST-RESULT: nonce=<nonce from the kernel command line> rc=<exit status>
# then powers off. Kernel command line switches (run-in-vm.sh sets them):
#     vmtest.nonce=X   echoed in the result line so no test output can be mistaken for it
#     vmtest.shell=1   after the test, drop into a shell on the console instead of powering off
#     vmtest.shell=pre skip the test: a shell on a prepared machine
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
cd /

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
# devtmpfs lacks these; bash process substitution needs /dev/fd.
ln -s /proc/self/fd /dev/fd
ln -s fd/0 /dev/stdin
ln -s fd/1 /dev/stdout
ln -s fd/2 /dev/stderr
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
# Pure cgroup v2 (the host CI machine is a v1/v2 hybrid): the second cgroup layout the memory
# family is tested against.
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
echo "+memory +pids +cpu" >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null ||
  echo "+memory +pids" >/sys/fs/cgroup/cgroup.subtree_control

hostname vmtest
ip link set lo up

nonce=none shell=
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    vmtest.nonce=*) nonce=${arg#vmtest.nonce=} ;;
    vmtest.shell=*) shell=${arg#vmtest.shell=} ;;
  esac
done

kver=$(cat /etc/vmtest/kver)
rc=0
while read -r m; do
  if ! insmod "/lib/modules/$kver/$m"; then
    echo "VMTEST-ERROR: insmod $m failed"
    rc=125
  fi
done </etc/vmtest/modules

shell_here() {
  echo "vmtest: shell on the console; 'exit' or Ctrl-D powers off"
  setsid cttyhack /bin/sh -l
}

if [ "$shell" = pre ]; then
  shell_here
elif [ "$rc" = 0 ]; then
  echo "vmtest: kernel $(uname -r), running /test.sh"
  # Arguments one per line, so they may hold spaces.
  set --
  while IFS= read -r a; do set -- "$@" "$a"; done </etc/vmtest/args
  start=$(cut -d' ' -f1 /proc/uptime)
  /test.sh "$@" </dev/null
  rc=$?
  end=$(cut -d' ' -f1 /proc/uptime)
  echo "vmtest: /test.sh exited $rc after $(awk "BEGIN{print $end-$start}")s (uptime ${end}s)"
fi

sync
echo "VMTEST-RESULT: nonce=$nonce rc=$rc"
[ "$shell" = 1 ] && shell_here
poweroff -f
