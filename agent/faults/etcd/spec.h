// The etcd family's block:
//   etcd:
//     action: isolate-member | cut-clients
//     endpoints:                                  # every member's client URL
//       - http://198.18.0.31:2379                 # the agent finds the namespace holding the address
//       - {url: http://198.18.0.32:2379, netns: NAME | pid: N | lab: HOST}
//     member: leader | follower | any | NAME      # isolate-member: which one (default leader)
//     ports: {peer: 2380, client: 2379}
//     alsoClients: false                          # isolate-member: cut its client port too
//     clients: {netns: NAME | pid: N | lab: HOST, cgroup: PATH}   # cut-clients: whose traffic
//     sampleInterval: 50ms                        # how often each member's view is read (<= 100ms)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/experiment.h"
#include "core/fields.h"
#include "core/net_target.h"
#include "observe/etcd_client.h"

namespace chaos::etcd {

enum class Action { isolate_member, cut_clients };
const char* action_name(Action a);  // "isolate-member", "cut-clients"

enum class Selector { leader, follower, any, named };

struct EndpointSpec {
  EtcdUrl url;
  std::optional<NetTarget> where;  // none: find the local namespace holding the address
};

struct EtcdSpec : FaultSpec {
  Action action = Action::isolate_member;
  std::vector<EndpointSpec> endpoints;
  Selector member = Selector::leader;
  std::string member_name;  // Selector::named
  std::uint16_t peer_port = 2380;
  std::uint16_t client_port = 2379;
  bool also_clients = false;
  NetTarget clients;          // cut-clients: the namespace the clients live in (default: host)
  std::string clients_cgroup; // cut-clients: only this cgroup v2's sockets (empty: every process)
  Duration sample_interval{std::chrono::milliseconds(50)};

  std::string member_str() const;  // "leader", "follower", "any", "member etcd2"
  nlohmann::json to_json() const override;
};

// Reads the `etcd:` block strictly (registered as the family's FaultSpecParser).
std::shared_ptr<const FaultSpec> parse_etcd_spec(MapReader& r);

}  // namespace chaos::etcd
