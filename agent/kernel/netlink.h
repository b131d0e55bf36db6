// rtnetlink over libnl-route-3: links, addresses and routes, in any network namespace.
// A netlink socket stays bound to the namespace it was created in, so NetlinkSocket::open_in()
// enters the namespace only long enough to create it; every call on that socket then acts
// there, from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/units.h"

struct nl_sock;

namespace chaos {

// libnl returns -NLE_* codes, not errno. Maps one back to the errno the kernel most likely
// sent (0 when there is none) and keeps libnl's text: "add address ...: Object exists".
std::unexpected<Error> fail_nl(int rc, const std::string& what);
int nl_error_to_errno(int rc);

// RAII nl_sock connected to NETLINK_ROUTE.
class NetlinkSocket {
 public:
  // In the calling thread's current namespace.
  static Result<NetlinkSocket> open();
  // In the namespace at `netns_path` (/run/netns/NAME, /proc/PID/ns/net); the calling thread
  // is back in its own namespace when this returns.
  static Result<NetlinkSocket> open_in(const std::string& netns_path);

  NetlinkSocket() = default;
  ~NetlinkSocket();
  NetlinkSocket(NetlinkSocket&& o) noexcept : sk_(o.sk_) { o.sk_ = nullptr; }
  NetlinkSocket& operator=(NetlinkSocket&& o) noexcept;
  NetlinkSocket(const NetlinkSocket&) = delete;
  NetlinkSocket& operator=(const NetlinkSocket&) = delete;

  nl_sock* get() const { return sk_; }

 private:
  explicit NetlinkSocket(nl_sock* sk) : sk_(sk) {}
  nl_sock* sk_ = nullptr;
};

// An address as configured on an interface: the host address plus the on-link prefix
// ("198.18.0.10/24"). Unlike Cidr, host bits are the point.
struct InterfaceAddress {
  int family = 0;                       // AF_INET or AF_INET6
  std::array<std::uint8_t, 16> addr{};  // network byte order; IPv4 uses the first 4 bytes
  int prefix = 0;
  friend bool operator==(const InterfaceAddress&, const InterfaceAddress&) = default;
  std::string ip() const;   // "198.18.0.10", "2001:2::10"
  std::string str() const;  // "198.18.0.10/24"
  Cidr host() const;        // 198.18.0.10/32
  Cidr network() const;     // 198.18.0.0/24
};
// "198.18.0.10/24", "2001:2::10/64"; a bare address gets /32 or /128.
Result<InterfaceAddress> parse_interface_address(std::string_view text);

struct LinkInfo {
  int ifindex = 0;
  std::string name;
  std::string kind;      // "veth", "bridge", "ifb", ... empty for plain devices (lo, physical)
  unsigned flags = 0;    // IFF_*
  int master = 0;        // ifindex of the bridge/bond it is enslaved to, 0 if none
  unsigned mtu = 0;
  std::uint8_t operstate = 0;  // IF_OPER_*
  bool up() const;             // IFF_UP
  friend bool operator==(const LinkInfo&, const LinkInfo&) = default;
};

struct AddressInfo {
  int ifindex = 0;
  InterfaceAddress address;
  int scope = 0;  // RT_SCOPE_*
  friend bool operator==(const AddressInfo&, const AddressInfo&) = default;
};

struct RouteInfo {
  int family = 0;
  std::uint32_t table = 0;  // RT_TABLE_*
  std::uint8_t type = 0;    // RTN_*
  std::uint8_t protocol = 0;
  std::string dst;          // "default" or "198.18.0.0/24"
  std::uint32_t priority = 0;
  std::vector<int> ifindexes;       // one per nexthop
  std::vector<std::string> gateways;
  bool is_default() const { return dst == "default"; }
  friend bool operator==(const RouteInfo&, const RouteInfo&) = default;
};

// Lookups.
Result<int> ifindex_by_name(NetlinkSocket& sk, const std::string& name);
Result<std::string> name_by_ifindex(NetlinkSocket& sk, int ifindex);
Result<LinkInfo> get_link(NetlinkSocket& sk, const std::string& name);
Result<bool> link_exists(NetlinkSocket& sk, const std::string& name);
Result<bool> link_is_up(NetlinkSocket& sk, const std::string& name);
Result<std::vector<LinkInfo>> list_links(NetlinkSocket& sk);
// Every address (ifindex 0) or those of one interface.
Result<std::vector<AddressInfo>> list_addresses(NetlinkSocket& sk, int ifindex = 0);
// Every route of every table (local/broadcast ones included), both families.
Result<std::vector<RouteInfo>> list_routes(NetlinkSocket& sk);

// Changes. Creation fails with EEXIST rather than adopting an object it did not make.
// A veth pair `name` <-> `peer`; with peer_netns_fd the peer is born in that namespace (one
// message, so no temporary name ever appears in the socket's namespace).
Result<void> create_veth(NetlinkSocket& sk, const std::string& name, const std::string& peer,
                         std::optional<int> peer_netns_fd = std::nullopt);
Result<void> create_bridge(NetlinkSocket& sk, const std::string& name);
Result<void> set_master(NetlinkSocket& sk, const std::string& name, const std::string& master);
Result<void> move_link_to_netns(NetlinkSocket& sk, const std::string& name, int netns_fd);
Result<void> set_link_up(NetlinkSocket& sk, const std::string& name, bool up = true);
// IPv6 addresses are added with IFA_F_NODAD: a lab address is usable at once instead of
// after a second of duplicate address detection.
Result<void> add_address(NetlinkSocket& sk, const std::string& name, const InterfaceAddress& a);
Result<void> delete_address(NetlinkSocket& sk, const std::string& name, const InterfaceAddress& a);
// A unicast route in the main table: `dst` via `gateway` (optional) out of `dev`.
Result<void> add_route(NetlinkSocket& sk, const Cidr& dst, const std::string& dev,
                       const std::optional<std::string>& gateway = std::nullopt);
// Deleting a link that is not there is success (revert is idempotent).
Result<void> delete_link(NetlinkSocket& sk, const std::string& name);

// The guardrail: every interface that carries a default route (IPv4 or IPv6, any table but
// `local`, every nexthop of a multipath route), deduplicated, by ifindex.
struct DefaultRouteInterface {
  int ifindex = 0;
  std::string name;
  std::vector<int> families;  // AF_INET and/or AF_INET6
};
Result<std::vector<DefaultRouteInterface>> default_route_interfaces(NetlinkSocket& sk);
// ... of the root namespace (/proc/1/ns/net).
Result<std::vector<DefaultRouteInterface>> default_route_interfaces();

}  // namespace chaos
