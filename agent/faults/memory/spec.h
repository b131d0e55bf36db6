// The memory family's block:
//   memory:
//     target: {cgroup: PATH-OR-GLOB | unit: NAME.service | pid: N | process: {...}, mode: ...}
//                                    (core/target.h; several cgroups chosen: one hog in each)
//     size: 512MiB | fraction: 0.9   (fraction of the target's memory limit; one of them is
//                                     required in pressure mode, optional in oom mode where it caps
//                                     the hog, which otherwise grows up to the limit)
//     rate: 256MiB/s                 (optional; absent: as fast as the kernel allows)
//     mode: pressure | oom           (default pressure)
//     victim: workload | hog         (default: hog in pressure mode, workload in oom mode)
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/experiment.h"
#include "core/fields.h"
#include "core/target.h"

namespace chaos::memory {

// The one target block; memory takes the kinds that name a cgroup: cgroup, unit, pid, process.
using MemoryTarget = Target;

enum class Mode { pressure, oom };
const char* mode_name(Mode m);

// Whom the OOM killer should take: the workload (the hog gets oom_score_adj -1000) or the hog
// itself (+1000), so the workload only feels the pressure.
enum class Victim { workload, hog };
const char* victim_name(Victim v);
int victim_oom_score_adj(Victim v);

// The smallest hog: one page. A smaller size is refused by the parser and by the importer.
inline constexpr std::uint64_t kMinHogBytes = 4096;

struct MemorySpec : FaultSpec {
  MemoryTarget target;
  std::optional<std::uint64_t> size;  // bytes
  std::optional<double> fraction;     // (0, 1] of the target's effective limit
  std::optional<std::uint64_t> rate;  // bytes per second
  Mode mode = Mode::pressure;
  Victim victim = Victim::hog;

  nlohmann::json to_json() const override;
};

// Reads the `memory:` block strictly (the family's FaultSpecParser).
std::shared_ptr<const FaultSpec> parse_memory_spec(MapReader& r);

}  // namespace chaos::memory
