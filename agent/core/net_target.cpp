#include "core/net_target.h"

namespace chaos {

std::string lab_netns_name(const std::string& lab, const std::string& host) { return lab + "-" + host; }

std::optional<NetTarget> read_net_target(MapReader& r) {
  NetTarget t;
  int n = 0;
  if (r.has("netns")) ++n;
  if (r.has("pid")) ++n;
  if (r.has("lab")) ++n;
  if (r.has("target")) {
    if (n > 0) {
      r.node().error("target excludes netns, pid and lab (their short forms): give one of them");
      r.child("netns"), r.child("pid"), r.child("lab"), r.child("target");
      return std::nullopt;
    }
    using K = Target::Kind;
    return read_target_block(*r.child("target"), {K::host, K::lab, K::netns, K::pid, K::cgroup, K::unit, K::process},
                             "a network target");
  }
  if (n > 1) {
    r.node().error("netns, pid and lab exclude each other: give at most one (none means the host)");
    r.child("netns"), r.child("pid"), r.child("lab");
    return std::nullopt;
  }
  if (auto v = r.str("netns")) {
    t.kind = NetTarget::Kind::netns;
    t.name = *v;
    if (v->empty() || v->find('/') != std::string::npos)
      r.child("netns")->error("\"" + *v + "\": expected a network namespace name as in /run/netns");
  } else if (auto p = r.integer("pid", 1, 4194304)) {
    t.kind = NetTarget::Kind::pid;
    t.pid = static_cast<int>(*p);
  } else if (auto l = r.str("lab")) {
    t.kind = NetTarget::Kind::lab;
    t.name = *l;
  }
  return t;
}

}  // namespace chaos
