// Resolves the user's words for "where" (host, netns NAME, pid N, lab HOST) to a namespace.
#pragma once

#include <string>

#include "core/net_target.h"
#include "core/result.h"
#include "kernel/netns.h"

namespace chaos {

struct ResolvedTarget {
  NetnsRef netns;
  bool is_root = false;       // the host's own namespace
  std::string lab_interface;  // kLabInterface for lab hosts, empty otherwise
};

// Lab hosts: "client" is host client of the default lab (kLabDefaultName); "mylab/client" names
// the lab. Both resolve to the named netns lab_netns_name(LAB, HOST) that `chaosctl lab up` makes.
std::string lab_host_netns(const std::string& lab_spec);

Result<ResolvedTarget> resolve_net_target(const NetTarget& t);

}  // namespace chaos
