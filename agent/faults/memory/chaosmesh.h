// Chaos Mesh StressChaos (memory stressor) to a native experiment, for `chaosctl import`.
//
//   stressors.memory.size     "256MB", "1GiB" -> size; "25%" -> fraction 0.25 (of the target's
//                              limit here; Chaos Mesh takes it of the machine's memory)
//   stressors.memory.oomScoreAdj  < 0 -> mode oom, victim workload (the stressor is protected, so
//                              the limit is reached and the workload is killed); >= 0 or absent
//                              -> mode pressure, victim hog
//   stressors.memory.workers  folded into one hog: the total size is what counts
//   stressors.memory.time     the time to reach size -> rate = size / time (absolute sizes only)
//   spec.duration             the fault's duration (the run's cap adds a little margin)
// Refused with a reason: stressors.cpu (no CPU family), stressngStressors and memory.options
// (raw stress-ng flags), kinds other than StressChaos, a missing memory stressor.
// Selectors (mode, selector, containerNames) name pods; on a node the caller resolves them and
// passes the target.
#pragma once

#include <optional>
#include <string>

#include "core/fields.h"
#include "core/result.h"
#include "core/units.h"
#include "faults/fault.h"
#include "faults/memory/spec.h"

namespace chaos::memory {

// The native experiment for a StressChaos spec (the object's `spec`, or a Schedule's
// `spec.stressChaos`) named `name`, as YAML text (apiVersion chaos-agent/v1). Errors are located at
// the field, with its path; what has no equivalent (cpu stressors, raw stress-ng options) is
// refused. default_duration is used when the spec has no duration (Chaos Mesh then runs until the
// object is deleted; chaos-agent runs always have a cap). Never throws, whatever the YAML holds.
Converted<std::string> convert_stresschaos_spec(const std::string& name, const YNode& spec, const MemoryTarget& target,
                                                std::optional<Duration> default_duration = std::nullopt);
// A whole manifest: checks apiVersion and kind, then converts its spec.
Converted<std::string> convert_stresschaos_memory(const YNode& manifest, const MemoryTarget& target,
                                                  std::optional<Duration> default_duration = std::nullopt);

// chaosctl's --target for a memory fault: cgroup:PATH, unit:NAME or pid:N (N from 1 to INT_MAX).
Result<MemoryTarget> parse_memory_target(const std::string& text);

// The family's converter for chaosctl import (FaultFamily::chaos_mesh): StressChaos memory
// stressors, --target cgroup:PATH | unit:NAME | pid:N (required: the selector names pods).
ChaosMeshConverter chaos_mesh_converter();

}  // namespace chaos::memory
