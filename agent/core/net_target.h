// Which network namespace a fault or probe acts in: a typed value shared by the network and
// etcd families and by probes.
#pragma once

#include <optional>
#include <string>

#include "core/fields.h"
#include "core/target.h"

namespace chaos {

// Where a network action or a probe acts: the one target block (core/target.h). Its network
// namespace is the target's: a cgroup, unit or process target's is that of the processes chosen.
using NetTarget = Target;

// The sandbox's names, shared by `chaosctl lab` (lab/lab.h), which makes them, and the agent's
// target resolution (kernel/target.h), which finds them: host H of lab L is the named netns
// "L-H" with its interface kLabInterface, and `lab: H` alone means H of the default lab.
inline constexpr const char* kLabDefaultName = "chaoslab";
inline constexpr const char* kLabInterface = "eth0";
std::string lab_netns_name(const std::string& lab, const std::string& host);  // "L-H"

// Reads the target of a network block or a probe: a `target:` block (core/target.h, every kind),
// or one of its short forms netns | pid | lab as keys of the block itself; none of them: the host.
std::optional<NetTarget> read_net_target(MapReader& r);

}  // namespace chaos
