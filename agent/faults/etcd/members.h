// Where the members of an etcd cluster are on this node, and which one a role names.
//
// Each endpoint's member runs in the namespace the experiment names, or else in the local
// namespace that holds the endpoint's address (the host, or one of /run/netns/*); a member
// whose address no local namespace holds is remote: it can be watched (from the host) but not
// isolated from here. The interface to cut is the one the member's namespace routes its peers
// through.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/result.h"
#include "faults/etcd/spec.h"
#include "kernel/netlink.h"
#include "kernel/netns.h"
#include "observe/etcd_client.h"

namespace chaos::etcd {

struct MemberEndpoint {
  EtcdUrl url;
  NetnsRef netns;        // the member's namespace (the host's when remote)
  bool local = false;    // a local namespace holds the address (or the experiment named one)
  bool is_root = false;  // that namespace is the host's
  std::string where;     // "netns chaoslab-etcd1", "host", "remote (watched from the host)"
};

// Resolves one endpoint: the named target, or a scan of the host and every named namespace
// for the address. An address held by more than one namespace is an error (name one).
Result<MemberEndpoint> resolve_endpoint(const EndpointSpec& e);

// The longest-prefix route to `to` among unicast and local routes of the main and local
// tables (the kernel's own choice for a lab's simple tables). nullopt: no route.
struct RouteChoice {
  int ifindex = 0;
  bool local = false;  // a local route: the address is this namespace's own
};
std::optional<RouteChoice> route_towards(const std::vector<RouteInfo>& routes, const Cidr& to);

struct Interface {
  int ifindex = 0;
  std::string name;
};
// The interfaces `netns_path` routes `peers` (address literals) through, deduplicated. Refuses a
// peer reached through a local route (the peers share the namespace: cutting one member's
// traffic is not possible there) or through no route at all.
Result<std::vector<Interface>> interfaces_towards(const std::string& netns_path, const std::vector<std::string>& peers);

// The guardrail shared with the network family: the interface carrying the root namespace's
// default route is refused unless the agent's config allows it.
Result<void> check_interface_allowed(const MemberEndpoint& where, const Interface& itf, const AgentConfig& config);

// One endpoint's answer to a status call (or why there is none).
struct MemberState {
  std::optional<EtcdStatus> status;
  std::string error;
  std::string name;  // from the member list ("" when unknown)
};

// The leader most answering members report (0: none reported).
std::uint64_t consensus_leader(const std::vector<MemberState>& states);

// Picks the endpoint a selector names: the leader's; the first follower in endpoint order; a
// random answering one (`random` picks it); the member of that name. Every error says what the
// cluster looked like.
Result<std::size_t> choose_member(const std::vector<MemberState>& states, Selector sel, const std::string& name,
                                  std::uint64_t random);

// The port of a URL (http://host:PORT), 0 when it has none or is not a URL.
std::uint16_t url_port(const std::string& url);

}  // namespace chaos::etcd
