#!/bin/bash
# vm.guest-features: runs INSIDE the VM (run-in-vm.sh). Proves what the rest of the vm tier and the
# agent rely on in Debian's 6.1 guest, the project's second kernel:
#   1. the project's binaries run in the guest userspace (their shared libraries were copied right)
#   2. BTF is there; BPF loads; a classic tc attach (clsact + cls_bpf, what 6.1 offers) drops real
#      traffic and outlives the process that attached it; tcx is refused with EINVAL (tcx is 6.6+)
#   3. the project's own BPF objects pass the 6.1 verifier (when any are built)
#   4. cgroup v2 with the memory controller: memory.max is enforced by the OOM killer
# Arguments: "require=BIN" makes a missing BIN a failure (CMake passes require=chaos-agent and
# require=chaosctl for the targets the build defines).
set -euo pipefail

required=" "
for a in "$@"; do
  case "$a" in require=*) required+="${a#require=} " ;; *) echo "unknown argument $a"; exit 2 ;; esac
done

fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

ns_a="gfA$$" ns_b="gfB$$" if_a="ga$$" if_b="gb$$" cg=/sys/fs/cgroup/vmtest$$
cleanup() {
  ip netns del "$ns_a" 2>/dev/null || true
  ip netns del "$ns_b" 2>/dev/null || true
  rm -rf /sys/fs/bpf/vmtest$$ 2>/dev/null || true
  [ -d "$cg" ] && rmdir "$cg" 2>/dev/null || true
}
trap cleanup EXIT

echo "== 1. binaries run in the guest"
# runs BIN --help: any exit status is fine except the loader's ("cannot open shared object") and
# 126/127; those mean the image is missing something.
runs() {
  local bin=$1 out rc
  set +e
  out=$("$bin" --help 2>&1)
  rc=$?
  set -e
  if [ $rc -ge 126 ] || grep -q "error while loading shared libraries" <<<"$out"; then
    head -n5 <<<"$out"  # not `echo | head`: under pipefail a long $out would end the script with SIGPIPE
    fail "$bin does not run in the guest (exit $rc)"
  fi
  ok "$bin runs (--help exit $rc)"
}
for b in chaos-agent chaosctl; do
  if command -v "$b" >/dev/null; then
    runs "$(command -v "$b")"
  elif [[ "$required" == *" $b "* ]]; then
    fail "$b is not in the image"
  else
    echo "note: $b not built, not checked"
  fi
done
command -v vm_bpf_probe >/dev/null || fail "vm_bpf_probe is not in the image"
runs "$(command -v vm_bpf_probe)"

echo "== 2. BPF on $(uname -r)"
[ -s /sys/kernel/btf/vmlinux ] || fail "no BTF at /sys/kernel/btf/vmlinux"
first=$({ bpftool btf dump file /sys/kernel/btf/vmlinux format raw || true; } | head -n1)
grep -q '^\[1\]' <<<"$first" || fail "bpftool cannot read the kernel BTF (got: $first)"
ok "kernel BTF readable ($(stat -c %s /sys/kernel/btf/vmlinux) bytes)"

ip netns add "$ns_a"
ip netns add "$ns_b"
ip link add "$if_a" netns "$ns_a" type veth peer name "$if_b" netns "$ns_b"
ip -n "$ns_a" addr add 198.18.1.1/30 dev "$if_a"
ip -n "$ns_b" addr add 198.18.1.2/30 dev "$if_b"
ip -n "$ns_a" link set "$if_a" up
ip -n "$ns_b" link set "$if_b" up

# pings A -> B and prints how many of 3 came back
received() {
  { ip netns exec "$ns_a" ping -q -c 3 -i 0.2 -W 2 198.18.1.2 2>&1 || true; } |
    sed -nE 's/.* ([0-9]+) packets received.*/\1/p'
}
[ "$(received)" = 3 ] || fail "no connectivity before attaching anything"

ip netns exec "$ns_b" vm_bpf_probe attach-drop "$if_b" || fail "classic tc attach failed"
filters=$(ip netns exec "$ns_b" tc filter show dev "$if_b" ingress)
echo "$filters"
grep -q "direct-action" <<<"$filters" || fail "no cls_bpf direct-action filter after the attaching process exited"
ok "classic tc filter outlives the process that attached it"
got=$(received)
[ "$got" = 0 ] || fail "drop-all program attached, yet $got/3 pings came back"
ok "the attached program drops traffic (0/3 pings)"
ip netns exec "$ns_b" vm_bpf_probe detach "$if_b" || fail "detach failed"
[ "$(received)" = 3 ] || fail "traffic did not recover after the clsact qdisc was removed"
ok "traffic back after detach"

set +e
ip netns exec "$ns_a" vm_bpf_probe tcx "$if_a"
rc=$?
set -e
case "$(uname -r)" in
  6.[0-5].*|5.*) [ $rc -eq 3 ] || fail "tcx on $(uname -r): expected EINVAL (exit 3), got exit $rc"
                 ok "tcx refused with EINVAL, as expected before 6.6" ;;
  *) [ $rc -eq 0 ] || fail "tcx on $(uname -r) should attach, got exit $rc"; ok "tcx attaches" ;;
esac

echo "== 3. the project's BPF objects on this verifier"
shopt -s nullglob
objs=(/opt/chaos/bpf/*.bpf.o)
if [ ${#objs[@]} -eq 0 ]; then
  echo "note: no BPF objects in the image (none built yet), not checked"
fi
mkdir -p /sys/fs/bpf/vmtest$$
for o in "${objs[@]}"; do
  n=$(basename "$o" .bpf.o)
  out=$(bpftool prog loadall "$o" "/sys/fs/bpf/vmtest$$/$n" 2>&1) || {
    echo "$out" | tail -n 30
    fail "$n.bpf.o does not load on $(uname -r)"
  }
  ok "$n.bpf.o loads: $(ls /sys/fs/bpf/vmtest$$/$n | tr '\n' ' ')"
  rm -rf "/sys/fs/bpf/vmtest$$/$n"
done

echo "== 4. cgroup v2 memory controller"
grep -qw memory /sys/fs/cgroup/cgroup.controllers || fail "no memory controller in cgroup2"
grep -qw memory /sys/fs/cgroup/cgroup.subtree_control || fail "memory not enabled for children"
mkdir "$cg"
echo 32M >"$cg/memory.max"
echo 0 >"$cg/memory.swap.max"
[ "$(cat "$cg/memory.max")" = 33554432 ] || fail "memory.max did not take 32M"
# A child that moves itself into the cgroup, then wants a 64 MiB buffer (dd fills it from
# /dev/zero): the memcg OOM killer must end it.
set +e
bash -c "echo \$\$ >$cg/cgroup.procs; exec dd if=/dev/zero of=/dev/null bs=64M count=1" 2>/dev/null
rc=$?
set -e
ooms=$(sed -nE 's/^oom_kill ([0-9]+)/\1/p' "$cg/memory.events")
echo "dd exit $rc, memory.events oom_kill=$ooms, memory.peak/max: $(cat "$cg/memory.peak" 2>/dev/null || echo n/a)/$(cat "$cg/memory.max")"
[ $rc -eq 137 ] || fail "a 64 MiB allocation under memory.max=32M was not killed (exit $rc)"
[ "${ooms:-0}" -ge 1 ] || fail "memory.events shows no oom_kill"
ok "memory.max enforced by the memcg OOM killer"
rmdir "$cg"

cleanup
trap - EXIT
echo "PASS: guest features on $(uname -r)"
