// The hog: the body of the worker process the memory fault places in the target cgroup. It maps
// anonymous memory and writes one byte into every page (so every page is really allocated and
// charged to the cgroup it lives in), at a bounded rate, then holds it until the agent kills it
// or its lease lapses.
#pragma once

#include <cstdint>
#include <string>

#include "kernel/cgroup.h"
#include "kernel/worker.h"

namespace chaos::memory {

struct HogParams {
  std::uint64_t bytes = 0;  // what to hold; in oom mode the cap
  std::uint64_t rate = 0;   // bytes per second; 0: as fast as the kernel allows
  // oom mode: stop growing once the target's oom_kill counter moves past oom_kill_base, and hold
  // (a hog at oom_score_adj -1000 that kept growing would spin in the fault path once nothing
  // else is left to kill).
  bool until_oom = false;
  std::string events_file;  // v2 memory.events, v1 memory.oom_control (both carry "oom_kill N")
  std::uint64_t oom_kill_base = 0;
};

// Slots in WorkerShared the hog reports through.
enum HogCounter : int {
  kHogTouchedBytes = 0,  // bytes written so far (resident: there is no swap to push them out to)
  kHogOomSeenNs = 1,     // CLOCK_MONOTONIC when the hog saw the first OOM kill (0: not yet)
  kHogStartNs = 2,       // CLOCK_MONOTONIC when the hog started allocating
  kHogFullNs = 3,        // CLOCK_MONOTONIC when it stopped growing (size reached or OOM seen)
};
enum class HogPhase : std::uint32_t {
  gated = 0,     // waiting to be released
  growing = 1,   // allocating at the rate
  holding = 2,   // reached its size
  oom_seen = 3,  // oom mode: the OOM killer fired; holding what it has
  capped = 4,    // oom mode: reached its cap without an OOM kill; holding
  failed = 5,    // could not map memory or read the events file
};
const char* hog_phase_name(HogPhase p);

// The hog's exit status when its lease ran out but the lease timer's SIGKILL never came.
inline constexpr int kHogLeaseExit = 4;

// Runs in the worker child. Returns the exit status.
int run_hog(WorkerControl& ctl, const HogParams& params);

}  // namespace chaos::memory
