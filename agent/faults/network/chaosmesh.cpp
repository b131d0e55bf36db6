#include "faults/network/chaosmesh.h"

#include "faults/network/spec.h"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <sstream>

namespace chaos::network {

namespace {

// Every read goes through YNode::get, which never throws (a scalar where a map belongs is just
// not a map) and keeps the field's path and location for the error.
std::string scalar(const YNode& n) { return n.present() && n.is_scalar() ? n.scalar() : ""; }

std::string in_quotes(const std::string& s) { return "\"" + s + "\""; }

// A block that must be a map when given ("delay: 10ms" is not a delay block).
Converted<void> must_be_map(const YNode& n, const char* example) {
  if (n.present() && !n.is_map()) return fail_at(n, n.found() + ": expected a map of fields, like " + example);
  return {};
}

// Chaos Mesh writes percentages as bare numbers in strings ("25", "0.5"); tc accepts "25%" too.
Converted<std::string> percent_text(const YNode& n) {
  std::string s = scalar(n);
  if (s.empty()) return fail_at(n, n.found() + ": expected a percentage like \"25\"");
  std::string with = s.back() == '%' ? s : s + "%";
  if (!parse_percent(with)) return fail_at(n, in_quotes(s) + ": expected a percentage from 0 to 100");
  return with;
}

Converted<std::string> duration_text(const YNode& n) {
  std::string s = scalar(n);
  auto d = parse_duration(s);
  if (!d) return fail_at(n, (s.empty() ? n.found() : in_quotes(s)) + ": expected a duration like 90ms");
  return format_duration(*d);
}

Converted<std::string> rate_text(const YNode& n) {
  std::string rate = scalar(n);
  if (!parse_rate(rate))
    return fail_at(n, (rate.empty() ? n.found() : in_quotes(rate)) + ": expected a rate like 100kbps or 1mbit");
  return rate;
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

Result<std::uint16_t> parse_port(const std::string& s) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v == 0 || v > 65535)
    return fail("port " + in_quotes(s) + ": expected 1..65535", EINVAL);
  return static_cast<std::uint16_t>(v);
}

// "8.8.8.8", "8.8.0.0/16", "2001:db8::1", "[2001:db8::1]:80", "1.1.1.1:80", "10.0.0.0/8:22",
// "example.com", "example.com:443". Errors quote the target.
Result<std::pair<std::vector<Cidr>, std::optional<std::uint16_t>>> parse_external_target(
    const std::string& t, const ChaosMeshImportOptions& opts) {
  using Out = std::pair<std::vector<Cidr>, std::optional<std::uint16_t>>;
  if (auto c = parse_cidr(t)) return Out{{*c}, std::nullopt};
  std::string host = t;
  std::optional<std::uint16_t> port;
  if (!t.empty() && t[0] == '[') {
    auto close = t.find(']');
    if (close == std::string::npos) return fail(in_quotes(t) + ": unbalanced [, expected [ADDRESS]:PORT", EINVAL);
    host = t.substr(1, close - 1);
    if (close + 1 < t.size()) {
      if (t[close + 1] != ':') return fail(in_quotes(t) + ": expected [ADDRESS]:PORT", EINVAL);
      auto p = parse_port(t.substr(close + 2));
      if (!p) return fail(in_quotes(t) + ": " + p.error().message, EINVAL);
      port = *p;
    }
  } else if (auto colon = t.rfind(':'); colon != std::string::npos && t.find(':') == colon) {
    auto p = parse_port(t.substr(colon + 1));
    if (!p) return fail(in_quotes(t) + ": " + p.error().message, EINVAL);
    port = *p;
    host = t.substr(0, colon);
  }
  if (auto c = parse_cidr(host)) return Out{{*c}, port};
  bool name_like = !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
  if (!name_like) return fail(in_quotes(t) + ": expected an IP address, a CIDR or a host name", EINVAL);
  auto addrs = resolve_with(opts, host);
  if (!addrs) return fail(in_quotes(t) + ": " + addrs.error().message + " (host names are resolved at import)",
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

Converted<Duration> read_duration(const YNode& spec, const ChaosMeshImportOptions& opts, Plan& plan) {
  auto n = spec.get("duration");
  if (n.present()) {
    auto d = parse_duration(scalar(n));
    if (!d || d->count() == 0)
      return fail_at(n, (scalar(n).empty() ? n.found() : in_quotes(scalar(n))) + ": expected a duration above 0 like 30s");
    return *d;
  }
  plan.warnings.push_back("no spec.duration (Chaos Mesh would hold the fault until the object is deleted): "
                          "the fault holds " + format_duration(opts.default_duration) + " (--duration)");
  return opts.default_duration;
}

Converted<std::string> direction(const YNode& n) {
  std::string d = n.present() ? scalar(n) : "to";
  if (d == "to") return std::string("egress");
  if (d == "from") return std::string("ingress");
  if (d == "both") return std::string("both");
  return fail_at(n, (d.empty() ? n.found() : in_quotes(d)) + ": expected to, from or both");
}

// ---- NetworkChaos

Converted<void> network_chaos(const YNode& spec, const ChaosMeshImportOptions& opts, Plan& plan) {
  auto action_node = spec.get("action");
  std::string action = scalar(action_node);
  static const std::map<std::string, std::string> actions{{"delay", "delay"},         {"loss", "loss"},
                                                          {"duplicate", "duplicate"}, {"corrupt", "corrupt"},
                                                          {"netem", "netem"},         {"bandwidth", "rate"},
                                                          {"partition", "partition"}};
  auto a = actions.find(action);
  if (a == actions.end())
    return fail_at(action_node, (action.empty() ? action_node.found() : in_quotes(action)) +
                                    ": expected one of delay, loss, duplicate, corrupt, netem, bandwidth, partition");
  plan.action = a->second;

  auto dir = direction(spec.get("direction"));
  if (!dir) return std::unexpected(dir.error());
  plan.direction = *dir;

  if (!opts.interface.empty()) {
    plan.interface = opts.interface;
  } else if (auto dev = spec.get("device"); dev.present()) {
    if (!dev.is_scalar() || !valid_interface_name(dev.scalar())) return fail_at(dev, dev.found() + ": " + kInterfaceNameRule);
    plan.interface = dev.scalar();
  }
  if (spec.get("targetDevice").present()) plan.warnings.push_back("spec.targetDevice (the target pods' device) is ignored");

  for (auto [block, example] : {std::pair{"delay", "{latency: 10ms, jitter: 1ms}"}, std::pair{"loss", "{loss: \"25\"}"},
                                std::pair{"duplicate", "{duplicate: \"25\"}"}, std::pair{"corrupt", "{corrupt: \"25\"}"},
                                std::pair{"bandwidth", "{rate: 1mbps}"}, std::pair{"rate", "{rate: 1mbps}"}})
    if (auto r = must_be_map(spec.get(block), example); !r) return r;

  bool netem_family = plan.action != "partition";
  if (action == "delay" || action == "loss" || action == "duplicate" || action == "corrupt" || action == "bandwidth") {
    auto b = spec.get(action);
    if (!b.present()) return fail_at(b, "missing: action " + action + " needs it");
  }

  if (netem_family && (action == "delay" || action == "netem") && spec.get("delay").present()) {
    const auto d = spec.get("delay");
    Block b{"delay", {}};
    auto lat = duration_text(d.get("latency"));
    if (!lat) return std::unexpected(lat.error());
    b.fields.push_back({"latency", *lat});
    if (d.get("jitter").present()) {
      auto j = duration_text(d.get("jitter"));
      if (!j) return std::unexpected(j.error());
      if (*j != "0s") b.fields.push_back({"jitter", *j});
    }
    if (d.get("correlation").present()) {
      auto c = percent_text(d.get("correlation"));
      if (!c) return std::unexpected(c.error());
      b.fields.push_back({"correlation", *c});
      if (parse_percent(*c)->value >= 100 && d.get("jitter").present() && scalar(d.get("jitter")) != "0")
        plan.warnings.push_back("spec.delay.correlation 100%: netem then repeats its first random draw, so the "
                                "jitter collapses to one fixed offset (the kernel's behaviour, the same under Chaos Mesh)");
    }
    plan.blocks.push_back(b);
    if (auto r = d.get("reorder"); r.present()) {
      if (auto m = must_be_map(r, "{reorder: \"25\", correlation: \"50\", gap: 5}"); !m) return m;
      Block o{"reorder", {}};
      auto p = percent_text(r.get("reorder"));
      if (!p) return std::unexpected(p.error());
      o.fields.push_back({"reorder", *p});
      if (r.get("correlation").present()) {
        auto c = percent_text(r.get("correlation"));
        if (!c) return std::unexpected(c.error());
        o.fields.push_back({"correlation", *c});
      }
      if (auto g = r.get("gap"); g.present()) {
        unsigned gap = 0;
        std::string t = scalar(g);
        auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), gap);
        if (t.empty() || ec != std::errc() || end != t.data() + t.size())
          return fail_at(g, (t.empty() ? g.found() : in_quotes(t)) + ": expected a packet count like 5");
        o.fields.push_back({"gap", t});
      }
      plan.blocks.push_back(o);
      plan.action = "netem";  // delay + reorder
    }
  }
  auto percent_block = [&](const char* key) -> Converted<void> {
    const auto n = spec.get(key);
    if (!n.present()) return {};
    Block b{key, {}};
    auto v = percent_text(n.get(key));
    if (!v) return std::unexpected(v.error());
    b.fields.push_back({key, *v});
    if (n.get("correlation").present()) {
      auto c = percent_text(n.get("correlation"));
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
  if (action == "bandwidth") {
    const auto bw = spec.get("bandwidth");
    auto rate = rate_text(bw.get("rate"));
    if (!rate) return std::unexpected(rate.error());
    plan.blocks.push_back({"rate", {{"rate", *rate}}});
    std::vector<std::string> dropped;
    for (const char* k : {"limit", "buffer", "peakrate", "minburst"})
      if (bw.get(k).present()) dropped.push_back(std::string(k) + "=" + scalar(bw.get(k)));
    if (!dropped.empty()) {
      std::string list;
      for (const auto& d : dropped) list += (list.empty() ? "" : ", ") + d;
      plan.warnings.push_back("spec.bandwidth " + list + ": tbf's queue and burst settings have no netem "
                              "equivalent; the rate is applied by netem, its queue is netem's (1000 packets)");
    }
  } else if (action == "netem" && spec.get("rate").present()) {
    auto rate = rate_text(spec.get("rate").get("rate"));
    if (!rate) return std::unexpected(rate.error());
    plan.blocks.push_back({"rate", {{"rate", *rate}}});
  }
  if (netem_family && plan.blocks.empty())
    return fail_at(spec, "action " + action + " with no delay, loss, duplicate, corrupt or rate block");

  auto targets = spec.get("externalTargets");
  if (targets.present()) {
    if (!targets.is_seq()) return fail_at(targets, targets.found() + ": expected a list of addresses or host names");
    for (const auto& t : targets.elements()) {
      if (!t.is_scalar()) return fail_at(t, t.found() + ": expected an IP address, a CIDR or a host name");
      auto parsed = parse_external_target(t.scalar(), opts);
      if (!parsed) return fail_at(t, parsed.error().message);
      add_to_group(plan.groups, parsed->first, parsed->second);
    }
  }
  if (spec.get("target").present()) {
    if (!opts.peers.empty()) {
      add_to_group(plan.groups, opts.peers, std::nullopt);
    } else if (!targets.present()) {
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

Result<std::vector<PortRange>> chaosd_ports(const std::string& text) {
  std::vector<PortRange> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    if (item.empty()) continue;
    auto sep = item.find_first_of(":-");  // chaosd (iptables) writes ranges as 8000:8010
    std::string lo = item.substr(0, sep), hi = sep == std::string::npos ? lo : item.substr(sep + 1);
    auto l = parse_port(lo), h = parse_port(hi);
    if (!l) return std::unexpected(l.error());
    if (!h) return std::unexpected(h.error());
    if (*h < *l) return fail(in_quotes(item) + ": range upside down, expected LOW:HIGH", EINVAL);
    out.push_back({*l, *h});
  }
  return out;
}

Converted<void> physical_machine_chaos(const YNode& spec, const ChaosMeshImportOptions& opts, Plan& plan) {
  auto action_node = spec.get("action");
  std::string action = scalar(action_node);
  static const std::map<std::string, std::string> actions{
      {"network-delay", "delay"},         {"network-loss", "loss"},   {"network-corrupt", "corrupt"},
      {"network-duplicate", "duplicate"}, {"network-partition", "partition"}, {"network-bandwidth", "rate"}};
  auto a = actions.find(action);
  if (a == actions.end()) {
    std::string what = action.empty() ? action_node.found() : in_quotes(action);
    std::string known = "network-delay, network-loss, network-corrupt, network-duplicate, network-partition and "
                        "network-bandwidth";
    // A chaosd action that is not a network one is a refusal, not a broken file.
    if (!action.empty())
      return refuse_at(action_node, what + ": not a network fault chaos-agent has (it converts " + known + ")");
    return fail_at(action_node, what + ": expected one of " + known);
  }
  plan.action = a->second;
  const auto c = spec.get(action);
  if (!c.present()) return fail_at(c, "missing: action " + action + " needs it");
  if (auto m = must_be_map(c, "{device: eth0, ip-address: 10.0.0.1}"); !m) return m;
  if (!opts.interface.empty()) {
    plan.interface = opts.interface;
  } else if (auto dev = c.get("device"); dev.present()) {
    if (!dev.is_scalar() || !valid_interface_name(dev.scalar())) return fail_at(dev, dev.found() + ": " + kInterfaceNameRule);
    plan.interface = dev.scalar();
  }
  if (plan.action == "partition") {
    auto dir = direction(c.get("direction"));
    if (!dir) return std::unexpected(dir.error());
    plan.direction = *dir;
  }
  if (auto n = c.get("ip-protocol"); n.present()) {
    std::string p = scalar(n);
    if (p == "tcp" || p == "udp" || p == "icmp") plan.protocol = p;
    else if (p != "all" && !p.empty()) return fail_at(n, in_quotes(p) + ": expected tcp, udp, icmp or all");
  }
  for (const char* k : {"source-port", "egress-port"}) {
    auto n = c.get(k);
    if (!n.present()) continue;
    auto ports = chaosd_ports(scalar(n));
    if (!ports) return fail_at(n, ports.error().message);
    plan.ports.insert(plan.ports.end(), ports->begin(), ports->end());
  }
  if (c.get("source-port").present() && c.get("egress-port").present())
    plan.warnings.push_back(c.path() + ": source-port and egress-port are merged; chaos-agent matches a port on either side");
  if (auto n = c.get("accept-tcp-flags"); n.present())
    return refuse_at(n, "chaos-agent's classifier does not match TCP flags");
  if (auto n = c.get("ip-address"); n.present()) {
    std::stringstream ss(scalar(n));
    for (std::string item; std::getline(ss, item, ',');) {
      auto parsed = parse_external_target(item, opts);
      if (!parsed) return fail_at(n, parsed.error().message);
      add_to_group(plan.groups, parsed->first, parsed->second);
    }
  }
  if (auto n = c.get("hostname"); n.present()) {
    auto addrs = resolve_with(opts, scalar(n));
    if (!addrs) return fail_at(n, in_quotes(scalar(n)) + ": " + addrs.error().message);
    add_to_group(plan.groups, *addrs, std::nullopt);
  }
  if (plan.action == "delay") {
    Block b{"delay", {}};
    auto lat = duration_text(c.get("latency"));
    if (!lat) return std::unexpected(lat.error());
    b.fields.push_back({"latency", *lat});
    if (c.get("jitter").present()) {
      auto j = duration_text(c.get("jitter"));
      if (!j) return std::unexpected(j.error());
      if (*j != "0s") b.fields.push_back({"jitter", *j});
    }
    if (c.get("correlation").present()) {
      auto p = percent_text(c.get("correlation"));
      if (!p) return std::unexpected(p.error());
      b.fields.push_back({"correlation", *p});
    }
    plan.blocks.push_back(b);
  } else if (plan.action == "loss" || plan.action == "corrupt" || plan.action == "duplicate") {
    Block b{plan.action, {}};
    auto p = percent_text(c.get("percent"));
    if (!p) return std::unexpected(p.error());
    b.fields.push_back({plan.action, *p});
    if (c.get("correlation").present()) {
      auto cor = percent_text(c.get("correlation"));
      if (!cor) return std::unexpected(cor.error());
      b.fields.push_back({"correlation", *cor});
    }
    plan.blocks.push_back(b);
  } else if (plan.action == "rate") {
    auto rate = rate_text(c.get("rate"));
    if (!rate) return std::unexpected(rate.error());
    plan.blocks.push_back({"rate", {{"rate", *rate}}});
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
    default: break;  // --target makes only the four kinds above (parse_import_target)
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

Converted<ImportResult> convert_network_spec(const std::string& kind, const std::string& name, const YNode& spec,
                                             const ChaosMeshImportOptions& opts) {
  if (!spec.present()) return fail_at(spec, "missing: a " + kind + " needs its spec");
  if (auto m = must_be_map(spec, "{action: delay, delay: {latency: 10ms}}"); !m) return std::unexpected(m.error());
  Plan plan;
  plan.source_kind = kind;
  plan.name = name.empty() ? "imported" : name;
  Converted<void> r;
  if (plan.source_kind == "NetworkChaos") r = network_chaos(spec, opts, plan);
  else if (plan.source_kind == "PhysicalMachineChaos") r = physical_machine_chaos(spec, opts, plan);
  else return fail_at(spec, "kind \"" + plan.source_kind + "\": not a network manifest, expected NetworkChaos or "
                      "PhysicalMachineChaos");
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
  if (spec.get("selector").present() && plan.source_kind == "NetworkChaos" && opts.target) {
    std::string mode = spec.get("mode").present() ? scalar(spec.get("mode")) : std::string("one");
    plan.warnings.push_back("spec.selector (pods by label, mode " + mode + ") is replaced by the target " +
                            opts.target->str());
  }

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
  if (!out.good()) return fail_at(spec, std::string("cannot write the experiment as YAML: ") + out.GetLastError());
  result.yaml = std::string(out.c_str()) + "\n";
  return result;
}

ChaosMeshConverter chaos_mesh_converter() {
  ChaosMeshConverter c;
  c.kinds = {"NetworkChaos", "PhysicalMachineChaos"};
  c.converts = "NetworkChaos, PhysicalMachineChaos network actions";
  c.target_forms = {"host", "netns:NAME", "pid:N", "lab:HOST"};
  c.takes_target = [](const std::string& t) { return parse_import_target(t).has_value(); };
  c.check_flags = [](const ChaosMeshFlags& f) -> std::optional<std::string> {
    if (!f.interface.empty() && !valid_interface_name(f.interface))
      return "--interface \"" + f.interface + "\": " + kInterfaceNameRule;
    return std::nullopt;
  };
  c.convert = [](const ChaosMeshObject& o, const ChaosMeshFlags& flags) -> Converted<ChaosMeshImport> {
    ChaosMeshImportOptions opts;
    if (!flags.target.empty()) {
      auto t = parse_import_target(flags.target);
      if (!t)
        return fail_at(o.kind_node, "--target \"" + flags.target + "\": a network fault acts in a network namespace: "
                                    "expected host, netns:NAME, pid:N or lab:HOST");
      opts.target = *t;
    }
    opts.interface = flags.interface;
    opts.peers = flags.peers;
    if (flags.duration) opts.default_duration = *flags.duration;
    opts.resolve = flags.resolve;
    auto r = convert_network_spec(o.kind, o.name, o.spec, opts);
    if (!r) return std::unexpected(r.error());
    return ChaosMeshImport{std::move(r->yaml), std::move(r->warnings)};
  };
  return c;
}

}  // namespace chaos::network
