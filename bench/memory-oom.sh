#!/usr/bin/env bash
# Time from fault start to the first OOM kill in a 512MiB cgroup: chaos-agent's memory fault
# (mode oom, victim hog, as fast as it can) next to `stress-ng --vm 1 --vm-bytes 1g --vm-keep` in
# the same kind of cgroup, alternating, RUNS times each; medians and their ratio. A third row shows
# the rate control stress-ng lacks (rate 256MiB/s: 512MiB should take about 2s).
#
# Both arms are timed by the same driver the same way: t0 just before the hog is applied (ours) or
# stress-ng is forked (theirs), then the cgroup's oom_kill counter is polled every 0.5ms.
#
# Usage: sudo bench/memory-oom.sh [BUILD_DIR] [RUNS] [--write]
#   BUILD_DIR  the CMake build dir holding agent/libchaos_{fault_memory,kernel,core}.a (default build)
#   RUNS       runs per arm (default 7)
#   --write    also replace the "## Memory" section of docs/benchmarks.md (RESULTS=file to override)
# Needs root, a memory cgroup controller (v1 or v2), stress-ng, and a build of the agent's libraries.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$ROOT/build RUNS=7 WRITE=
for a in "$@"; do
  case "$a" in
    --write) WRITE=1 ;;
    *[!0-9]*) BUILD=$(cd "$a" && pwd) ;;
    *) RUNS=$a ;;
  esac
done
RESULTS=${RESULTS:-$ROOT/docs/benchmarks.md}
WORK=$(mktemp -d /tmp/chaos-bench-memory.XXXXXX)
DRIVER=$WORK/memory-oom-driver

[ "$(id -u)" -eq 0 ] || { echo "memory-oom: needs root" >&2; exit 1; }
command -v stress-ng >/dev/null || { echo "memory-oom: stress-ng missing (scripts/install-deps.sh)" >&2; exit 1; }
for lib in chaos_fault_memory chaos_kernel chaos_core; do
  [ -f "$BUILD/agent/lib$lib.a" ] || { echo "memory-oom: $BUILD/agent/lib$lib.a missing: build first (make build)" >&2; exit 1; }
done

cleanup() {
  # Kill anything left in our cgroups, then remove them and the scratch dir.
  for cg in $(find /sys/fs/cgroup -maxdepth 2 -type d -name "chaos-bench-$$-*" 2>/dev/null); do
    for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    for _ in $(seq 50); do rmdir "$cg" 2>/dev/null && break; sleep 0.05; done
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

cat > "$WORK/driver.cpp" <<'EOF'
// memory-oom-driver ours|stressng CGDIR [RATE_BYTES_PER_S]: prints the ms to the first OOM kill.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <cstdlib>
#include "core/journal.h"
#include "faults/memory/memory_fault.h"
#include "kernel/cgroup.h"
#include "kernel/worker.h"
using namespace chaos;
static std::uint64_t kills(const cgroup::MemoryCgroup& cg) { return cg.events().value().oom_kill; }
int main(int argc, char** argv) {
  if (argc < 3) return 2;
  std::string mode = argv[1], dir = argv[2];
  auto h = cgroup::find_hierarchy("memory").value();
  auto path = cgroup::resolve_path(h, dir).value();
  auto cg = cgroup::MemoryCgroup::open(h, path).value();
  const std::uint64_t base = kills(cg);
  const auto timeout = std::chrono::seconds(60);
  std::unique_ptr<memory::MemoryFault> fault;
  pid_t stress = 0;
  AgentConfig cfg;
  cfg.lease = std::chrono::seconds(30);
  if (mode == "ours") {
    auto spec = std::make_shared<memory::MemorySpec>();
    spec->target.path = path.relative;
    spec->mode = memory::Mode::oom;
    spec->victim = memory::Victim::hog;
    if (argc > 3) spec->rate = std::stoull(argv[3]);
    // Journaled like the agent does it: two fsynced records before the hog may allocate.
    static std::unique_ptr<Journal> journal = Journal::open(std::getenv("CHAOS_BENCH_STATE")).value();
    FaultContext ctx;
    ctx.config = &cfg;
    ctx.journal = journal.get();
    ctx.run_id = "bench";
    fault = std::make_unique<memory::MemoryFault>(spec, ctx, "bench");
    if (auto p = fault->plan(); !p) { std::fprintf(stderr, "plan: %s\n", p.error().text().c_str()); return 1; }
  }
  auto t0 = std::chrono::steady_clock::now();
  if (fault) {
    if (auto r = fault->apply(); !r) { std::fprintf(stderr, "apply: %s\n", r.error().text().c_str()); return 1; }
  } else {
    stress = ::fork();
    if (stress == 0) {
      ::setpgid(0, 0);
      if (!cgroup::write_file(dir + "/cgroup.procs", std::to_string(::getpid()))) ::_exit(126);
      ::execlp("stress-ng", "stress-ng", "--vm", "1", "--vm-bytes", "1g", "--vm-keep", "-t", "60", "--quiet", (char*)nullptr);
      ::_exit(127);
    }
  }
  double ms = -1;
  while (std::chrono::steady_clock::now() - t0 < timeout) {
    if (kills(cg) > base) {
      ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      break;
    }
    if (fault) fault->renew(monotonic_ns() + 30'000'000'000ull);
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  if (fault) (void)fault->revert();
  if (stress > 0) {
    ::kill(-stress, SIGKILL);
    ::kill(stress, SIGKILL);
    ::waitpid(stress, nullptr, 0);
  }
  if (ms < 0) { std::fprintf(stderr, "no OOM kill within 60s\n"); return 1; }
  std::printf("%.1f\n", ms);
  return 0;
}
EOF

g++ -std=c++23 -O2 -I"$ROOT/agent" "$WORK/driver.cpp" -o "$DRIVER" \
  "$BUILD/agent/libchaos_fault_memory.a" "$BUILD/agent/libchaos_kernel.a" "$BUILD/agent/libchaos_core.a" \
  -lyaml-cpp -lspdlog -lfmt -lpthread

MOUNT=$(awk '$3=="cgroup" && $4 ~ /(^|,)memory(,|$)/ {print $2; exit}' /proc/self/mounts)
V=v1
if [ -z "$MOUNT" ]; then
  MOUNT=$(awk '$3=="cgroup2" {print $2; exit}' /proc/self/mounts)
  V=v2
  grep -qw memory "$MOUNT/cgroup.subtree_control" || echo +memory > "$MOUNT/cgroup.subtree_control"
fi

n=0
one_run() {  # ARM [RATE] -> ms on stdout, in a fresh 512MiB cgroup
  n=$((n + 1))
  local cg="$MOUNT/chaos-bench-$$-$n"
  mkdir "$cg"
  if [ $V = v1 ]; then echo 512M > "$cg/memory.limit_in_bytes"; else echo 512M > "$cg/memory.max"; echo 0 > "$cg/memory.swap.max" 2>/dev/null || true; fi
  local out
  out=$(CHAOS_BENCH_STATE="$WORK/state" "$DRIVER" "$1" "$cg" ${2:-} 2>"$WORK/err") || { cat "$WORK/err" >&2; out=NaN; }
  for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
  for _ in $(seq 50); do rmdir "$cg" 2>/dev/null && break; sleep 0.05; done
  echo "$out"
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }

ours=() theirs=() rated=()
for i in $(seq "$RUNS"); do
  # Alternate which arm goes first so drift on a shared machine hits both alike.
  if [ $((i % 2)) -eq 1 ]; then
    ours+=("$(one_run ours)"); theirs+=("$(one_run stressng)")
  else
    theirs+=("$(one_run stressng)"); ours+=("$(one_run ours)")
  fi
  echo "run $i: chaos-agent ${ours[-1]} ms, stress-ng ${theirs[-1]} ms" >&2
done
for i in $(seq 3); do rated+=("$(one_run ours $((256 << 20)))"); done

m_ours=$(printf '%s\n' "${ours[@]}" | median)
m_theirs=$(printf '%s\n' "${theirs[@]}" | median)
m_rated=$(printf '%s\n' "${rated[@]}" | median)
ratio=$(awk -v a="$m_ours" -v b="$m_theirs" 'BEGIN {printf "%.2f", a / b}')
date=$(date -u +%Y-%m-%d)
kernel=$(uname -r)

section=$(cat <<EOF
## Memory

Time from fault start to the first OOM kill in a 512MiB cgroup (cgroup $V, kernel $kernel, $(nproc) cores), $RUNS runs each, alternating; $date.

| arm | median | runs (ms) |
|-----|--------|-----------|
| chaos-agent memory fault (mode oom, victim hog, no rate limit) | ${m_ours} ms | ${ours[*]} |
| \`stress-ng --vm 1 --vm-bytes 1g --vm-keep\` | ${m_theirs} ms | ${theirs[*]} |
| chaos-agent with \`rate: 256MiB/s\` (stress-ng has no rate control; 512MiB at 256MiB/s is about 2000 ms) | ${m_rated} ms | ${rated[*]} |

Ratio chaos-agent / stress-ng: **${ratio}** (target: 1.2 or better).

Both arms are timed by one driver: t0 just before the fault's \`apply()\` (journal intent fsynced, hog
forked, pid and start time fsynced, cgroup joined, oom_score_adj set, gate opened) or the fork of stress-ng into the cgroup; the end is the first increase
of the cgroup's \`oom_kill\` counter, polled every 0.5 ms.

Reproduce: \`sudo bench/memory-oom.sh build $RUNS --write\` (after \`make build\`).
EOF
)

echo "$section"
[ -n "$WRITE" ] || { echo "memory-oom: not written to $RESULTS (add --write)" >&2; exit 0; }
mkdir -p "$(dirname "$RESULTS")"
[ -f "$RESULTS" ] || printf '# Benchmarks\n\nEach section: what was measured, against which peer, the numbers, the date and the command.\n' > "$RESULTS"
# Replace only the "## Memory" section (up to the next "## " heading), or append it.
SECTION="$section" python3 - "$RESULTS" <<'PY'
import os, re, sys
path = sys.argv[1]
text = open(path).read()
new = os.environ["SECTION"].rstrip() + "\n"
m = re.search(r"^## Memory\s*$", text, re.M)
if m:
    nxt = re.search(r"^## ", text[m.end():], re.M)
    end = m.end() + nxt.start() if nxt else len(text)
    text = text[:m.start()] + new + ("\n" if nxt else "") + text[end:]
else:
    text = text.rstrip() + "\n\n" + new
open(path, "w").write(text)
PY
echo "memory-oom: wrote the Memory section of $RESULTS" >&2
