#include "faults/etcd/members.h"

#include <linux/magic.h>
#include <sys/socket.h>
#include <linux/rtnetlink.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <algorithm>
#include <charconv>
#include <map>

#include "kernel/target.h"

namespace chaos::etcd {

namespace {

bool is_loopback(const InterfaceAddress& a) {
  if (a.family == AF_INET) return a.addr[0] == 127;
  static const std::array<std::uint8_t, 16> v6_lo{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return a.addr == v6_lo;
}

Result<bool> holds_address(const std::string& netns_path, const InterfaceAddress& want) {
  auto sk = NetlinkSocket::open_in(netns_path);
  if (!sk) return std::unexpected(sk.error());
  auto addrs = list_addresses(*sk);
  if (!addrs) return std::unexpected(addrs.error());
  for (const auto& a : *addrs)
    if (a.address.family == want.family && a.address.addr == want.addr) return true;
  return false;
}

}  // namespace

Result<MemberEndpoint> resolve_endpoint(const EndpointSpec& e) {
  MemberEndpoint m;
  m.url = e.url;
  if (e.where) {
    auto t = resolve_net_target(*e.where);
    if (!t) return wrap(t.error(), "endpoint " + e.url.url);
    m.netns = t->netns;
    m.is_root = t->is_root;
    m.local = true;
    m.where = t->netns.describe;
    return m;
  }
  auto addr = parse_interface_address(e.url.host);
  if (!addr) return wrap(addr.error(), "endpoint " + e.url.url);
  auto host = resolve_host_netns();
  if (!host) return std::unexpected(host.error());
  // Loopback is in every namespace: it means this one, the host's.
  if (is_loopback(*addr)) {
    m.netns = *host;
    m.is_root = true;
    m.local = true;
    m.where = "host";
    return m;
  }
  std::vector<NetnsRef> holders;
  if (auto h = holds_address(host->path, *addr); h && *h) holders.push_back(*host);
  auto names = list_named_netns();
  if (!names) return wrap(names.error(), "endpoint " + e.url.url + ": list namespaces");
  for (const auto& n : *names) {
    auto ref = resolve_named_netns(n);
    if (!ref) continue;  // a stale name: not a namespace any more
    auto h = holds_address(ref->path, *addr);
    if (h && *h) holders.push_back(*ref);
  }
  if (holders.size() > 1) {
    std::string list;
    for (const auto& h : holders) list += (list.empty() ? "" : ", ") + h.describe;
    return fail("endpoint " + e.url.url + ": address " + e.url.host + " is held by " + list +
                    "; name the member's namespace (netns:, pid: or lab:)",
                EEXIST);
  }
  if (holders.empty()) {
    m.netns = *host;
    m.is_root = true;
    m.local = false;
    m.where = "remote (watched from the host)";
    return m;
  }
  m.netns = holders.front();
  auto root = is_root_netns(m.netns.path);
  if (!root) return std::unexpected(root.error());
  m.is_root = *root;
  m.local = true;
  m.where = m.netns.describe;
  return m;
}

std::optional<RouteChoice> route_towards(const std::vector<RouteInfo>& routes, const Cidr& to) {
  std::optional<RouteChoice> best;
  int best_prefix = -1;
  bool best_local_table = false;
  for (const auto& r : routes) {
    if (r.family != to.family) continue;
    if (r.table != RT_TABLE_MAIN && r.table != RT_TABLE_LOCAL) continue;
    if (r.type != RTN_UNICAST && r.type != RTN_LOCAL) continue;
    if (r.ifindexes.empty()) continue;
    Cidr dst;
    if (r.dst == "default") {
      dst.family = r.family;
      dst.prefix = 0;
    } else {
      auto c = parse_cidr(r.dst);
      if (!c) continue;
      dst = *c;
    }
    if (!dst.contains(to)) continue;
    // The local table is consulted first by the kernel: it wins a tie.
    bool local_table = r.table == RT_TABLE_LOCAL;
    if (dst.prefix > best_prefix || (dst.prefix == best_prefix && local_table && !best_local_table)) {
      best = RouteChoice{r.ifindexes.front(), r.type == RTN_LOCAL};
      best_prefix = dst.prefix;
      best_local_table = local_table;
    }
  }
  return best;
}

Result<std::vector<Interface>> interfaces_towards(const std::string& netns_path, const std::vector<std::string>& peers) {
  auto sk = NetlinkSocket::open_in(netns_path);
  if (!sk) return std::unexpected(sk.error());
  auto routes = list_routes(*sk);
  if (!routes) return std::unexpected(routes.error());
  std::vector<Interface> out;
  for (const auto& p : peers) {
    auto c = parse_cidr(p);
    if (!c) return wrap(c.error(), "peer address " + p);
    auto rc = route_towards(*routes, *c);
    if (!rc) return fail("no route to peer " + p + " in " + netns_path, EHOSTUNREACH);
    if (rc->local)
      return fail("peer " + p + " is an address of the member's own namespace (" + netns_path +
                      "): members sharing a namespace cannot be cut apart; give each its own (the lab does)",
                  EINVAL);
    if (std::any_of(out.begin(), out.end(), [&](const Interface& i) { return i.ifindex == rc->ifindex; })) continue;
    auto name = name_by_ifindex(*sk, rc->ifindex);
    if (!name) return std::unexpected(name.error());
    out.push_back({rc->ifindex, *name});
  }
  return out;
}

Result<void> check_interface_allowed(const MemberEndpoint& where, const Interface& itf, const AgentConfig& config) {
  if (!where.is_root || config.allow_default_route_interface) return {};
  auto defaults = default_route_interfaces();
  if (!defaults) return wrap(defaults.error(), "reading the host's default routes (guardrail)");
  for (const auto& d : *defaults)
    if (d.ifindex == itf.ifindex)
      return refuse("interface " + itf.name + " carries the host's default route: refused by the guardrail "
                  "(set guardrails.allowDefaultRouteInterface: true in the agent config to allow it)");
  return {};
}

std::uint64_t consensus_leader(const std::vector<MemberState>& states) {
  std::map<std::uint64_t, int> votes;
  for (const auto& s : states)
    if (s.status && s.status->leader != 0) ++votes[s.status->leader];
  std::uint64_t best = 0;
  int n = 0;
  for (auto [id, c] : votes)
    if (c > n) best = id, n = c;
  return best;
}

Result<std::size_t> choose_member(const std::vector<MemberState>& states, Selector sel, const std::string& name,
                                  std::uint64_t random) {
  auto describe = [&] {
    std::string d;
    for (std::size_t i = 0; i < states.size(); ++i) {
      const auto& s = states[i];
      d += (d.empty() ? "" : "; ") + (s.name.empty() ? "endpoint " + std::to_string(i + 1) : s.name) + ": ";
      if (!s.status) d += "no answer (" + s.error + ")";
      else d += s.status->leader == 0 ? "no leader" : s.status->leader == s.status->member_id ? "leader" : "follower";
    }
    return d;
  };
  std::vector<std::size_t> answering;
  for (std::size_t i = 0; i < states.size(); ++i)
    if (states[i].status) answering.push_back(i);
  if (answering.empty()) return fail("no etcd member answered (" + describe() + ")", EHOSTUNREACH);
  std::uint64_t leader = consensus_leader(states);
  switch (sel) {
    case Selector::leader:
      if (leader == 0) return fail("the cluster has no leader right now (" + describe() + ")", EAGAIN);
      for (auto i : answering)
        if (states[i].status->member_id == leader) return i;
      return fail("the leader (" + member_id_hex(leader) + ") is not one of the endpoints (" + describe() + ")", ENOENT);
    case Selector::follower:
      if (leader == 0) return fail("the cluster has no leader right now, so no follower either (" + describe() + ")", EAGAIN);
      for (auto i : answering)
        if (states[i].status->member_id != leader) return i;
      return fail("no follower among the endpoints (" + describe() + ")", ENOENT);
    case Selector::any:
      return answering[random % answering.size()];
    case Selector::named:
      for (std::size_t i = 0; i < states.size(); ++i)
        if (states[i].name == name) {
          if (!states[i].status) return fail("member " + name + " does not answer: " + states[i].error, EHOSTUNREACH);
          return i;
        }
      return fail("no member named " + name + " among the endpoints (" + describe() + ")", ENOENT);
  }
  return fail("unknown selector", EINVAL);
}

std::uint16_t url_port(const std::string& url) {
  auto scheme = url.find("://");
  std::string_view rest = scheme == std::string::npos ? std::string_view(url) : std::string_view(url).substr(scheme + 3);
  if (auto slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);
  auto colon = rest.rfind(':');
  if (colon == std::string_view::npos || (rest.find(']') != std::string_view::npos && colon < rest.find(']'))) return 0;
  unsigned p = 0;
  auto port = rest.substr(colon + 1);
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc{} || ptr != port.data() + port.size() || p > 65535) return 0;
  return static_cast<std::uint16_t>(p);
}


}  // namespace chaos::etcd
