#!/usr/bin/env bash
# Boots Debian's distro kernel under qemu with an initramfs holding the agent and one test script,
# runs the script as root inside, and exits with the script's exit status. The vm test tier.
#
# Usage: run-in-vm.sh --build BUILD_DIR --script TEST.sh [--file HOST_PATH:VM_PATH]...
#                     [--module NAME]... [--arg ARG]... [--timeout SECONDS] [--name NAME]
#                     [--shell | --shell-only]
#   --build      the CMake build dir: kernel cache (vm/kernel), logs (vm/runs/NAME), and the
#                agent binaries (bin/chaos-agent, bin/chaosctl) to put in the image
#   --script     runs as /test.sh inside the VM via its #! line (/bin/sh there is bash)
#   --file       more files for the image; ELF executables bring their shared libraries
#   --module     another kernel module to load (default set: see mkinitramfs.sh)
#   --arg        an argument for the script (repeatable)
#   --timeout    wall-clock limit for boot + test + poweroff (default 150)
#   --shell      interactive: run the test, then a shell on this terminal (Ctrl-A x quits qemu)
#   --shell-only interactive: a shell on the prepared machine, the test not run
# Environment: CHAOS_VM_ACCEL=tcg (default: software emulation, what CI has) or kvm;
#              CHAOS_VM_MEM (MiB, default 1024), CHAOS_VM_SMP (default 2).
# Exit status: the script's own (77 = skip, as ctest's SKIP_RETURN_CODE); 77 also when this host
# genuinely cannot run the tier; 124 on timeout; 125 when the VM gave no result line (crash, panic,
# a module that would not load); 1 on a harness failure (a kernel or qemu that should be
# obtainable and is not).
set -euo pipefail

here=$(dirname "$(realpath "$0")")
say() { echo "run-in-vm: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

build='' script='' timeout=150 name='' shell=''
mk_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --script) script=$2; shift 2 ;;
    --file|--module|--arg) mk_args+=("$1" "$2"); shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --shell) shell=1; shift ;;
    --shell-only) shell=pre; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[ -n "$build" ] && [ -n "$script" ] || die "need --build BUILD_DIR and --script TEST.sh (see --help)"
build=$(realpath -m "$build")
[ -f "$script" ] || die "test script $script not found"
name=${name:-$(basename "$script" .sh)}

if [ "$(uname -m)" != x86_64 ]; then
  echo "SKIP: the vm tier boots an amd64 kernel under qemu-system-x86_64; this host is $(uname -m)"
  exit 77
fi
qemu=$(command -v qemu-system-x86_64) || {
  if command -v apt-get >/dev/null; then
    die "qemu-system-x86_64 not found: run scripts/install-deps.sh (package qemu-system-x86)"
  fi
  echo "SKIP: no qemu-system-x86_64 and no apt to install it on this host"
  exit 77
}

t0=$(date +%s.%N)
set +e
kdir=$("$here/fetch-kernel.sh" "$build")
rc=$?
set -e
if [ $rc -ne 0 ]; then
  [ $rc -eq 77 ] && exit 77
  die "could not obtain the distro kernel (fetch-kernel.sh exit $rc)"
fi
kver=$(cat "$kdir/kver")

run="$build/vm/runs/$name"
mkdir -p "$run"
log="$run/serial.log"
"$here/mkinitramfs.sh" --kernel "$kdir" --out "$run/initrd.gz" --script "$script" \
  --build "$build" ${mk_args[@]+"${mk_args[@]}"}
t1=$(date +%s.%N)

nonce=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
append="console=ttyS0 quiet panic=-1 vmtest.nonce=$nonce"
[ -n "$shell" ] && append+=" vmtest.shell=$shell"

# The unpacked ELF vmlinux boots through PVH, skipping the guest's own xz decompression.
kernel="$kdir/vmlinux"
[ -f "$kernel" ] || kernel="$kdir/vmlinuz"

accel=${CHAOS_VM_ACCEL:-tcg}
case "$accel" in
  tcg) accel_args=(-accel "tcg,thread=multi" -cpu max) ;;
  kvm) accel_args=(-accel kvm -cpu host) ;;
  *) die "CHAOS_VM_ACCEL must be tcg or kvm, not $accel" ;;
esac
qemu_args=("${accel_args[@]}" -m "${CHAOS_VM_MEM:-1024}" -smp "${CHAOS_VM_SMP:-2}"
           -nodefaults -no-user-config -display none -no-reboot -nic none
           -kernel "$kernel" -initrd "$run/initrd.gz" -append "$append")

if [ -n "$shell" ]; then
  say "interactive VM (kernel $kver); Ctrl-A x quits qemu, Ctrl-A h for help; log: $log"
  exec "$qemu" "${qemu_args[@]}" -serial mon:stdio
fi

say "booting $kver for $name (timeout ${timeout}s, accel $accel, log $log)"
set +e
# stdin from /dev/null: qemu must not grab a terminal. The log keeps the raw console; what we
# stream (and ctest captures) has the serial line's carriage returns dropped.
timeout -k 5 "$timeout" "$qemu" "${qemu_args[@]}" -serial stdio </dev/null 2>&1 |
  tee "$log" | tr -d '\r'
qrc=${PIPESTATUS[0]}
set -e
t2=$(date +%s.%N)
timing=$(awk -v a="$t0" -v b="$t1" -v c="$t2" \
  'BEGIN{printf "image %.1fs, boot+test+poweroff %.1fs", b-a, c-b}')

if [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
  say "TIMEOUT: the VM did not finish within ${timeout}s ($timing); serial log: $log"
  exit 124
fi
result=$(tr -d '\r' <"$log" | grep -aoE "VMTEST-RESULT: nonce=$nonce rc=[0-9]+" | tail -n1 || true)
if [ -z "$result" ]; then
  say "FAIL: no result line from the VM (qemu exit $qrc; $timing): a kernel panic, a crash of" \
      "/init or a test that powered the machine off itself; serial log: $log"
  exit 125
fi
rc=${result##*rc=}
say "$name: rc=$rc ($timing; qemu exit $qrc)"
exit "$rc"
