// The probes' shared scheduler: open loop, so a stalled target shows up as errors at the true
// rate (no coordinated omission) and recovery is seen within one interval of happening.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>

#include "observe/probe.h"

namespace chaos {

// Starts request(t) every `interval` (t: the run clock at the start) on a short-lived thread
// created from the calling thread, so each request runs in the namespace the caller entered.
// At most max_inflight run at once; past that, saturated(t) is called instead. Returns once
// `stop` is set, after joining every request.
void run_open_loop(const RunClock& clock, Duration interval, const std::atomic<bool>& stop,
                   const std::function<void(Duration t)>& request,
                   const std::function<void(Duration t, std::size_t max_inflight)>& saturated,
                   std::size_t max_inflight = 64);

}  // namespace chaos
