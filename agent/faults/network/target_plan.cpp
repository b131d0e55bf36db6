#include "faults/network/target_plan.h"

#include "faults/network/config.h"
#include "kernel/cgroup.h"
#include "kernel/netlink.h"

namespace chaos::network {

namespace {

bool ports_hit(const std::vector<PortRange>& match, const PortRange& protected_range) {
  if (match.empty()) return true;  // any port
  for (const auto& m : match)
    if (m.lo <= protected_range.hi && protected_range.lo <= m.hi) return true;
  return false;
}

}  // namespace

Result<ResolvedInterface> resolve_interface(const NetworkSpec& spec, const AgentConfig& config) {
  ResolvedInterface out;
  auto t = resolve_net_target(spec.target);
  if (!t) return std::unexpected(t.error());
  out.target = *t;
  out.interface = spec.interface.empty() ? t->lab_interface : spec.interface;
  auto sk = NetlinkSocket::open_in(t->netns.path);
  if (!sk) return wrap(sk.error(), "netlink in " + t->netns.describe);
  if (out.interface.empty()) {
    // No interface given: the one that carries the target namespace's default route.
    auto defaults = default_route_interfaces(*sk);
    if (!defaults) return wrap(defaults.error(), "reading the default routes of " + t->netns.describe);
    if (defaults->empty())
      return fail("no interface given, and " + t->netns.describe +
                      " has no default route to pick one by: write interface: NAME", ENOENT);
    if (defaults->size() > 1) {
      std::string names;
      for (const auto& d : *defaults) names += (names.empty() ? "" : ", ") + d.name;
      return fail("no interface given, and " + t->netns.describe + " has default routes on " + names +
                      ": write interface: NAME", EINVAL);
    }
    out.interface = defaults->front().name;
  }
  auto idx = ifindex_by_name(*sk, out.interface);
  if (!idx) return fail("interface " + out.interface + " not found in " + t->netns.describe, idx.error().code);
  out.ifindex = *idx;

  if (t->is_root) {
    if (!config.allow_default_route_interface) {
      auto defaults = default_route_interfaces(*sk);
      if (!defaults) return wrap(defaults.error(), "reading the host's default routes (guardrail)");
      for (const auto& d : *defaults)
        if (d.ifindex == out.ifindex)
          return refuse("interface " + out.interface + " carries the host's default route: refused by the guardrail "
                      "(set guardrails.allowDefaultRouteInterface: true in the agent config to allow it)");
    }
    if (spec.action == Action::partition && !spec.allow_protected_ports &&
        (spec.match.protocol == Protocol::any || spec.match.protocol == Protocol::tcp ||
         spec.match.protocol == Protocol::udp)) {
      for (const auto& p : config.protected_ports)
        if (ports_hit(spec.match.ports, p))
          return refuse("a partition in the host's namespace would match protected port " + std::to_string(p.lo) +
                          (p.hi != p.lo ? "-" + std::to_string(p.hi) : "") +
                          " (SSH, the agent's API): list match.ports that exclude it, or set "
                          "allowProtectedPorts: true");
    }
  }
  return out;
}

Result<ClassifierTarget> resolve_classifier_target(const NetworkSpec& spec, const AgentConfig& config) {
  ClassifierTarget out;
  auto where = resolve_interface(spec, config);
  if (!where) return std::unexpected(where.error());
  out.where = std::move(*where);
  out.mode = config_of(config).attach;
  if (!spec.match.cgroup.empty()) {
    auto id = cgroup::v2_id(spec.match.cgroup);
    if (!id) return wrap(id.error(), "match.cgroup");
    out.cgroup_id = *id;
  }
  if (spec.direction != Direction::ingress) out.dirs.push_back(kernel::TcDirection::egress);
  if (spec.direction != Direction::egress) out.dirs.push_back(kernel::TcDirection::ingress);
  return out;
}

}  // namespace chaos::network
