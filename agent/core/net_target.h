// Which network namespace a fault or probe acts in: a typed value shared by the network and
// etcd families and by probes.
#pragma once

#include <optional>
#include <string>

#include "core/fields.h"

namespace chaos {

struct NetTarget {
  enum class Kind { host, netns, pid, lab } kind = Kind::host;
  std::string name;  // netns name, or lab host name ("client", "server")
  int pid = 0;
  std::string str() const;  // "host", "netns chaoslab-client", "pid 1234", "lab client"
};

// The sandbox's names, shared by `chaosctl lab` (lab/lab.h), which makes them, and the agent's
// target resolution (kernel/target.h), which finds them: host H of lab L is the named netns
// "L-H" with its interface kLabInterface, and `lab: H` alone means H of the default lab.
inline constexpr const char* kLabDefaultName = "chaoslab";
inline constexpr const char* kLabInterface = "eth0";
std::string lab_netns_name(const std::string& lab, const std::string& host);  // "L-H"

// Reads netns | pid | lab from a block (none of them: the host).
std::optional<NetTarget> read_net_target(MapReader& r);

}  // namespace chaos
