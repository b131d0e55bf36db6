#include "faults/network/spec.h"

#include <algorithm>
#include <cctype>

namespace chaos::network {

bool valid_interface_name(const std::string& name) {
  // The kernel's dev_valid_name(): what `ip link` would refuse, refused here first.
  if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == '/' || c == ':' || std::isspace(static_cast<unsigned char>(c)) || c == '\0';
  });
}


const char* action_name(Action a) {
  switch (a) {
    case Action::partition: return "partition";
    case Action::delay: return "delay";
    case Action::loss: return "loss";
    case Action::duplicate: return "duplicate";
    case Action::corrupt: return "corrupt";
    case Action::reorder: return "reorder";
    case Action::rate: return "rate";
    case Action::netem: return "netem";
  }
  return "?";
}

const char* direction_name(Direction d) {
  switch (d) {
    case Direction::egress: return "egress";
    case Direction::ingress: return "ingress";
    case Direction::both: return "both";
  }
  return "?";
}

namespace {

Action to_action(const std::string& s) {
  if (s == "partition") return Action::partition;
  if (s == "delay") return Action::delay;
  if (s == "loss") return Action::loss;
  if (s == "duplicate") return Action::duplicate;
  if (s == "corrupt") return Action::corrupt;
  if (s == "reorder") return Action::reorder;
  if (s == "rate") return Action::rate;
  return Action::netem;
}

nlohmann::json percent_json(const Percent& p) { return format_percent(p); }

std::optional<PercentSpec> read_percent_block(MapReader& r, const std::string& key) {
  auto c = r.child(key);
  if (!c) return std::nullopt;
  MapReader b(*c);
  PercentSpec out;
  auto v = b.percent(key, true);
  if (v) out.value = *v;
  if (auto cor = b.percent("correlation")) out.correlation = *cor;
  b.finish();
  if (!v) return std::nullopt;
  return out;
}

}  // namespace

std::shared_ptr<const FaultSpec> parse_network_spec(MapReader& r) {
  auto spec = std::make_shared<NetworkSpec>();
  bool ok = true;
  auto action = r.one_of("action", {"partition", "delay", "loss", "duplicate", "corrupt", "reorder", "rate", "netem"},
                         true);
  if (action) spec->action = to_action(*action); else ok = false;
  if (auto t = read_net_target(r)) spec->target = *t; else ok = false;
  if (auto i = r.str("interface")) {
    if (!valid_interface_name(*i)) r.child("interface")->error("\"" + *i + "\": " + kInterfaceNameRule);
    spec->interface = *i;
  } else if (spec->target.kind == NetTarget::Kind::host && r.valid()) {
    r.node().error("missing required field interface (the host's interface is never a default; lab hosts default "
                   "to eth0, other targets to the interface of their namespace's default route)");
    ok = false;
  } else if (spec->target.kind == NetTarget::Kind::lab) {
    spec->interface = "eth0";
  }
  if (auto d = r.one_of("direction", {"egress", "ingress", "both"})) {
    spec->direction = *d == "egress" ? Direction::egress : *d == "ingress" ? Direction::ingress : Direction::both;
  }
  if (auto m = r.child("match")) {
    MapReader mr(*m);
    spec->match.cidrs = mr.cidrs("cidrs");
    if (auto p = mr.one_of("protocol", {"tcp", "udp", "icmp", "any"})) {
      spec->match.protocol = *p == "tcp" ? Protocol::tcp : *p == "udp" ? Protocol::udp
                           : *p == "icmp" ? Protocol::icmp : Protocol::any;
    }
    spec->match.ports = mr.ports("ports");
    if (spec->match.ports.size() > 16) mr.child("ports")->error("at most 16 ports or ranges");
    if (auto cg = mr.str("cgroup")) spec->match.cgroup = *cg;
    if (!spec->match.ports.empty() && spec->match.protocol != Protocol::tcp &&
        spec->match.protocol != Protocol::udp && spec->match.protocol != Protocol::any)
      mr.child("ports")->error("ports need protocol tcp, udp or any");
    mr.finish();
    if (!spec->match.cgroup.empty() && spec->direction != Direction::egress)
      m->error("match.cgroup works on egress only: expected direction egress");
  }
  if (auto v = r.boolean("allowProtectedPorts")) spec->allow_protected_ports = *v;

  // Netem parameters, named as in Chaos Mesh's NetworkChaos.
  if (auto c = r.child("delay")) {
    MapReader b(*c);
    DelaySpec d;
    auto lat = b.duration("latency", true);
    if (lat) d.latency = *lat;
    if (auto j = b.duration("jitter")) d.jitter = *j;
    if (auto cor = b.percent("correlation")) d.correlation = *cor;
    if (auto dist = b.one_of<kernel::NetemDistribution>("distribution")) {
      d.distribution = *dist;
      if (d.jitter.count() == 0) b.child("distribution")->error("a distribution needs a jitter above 0");
    }
    b.finish();
    if (lat) spec->delay = d;
  }
  if (auto c = r.child("loss")) {
    MapReader b(*c);
    LossSpec l;
    if (auto v = b.percent("loss")) l.loss = *v;
    if (auto cor = b.percent("correlation")) l.correlation = *cor;
    if (auto ge = b.child("gemodel")) {
      MapReader g(*ge);
      GilbertElliott m;
      auto p = g.percent("p", true), rr = g.percent("r", true);
      if (p) m.p = *p;
      if (rr) m.r = *rr;
      if (auto h = g.percent("h")) m.h = *h;
      if (auto k = g.percent("k")) m.k = *k;
      g.finish();
      if (p && rr) l.gemodel = m;
    }
    if (!b.has("loss") && !b.has("gemodel") && b.valid()) b.node().error("expected loss or gemodel");
    b.finish();
    spec->loss = l;
  }
  spec->duplicate = read_percent_block(r, "duplicate");
  spec->corrupt = read_percent_block(r, "corrupt");
  if (auto c = r.child("reorder")) {
    MapReader b(*c);
    ReorderSpec o;
    auto v = b.percent("reorder", true);
    if (v) o.reorder = *v;
    if (auto cor = b.percent("correlation")) o.correlation = *cor;
    if (auto g = b.integer("gap", 0, 1 << 30)) o.gap = static_cast<std::uint32_t>(*g);
    b.finish();
    if (v) spec->reorder = o;
  }
  if (auto c = r.child("rate")) {
    MapReader b(*c);
    auto v = b.rate("rate", true);
    b.finish();
    if (v) spec->rate = RateSpec{*v};
  }

  // Each action needs its parameter block; partition takes none.
  if (action && r.valid()) {
    auto need = [&](bool present, const char* block) {
      if (!present) {
        r.node().error(std::string("action ") + *action + " needs a " + block + " block");
        ok = false;
      }
    };
    bool any_netem = spec->delay || spec->loss || spec->duplicate || spec->corrupt || spec->reorder || spec->rate;
    switch (spec->action) {
      case Action::partition:
        if (any_netem) {
          r.node().error("action partition takes no delay/loss/duplicate/corrupt/reorder/rate block: "
                         "expected action netem to combine them");
          ok = false;
        }
        break;
      case Action::delay: need(spec->delay.has_value(), "delay"); break;
      case Action::loss: need(spec->loss.has_value(), "loss"); break;
      case Action::duplicate: need(spec->duplicate.has_value(), "duplicate"); break;
      case Action::corrupt: need(spec->corrupt.has_value(), "corrupt"); break;
      case Action::reorder:
        need(spec->reorder.has_value(), "reorder");
        if (spec->reorder && !spec->delay) {
          r.node().error("reorder needs a delay block too (netem reorders by sending some packets without the delay)");
          ok = false;
        }
        break;
      case Action::rate: need(spec->rate.has_value(), "rate"); break;
      case Action::netem:
        if (!any_netem) {
          r.node().error("action netem needs at least one of delay, loss, duplicate, corrupt, reorder, rate");
          ok = false;
        }
        break;
    }
  }
  r.finish();
  if (!ok) return nullptr;
  return spec;
}

nlohmann::json NetworkSpec::to_json() const {
  nlohmann::json j;
  j["action"] = action_name(action);
  j["target"] = target.str();
  j["interface"] = interface;
  j["direction"] = direction_name(direction);
  nlohmann::json m = nlohmann::json::object();
  if (!match.cidrs.empty()) {
    m["cidrs"] = nlohmann::json::array();
    for (const auto& c : match.cidrs) m["cidrs"].push_back(c.str());
  }
  switch (match.protocol) {
    case Protocol::tcp: m["protocol"] = "tcp"; break;
    case Protocol::udp: m["protocol"] = "udp"; break;
    case Protocol::icmp: m["protocol"] = "icmp"; break;
    case Protocol::any: break;
  }
  if (!match.ports.empty()) {
    m["ports"] = nlohmann::json::array();
    for (const auto& p : match.ports)
      m["ports"].push_back(p.lo == p.hi ? std::to_string(p.lo) : std::to_string(p.lo) + "-" + std::to_string(p.hi));
  }
  if (!match.cgroup.empty()) m["cgroup"] = match.cgroup;
  j["match"] = m;
  if (delay)
    j["delay"] = {{"latency", format_duration(delay->latency)}, {"jitter", format_duration(delay->jitter)},
                  {"correlation", percent_json(delay->correlation)},
                  {"distribution", delay->distribution ? std::string(name(*delay->distribution)) : ""}};
  if (loss) {
    j["loss"] = {{"loss", percent_json(loss->loss)}, {"correlation", percent_json(loss->correlation)}};
    if (loss->gemodel)
      j["loss"]["gemodel"] = {{"p", percent_json(loss->gemodel->p)}, {"r", percent_json(loss->gemodel->r)},
                              {"h", percent_json(loss->gemodel->h)}, {"k", percent_json(loss->gemodel->k)}};
  }
  if (duplicate) j["duplicate"] = {{"duplicate", percent_json(duplicate->value)}, {"correlation", percent_json(duplicate->correlation)}};
  if (corrupt) j["corrupt"] = {{"corrupt", percent_json(corrupt->value)}, {"correlation", percent_json(corrupt->correlation)}};
  if (reorder) j["reorder"] = {{"reorder", percent_json(reorder->reorder)}, {"correlation", percent_json(reorder->correlation)}, {"gap", reorder->gap}};
  if (rate) j["rate"] = {{"bytesPerSecond", rate->bytes_per_second}};
  return j;
}

}  // namespace chaos::network
