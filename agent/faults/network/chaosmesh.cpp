#include "faults/network/chaosmesh.h"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <sstream>

namespace chaos::network {

namespace {

std::string scalar(const YAML::Node& n) {
  if (!n || !n.IsScalar()) return "";
  return n.Scalar();
}

// Chaos Mesh writes percentages as bare numbers in strings ("25", "0.5"); tc accepts "25%" too.
Result<std::string> percent_text(const YAML::Node& n, const std::string& field) {
  std::string s = scalar(n);
  if (s.empty()) return fail(field + ": expected a percentage like \"25\"", EINVAL);
  std::string with = s.back() == '%' ? s : s + "%";
  if (!parse_percent(with)) return fail(field + " \"" + s + "\": expected a percentage from 0 to 100", EINVAL);
  return with;
}

Result<std::string> duration_text(const YAML::Node& n, const std::string& field) {
  std::string s = scalar(n);
  auto d = parse_duration(s);
  if (!d) return fail(field + " \"" + s + "\": expected a duration like 90ms", EINVAL);
  return format_duration(*d);
}

// One native parameter block: ordered key/value text pairs.
struct Block {
  std::string name;
  std::vector<std::pair<std::string, std::string>> fields;
};

struct TargetGroup {
  std::optional<std::uint16_t> port;
  std::vector<Cidr> cidrs;
};

struct Plan {
  std::string name;
  std::string source_kind;
  std::string action;     // native action
  std::string direction = "egress";
  std::string interface;
  std::string protocol;   // "" = any
  std::vector<PortRange> ports;
  std::vector<Block> blocks;
  std::vector<TargetGroup> groups;  // empty: every peer
  Duration duration{};
  std::vector<std::string> warnings;
};

Result<std::vector<Cidr>> resolve_with(const ChaosMeshImportOptions& opts, const std::string& host) {
  auto r = opts.resolve ? opts.resolve(host) : resolve_host(host);
  if (!r) return std::unexpected(r.error());
  if (r->empty()) return fail("host name " + host + " resolves to no address", ENOENT);
  return r;
}

Result<std::uint16_t> parse_port(const std::string& s, const std::string& field) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v == 0 || v > 65535)
    return fail(field + ": port \"" + s + "\": expected 1..65535", EINVAL);
  return static_cast<std::uint16_t>(v);
}

// "8.8.8.8", "8.8.0.0/16", "2001:db8::1", "[2001:db8::1]:80", "1.1.1.1:80", "10.0.0.0/8:22",
// "example.com", "example.com:443".
Result<std::pair<std::vector<Cidr>, std::optional<std::uint16_t>>> parse_external_target(
    const std::string& t, const ChaosMeshImportOptions& opts, const std::string& field) {
  using Out = std::pair<std::vector<Cidr>, std::optional<std::uint16_t>>;
  if (auto c = parse_cidr(t)) return Out{{*c}, std::nullopt};
  std::string host = t;
  std::optional<std::uint16_t> port;
  if (!t.empty() && t[0] == '[') {
    auto close = t.find(']');
    if (close == std::string::npos) return fail(field + " \"" + t + "\": unbalanced [", EINVAL);
    host = t.substr(1, close - 1);
    if (close + 1 < t.size()) {
      if (t[close + 1] != ':') return fail(field + " \"" + t + "\": expected [ADDRESS]:PORT", EINVAL);
      auto p = parse_port(t.substr(close + 2), field);
      if (!p) return std::unexpected(p.error());
      port = *p;
    }
  } else if (auto colon = t.rfind(':'); colon != std::string::npos && t.find(':') == colon) {
    auto p = parse_port(t.substr(colon + 1), field + " \"" + t + "\"");
    if (!p) return std::unexpected(p.error());
    port = *p;
    host = t.substr(0, colon);
  }
  if (auto c = parse_cidr(host)) return Out{{*c}, port};
  bool name_like = !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
  if (!name_like) return fail(field + " \"" + t + "\": expected an IP address, a CIDR or a host name", EINVAL);
  auto addrs = resolve_with(opts, host);
  if (!addrs) return fail(field + " \"" + t + "\": " + addrs.error().message + " (host names are resolved at import)",
                          addrs.error().code);
  return Out{*addrs, port};
}

void add_to_group(std::vector<TargetGroup>& groups, const std::vector<Cidr>& cidrs, std::optional<std::uint16_t> port) {
  auto it = std::find_if(groups.begin(), groups.end(), [&](auto& g) { return g.port == port; });
  if (it == groups.end()) {
    groups.push_back({port, {}});
    it = std::prev(groups.end());
  }
  for (const auto& c : cidrs)
    if (std::find(it->cidrs.begin(), it->cidrs.end(), c) == it->cidrs.end()) it->cidrs.push_back(c);
}

Result<Duration> read_duration(const YAML::Node& spec, const ChaosMeshImportOptions& opts, Plan& plan) {
  if (spec["duration"]) {
    auto d = parse_duration(scalar(spec["duration"]));
    if (!d || d->count() == 0)
      return fail("spec.duration \"" + scalar(spec["duration"]) + "\": expected a duration above 0 like 30s", EINVAL);
    return *d;
  }
  plan.warnings.push_back("no spec.duration (Chaos Mesh would hold the fault until the object is deleted): "
                          "the fault holds " + format_duration(opts.default_duration) + " (--duration)");
  return opts.default_duration;
}

// ---- NetworkChaos

Result<void> network_chaos(const YAML::Node& spec, const ChaosMeshImportOptions& opts, Plan& plan) {
  std::string action = scalar(spec["action"]);
  static const std::map<std::string, std::string> actions{{"delay", "delay"},         {"loss", "loss"},
                                                          {"duplicate", "duplicate"}, {"corrupt", "corrupt"},
                                                          {"netem", "netem"},         {"bandwidth", "rate"},
                                                          {"partition", "partition"}};
  auto a = actions.find(action);
  if (a == actions.end())
    return fail("spec.action \"" + action + "\": expected one of delay, loss, duplicate, corrupt, netem, bandwidth, "
                "partition", EINVAL);
  plan.action = a->second;

  std::string dir = spec["direction"] ? scalar(spec["direction"]) : "to";
  if (dir == "to") plan.direction = "egress";
  else if (dir == "from") plan.direction = "ingress";
  else if (dir == "both") plan.direction = "both";
  else return fail("spec.direction \"" + dir + "\": expected to, from or both", EINVAL);

  if (!opts.interface.empty()) plan.interface = opts.interface;
  else if (spec["device"]) plan.interface = scalar(spec["device"]);
  if (spec["targetDevice"]) plan.warnings.push_back("spec.targetDevice (the target pods' device) is ignored");

  bool netem_family = plan.action != "partition";
  auto need = [&](const char* block) -> Result<void> {
    if (!spec[block]) return fail(std::string("spec.") + block + ": missing, action " + action + " needs it", EINVAL);
    return {};
  };
  if (action == "delay") { if (auto r = need("delay"); !r) return r; }
  if (action == "loss") { if (auto r = need("loss"); !r) return r; }
  if (action == "duplicate") { if (auto r = need("duplicate"); !r) return r; }
  if (action == "corrupt") { if (auto r = need("corrupt"); !r) return r; }
  if (action == "bandwidth") { if (auto r = need("bandwidth"); !r) return r; }

  if (netem_family && (action == "delay" || action == "netem") && spec["delay"]) {
    const auto d = spec["delay"];
    Block b{"delay", {}};
    auto lat = duration_text(d["latency"], "spec.delay.latency");
    if (!lat) return std::unexpected(lat.error());
    b.fields.push_back({"latency", *lat});
    if (d["jitter"]) {
      auto j = duration_text(d["jitter"], "spec.delay.jitter");
      if (!j) return std::unexpected(j.error());
      if (*j != "0s") b.fields.push_back({"jitter", *j});
    }
    if (d["correlation"]) {
      auto c = percent_text(d["correlation"], "spec.delay.correlation");
      if (!c) return std::unexpected(c.error());
      b.fields.push_back({"correlation", *c});
      if (parse_percent(*c)->value >= 100 && d["jitter"] && scalar(d["jitter"]) != "0" )
        plan.warnings.push_back("spec.delay.correlation 100%: netem then repeats its first random draw, so the "
                                "jitter collapses to one fixed offset (the kernel's behaviour, the same under Chaos Mesh)");
    }
    plan.blocks.push_back(b);
    if (d["reorder"]) {
      const auto r = d["reorder"];
      Block o{"reorder", {}};
      auto p = percent_text(r["reorder"], "spec.delay.reorder.reorder");
      if (!p) return std::unexpected(p.error());
      o.fields.push_back({"reorder", *p});
      if (r["correlation"]) {
        auto c = percent_text(r["correlation"], "spec.delay.reorder.correlation");
        if (!c) return std::unexpected(c.error());
        o.fields.push_back({"correlation", *c});
      }
      if (r["gap"]) o.fields.push_back({"gap", scalar(r["gap"])});
      plan.blocks.push_back(o);
      plan.action = "netem";  // delay + reorder
    }
  }
  auto percent_block = [&](const char* key) -> Result<void> {
    if (!spec[key]) return {};
    const auto n = spec[key];
    Block b{key, {}};
    auto v = percent_text(n[key], std::string("spec.") + key + "." + key);
    if (!v) return std::unexpected(v.error());
    b.fields.push_back({key, *v});
    if (n["correlation"]) {
      auto c = percent_text(n["correlation"], std::string("spec.") + key + ".correlation");
      if (!c) return std::unexpected(c.error());
      b.fields.push_back({"correlation", *c});
    }
    plan.blocks.push_back(b);
    return {};
  };
  if (netem_family && (action == "loss" || action == "netem"))
    if (auto r = percent_block("loss"); !r) return r;
  if (netem_family && (action == "duplicate" || action == "netem"))
    if (auto r = percent_block("duplicate"); !r) return r;
  if (netem_family && (action == "corrupt" || action == "netem"))
    if (auto r = percent_block("corrupt"); !r) return r;
  auto rate_block = [&](const YAML::Node& n, const std::string& field) -> Result<void> {
    std::string rate = scalar(n["rate"]);
    if (!parse_rate(rate)) return fail(field + ".rate \"" + rate + "\": expected a rate like 100kbps or 1mbit", EINVAL);
    plan.blocks.push_back({"rate", {{"rate", rate}}});
    return {};
  };
  if (action == "bandwidth") {
    const auto bw = spec["bandwidth"];
    if (auto r = rate_block(bw, "spec.bandwidth"); !r) return r;
    std::vector<std::string> dropped;
    for (const char* k : {"limit", "buffer", "peakrate", "minburst"})
      if (bw[k]) dropped.push_back(std::string(k) + "=" + scalar(bw[k]));
    if (!dropped.empty()) {
      std::string list;
      for (const auto& d : dropped) list += (list.empty() ? "" : ", ") + d;
      plan.warnings.push_back("spec.bandwidth " + list + ": tbf's queue and burst settings have no netem "
                              "equivalent; the rate is applied by netem, its queue is netem's (1000 packets)");
    }
  } else if (action == "netem" && spec["rate"]) {
    if (auto r = rate_block(spec["rate"], "spec.rate"); !r) return r;
  }
  if (netem_family && plan.blocks.empty())
    return fail("spec: action " + action + " with no delay, loss, duplicate, corrupt or rate block", EINVAL);

  if (spec["externalTargets"]) {
    if (!spec["externalTargets"].IsSequence()) return fail("spec.externalTargets: expected a list", EINVAL);
    std::size_t i = 0;
    for (const auto& t : spec["externalTargets"]) {
      auto field = "spec.externalTargets[" + std::to_string(i++) + "]";
      auto parsed = parse_external_target(scalar(t), opts, field);
      if (!parsed) return std::unexpected(parsed.error());
      add_to_group(plan.groups, parsed->first, parsed->second);
    }
  }
  if (spec["target"]) {
    if (!opts.peers.empty()) {
      add_to_group(plan.groups, opts.peers, std::nullopt);
    } else if (!spec["externalTargets"]) {
      plan.warnings.push_back("spec.target selects peer pods by label, which a node agent cannot resolve: the fault "
                              "matches every peer; pass --peer CIDR to narrow it");
    } else {
      plan.warnings.push_back("spec.target selects peer pods by label, which a node agent cannot resolve: only "
                              "externalTargets are matched; pass --peer CIDR to add the pods' addresses");
    }
  } else if (!opts.peers.empty()) {
    add_to_group(plan.groups, opts.peers, std::nullopt);
  }
  return {};
}

// ---- PhysicalMachineChaos (chaosd)

Result<std::vector<PortRange>> chaosd_ports(const std::string& text, const std::string& field) {
  std::vector<PortRange> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    if (item.empty()) continue;
    auto sep = item.find_first_of(":-");  // chaosd (iptables) writes ranges as 8000:8010
    std::string lo = item.substr(0, sep), hi = sep == std::string::npos ? lo : item.substr(sep + 1);
    auto l = parse_port(lo, field), h = parse_port(hi, field);
    if (!l) return std::unexpected(l.error());
    if (!h) return std::unexpected(h.error());
    if (*h < *l) return fail(field + " \"" + item + "\": range upside down", EINVAL);
    out.push_back({*l, *h});
  }
  return out;
}

Result<void> physical_machine_chaos(const YAML::Node& spec, const ChaosMeshImportOptions& opts, Plan& plan) {
  std::string action = scalar(spec["action"]);
  static const std::map<std::string, std::string> actions{
      {"network-delay", "delay"},         {"network-loss", "loss"},   {"network-corrupt", "corrupt"},
      {"network-duplicate", "duplicate"}, {"network-partition", "partition"}, {"network-bandwidth", "rate"}};
  auto a = actions.find(action);
  if (a == actions.end())
    return fail("PhysicalMachineChaos action \"" + action + "\": not a network fault chaos-agent has (it converts "
                "network-delay, network-loss, network-corrupt, network-duplicate, network-partition and "
                "network-bandwidth)", ENOTSUP);
  plan.action = a->second;
  const auto c = spec[action];
  if (!c || !c.IsMap()) return fail("spec." + action + ": missing, action " + action + " needs it", EINVAL);
  const std::string f = "spec." + action;
  plan.interface = !opts.interface.empty() ? opts.interface : scalar(c["device"]);
  if (plan.action == "partition") {
    std::string d = c["direction"] ? scalar(c["direction"]) : "to";
    if (d == "to") plan.direction = "egress";
    else if (d == "from") plan.direction = "ingress";
    else if (d == "both") plan.direction = "both";
    else return fail(f + ".direction \"" + d + "\": expected to, from or both", EINVAL);
  }
  if (c["ip-protocol"]) {
    std::string p = scalar(c["ip-protocol"]);
    if (p == "tcp" || p == "udp" || p == "icmp") plan.protocol = p;
    else if (p != "all" && !p.empty()) return fail(f + ".ip-protocol \"" + p + "\": expected tcp, udp, icmp or all", EINVAL);
  }
  for (const char* k : {"source-port", "egress-port"}) {
    if (!c[k]) continue;
    auto ports = chaosd_ports(scalar(c[k]), f + "." + k);
    if (!ports) return std::unexpected(ports.error());
    plan.ports.insert(plan.ports.end(), ports->begin(), ports->end());
  }
  if (c["source-port"] && c["egress-port"])
    plan.warnings.push_back(f + ": source-port and egress-port are merged; chaos-agent matches a port on either side");
  if (c["accept-tcp-flags"])
    return fail(f + ".accept-tcp-flags: chaos-agent's classifier does not match TCP flags", ENOTSUP);
  if (c["ip-address"]) {
    std::stringstream ss(scalar(c["ip-address"]));
    for (std::string item; std::getline(ss, item, ',');) {
      auto parsed = parse_external_target(item, opts, f + ".ip-address");
      if (!parsed) return std::unexpected(parsed.error());
      add_to_group(plan.groups, parsed->first, parsed->second);
    }
  }
  if (c["hostname"]) {
    auto addrs = resolve_with(opts, scalar(c["hostname"]));
    if (!addrs) return wrap(addrs.error(), f + ".hostname");
    add_to_group(plan.groups, *addrs, std::nullopt);
  }
  if (plan.action == "delay") {
    Block b{"delay", {}};
    auto lat = duration_text(c["latency"], f + ".latency");
    if (!lat) return std::unexpected(lat.error());
    b.fields.push_back({"latency", *lat});
    if (c["jitter"]) {
      auto j = duration_text(c["jitter"], f + ".jitter");
      if (!j) return std::unexpected(j.error());
      if (*j != "0s") b.fields.push_back({"jitter", *j});
    }
    if (c["correlation"]) {
      auto p = percent_text(c["correlation"], f + ".correlation");
      if (!p) return std::unexpected(p.error());
      b.fields.push_back({"correlation", *p});
    }
    plan.blocks.push_back(b);
  } else if (plan.action == "loss" || plan.action == "corrupt" || plan.action == "duplicate") {
    Block b{plan.action, {}};
    auto p = percent_text(c["percent"], f + ".percent");
    if (!p) return std::unexpected(p.error());
    b.fields.push_back({plan.action, *p});
    if (c["correlation"]) {
      auto cor = percent_text(c["correlation"], f + ".correlation");
      if (!cor) return std::unexpected(cor.error());
      b.fields.push_back({"correlation", *cor});
    }
    plan.blocks.push_back(b);
  } else if (plan.action == "rate") {
    std::string rate = scalar(c["rate"]);
    if (!parse_rate(rate)) return fail(f + ".rate \"" + rate + "\": expected a rate like 100kbps or 1mbit", EINVAL);
    plan.blocks.push_back({"rate", {{"rate", rate}}});
  }
  return {};
}

void emit_target(YAML::Emitter& out, const std::optional<NetTarget>& t) {
  if (!t) return;
  switch (t->kind) {
    case NetTarget::Kind::host: break;
    case NetTarget::Kind::netns: out << YAML::Key << "netns" << YAML::Value << t->name; break;
    case NetTarget::Kind::pid: out << YAML::Key << "pid" << YAML::Value << t->pid; break;
    case NetTarget::Kind::lab: out << YAML::Key << "lab" << YAML::Value << t->name; break;
  }
}

std::string port_text(const PortRange& p) {
  return p.lo == p.hi ? std::to_string(p.lo) : std::to_string(p.lo) + "-" + std::to_string(p.hi);
}

}  // namespace

Result<NetTarget> parse_import_target(const std::string& text) {
  NetTarget t;
  if (text == "host") return t;
  auto colon = text.find(':');
  std::string kind = text.substr(0, colon), value = colon == std::string::npos ? "" : text.substr(colon + 1);
  if (kind == "netns" && !value.empty() && value.find('/') == std::string::npos) {
    t.kind = NetTarget::Kind::netns;
    t.name = value;
    return t;
  }
  if (kind == "lab" && !value.empty()) {
    t.kind = NetTarget::Kind::lab;
    t.name = value;
    return t;
  }
  if (kind == "pid") {
    int pid = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), pid);
    if (!value.empty() && ec == std::errc() && end == value.data() + value.size() && pid > 0) {
      t.kind = NetTarget::Kind::pid;
      t.pid = pid;
      return t;
    }
  }
  return fail("--target \"" + text + "\": expected host, netns:NAME, pid:N or lab:HOST", EINVAL);
}

Result<std::vector<Cidr>> resolve_host(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) return fail("cannot resolve " + host + ": " + gai_strerror(rc), rc == EAI_SYSTEM ? errno : ENOENT);
  std::vector<Cidr> out;
  for (addrinfo* a = res; a; a = a->ai_next) {
    char buf[64] = {};
    if (getnameinfo(a->ai_addr, a->ai_addrlen, buf, sizeof buf, nullptr, 0, NI_NUMERICHOST) != 0) continue;
    if (auto c = parse_cidr(buf); c && std::find(out.begin(), out.end(), *c) == out.end()) out.push_back(*c);
  }
  freeaddrinfo(res);
  return out;
}

Result<ImportResult> convert_network_manifest(const YAML::Node& manifest, const ChaosMeshImportOptions& opts) {
  if (!manifest || !manifest.IsMap()) return fail("expected a YAML map (a Kubernetes object)", EINVAL);
  Plan plan;
  plan.source_kind = scalar(manifest["kind"]);
  plan.name = scalar(manifest["metadata"]["name"]);
  if (plan.name.empty()) plan.name = "imported";
  const auto spec = manifest["spec"];
  if (!spec || !spec.IsMap()) return fail("spec: missing", EINVAL);
  Result<void> r;
  if (plan.source_kind == "NetworkChaos") r = network_chaos(spec, opts, plan);
  else if (plan.source_kind == "PhysicalMachineChaos") r = physical_machine_chaos(spec, opts, plan);
  else return fail("kind \"" + plan.source_kind + "\": not a network manifest", EINVAL);
  if (!r) return std::unexpected(r.error());
  auto d = read_duration(spec, opts, plan);
  if (!d) return std::unexpected(d.error());
  plan.duration = *d;
  bool lab = opts.target && opts.target->kind == NetTarget::Kind::lab;
  if (plan.interface.empty() && !lab) {
    plan.interface = "eth0";
    plan.warnings.push_back("no --interface and no device in the manifest: eth0");
  }
  if (!opts.target && plan.source_kind == "NetworkChaos")
    plan.warnings.push_back("no --target: the fault acts in the host's own namespace, not in a pod's "
                            "(give --target netns:NAME or pid:N for a pod's namespace)");
  if (!spec["selector"] && plan.source_kind == "NetworkChaos")
    ;  // nothing selected: nothing to say
  else if (plan.source_kind == "NetworkChaos" && opts.target)
    plan.warnings.push_back("spec.selector (pods by label, mode " + (spec["mode"] ? scalar(spec["mode"]) : std::string("one")) +
                            ") is replaced by the target " + opts.target->str());

  ImportResult result;
  result.warnings = plan.warnings;
  YAML::Emitter out;
  out << YAML::Comment("Converted from Chaos Mesh " + plan.source_kind + " " + plan.name + " by chaosctl import");
  for (const auto& w : plan.warnings) out << YAML::Newline << YAML::Comment("note: " + w);
  out << YAML::BeginMap;
  out << YAML::Key << "apiVersion" << YAML::Value << "chaos-agent/v1";
  out << YAML::Key << "kind" << YAML::Value << "Experiment";
  out << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << plan.name;
  out << YAML::Key << "labels" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "source"
      << YAML::Value << "chaos-mesh" << YAML::Key << "sourceKind" << YAML::Value << plan.source_kind << YAML::EndMap;
  out << YAML::EndMap;
  out << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  // The run's hard cap: the fault plus a margin for reverting and the after-phase.
  out << YAML::Key << "duration" << YAML::Value << format_duration(plan.duration + std::chrono::seconds(5));
  out << YAML::Key << "faults" << YAML::Value << YAML::BeginSeq;
  std::vector<TargetGroup> groups = plan.groups;
  if (groups.empty()) groups.push_back({});
  for (const auto& g : groups) {
    out << YAML::BeginMap;
    std::string fname = plan.action;
    if (g.port) fname += "-port-" + std::to_string(*g.port);
    else if (groups.size() > 1) fname += "-any-port";
    out << YAML::Key << "name" << YAML::Value << fname;
    out << YAML::Key << "start" << YAML::Value << "0s";
    out << YAML::Key << "duration" << YAML::Value << format_duration(plan.duration);
    out << YAML::Key << "network" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "action" << YAML::Value << plan.action;
    emit_target(out, opts.target);
    if (!plan.interface.empty()) out << YAML::Key << "interface" << YAML::Value << plan.interface;
    out << YAML::Key << "direction" << YAML::Value << plan.direction;
    std::vector<PortRange> ports = plan.ports;
    if (g.port) ports.push_back({*g.port, *g.port});
    if (!g.cidrs.empty() || !ports.empty() || !plan.protocol.empty()) {
      out << YAML::Key << "match" << YAML::Value << YAML::Flow << YAML::BeginMap;
      if (!g.cidrs.empty()) {
        out << YAML::Key << "cidrs" << YAML::Value << YAML::Flow << YAML::BeginSeq;
        for (const auto& c : g.cidrs) out << c.str();
        out << YAML::EndSeq;
      }
      if (!plan.protocol.empty()) out << YAML::Key << "protocol" << YAML::Value << plan.protocol;
      if (!ports.empty()) {
        out << YAML::Key << "ports" << YAML::Value << YAML::Flow << YAML::BeginSeq;
        for (const auto& p : ports) out << port_text(p);
        out << YAML::EndSeq;
      }
      out << YAML::EndMap;
    }
    for (const auto& b : plan.blocks) {
      out << YAML::Key << b.name << YAML::Value << YAML::Flow << YAML::BeginMap;
      for (const auto& [k, v] : b.fields) out << YAML::Key << k << YAML::Value << v;
      out << YAML::EndMap;
    }
    out << YAML::EndMap;  // network
    out << YAML::EndMap;  // fault
  }
  out << YAML::EndSeq;
  out << YAML::EndMap;  // spec
  out << YAML::EndMap;
  if (!out.good()) return fail(std::string("emit YAML: ") + out.GetLastError(), EINVAL);
  result.yaml = std::string(out.c_str()) + "\n";
  return result;
}

}  // namespace chaos::network
