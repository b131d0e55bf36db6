// Resolves the user's words for "where" (host, netns NAME, pid N, lab HOST) to a namespace.
#pragma once

#include <string>

#include "core/net_target.h"
#include "core/result.h"
#include "kernel/netns.h"
#include "kernel/workload.h"

namespace chaos {

struct ResolvedTarget {
  NetnsRef netns;
  bool is_root = false;       // the host's own namespace
  std::string lab_interface;  // kLabInterface for lab hosts, empty otherwise
};

// Lab hosts: "client" is host client of the default lab (kLabDefaultName); "mylab/client" names
// the lab. Both resolve to the named netns lab_netns_name(LAB, HOST) that `chaosctl lab up` makes.
std::string lab_host_netns(const std::string& lab_spec);

// A namespace target (host, netns, pid, lab). A cgroup, unit or process target must choose
// processes that all live in one namespace (a probe acts from one place); the network family fans
// out over several with resolve_net_workloads().
Result<ResolvedTarget> resolve_net_target(const NetTarget& t);

// The network namespaces a cgroup, unit or process target's chosen processes live in: one pid
// target per distinct namespace (its first process there), in the order of the choice.
struct NetWorkloads {
  WorkloadSet set;
  struct Namespace {
    std::string label;   // "pid 12 (python3)", or "cgroup /a (pid 12)": what was chosen, and where
    NetTarget pinned;    // Kind::pid
  };
  std::vector<Namespace> namespaces;
};
Result<NetWorkloads> resolve_net_workloads(const NetTarget& t);

}  // namespace chaos
