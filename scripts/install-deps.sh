#!/usr/bin/env bash
# Installs every Debian package the build, the demo and the tests need.
# Idempotent: packages already present are skipped; apt is only touched when something is missing.
set -euo pipefail

PKGS=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang llvm ccache
  # the fuzz tier (scripts/fuzz.sh): clang 16 with its libFuzzer and sanitizer runtimes (clang 14
  # cannot compile libstdc++ 12's std::expected); llvm-symbolizer for readable reports
  clang-16 libclang-rt-16-dev llvm
  # BPF
  libbpf-dev bpftool libelf-dev zlib1g-dev
  # netlink
  libnl-3-dev libnl-route-3-dev
  # C++ libraries fixed by design
  libboost-program-options-dev libboost-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev googletest nlohmann-json3-dev
  # the agent's live /metrics endpoint; sd_notify and the watchdog under systemd
  prometheus-cpp-dev libsystemd-dev
  # sha256 of experiments in the API's audit log (libcrypto)
  libssl-dev
  # the root tier's permission tests make users and groups (useradd, groupadd)
  passwd
  # lab, tests and benchmarks
  iproute2 iptables procps psmisc curl python3
  qemu-system-x86 busybox-static cpio kmod xz-utils
  etcd-server etcd-client
  iperf3 stress-ng
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}); run as root" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
# etcd-server's postinst may start a system etcd when an init system exists; we never want it.
if pgrep -x etcd >/dev/null 2>&1 && [ -z "${CHAOS_KEEP_SYSTEM_ETCD:-}" ]; then
  pkill -x etcd || true
fi
