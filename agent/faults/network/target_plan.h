// Resolution and guardrails shared by every network action: which namespace, which interface,
// and whether the agent's config allows touching it.
#pragma once

#include <string>
#include <vector>

#include "core/config.h"
#include "core/result.h"
#include "faults/network/spec.h"
#include "kernel/target.h"

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

}  // namespace chaos::network
