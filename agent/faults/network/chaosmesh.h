// Chaos Mesh network manifests to native experiments, for `chaosctl import` and `chaosctl run`.
//
// NetworkChaos (chaos-mesh.org/v1alpha1):
//   action     delay | loss | duplicate | corrupt | netem -> the same action (netem when a delay
//              carries a reorder); bandwidth -> rate (netem's rate: tbf's limit, buffer,
//              peakrate and minburst have no equivalent and are reported as dropped); partition
//   delay      {latency, jitter, correlation, reorder: {reorder, correlation, gap}}
//   loss, duplicate, corrupt  {<value>, correlation}; percentages are bare numbers ("25")
//   direction  to -> egress, from -> ingress, both -> both (default to)
//   externalTargets  IPs, CIDRs and host names (resolved now, to every address), each with an
//              optional ":port"; targets that name different ports become separate faults
//   device     the interface, unless --interface says otherwise
//   duration   the fault's duration (none: the import's default, since a native run always ends)
//   mode, selector, target (pod selectors) name pods: on a node the caller says where instead
//              (--target, and --peer for the other side); a target selector without --peer is
//              converted to "every peer" with a warning.
// PhysicalMachineChaos (chaosd on a machine): network-delay, network-loss, network-corrupt,
// network-duplicate, network-partition and network-bandwidth convert the same way (device,
// ip-address, hostname, ip-protocol, source-port, egress-port); other actions are refused.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/fields.h"
#include "core/net_target.h"
#include "faults/fault.h"
#include "core/result.h"
#include "core/units.h"

namespace chaos::network {

struct ChaosMeshImportOptions {
  std::optional<NetTarget> target;  // --target; none: the host's namespace (with a warning)
  std::string interface;            // --interface; none: spec.device, or eth0
  std::vector<Cidr> peers;          // --peer: stands in for a pod selector in spec.target
  Duration default_duration = std::chrono::seconds(60);
  // Host names in externalTargets become addresses at import time; tests inject a fake.
  std::function<Result<std::vector<Cidr>>(const std::string& host)> resolve;
};

struct ImportResult {
  std::string yaml;                   // the native experiment
  std::vector<std::string> warnings;  // what did not carry over exactly (also in the YAML as comments)
};

// "host", "netns:NAME", "pid:N", "lab:HOST" (also "lab:LAB/HOST").
Result<NetTarget> parse_import_target(const std::string& text);

// getaddrinfo, every IPv4 and IPv6 address as a host CIDR.
Result<std::vector<Cidr>> resolve_host(const std::string& host);

// The spec of a NetworkChaos or PhysicalMachineChaos (network actions) named `name` ("" =
// "imported"): the object's `spec`, or a Schedule's `spec.networkChaos`. Errors are located at the
// field, with its path; an action chaos-agent has no equivalent for is refused. Never throws,
// whatever the YAML holds.
Converted<ImportResult> convert_network_spec(const std::string& kind, const std::string& name, const YNode& spec,
                                             const ChaosMeshImportOptions& opts);

// The family's converter for chaosctl import (FaultFamily::chaos_mesh): NetworkChaos and
// PhysicalMachineChaos, --target host | netns:NAME | pid:N | lab:HOST, --interface checked.
ChaosMeshConverter chaos_mesh_converter();

}  // namespace chaos::network
