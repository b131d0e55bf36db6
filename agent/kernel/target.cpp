#include "kernel/target.h"

#include <algorithm>

namespace chaos {

std::string lab_host_netns(const std::string& lab_spec) {
  auto slash = lab_spec.find('/');
  if (slash == std::string::npos) return lab_netns_name(kLabDefaultName, lab_spec);
  return lab_netns_name(lab_spec.substr(0, slash), lab_spec.substr(slash + 1));
}

Result<NetWorkloads> resolve_net_workloads(const NetTarget& t) {
  // Cgroup paths only name what was chosen; the memory hierarchy's are the ones the matches carry.
  auto h = cgroup::find_hierarchy("memory");
  if (!h) return wrap(h.error(), "target " + t.str() + ": find a cgroup hierarchy");
  auto set = resolve_workloads(t, *h);
  if (!set) return std::unexpected(set.error());
  NetWorkloads out;
  std::vector<NetnsId> seen;
  for (const Workload* w : set->chosen()) {
    bool found_one = false;
    for (pid_t pid : w->pids) {
      auto id = netns_id("/proc/" + std::to_string(pid) + "/ns/net");
      if (!id) continue;  // exited since
      found_one = true;
      if (std::find(seen.begin(), seen.end(), *id) != seen.end()) continue;
      seen.push_back(*id);
      NetTarget p;
      p.kind = NetTarget::Kind::pid;
      p.pid = pid;
      p.loc = t.loc;
      std::string label = w->pids.size() == 1 ? w->label : w->label + " (pid " + std::to_string(pid) + ")";
      out.namespaces.push_back({label, p});
    }
    if (!found_one)
      return fail("target " + t.str() + ": " + w->label + " has no running process, so no network namespace", ENOENT);
  }
  out.set = std::move(*set);
  return out;
}

Result<ResolvedTarget> resolve_net_target(const NetTarget& t) {
  if (t.is_workload()) {
    auto w = resolve_net_workloads(t);
    if (!w) return std::unexpected(w.error());
    if (w->namespaces.size() != 1) {
      std::string where;
      for (const auto& n : w->namespaces) where += (where.empty() ? "" : ", ") + n.label;
      return fail("target " + t.str() + ": the chosen processes live in " + std::to_string(w->namespaces.size()) +
                      " network namespaces (" + where + "); this acts from one: narrow the target or use mode one",
                  EINVAL);
    }
    auto r = resolve_net_target(w->namespaces.front().pinned);
    if (r) r->netns.describe = w->namespaces.front().label;
    return r;
  }
  ResolvedTarget out;
  Result<NetnsRef> ref;
  switch (t.kind) {
    case NetTarget::Kind::host: ref = resolve_host_netns(); break;
    case NetTarget::Kind::netns: ref = resolve_named_netns(t.name); break;
    case NetTarget::Kind::pid: ref = resolve_pid_netns(t.pid); break;
    case NetTarget::Kind::cgroup:
    case NetTarget::Kind::unit:
    case NetTarget::Kind::process: break;  // above
    case NetTarget::Kind::lab: {
      std::string ns = lab_host_netns(t.name);
      ref = resolve_named_netns(ns);
      if (!ref) return fail("lab host " + t.name + " (netns " + ns + ") not found: is the lab up? (chaosctl lab up)",
                            ref.error().code);
      ref->describe = "lab host " + t.name + " (netns " + ns + ")";
      out.lab_interface = kLabInterface;
      break;
    }
  }
  if (!ref) return std::unexpected(ref.error());
  out.netns = *ref;
  auto root = is_root_netns(out.netns.path);
  if (!root) return std::unexpected(root.error());
  out.is_root = *root;
  return out;
}

}  // namespace chaos
