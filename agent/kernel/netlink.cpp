#include "kernel/netlink.h"

#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>

#include <algorithm>
#include <charconv>
#include <memory>

#include "kernel/netns.h"

namespace chaos {

namespace {

// Owners for libnl's refcounted objects.
struct LinkPut {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
struct AddrPut {
  void operator()(rtnl_addr* a) const { rtnl_addr_put(a); }
};
struct RoutePut {
  void operator()(rtnl_route* r) const { rtnl_route_put(r); }
};
struct NlAddrPut {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
struct CachePut {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};
using LinkPtr = std::unique_ptr<rtnl_link, LinkPut>;
using AddrPtr = std::unique_ptr<rtnl_addr, AddrPut>;
using RoutePtr = std::unique_ptr<rtnl_route, RoutePut>;
using NlAddrPtr = std::unique_ptr<nl_addr, NlAddrPut>;
using CachePtr = std::unique_ptr<nl_cache, CachePut>;

int addr_len(int family) { return family == AF_INET ? 4 : 16; }

NlAddrPtr to_nl_addr(int family, const std::array<std::uint8_t, 16>& bytes, int prefix) {
  NlAddrPtr a(nl_addr_build(family, bytes.data(), addr_len(family)));
  if (a) nl_addr_set_prefixlen(a.get(), prefix);
  return a;
}

std::string format_ip(int family, const void* bytes) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (!inet_ntop(family, bytes, buf, sizeof buf)) return "?";
  return buf;
}

// "default", "198.18.0.0/24", "2001:2::/64", "198.18.0.1" (full-length prefix).
std::string format_nl_prefix(nl_addr* a) {
  if (!a || nl_addr_get_prefixlen(a) == 0) return "default";
  int fam = nl_addr_get_family(a);
  if ((fam != AF_INET && fam != AF_INET6) ||
      nl_addr_get_len(a) != static_cast<unsigned>(addr_len(fam))) {
    char buf[128];
    return nl_addr2str(a, buf, sizeof buf);
  }
  std::string s = format_ip(fam, nl_addr_get_binary_addr(a));
  unsigned p = nl_addr_get_prefixlen(a);
  if (p != static_cast<unsigned>(addr_len(fam) * 8)) s += "/" + std::to_string(p);
  return s;
}

std::optional<InterfaceAddress> from_nl_addr(nl_addr* a) {
  if (!a) return std::nullopt;
  int fam = nl_addr_get_family(a);
  if ((fam != AF_INET && fam != AF_INET6) ||
      nl_addr_get_len(a) != static_cast<unsigned>(addr_len(fam)))
    return std::nullopt;
  InterfaceAddress ia;
  ia.family = fam;
  std::copy_n(static_cast<const std::uint8_t*>(nl_addr_get_binary_addr(a)), addr_len(fam),
              ia.addr.begin());
  ia.prefix = static_cast<int>(nl_addr_get_prefixlen(a));
  return ia;
}

LinkInfo to_link_info(rtnl_link* l) {
  LinkInfo li;
  li.ifindex = rtnl_link_get_ifindex(l);
  if (const char* n = rtnl_link_get_name(l)) li.name = n;
  if (const char* k = rtnl_link_get_type(l)) li.kind = k;
  li.flags = rtnl_link_get_flags(l);
  li.master = rtnl_link_get_master(l);
  li.mtu = rtnl_link_get_mtu(l);
  li.operstate = rtnl_link_get_operstate(l);
  return li;
}

Result<LinkPtr> kernel_link(NetlinkSocket& sk, const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ)
    return fail("invalid interface name \"" + name + "\"", EINVAL);
  rtnl_link* l = nullptr;
  int rc = rtnl_link_get_kernel(sk.get(), 0, name.c_str(), &l);
  if (rc < 0) return fail_nl(rc, "interface " + name);
  return LinkPtr(l);
}

// Applies `change` (flags, master, netns...) to the link called `name`. The original carries
// only the ifindex so that the request holds nothing but the change.
Result<void> change_link(NetlinkSocket& sk, const std::string& name, rtnl_link* change,
                         const std::string& what) {
  auto idx = ifindex_by_name(sk, name);
  if (!idx) return wrap(idx.error(), what);
  LinkPtr orig(rtnl_link_alloc());
  if (!orig) return fail(what + ": out of memory", ENOMEM);
  rtnl_link_set_ifindex(orig.get(), *idx);
  int rc = rtnl_link_change(sk.get(), orig.get(), change, 0);
  if (rc < 0) return fail_nl(rc, what);
  return {};
}

Result<void> add_link(NetlinkSocket& sk, rtnl_link* link, const std::string& what) {
  int rc = rtnl_link_add(sk.get(), link, NLM_F_CREATE | NLM_F_EXCL);
  if (rc < 0) return fail_nl(rc, what);
  return {};
}

}  // namespace

int nl_error_to_errno(int rc) {
  switch (rc < 0 ? -rc : rc) {
    case NLE_SUCCESS: return 0;
    case NLE_INTR: return EINTR;
    case NLE_BAD_SOCK: return EBADF;
    case NLE_AGAIN: return EAGAIN;
    case NLE_NOMEM: return ENOMEM;
    case NLE_EXIST: return EEXIST;
    case NLE_INVAL: return EINVAL;
    case NLE_RANGE: return ERANGE;
    case NLE_MSGSIZE: return EMSGSIZE;
    case NLE_OPNOTSUPP: return EOPNOTSUPP;
    case NLE_AF_NOSUPPORT: return EAFNOSUPPORT;
    case NLE_OBJ_NOTFOUND: return ENOENT;
    case NLE_NOADDR: return EADDRNOTAVAIL;
    case NLE_BUSY: return EBUSY;
    case NLE_PROTO_MISMATCH: return EPROTONOSUPPORT;
    case NLE_NOACCESS: return EACCES;
    case NLE_PERM: return EPERM;
    case NLE_NODEV: return ENODEV;
    default: return 0;
  }
}

std::unexpected<Error> fail_nl(int rc, const std::string& what) {
  return fail(what + ": " + nl_geterror(rc), nl_error_to_errno(rc));
}

// ---- NetlinkSocket

Result<NetlinkSocket> NetlinkSocket::open() {
  nl_sock* sk = nl_socket_alloc();
  if (!sk) return fail("netlink socket: out of memory", ENOMEM);
  int rc = nl_connect(sk, NETLINK_ROUTE);
  if (rc < 0) {
    nl_socket_free(sk);
    return fail_nl(rc, "connect NETLINK_ROUTE");
  }
  return NetlinkSocket(sk);
}

Result<NetlinkSocket> NetlinkSocket::open_in(const std::string& netns_path) {
  auto guard = NetnsGuard::enter(netns_path);
  if (!guard) return wrap(guard.error(), "netlink socket in " + netns_path);
  auto s = open();
  if (!s) return wrap(s.error(), netns_path);
  return s;
}

NetlinkSocket::~NetlinkSocket() {
  if (sk_) nl_socket_free(sk_);
}

NetlinkSocket& NetlinkSocket::operator=(NetlinkSocket&& o) noexcept {
  if (this != &o) {
    if (sk_) nl_socket_free(sk_);
    sk_ = o.sk_;
    o.sk_ = nullptr;
  }
  return *this;
}

// ---- InterfaceAddress

std::string InterfaceAddress::ip() const { return format_ip(family, addr.data()); }
std::string InterfaceAddress::str() const { return ip() + "/" + std::to_string(prefix); }

Cidr InterfaceAddress::host() const {
  Cidr c;
  c.family = family;
  c.addr = addr;
  c.prefix = addr_len(family) * 8;
  return c;
}

Cidr InterfaceAddress::network() const {
  Cidr c;
  c.family = family;
  c.prefix = prefix;
  for (int i = 0; i < addr_len(family); ++i) {
    int bits = std::clamp(prefix - i * 8, 0, 8);
    c.addr[i] = addr[i] & static_cast<std::uint8_t>(0xff00 >> bits);
  }
  return c;
}

Result<InterfaceAddress> parse_interface_address(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return fail("\"" + std::string(text) + "\": " + why +
                    " (expected an address with its prefix, like 198.18.0.10/24 or 2001:2::10/64)",
                EINVAL);
  };
  std::string ip(text.substr(0, text.find('/')));
  InterfaceAddress a;
  if (inet_pton(AF_INET, ip.c_str(), a.addr.data()) == 1) {
    a.family = AF_INET;
  } else if (inet_pton(AF_INET6, ip.c_str(), a.addr.data()) == 1) {
    a.family = AF_INET6;
  } else {
    return bad("not an IPv4 or IPv6 address");
  }
  int max = addr_len(a.family) * 8;
  a.prefix = max;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    auto p = text.substr(slash + 1);
    int v = -1;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (p.empty() || ec != std::errc() || end != p.data() + p.size() || v < 0 || v > max)
      return bad("prefix must be 0.." + std::to_string(max));
    a.prefix = v;
  }
  return a;
}

bool LinkInfo::up() const { return (flags & IFF_UP) != 0; }

// ---- lookups

Result<int> ifindex_by_name(NetlinkSocket& sk, const std::string& name) {
  auto l = kernel_link(sk, name);
  if (!l) return std::unexpected(l.error());
  return rtnl_link_get_ifindex(l->get());
}

Result<std::string> name_by_ifindex(NetlinkSocket& sk, int ifindex) {
  rtnl_link* l = nullptr;
  int rc = rtnl_link_get_kernel(sk.get(), ifindex, nullptr, &l);
  if (rc < 0) return fail_nl(rc, "interface with ifindex " + std::to_string(ifindex));
  LinkPtr owner(l);
  const char* n = rtnl_link_get_name(l);
  return std::string(n ? n : "");
}

Result<LinkInfo> get_link(NetlinkSocket& sk, const std::string& name) {
  auto l = kernel_link(sk, name);
  if (!l) return std::unexpected(l.error());
  return to_link_info(l->get());
}

Result<bool> link_exists(NetlinkSocket& sk, const std::string& name) {
  auto l = kernel_link(sk, name);
  if (l) return true;
  if (l.error().code == ENODEV || l.error().code == ENOENT) return false;
  return std::unexpected(l.error());
}

Result<bool> link_is_up(NetlinkSocket& sk, const std::string& name) {
  auto l = get_link(sk, name);
  if (!l) return std::unexpected(l.error());
  return l->up();
}

Result<std::vector<LinkInfo>> list_links(NetlinkSocket& sk) {
  nl_cache* c = nullptr;
  int rc = rtnl_link_alloc_cache(sk.get(), AF_UNSPEC, &c);
  if (rc < 0) return fail_nl(rc, "dump links");
  CachePtr cache(c);
  std::vector<LinkInfo> out;
  for (nl_object* o = nl_cache_get_first(c); o; o = nl_cache_get_next(o))
    out.push_back(to_link_info(reinterpret_cast<rtnl_link*>(o)));
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.ifindex < b.ifindex; });
  return out;
}

Result<std::vector<AddressInfo>> list_addresses(NetlinkSocket& sk, int ifindex) {
  nl_cache* c = nullptr;
  int rc = rtnl_addr_alloc_cache(sk.get(), &c);
  if (rc < 0) return fail_nl(rc, "dump addresses");
  CachePtr cache(c);
  std::vector<AddressInfo> out;
  for (nl_object* o = nl_cache_get_first(c); o; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    if (ifindex != 0 && rtnl_addr_get_ifindex(a) != ifindex) continue;
    auto ia = from_nl_addr(rtnl_addr_get_local(a));
    if (!ia) continue;
    ia->prefix = rtnl_addr_get_prefixlen(a);
    out.push_back({rtnl_addr_get_ifindex(a), *ia, rtnl_addr_get_scope(a)});
  }
  return out;
}

Result<std::vector<RouteInfo>> list_routes(NetlinkSocket& sk) {
  nl_cache* c = nullptr;
  int rc = rtnl_route_alloc_cache(sk.get(), AF_UNSPEC, 0, &c);
  if (rc < 0) return fail_nl(rc, "dump routes");
  CachePtr cache(c);
  std::vector<RouteInfo> out;
  for (nl_object* o = nl_cache_get_first(c); o; o = nl_cache_get_next(o)) {
    auto* r = reinterpret_cast<rtnl_route*>(o);
    RouteInfo ri;
    ri.family = rtnl_route_get_family(r);
    ri.table = rtnl_route_get_table(r);
    ri.type = rtnl_route_get_type(r);
    ri.protocol = rtnl_route_get_protocol(r);
    ri.dst = format_nl_prefix(rtnl_route_get_dst(r));
    ri.priority = rtnl_route_get_priority(r);
    for (int i = 0; i < rtnl_route_get_nnexthops(r); ++i) {
      rtnl_nexthop* nh = rtnl_route_nexthop_n(r, i);
      ri.ifindexes.push_back(rtnl_route_nh_get_ifindex(nh));
      nl_addr* gw = rtnl_route_nh_get_gateway(nh);
      ri.gateways.push_back(gw ? format_nl_prefix(gw) : "");
    }
    out.push_back(std::move(ri));
  }
  return out;
}

// ---- changes

Result<void> create_veth(NetlinkSocket& sk, const std::string& name, const std::string& peer,
                         std::optional<int> peer_netns_fd) {
  std::string what = "create veth " + name + " <-> " + peer;
  if (name.empty() || name.size() >= IFNAMSIZ || peer.empty() || peer.size() >= IFNAMSIZ)
    return fail(what + ": interface names must be 1.." + std::to_string(IFNAMSIZ - 1) + " chars",
                EINVAL);
  rtnl_link* link = rtnl_link_veth_alloc();
  if (!link) return fail(what + ": out of memory", ENOMEM);
  rtnl_link* p = rtnl_link_veth_get_peer(link);  // takes a reference
  rtnl_link_set_name(link, name.c_str());
  rtnl_link_set_name(p, peer.c_str());
  if (peer_netns_fd) rtnl_link_set_ns_fd(p, *peer_netns_fd);
  auto r = add_link(sk, link, what);
  rtnl_link_put(p);
  rtnl_link_veth_release(link);
  return r;
}

Result<void> create_bridge(NetlinkSocket& sk, const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ)
    return fail("invalid bridge name \"" + name + "\"", EINVAL);
  LinkPtr link(rtnl_link_bridge_alloc());
  if (!link) return fail("create bridge " + name + ": out of memory", ENOMEM);
  rtnl_link_set_name(link.get(), name.c_str());
  return add_link(sk, link.get(), "create bridge " + name);
}

Result<void> set_master(NetlinkSocket& sk, const std::string& name, const std::string& master) {
  std::string what = "enslave " + name + " to " + master;
  auto m = ifindex_by_name(sk, master);
  if (!m) return wrap(m.error(), what);
  LinkPtr change(rtnl_link_alloc());
  rtnl_link_set_master(change.get(), *m);
  return change_link(sk, name, change.get(), what);
}

Result<void> move_link_to_netns(NetlinkSocket& sk, const std::string& name, int netns_fd) {
  LinkPtr change(rtnl_link_alloc());
  rtnl_link_set_ns_fd(change.get(), netns_fd);
  return change_link(sk, name, change.get(), "move " + name + " to another netns");
}

Result<void> set_link_up(NetlinkSocket& sk, const std::string& name, bool up) {
  LinkPtr change(rtnl_link_alloc());
  if (up)
    rtnl_link_set_flags(change.get(), IFF_UP);
  else
    rtnl_link_unset_flags(change.get(), IFF_UP);
  return change_link(sk, name, change.get(), std::string("set ") + name + (up ? " up" : " down"));
}

namespace {
Result<AddrPtr> build_addr(NetlinkSocket& sk, const std::string& name, const InterfaceAddress& a,
                           const std::string& what) {
  if (a.family != AF_INET && a.family != AF_INET6) return fail(what + ": no address family", EINVAL);
  auto idx = ifindex_by_name(sk, name);
  if (!idx) return wrap(idx.error(), what);
  AddrPtr addr(rtnl_addr_alloc());
  NlAddrPtr local = to_nl_addr(a.family, a.addr, a.prefix);
  if (!addr || !local) return fail(what + ": out of memory", ENOMEM);
  rtnl_addr_set_ifindex(addr.get(), *idx);
  rtnl_addr_set_family(addr.get(), a.family);
  int rc = rtnl_addr_set_local(addr.get(), local.get());
  if (rc < 0) return fail_nl(rc, what);
  rtnl_addr_set_prefixlen(addr.get(), a.prefix);
  return addr;
}
}  // namespace

Result<void> add_address(NetlinkSocket& sk, const std::string& name, const InterfaceAddress& a) {
  std::string what = "add address " + a.str() + " to " + name;
  auto addr = build_addr(sk, name, a, what);
  if (!addr) return std::unexpected(addr.error());
  if (a.family == AF_INET6) rtnl_addr_set_flags(addr->get(), IFA_F_NODAD);
  int rc = rtnl_addr_add(sk.get(), addr->get(), NLM_F_EXCL);
  if (rc < 0) return fail_nl(rc, what);
  return {};
}

Result<void> delete_address(NetlinkSocket& sk, const std::string& name,
                            const InterfaceAddress& a) {
  std::string what = "delete address " + a.str() + " from " + name;
  auto addr = build_addr(sk, name, a, what);
  if (!addr) return std::unexpected(addr.error());
  int rc = rtnl_addr_delete(sk.get(), addr->get(), 0);
  if (rc < 0) return fail_nl(rc, what);
  return {};
}

Result<void> add_route(NetlinkSocket& sk, const Cidr& dst, const std::string& dev,
                       const std::optional<std::string>& gateway) {
  std::string what = "add route " + dst.str() + " dev " + dev + (gateway ? " via " + *gateway : "");
  if (dst.family != AF_INET && dst.family != AF_INET6) return fail(what + ": no family", EINVAL);
  auto idx = ifindex_by_name(sk, dev);
  if (!idx) return wrap(idx.error(), what);
  RoutePtr route(rtnl_route_alloc());
  NlAddrPtr d = to_nl_addr(dst.family, dst.addr, dst.prefix);
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  if (!route || !d || !nh) {
    if (nh) rtnl_route_nh_free(nh);
    return fail(what + ": out of memory", ENOMEM);
  }
  rtnl_route_set_family(route.get(), static_cast<std::uint8_t>(dst.family));
  rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
  rtnl_route_set_protocol(route.get(), RTPROT_STATIC);
  rtnl_route_set_type(route.get(), RTN_UNICAST);
  rtnl_route_set_scope(route.get(), gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
  if (int rc = rtnl_route_set_dst(route.get(), d.get()); rc < 0) {
    rtnl_route_nh_free(nh);
    return fail_nl(rc, what);
  }
  rtnl_route_nh_set_ifindex(nh, *idx);
  if (gateway) {
    auto gw = parse_interface_address(*gateway);
    if (!gw || gw->family != dst.family) {
      rtnl_route_nh_free(nh);
      return fail(what + ": gateway must be an address of the route's family", EINVAL);
    }
    NlAddrPtr g = to_nl_addr(gw->family, gw->addr, addr_len(gw->family) * 8);
    rtnl_route_nh_set_gateway(nh, g.get());  // takes its own reference
  }
  rtnl_route_add_nexthop(route.get(), nh);  // the route owns nh from here
  int rc = rtnl_route_add(sk.get(), route.get(), NLM_F_EXCL);
  if (rc < 0) return fail_nl(rc, what);
  return {};
}

Result<void> delete_link(NetlinkSocket& sk, const std::string& name) {
  auto idx = ifindex_by_name(sk, name);
  if (!idx) {
    if (idx.error().code == ENODEV || idx.error().code == ENOENT) return {};
    return wrap(idx.error(), "delete link " + name);
  }
  LinkPtr link(rtnl_link_alloc());
  rtnl_link_set_ifindex(link.get(), *idx);
  int rc = rtnl_link_delete(sk.get(), link.get());
  if (rc < 0) {
    int e = nl_error_to_errno(rc);
    if (e == ENODEV || e == ENOENT) return {};  // went away meanwhile
    return fail_nl(rc, "delete link " + name);
  }
  return {};
}

Result<std::vector<DefaultRouteInterface>> default_route_interfaces(NetlinkSocket& sk) {
  auto routes = list_routes(sk);
  if (!routes) return wrap(routes.error(), "find default-route interfaces");
  std::vector<DefaultRouteInterface> out;
  for (const auto& r : *routes) {
    if (!r.is_default() || r.table == RT_TABLE_LOCAL) continue;
    if (r.family != AF_INET && r.family != AF_INET6) continue;
    // Unreachable/blackhole/prohibit defaults carry no traffic out of an interface.
    if (r.type != RTN_UNICAST) continue;
    // libnl 3.7 does not parse RTA_NH_ID (routes using `ip nexthop` objects): fail closed
    // rather than let a guardrail pass because it could not see the interface.
    if (std::none_of(r.ifindexes.begin(), r.ifindexes.end(), [](int i) { return i > 0; }))
      return fail("a default route (table " + std::to_string(r.table) +
                      ") names no interface libnl can read (a nexthop object?)",
                  EOPNOTSUPP);
    for (int idx : r.ifindexes) {
      if (idx <= 0) continue;
      auto it = std::find_if(out.begin(), out.end(), [&](auto& d) { return d.ifindex == idx; });
      if (it == out.end()) {
        DefaultRouteInterface d;
        d.ifindex = idx;
        auto n = name_by_ifindex(sk, idx);
        d.name = n ? *n : "";
        out.push_back(std::move(d));
        it = std::prev(out.end());
      }
      if (std::find(it->families.begin(), it->families.end(), r.family) == it->families.end())
        it->families.push_back(r.family);
    }
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.ifindex < b.ifindex; });
  return out;
}

Result<std::vector<DefaultRouteInterface>> default_route_interfaces() {
  auto sk = NetlinkSocket::open_in(kRootNetnsPath);
  if (!sk) return wrap(sk.error(), "root namespace");
  return default_route_interfaces(*sk);
}

}  // namespace chaos
