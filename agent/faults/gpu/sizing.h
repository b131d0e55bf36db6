// The arithmetic of the gpu fault, kept pure so the unit tests cover every edge: how many bytes
// a memory request means on a given GPU, in which steps they are reached, and how many SMs an
// sm request means.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/result.h"
#include "faults/gpu/spec.h"

namespace chaos::gpu {

// Default size of one VMM step (cuMemCreate + cuMemMap + cuMemsetD8), rounded to the granularity.
inline constexpr std::uint64_t kDefaultStepBytes = 2ull << 30;

// Bytes to hold: always a whole number of granularity units.
//   bytes:    the request rounded up to the granularity (the driver maps no less);
//   fraction: total * fraction rounded down (never more than asked);
//   leave:    (free - leave) rounded down, so at least `leave` stays free.
// Errors when the result does not fit into `free` or would be zero, and when it would pass the
// agent's cap (max_fraction of total). Messages name the field and both sides.
Result<std::uint64_t> memory_target(const MemoryRequest& req, std::uint64_t total, std::uint64_t free,
                                    std::uint64_t granularity, std::optional<double> max_fraction = std::nullopt);

// Step size: `preferred` rounded down to the granularity, at least one granularity unit.
std::uint64_t step_bytes(std::uint64_t granularity, std::uint64_t preferred = kDefaultStepBytes);

// The sizes of the steps that reach `target` (a multiple of the step's granularity): full steps,
// then the remainder.
std::vector<std::uint64_t> memory_steps(std::uint64_t target, std::uint64_t step);

// SMs to keep busy. Absent: every SM. count: as given, an error above the GPU's SM count.
// fraction: rounded to the nearest whole SM (halves up), at least 1.
Result<int> sm_target(const std::optional<SmRequest>& req, int sm_total);

// Grid for one burst: enough blocks that every SM sees one even when some land twice.
unsigned burst_grid(int sm_total);

// Duty-cycle on-time of one burst; UINT64_MAX (run until the lease or stop) at 100%.
std::uint64_t burst_on_ns(double duty, std::uint64_t period_ns);

}  // namespace chaos::gpu
