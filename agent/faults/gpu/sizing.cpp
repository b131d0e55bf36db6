#include "faults/gpu/sizing.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace chaos::gpu {

namespace {

std::string pct(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g%%", fraction * 100.0);
  return buf;
}

std::uint64_t round_down(std::uint64_t v, std::uint64_t g) { return v / g * g; }
std::uint64_t round_up(std::uint64_t v, std::uint64_t g) { return (v + g - 1) / g * g; }

}  // namespace

Result<std::uint64_t> memory_target(const MemoryRequest& req, std::uint64_t total, std::uint64_t free,
                                    std::uint64_t granularity, std::optional<double> max_fraction) {
  if (granularity == 0) return fail("memory: allocation granularity is 0", EINVAL);
  const std::string have = format_bytes(free) + " free of " + format_bytes(total);
  std::uint64_t target = 0;
  switch (req.mode) {
    case MemoryRequest::Mode::bytes:
      target = round_up(req.bytes, granularity);
      if (target > free)
        return fail("memory.bytes " + format_bytes(req.bytes) + ": does not fit, the GPU has " + have, ENOMEM);
      break;
    case MemoryRequest::Mode::fraction: {
      long double want = static_cast<long double>(total) * req.fraction;
      target = round_down(static_cast<std::uint64_t>(want), granularity);
      if (target == 0)
        return fail("memory.fraction " + format_number(req.fraction) + ": less than one " +
                    format_bytes(granularity) + " allocation step of " + format_bytes(total), EINVAL);
      if (target > free)
        return fail("memory.fraction " + format_number(req.fraction) + " (" + format_bytes(target) +
                    "): does not fit, the GPU has " + have, ENOMEM);
      break;
    }
    case MemoryRequest::Mode::leave:
      if (req.bytes >= free)
        return fail("memory.leave " + format_bytes(req.bytes) + ": nothing to hold, the GPU has only " + have, ENOMEM);
      target = round_down(free - req.bytes, granularity);
      if (target == 0)
        return fail("memory.leave " + format_bytes(req.bytes) + ": leaves less than one " +
                    format_bytes(granularity) + " allocation step to hold (" + have + ")", ENOMEM);
      break;
  }
  if (max_fraction && static_cast<long double>(target) > static_cast<long double>(total) * *max_fraction)
    return refuse("memory: holding " + format_bytes(target) + " (" + pct(double(target) / double(total)) + " of " +
                format_bytes(total) + ") is above the agent's max_gpu_memory_fraction " + pct(*max_fraction));
  return target;
}

std::uint64_t step_bytes(std::uint64_t granularity, std::uint64_t preferred) {
  if (granularity == 0) return preferred;
  return std::max(granularity, round_down(preferred, granularity));
}

std::vector<std::uint64_t> memory_steps(std::uint64_t target, std::uint64_t step) {
  std::vector<std::uint64_t> out;
  if (step == 0) return out;
  for (std::uint64_t done = 0; done < target; done += step) out.push_back(std::min(step, target - done));
  return out;
}

Result<int> sm_target(const std::optional<SmRequest>& req, int sm_total) {
  if (sm_total <= 0) return fail("sm: the GPU reports no SMs", EINVAL);
  if (!req) return sm_total;
  if (req->mode == SmRequest::Mode::count) {
    if (req->count < 1) return fail("sm.count " + std::to_string(req->count) + ": expected at least 1", EINVAL);
    if (req->count > sm_total)
      return fail("sm.count " + std::to_string(req->count) + ": the GPU has only " + std::to_string(sm_total) +
                  " SMs", ERANGE);
    return req->count;
  }
  long n = std::lround(req->fraction * sm_total);
  return static_cast<int>(std::clamp<long>(n, 1, sm_total));
}

unsigned burst_grid(int sm_total) { return static_cast<unsigned>(std::max(1, sm_total)) * 4u; }

std::uint64_t burst_on_ns(double duty, std::uint64_t period_ns) {
  if (duty >= 1.0) return ~0ull;
  return static_cast<std::uint64_t>(std::llround(duty * static_cast<double>(period_ns)));
}

}  // namespace chaos::gpu
