// Resolution and guardrails shared by every network action: which namespace, which interface,
// and whether the agent's config allows touching it.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"
#include "core/result.h"
#include "faults/network/spec.h"
#include "kernel/target.h"
#include "kernel/tc_attach.h"

namespace chaos::network {

struct ResolvedInterface {
  ResolvedTarget target;
  std::string interface;
  int ifindex = 0;
};

// Resolves spec.target + spec.interface and applies the guardrails:
//  - the interface that carries the root namespace's default route is refused unless
//    guardrails.allowDefaultRouteInterface is true;
//  - a partition in the host's namespace that would match a protected port (SSH, by default)
//    is refused unless the block says allowProtectedPorts: true.
Result<ResolvedInterface> resolve_interface(const NetworkSpec& spec, const AgentConfig& config);

// What a classifier-driven action (partition, netem) settles before it loads anything: the
// interface (resolve_interface, guardrails included), the attach mode the agent's config names,
// the cgroup id of match.cgroup (0: none) and the directions the spec asks for, egress first.
struct ClassifierTarget {
  ResolvedInterface where;
  kernel::AttachMode mode = kernel::AttachMode::automatic;
  std::uint64_t cgroup_id = 0;
  std::vector<kernel::TcDirection> dirs;
};
Result<ClassifierTarget> resolve_classifier_target(const NetworkSpec& spec, const AgentConfig& config);

}  // namespace chaos::network
