#include "core/net_target.h"

namespace chaos {

std::string lab_netns_name(const std::string& lab, const std::string& host) { return lab + "-" + host; }

std::string NetTarget::str() const {
  switch (kind) {
    case Kind::host: return "host";
    case Kind::netns: return "netns " + name;
    case Kind::pid: return "pid " + std::to_string(pid);
    case Kind::lab: return "lab " + name;
  }
  return "?";
}

// Reads the target keys shared by network blocks and probes: netns | pid | lab (none: host).
std::optional<NetTarget> read_net_target(MapReader& r) {
  NetTarget t;
  int n = 0;
  if (r.has("netns")) ++n;
  if (r.has("pid")) ++n;
  if (r.has("lab")) ++n;
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
