#include "faults/memory/hog.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14; glibc 2.36 headers may lack it
#endif

namespace chaos::memory {

namespace {

// The oom_kill counter from an already open events file (pread from 0: no allocation, no
// reopen). Both v1 memory.oom_control and v2 memory.events carry an "oom_kill N" line.
bool read_oom_kill(int fd, std::uint64_t& out) {
  char buf[512];
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return false;
  buf[n] = 0;
  for (char* p = buf; (p = std::strstr(p, "oom_kill ")) != nullptr; p += 9) {
    // Skip "oom_kill_disable": the key must start a line.
    if (p != buf && p[-1] != '\n') continue;
    out = std::strtoull(p + 9, nullptr, 10);
    return true;
  }
  return false;
}

void sleep_ns(std::uint64_t ns) {
  struct timespec ts{static_cast<time_t>(ns / 1000000000ull), static_cast<long>(ns % 1000000000ull)};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// checkpoint() said stop. The memory fault never asks the hog to stop (revert kills it), so this
// is the lease: it has run out, and the timer armed at that deadline is delivering SIGKILL. Wait
// for it instead of exiting cleanly first, so that the exit status says what ended the hog
// ("killed by SIGKILL"), however late the kernel gets the signal to us. Only if none comes (the
// timer could not be re-armed) does it give up after a second with its own status.
int lease_ran_out(WorkerControl& ctl) {
  if (ctl.shared().stop.load(std::memory_order_acquire) != 0) return 0;
  for (int i = 0; i < 100; ++i) sleep_ns(10'000'000);
  return kHogLeaseExit;
}

}  // namespace

const char* hog_phase_name(HogPhase p) {
  switch (p) {
    case HogPhase::gated: return "gated";
    case HogPhase::growing: return "growing";
    case HogPhase::holding: return "holding";
    case HogPhase::oom_seen: return "oom-seen";
    case HogPhase::capped: return "capped";
    case HogPhase::failed: return "failed";
  }
  return "?";
}

int run_hog(WorkerControl& ctl, const HogParams& p) {
  auto& sh = ctl.shared();
  auto set_phase = [&](HogPhase ph) { sh.phase.store(static_cast<std::uint32_t>(ph), std::memory_order_release); };
  const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::uint64_t bytes = (p.bytes + page - 1) / page * page;

  int events_fd = -1;
  if (p.until_oom) {
    events_fd = ::open(p.events_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (events_fd < 0) {
      set_phase(HogPhase::failed);
      return 2;
    }
  }
  // MAP_NORESERVE: the address space is only a reservation; the pages are charged as they are
  // written, which is exactly the pace the rate controls.
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) {
    set_phase(HogPhase::failed);
    return 3;
  }
  auto* base = static_cast<volatile unsigned char*>(mem);
  // Small pages only: THP would charge 2MiB at a time and, with defrag, stall in compaction
  // (measured here: 0.15s to 3.2s for the same 400MiB).
  ::madvise(mem, bytes, MADV_NOHUGEPAGE);
  // MADV_POPULATE_WRITE (5.14+) faults a whole step in with one call instead of one trap per
  // page: about 25% faster here. Older kernels say EINVAL and we touch page by page.
  bool populate = true;

  // Steps small enough that the rate is smooth and an OOM kill is noticed within about a
  // millisecond of work, large enough that the clock and the events file are cheap.
  const std::uint64_t step = std::max<std::uint64_t>(page, p.rate ? std::min<std::uint64_t>(1 << 20, p.rate / 200) : 1 << 20) / page * page;
  const std::uint64_t t0 = monotonic_ns();
  sh.counters[kHogStartNs].store(t0);
  set_phase(HogPhase::growing);

  std::uint64_t touched = 0;
  HogPhase done = HogPhase::holding;
  while (touched < bytes) {
    if (!ctl.checkpoint()) return lease_ran_out(ctl);
    if (p.rate) {
      // Where the rate says we may be by now; sleep until the next step is due.
      std::uint64_t elapsed = monotonic_ns() - t0;
      long double allowed = static_cast<long double>(p.rate) * elapsed / 1e9L;
      if (static_cast<long double>(touched + step) > allowed) {
        long double due_ns = static_cast<long double>(touched + step) * 1e9L / p.rate;
        sleep_ns(static_cast<std::uint64_t>(due_ns) > elapsed ? static_cast<std::uint64_t>(due_ns) - elapsed : 0);
        continue;
      }
    }
    std::uint64_t end = std::min(bytes, touched + step);
    if (populate && ::madvise(static_cast<char*>(mem) + touched, end - touched, MADV_POPULATE_WRITE) != 0) {
      if (errno == EINVAL) populate = false;
      // Any other failure (ENOMEM when the OOM killer found nothing to take, EINTR): touch
      // this step by hand, which waits in the fault path like any program would.
      for (std::uint64_t off = touched; off < end; off += page) base[off] = 1;
    } else if (!populate) {
      for (std::uint64_t off = touched; off < end; off += page) base[off] = 1;
    }
    touched = end;
    sh.counters[kHogTouchedBytes].store(touched, std::memory_order_release);
    if (events_fd >= 0) {
      std::uint64_t kills = 0;
      if (read_oom_kill(events_fd, kills) && kills > p.oom_kill_base) {
        sh.counters[kHogOomSeenNs].store(monotonic_ns());
        done = HogPhase::oom_seen;
        break;
      }
    }
  }
  if (done != HogPhase::oom_seen && p.until_oom) done = HogPhase::capped;
  sh.counters[kHogFullNs].store(monotonic_ns());
  set_phase(done);

  // Hold. The pages stay resident (no swap); checkpoint() keeps the lease timer current.
  while (ctl.checkpoint()) {
    if (events_fd >= 0 && done == HogPhase::capped) {
      std::uint64_t kills = 0;
      if (read_oom_kill(events_fd, kills) && kills > p.oom_kill_base && sh.counters[kHogOomSeenNs].load() == 0)
        sh.counters[kHogOomSeenNs].store(monotonic_ns());
    }
    sleep_ns(10'000'000);
  }
  return lease_ran_out(ctl);
}

}  // namespace chaos::memory
