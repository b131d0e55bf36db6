#!/usr/bin/env bash
# Fetches Debian's distro kernel (the one linux-image-amd64 points at, 6.1 on bookworm) and unpacks
# it into BUILD_DIR/vm/kernel. That kernel ships sch_netem, sch_fq, ifb, veth, ... as modules, which
# the host kernel lacks: the vm test tier boots it under qemu to test real netem.
#
# Usage: fetch-kernel.sh BUILD_DIR
# Prints the kernel directory on stdout (everything else goes to stderr).
# Cached: once BUILD_DIR/vm/kernel/.complete exists, a rerun touches no network.
# Overrides: CHAOS_VM_KERNEL_DEB=/path/linux-image-*.deb uses that package instead of downloading
#            (for offline machines); CHAOS_VM_KERNEL_PKG=linux-image-X pins the package name.
# Exit codes: 0 ok, 77 the host genuinely cannot do this (not x86_64, not Debian/apt), 1 any other
# failure (a download that should have worked and did not is a failure, not a skip).
set -euo pipefail

say() { echo "fetch-kernel: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }

[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
build=$(realpath -m "$1")
kdir="$build/vm/kernel"

# extract_vmlinux DIR: unpacks the ELF vmlinux from the bzImage. qemu boots it through its PVH
# entry point, which skips the in-guest xz decompression: under software emulation that saves
# several seconds per boot (run-in-vm.sh falls back to vmlinuz without it).
extract_vmlinux() {
  local dir=$1 img="$1/vmlinuz" off
  [ -f "$dir/vmlinux" ] && return 0
  for off in $(grep -abo $'\xfd7zXZ\x00' "$img" | cut -d: -f1); do
    if tail -c +$((off + 1)) "$img" | xz -dc 2>/dev/null >"$dir/vmlinux.tmp" || [ -s "$dir/vmlinux.tmp" ]; then
      if [ "$(head -c4 "$dir/vmlinux.tmp" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
        mv "$dir/vmlinux.tmp" "$dir/vmlinux"
        return 0
      fi
    fi
  done
  rm -f "$dir/vmlinux.tmp"
  say "note: could not unpack vmlinux from vmlinuz (not xz?); booting the bzImage instead"
}

# ctest may start several vm tests at once: one downloads, the others wait for it.
mkdir -p "$build/vm"
exec 9>"$build/vm/.fetch.lock"
flock 9
if [ -f "$kdir/.complete" ]; then
  extract_vmlinux "$kdir" >&2
  echo "$kdir"
  exit 0
fi

[ "$(uname -m)" = x86_64 ] || skip "the vm tier boots an amd64 distro kernel; this host is $(uname -m)"
command -v dpkg-deb >/dev/null || skip "no dpkg-deb: the vm tier needs a Debian-family host to fetch the distro kernel"
command -v depmod >/dev/null || die "depmod not found: install kmod (scripts/install-deps.sh)"

rm -rf "$kdir" "$kdir.tmp"
mkdir -p "$kdir.tmp"

deb=${CHAOS_VM_KERNEL_DEB:-}
if [ -z "$deb" ]; then
  command -v apt-get >/dev/null || skip "no apt-get and no CHAOS_VM_KERNEL_DEB: cannot obtain a distro kernel"
  pkg=${CHAOS_VM_KERNEL_PKG:-}
  if [ -z "$pkg" ]; then
    # linux-image-amd64 is a metapackage; its Depends names the real, versioned image package.
    # awk reads to the end (an early exit could kill apt-cache with SIGPIPE under pipefail), and an
    # apt that knows no such package must reach the refresh below, not end the script.
    pkg=$({ apt-cache depends linux-image-amd64 2>/dev/null || true; } |
          awk '!p && /Depends: linux-image-[0-9]/ {print $2; p = 1}')
    if [ -z "$pkg" ]; then
      say "apt knows no linux-image-amd64; refreshing package lists"
      apt-get update -qq >&2 || die "apt-get update failed"
      pkg=$({ apt-cache depends linux-image-amd64 2>/dev/null || true; } |
            awk '!p && /Depends: linux-image-[0-9]/ {print $2; p = 1}')
    fi
    [ -n "$pkg" ] || skip "this apt has no linux-image-amd64 package (not Debian amd64?)"
  fi
  say "downloading $pkg"
  # apt-get download writes into the current directory; _apt cannot write here, so it warns that
  # the download runs unsandboxed. Harmless.
  if ! (cd "$kdir.tmp" && apt-get download -q "$pkg" >&2); then
    # Stale lists name a version the mirror no longer has (security updates replace them).
    say "download failed; refreshing package lists and retrying"
    apt-get update -qq >&2 || die "apt-get update failed"
    (cd "$kdir.tmp" && apt-get download -q "$pkg" >&2) || die "apt-get download $pkg failed"
  fi
  deb=$(ls "$kdir.tmp"/*.deb)
fi
[ -f "$deb" ] || die "kernel package $deb not found"

say "unpacking $(basename "$deb")"
dpkg-deb -x "$deb" "$kdir.tmp"
rm -f "$kdir.tmp"/*.deb
kver=$(ls "$kdir.tmp/lib/modules")
kver=${kver%%$'\n'*}  # the first; no `| head` under pipefail
[ -n "$kver" ] && [ -f "$kdir.tmp/boot/vmlinuz-$kver" ] || die "$deb holds no vmlinuz/modules"
# Drivers for hardware a qemu guest never has are ~60% of the 400 MB; no network, cgroup or BPF
# module depends on them (depmod below would report a dangling dependency if one did).
for d in sound drivers/gpu drivers/media drivers/infiniband drivers/net/wireless \
         drivers/net/ethernet drivers/usb drivers/iio drivers/scsi drivers/hwmon drivers/staging \
         drivers/bluetooth drivers/input drivers/hid drivers/mmc drivers/isdn; do
  rm -rf "$kdir.tmp/lib/modules/$kver/kernel/$d"
done
# The package generates modules.dep in its postinst; we never install it, so run depmod ourselves.
depmod -b "$kdir.tmp" "$kver" || die "depmod failed"
ln -s "boot/vmlinuz-$kver" "$kdir.tmp/vmlinuz"
command -v xz >/dev/null && extract_vmlinux "$kdir.tmp"
echo "$kver" >"$kdir.tmp/kver"
touch "$kdir.tmp/.complete"
mv "$kdir.tmp" "$kdir"
say "kernel $kver ready in $kdir"
echo "$kdir"
