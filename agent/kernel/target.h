// Resolves the user's words for "where" (host, netns NAME, pid N, lab HOST) to a namespace.
#pragma once

#include <string>

#include "core/net_target.h"
#include "core/result.h"
#include "kernel/netns.h"

namespace chaos {

inline constexpr const char* kDefaultLabName = "chaoslab";

struct ResolvedTarget {
  NetnsRef netns;
  bool is_root = false;       // the host's own namespace
  std::string lab_interface;  // "eth0" for lab hosts, empty otherwise
};

// Lab hosts: "client" is host client of the default lab ("chaoslab"); "mylab/client" names the lab.
// Both resolve to the named netns LAB-HOST that `chaosctl lab up` creates.
std::string lab_host_netns(const std::string& lab_spec);

Result<ResolvedTarget> resolve_net_target(const NetTarget& t);

}  // namespace chaos
