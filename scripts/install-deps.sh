#!/usr/bin/env bash
# Installs the Debian packages a set of targets needs: `demo` (what `make demo` builds and runs:
# chaos-agent, chaosctl and the BPF objects, then a partition in the lab), or `all` (the default:
# every test tier, the fuzz tier, the benchmarks; `make test` asks for it).
# Idempotent: packages already present are skipped; apt is only touched when something is missing.
set -euo pipefail

set_name=${1:-all}

# Enough to configure the tree without its tests (CHAOS_BUILD_TESTS=OFF), build the agent,
# chaosctl and the BPF skeletons, and run the demo: the lab speaks netlink itself and serves
# its own HTTP, so the demo needs no iproute2, curl or python at run time.
DEMO_PKGS=(
  # toolchain; clang compiles the BPF programs (-target bpf)
  build-essential cmake ninja-build pkg-config clang
  # BPF
  libbpf-dev bpftool libelf-dev zlib1g-dev
  # netlink
  libnl-3-dev libnl-route-3-dev
  # C++ libraries fixed by design
  libboost-program-options-dev libboost-dev libyaml-cpp-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  # the agent's live /metrics endpoint; sd_notify and the watchdog under systemd
  prometheus-cpp-dev libsystemd-dev
  # sha256 of experiments in the API's audit log (libcrypto)
  libssl-dev
)

# Everything else: the tests, the fuzz tier, the benchmarks.
TEST_PKGS=(
  # rebuilds in fresh build trees (the fuzz tree, a second checkout) come from the cache
  ccache
  # the fuzz tier (scripts/fuzz.sh): clang 16 with its libFuzzer and sanitizer runtimes (clang 14
  # cannot compile libstdc++ 12's std::expected); llvm-symbolizer for readable reports
  clang-16 libclang-rt-16-dev llvm
  # GoogleTest
  libgtest-dev libgmock-dev googletest
  # the root tier's permission tests make users and groups (useradd, groupadd)
  passwd
  # tests and benchmarks: cross-checks with iproute2, the report parsed back by python3
  iproute2 iptables procps psmisc curl python3
  # the vm tier
  qemu-system-x86 busybox-static cpio kmod xz-utils
  # the etcd family's tests and the etcd lab
  etcd-server etcd-client
  # the peers of the benchmarks
  iperf3 stress-ng
  # the unit tier renders the HTML report in headless Chromium (tests/unit/test_report_browser.cpp)
  chromium
)

case "$set_name" in
  demo) PKGS=("${DEMO_PKGS[@]}") ;;
  all) PKGS=("${DEMO_PKGS[@]}" "${TEST_PKGS[@]}") ;;
  --list-demo) printf '%s\n' "${DEMO_PKGS[@]}"; exit 0 ;;
  --list-all) printf '%s\n' "${DEMO_PKGS[@]}" "${TEST_PKGS[@]}"; exit 0 ;;
  *)
    echo "usage: $0 [demo|all|--list-demo|--list-all]   (default: all)" >&2
    exit 2
    ;;
esac

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps ($set_name): all ${#PKGS[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps ($set_name): missing packages (${missing[*]}); run as root" >&2
  exit 1
fi

echo "install-deps ($set_name): installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
# etcd-server's postinst may start a system etcd when an init system exists; we never want it.
if [ "$set_name" = all ] && pgrep -x etcd >/dev/null 2>&1 && [ -z "${CHAOS_KEEP_SYSTEM_ETCD:-}" ]; then
  pkill -x etcd || true
fi
