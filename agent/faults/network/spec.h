// The network family's block:
//   network:
//     action: partition | delay | loss | duplicate | corrupt | reorder | rate | netem
//     netns: NAME | pid: N | lab: HOST      (none of them: the host's own namespace)
//     interface: IF
//     direction: egress | ingress | both    (default egress)
//     match: {cidrs: [...], protocol: tcp|udp|icmp|any, ports: [...], cgroup: PATH}
//     delay: {latency, jitter, correlation, distribution: uniform|normal|pareto|paretonormal}
//     loss: {loss, correlation, gemodel: {p, r, h, k}}
//     duplicate: {duplicate, correlation}
//     corrupt: {corrupt, correlation}
//     reorder: {reorder, correlation, gap}
//     rate: {rate}
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/experiment.h"
#include "core/fields.h"
#include "core/net_target.h"
#include "core/units.h"
#include "kernel/qdisc.h"

namespace chaos::network {

enum class Action { partition, delay, loss, duplicate, corrupt, reorder, rate, netem };
const char* action_name(Action a);

enum class Direction { egress, ingress, both };
const char* direction_name(Direction d);

using chaos::NetTarget;

enum class Protocol : std::uint8_t { any = 0, icmp = 1, tcp = 6, udp = 17 };

struct Match {
  std::vector<Cidr> cidrs;        // the peer's address (destination on egress, source on ingress); empty: any
  Protocol protocol = Protocol::any;
  std::vector<PortRange> ports;   // source or destination port; empty: any
  std::string cgroup;             // egress only: processes of this cgroup (v2 path); empty: any
  bool empty() const { return cidrs.empty() && protocol == Protocol::any && ports.empty() && cgroup.empty(); }
};

struct DelaySpec {
  Duration latency{0};
  Duration jitter{0};
  Percent correlation{};
  std::optional<kernel::NetemDistribution> distribution;  // none given: netem's uniform
};
struct GilbertElliott {  // netem's gemodel: p, r, 1-h, 1-k
  Percent p{}, r{}, h{}, k{};
};
struct LossSpec {
  Percent loss{};
  Percent correlation{};
  std::optional<GilbertElliott> gemodel;
};
struct PercentSpec {  // duplicate, corrupt
  Percent value{};
  Percent correlation{};
};
struct ReorderSpec {
  Percent reorder{};
  Percent correlation{};
  std::uint32_t gap = 0;
};
struct RateSpec {
  std::uint64_t bytes_per_second = 0;
};

struct NetworkSpec : FaultSpec {
  Action action = Action::partition;
  NetTarget target;
  std::string interface;  // empty: the lab host's interface (lab targets only)
  Direction direction = Direction::egress;
  Match match;
  // Protected ports (SSH, the agent's API) are excluded from partitions unless this is true.
  bool allow_protected_ports = false;
  std::optional<DelaySpec> delay;
  std::optional<LossSpec> loss;
  std::optional<PercentSpec> duplicate;
  std::optional<PercentSpec> corrupt;
  std::optional<ReorderSpec> reorder;
  std::optional<RateSpec> rate;

  nlohmann::json to_json() const override;
};

// An interface name the kernel takes: 1-15 characters, not "." or "..", no '/', ':' or whitespace.
bool valid_interface_name(const std::string& name);
inline constexpr const char* kInterfaceNameRule =
    "expected an interface name (1-15 characters, no '/', ':' or whitespace)";

// Reads the `network:` block strictly (registered as the family's FaultSpecParser).
std::shared_ptr<const FaultSpec> parse_network_spec(MapReader& r);

}  // namespace chaos::network

