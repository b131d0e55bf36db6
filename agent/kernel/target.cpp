#include "kernel/target.h"

namespace chaos {

std::string lab_host_netns(const std::string& lab_spec) {
  auto slash = lab_spec.find('/');
  if (slash == std::string::npos) return lab_netns_name(kLabDefaultName, lab_spec);
  return lab_netns_name(lab_spec.substr(0, slash), lab_spec.substr(slash + 1));
}

Result<ResolvedTarget> resolve_net_target(const NetTarget& t) {
  ResolvedTarget out;
  Result<NetnsRef> ref;
  switch (t.kind) {
    case NetTarget::Kind::host: ref = resolve_host_netns(); break;
    case NetTarget::Kind::netns: ref = resolve_named_netns(t.name); break;
    case NetTarget::Kind::pid: ref = resolve_pid_netns(t.pid); break;
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
