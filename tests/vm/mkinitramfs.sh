#!/usr/bin/env bash
# Builds the initramfs the vm test tier boots: busybox, the distro kernel's network/BPF modules with
# their dependencies, chaos-agent and chaosctl, iproute2 (cross-checks only), bpftool, bash, every
# shared library those need, an /init that prepares the machine, and the test script as /test.sh.
#
# Usage: mkinitramfs.sh --kernel KDIR --out INITRD --script TEST [--build BUILD_DIR]
#                       [--file HOST_PATH:VM_PATH]... [--module NAME]... [--arg ARG]...
#   KDIR         a directory made by fetch-kernel.sh
#   --build      copies BUILD_DIR/bin/chaos-agent and chaosctl to /usr/local/bin when they exist
#   --file       copies a file or directory; an ELF executable brings its shared libraries along
#   --module     loads one more module (its dependencies come too) besides the default set
#   --arg        an argument for /test.sh (repeatable, order kept)
#   --no-compress  write a plain cpio (the kernel takes it; bigger, skips gzip both ways)
# Environment: CHAOS_VM_KEEP_ROOT=1 keeps the image's tree in INITRD.root;
#              CHAOS_VM_KEEP_DEBUG=1 keeps debug info in copied executables.
set -euo pipefail

say() { echo "mkinitramfs: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# What every vm test gets: the qdiscs, classifiers and actions the network family builds with, and
# the devices it builds them on.
DEFAULT_MODULES=(sch_netem sch_htb sch_prio sch_tbf sch_fq sch_ingress cls_bpf cls_u32
                 cls_matchall act_mirred act_gact ifb veth bridge)

kdir='' out='' script='' build='' compress=1
files=() modules=("${DEFAULT_MODULES[@]}") args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --kernel) kdir=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --script) script=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --file) files+=("$2"); shift 2 ;;
    --module) modules+=("$2"); shift 2 ;;
    --arg) args+=("$2"); shift 2 ;;
    --no-compress) compress=0; shift ;;
    *) die "unknown argument $1" ;;
  esac
done
[ -n "$kdir" ] && [ -n "$out" ] && [ -n "$script" ] || die "need --kernel, --out and --script"
[ -f "$kdir/.complete" ] || die "$kdir is not a kernel directory made by fetch-kernel.sh"
[ -f "$script" ] || die "test script $script not found"
kver=$(cat "$kdir/kver")
kmods="$kdir/lib/modules/$kver"

busybox=$(command -v busybox) || die "busybox not found: install busybox-static (scripts/install-deps.sh)"
# A dynamically linked busybox would work too (its libs get copied), but Debian's static one is the
# known-good shell for /init: it runs before anything else is in place.
command -v cpio >/dev/null || die "cpio not found (scripts/install-deps.sh)"
command -v depmod >/dev/null || die "depmod not found: install kmod (scripts/install-deps.sh)"

root="$out.root"
rm -rf "$root"
mkdir -p "$root"
for d in bin sbin usr/bin usr/sbin usr/local/bin usr/local/sbin lib lib64 etc/vmtest proc sys dev \
         run tmp root var mnt vmtest; do
  mkdir -p "$root/$d"
done
ln -s ../run "$root/var/run"

# copy_path HOST VM: copies a file (following links) to VM inside the image, then every library the
# dynamic loader would map for it, each at the path ldd resolves it to (the loader included).
copy_path() {
  local src=$1 dst=$2
  mkdir -p "$root$(dirname "$dst")"
  if [ -d "$src" ]; then
    cp -aL "$src/." "$root$dst/"
    return
  fi
  # ELF executables and shared objects (e_type 2 or 3) get the treatment below; relocatable objects
  # such as BPF programs (e_type 1) are copied untouched, their BTF intact.
  local magic etype
  magic=$(od -An -N4 -tx1 "$src" | tr -d ' \n')
  etype=$(od -An -j16 -N2 -tu2 "$src" | tr -d ' \n')
  if [ "$magic" = 7f454c46 ] && { [ "$etype" = 2 ] || [ "$etype" = 3 ]; }; then
    # Debug info (RelWithDebInfo: most of the agent's size) would only slow the VM's unpacking;
    # the symbol table stays, so backtraces keep their names. CHAOS_VM_KEEP_DEBUG=1 keeps it.
    if [ -z "${CHAOS_VM_KEEP_DEBUG:-}" ] && command -v objcopy >/dev/null; then
      objcopy --strip-debug "$src" "$root$dst" || cp -L "$src" "$root$dst"
    else
      cp -L "$src" "$root$dst"
    fi
    copy_libs "$src"
  else
    cp -L "$src" "$root$dst"
  fi
}

copy_libs() {
  local bin=$1 line lib
  local ldd_out
  ldd_out=$(ldd "$bin" 2>&1) || {
    # Static executables and shared objects without an interpreter are fine as they are.
    grep -qE 'not a dynamic executable|statically linked' <<<"$ldd_out" && return 0
    die "ldd $bin failed: $ldd_out"
  }
  while read -r line; do
    case "$line" in
      *"=> not found"*) die "$bin needs a library this host lacks: $line" ;;
      *"=> /"*) lib=${line#*=> }; lib=${lib%% (*} ;;
      /*) lib=${line%% (*} ;;
      *) continue ;;  # linux-vdso.so.1, "statically linked"
    esac
    if [ ! -e "$root$lib" ]; then
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    fi
  done <<<"$ldd_out"
}

# --- busybox and its applets -------------------------------------------------------------------
cp -L "$busybox" "$root/bin/busybox"
copy_libs "$busybox"
# iproute2's ip/tc replace busybox's (which lack netns and netem); bash and /init are our own.
# /bin/sh is bash, not busybox ash: Debian builds ash with FEATURE_SH_STANDALONE, so ash would run
# its own `ip` and `tc` applets whatever PATH says.
skip_applets=" ip tc linuxrc init bash sh "
while read -r applet; do
  name=$(basename "$applet")
  case "$skip_applets" in *" $name "*) continue ;; esac
  [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done < <("$busybox" --list-full)

# --- tools for the tests -------------------------------------------------------------------------
for tool in ip tc bpftool bash; do
  p=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v "$tool") || die "$tool not found on the host (scripts/install-deps.sh)"
  copy_path "$p" "$p"
done
bash_path=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin command -v bash)
[ -e "$root/bin/bash" ] || ln -s "$bash_path" "$root/bin/bash"
ln -s "$bash_path" "$root/bin/sh"
# tc's netem "distribution" tables and iproute2's name tables.
for d in /usr/lib/x86_64-linux-gnu/tc /usr/lib/tc /etc/iproute2 /usr/share/iproute2; do
  [ -d "$d" ] && copy_path "$d" "$d"
done

if [ -n "$build" ]; then
  for b in chaos-agent chaosctl; do
    if [ -x "$build/bin/$b" ]; then
      copy_path "$build/bin/$b" "/usr/local/bin/$b"
    else
      say "note: $build/bin/$b not built; the image will not have it"
    fi
  done
fi

for spec in "${files[@]}"; do
  host=${spec%%:*} vm=${spec#*:}
  [ "$host" != "$spec" ] && [ -n "$vm" ] || die "--file wants HOST_PATH:VM_PATH, got $spec"
  [ -e "$host" ] || die "--file $host does not exist"
  case "$vm" in /*) ;; *) die "--file VM path must be absolute: $vm" ;; esac
  copy_path "$host" "$vm"
done

# --- kernel modules ------------------------------------------------------------------------------
# modules.dep lines are "path: dep dep ...". Resolve each wanted module's closure depth-first so a
# module is listed only after everything it needs: /init insmods the list in order.
declare -A dep_of=() path_of=() seen=()
while IFS= read -r line; do
  path=${line%%:*}
  base=${path##*/}; base=${base%%.ko*}; base=${base//-/_}
  path_of[$base]=$path
  dep_of[$path]=${line#*:}
done <"$kmods/modules.dep"

order=()
visit() {
  local path=$1 d
  [ -n "${seen[$path]:-}" ] && return
  seen[$path]=1
  for d in ${dep_of[$path]}; do visit "$d"; done
  order+=("$path")
}
for m in "${modules[@]}"; do
  key=${m//-/_}
  if [ -n "${path_of[$key]:-}" ]; then
    visit "${path_of[$key]}"
  elif grep -qE "/${m}\.ko(\.[a-z]+)?$" "$kmods/modules.builtin" 2>/dev/null; then
    say "note: $m is built into $kver"
  else
    die "kernel $kver has no module $m"
  fi
done

: >"$root/etc/vmtest/modules"
for path in "${order[@]}"; do
  src="$kmods/$path" dst="$root/lib/modules/$kver/$path"
  mkdir -p "$(dirname "$dst")"
  # busybox insmod reads plain .ko only; Debian 12 ships them plain, newer kernels compress.
  case "$path" in
    *.ko.xz) xz -dc "$src" >"${dst%.xz}"; path=${path%.xz} ;;
    *.ko.zst) zstd -qdc "$src" >"${dst%.zst}"; path=${path%.zst} ;;
    *.ko.gz) gzip -dc "$src" >"${dst%.gz}"; path=${path%.gz} ;;
    *) cp "$src" "$dst" ;;
  esac
  echo "$path" >>"$root/etc/vmtest/modules"
done
# A modules.dep inside the image lets the kernel's own on-demand loading (request_module ->
# /sbin/modprobe) find these modules too.
for f in modules.builtin modules.builtin.modinfo modules.order; do
  [ -f "$kmods/$f" ] && cp "$kmods/$f" "$root/lib/modules/$kver/"
done
depmod -b "$root" "$kver"
echo "$kver" >"$root/etc/vmtest/kver"

# --- /etc, /init and the test --------------------------------------------------------------------
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
printf '127.0.0.1 localhost vmtest\n::1 localhost ip6-localhost\n' >"$root/etc/hosts"
printf 'passwd: files\ngroup: files\nhosts: files\n' >"$root/etc/nsswitch.conf"
echo vmtest >"$root/etc/hostname"

: >"$root/etc/vmtest/args"
for a in "${args[@]}"; do printf '%s\n' "$a" >>"$root/etc/vmtest/args"; done

cp "$script" "$root/test.sh"
chmod 755 "$root/test.sh"
cp "$(dirname "$(realpath "$0")")/init.sh" "$root/init"
chmod 755 "$root/init"

mkdir -p "$(dirname "$out")"
(cd "$root" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
   cpio --null -o -H newc --owner=0:0 --quiet) >"$out.cpio"
if [ "$compress" = 1 ]; then
  gzip -1 -c "$out.cpio" >"$out"
  rm -f "$out.cpio"
else
  mv "$out.cpio" "$out"
fi
# CHAOS_VM_KEEP_ROOT=1 keeps the unpacked tree beside the image, to see what the guest gets.
[ -n "${CHAOS_VM_KEEP_ROOT:-}" ] || rm -rf "$root"
say "$(basename "$out"): ${#order[@]} modules, $(du -h "$out" | cut -f1)"
