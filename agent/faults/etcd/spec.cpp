#include "faults/etcd/spec.h"

#include <regex>
#include <set>

namespace chaos::etcd {

const char* action_name(Action a) {
  return a == Action::isolate_member ? "isolate-member" : "cut-clients";
}

std::string EtcdSpec::member_str() const {
  switch (member) {
    case Selector::leader: return "leader";
    case Selector::follower: return "follower";
    case Selector::any: return "any";
    case Selector::named: return "member " + member_name;
  }
  return "?";
}

nlohmann::json EtcdSpec::to_json() const {
  nlohmann::json eps = nlohmann::json::array();
  for (const auto& e : endpoints) {
    nlohmann::json x{{"url", e.url.url}};
    if (e.where) x["where"] = e.where->str();
    eps.push_back(x);
  }
  nlohmann::json j{{"action", action_name(action)},
                   {"endpoints", eps},
                   {"ports", {{"peer", peer_port}, {"client", client_port}}},
                   {"sampleInterval", format_duration(sample_interval)}};
  if (action == Action::isolate_member) {
    j["member"] = member == Selector::named ? member_name : member_str();
    j["alsoClients"] = also_clients;
  } else {
    j["clients"] = {{"from", clients.str()}};
    if (!clients_cgroup.empty()) j["clients"]["cgroup"] = clients_cgroup;
  }
  return j;
}

namespace {

std::optional<EndpointSpec> read_endpoint(const YNode& n) {
  EndpointSpec e;
  std::optional<std::string> url;
  std::optional<YNode> url_node;
  if (n.is_scalar()) {
    url = n.as_string();
    url_node = n;
  } else {
    MapReader m(n);
    if (!m.valid()) return std::nullopt;
    url_node = m.child("url", true);
    if (url_node) url = url_node->as_string();
    auto t = read_net_target(m);
    if (!t) return std::nullopt;
    if (t->kind != NetTarget::Kind::host) e.where = *t;
    m.finish();
  }
  if (!url) return std::nullopt;
  auto u = parse_etcd_url(*url);
  if (!u) {
    url_node->error(u.error().message);
    return std::nullopt;
  }
  e.url = *u;
  return e;
}

}  // namespace

std::shared_ptr<const FaultSpec> parse_etcd_spec(MapReader& r) {
  auto spec = std::make_shared<EtcdSpec>();
  bool ok = true;
  auto action = r.one_of("action", {"isolate-member", "cut-clients"}, true);
  if (action) spec->action = *action == "isolate-member" ? Action::isolate_member : Action::cut_clients;
  else ok = false;

  auto eps = r.seq("endpoints", true);
  if (r.has("endpoints") && eps.empty() && r.child("endpoints")->is_seq()) {
    r.child("endpoints")->error("expected at least one endpoint URL like http://198.18.0.31:2379");
  }
  if (eps.empty()) ok = false;
  if (eps.size() > 9) {
    r.child("endpoints")->error("at most 9 endpoints (one per member)");
    ok = false;
  }
  std::set<std::string> seen;
  for (const auto& n : eps) {
    auto e = read_endpoint(n);
    if (!e) {
      ok = false;
      continue;
    }
    if (!seen.insert(e->url.host + ":" + std::to_string(e->url.port)).second) {
      n.error("\"" + e->url.url + "\": listed twice, expected one endpoint per member");
      ok = false;
    }
    spec->endpoints.push_back(*e);
  }

  bool isolate = spec->action == Action::isolate_member;
  if (auto m = r.child("member")) {
    if (action && !isolate) m->error("member applies to action isolate-member only");
    if (auto s = m->as_string()) {
      static const std::regex name_re("^[A-Za-z0-9][A-Za-z0-9._-]*$");
      if (*s == "leader") spec->member = Selector::leader;
      else if (*s == "follower") spec->member = Selector::follower;
      else if (*s == "any") spec->member = Selector::any;
      else if (std::regex_match(*s, name_re)) {
        spec->member = Selector::named;
        spec->member_name = *s;
      } else {
        m->error("\"" + *s + "\": expected leader, follower, any or a member name");
        ok = false;
      }
    } else {
      ok = false;
    }
  }
  if (auto p = r.child("ports")) {
    MapReader pr(*p);
    if (auto v = pr.integer("peer", 1, 65535)) spec->peer_port = static_cast<std::uint16_t>(*v);
    if (auto v = pr.integer("client", 1, 65535)) spec->client_port = static_cast<std::uint16_t>(*v);
    if (pr.valid() && spec->peer_port == spec->client_port)
      p->error("peer and client are both " + std::to_string(spec->peer_port) + ": expected two different ports");
    pr.finish();
  }
  if (auto b = r.boolean("alsoClients")) {
    if (action && !isolate) r.child("alsoClients")->error("alsoClients applies to action isolate-member only");
    spec->also_clients = *b;
  }
  if (auto c = r.child("clients")) {
    if (action && isolate)
      c->error("clients applies to action cut-clients only (isolate-member cuts a member's peers; "
               "alsoClients: true cuts its clients too)");
    MapReader cr(*c);
    if (cr.valid()) {
      if (auto t = read_net_target(cr)) spec->clients = *t;
      else ok = false;
      if (auto cg = cr.str("cgroup")) {
        if (cg->empty()) cr.child("cgroup")->error("expected a cgroup v2 path like /system.slice/trainer.service");
        spec->clients_cgroup = *cg;
      }
      cr.finish();
    }
  }
  if (auto d = r.duration("sampleInterval")) {
    if (*d < std::chrono::milliseconds(10) || *d > std::chrono::milliseconds(100))
      r.child("sampleInterval")->error("\"" + format_duration(*d) + "\": expected 10ms..100ms");
    else
      spec->sample_interval = *d;
  }
  r.finish();
  if (!ok) return nullptr;
  return spec;
}

}  // namespace chaos::etcd
