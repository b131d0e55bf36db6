// Agent configuration (/etc/chaos-agent/agent.yaml): guardrails and defaults.
//
// Core reads the envelope: lease, tick, maxRunDuration, the node's protections in `guardrails:`
// (protected cgroups, units, ports; the default-route interface), metrics:, api:. A fault
// family's part (its caps among the guardrails, a section of its own like `network:`) is read by
// the parser the family registered (ConfigRegistry, built by runner/families like SpecRegistry)
// and kept as the family's FamilyConfig; core never looks inside.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/diag.h"
#include "core/fields.h"
#include "core/result.h"
#include "core/units.h"

namespace chaos {

// The API socket's permissions and limits (agent.yaml `api:`; docs/operations.md "Who may do what").
struct ApiConfig {
  // Members may read (status, report, validate, dry runs, schedules, audit) and halt; the socket
  // is root:GROUP 0660. A group that does not exist leaves the socket root-only (0600).
  std::string group = "chaos";
  // Members (and root) may also change the node: run, recover, schedule add/rm/pause/resume/trigger.
  std::string operators_group = "chaos-operators";
  // A request line longer than this is refused without being buffered.
  std::uint64_t max_request_bytes = 1u << 20;
  // Connections served at once; one more is answered "busy" (a few extra slots stay open for halt).
  int max_connections = 64;
  // Runs planned or running at once (scheduled ones included); one more is refused.
  int max_concurrent_runs = 8;
};

// A family's part of agent.yaml, as its registered parser read it (faults/network/config.h).
struct FamilyConfig {
  virtual ~FamilyConfig() = default;
};

struct AgentConfig {
  // Dead-man lease: faults stop by themselves this long after the last renewal.
  Duration lease{std::chrono::seconds(3)};
  // How often the runner ticks (probes are sampled on their own intervals).
  Duration tick{std::chrono::milliseconds(100)};
  // No run lasts longer (refused at plan time).
  Duration max_run_duration{std::chrono::hours(4)};
  // The node's protections, whatever the family (network and etcd faults read the first and the
  // ports, memory faults the cgroups and units). A family's own caps are in its FamilyConfig.
  // The interface that carries the root namespace's default route is refused unless allowed.
  bool allow_default_route_interface = false;
  // Cgroups (paths) and systemd units no fault may target.
  std::vector<std::string> protected_cgroups;
  std::vector<std::string> protected_units;
  // Ports never partitioned unless the experiment allows it explicitly (SSH, the agent's API).
  std::vector<PortRange> protected_ports{{22, 22}};
  // The Prometheus /metrics endpoint (metrics.listen): "IP:PORT", "[IPv6]:PORT". Absent: none.
  std::optional<std::string> metrics_listen;
  ApiConfig api;
  // Each registered family's part, by family name (families without a part have none here).
  std::map<std::string, std::shared_ptr<const FamilyConfig>> families;
};

// The family's part of `c`, or T's defaults when there is none (a config built in code).
template <class T>
const T& family_config(const AgentConfig& c, const std::string& family) {
  if (auto it = c.families.find(family); it != c.families.end())
    if (const auto* t = dynamic_cast<const T*>(it->second.get())) return *t;
  static const T defaults{};
  return defaults;
}

// How a family reads its part of agent.yaml. Both readers are optional:
//   guardrails(r, into): its keys of the shared `guardrails:` map (the core parser finishes `r`,
//                        so a key nobody reads is an unknown field listing every family's keys);
//   section + read_section(r, into): a top-level map of its own ("network"), which the core
//                        parser finishes after read_section.
// A failed field keeps its default (the one make() gave). Errors go through the reader, located.
struct ConfigSection {
  std::function<std::shared_ptr<FamilyConfig>()> make;
  std::function<void(MapReader& guardrails, FamilyConfig& into)> guardrails;
  std::string section;
  std::function<void(MapReader& section, FamilyConfig& into)> read_section;
};

// ConfigSection for a family whose part is a T (derived from FamilyConfig, default-constructible).
template <class T>
ConfigSection config_section(std::function<void(MapReader&, T&)> guardrails, std::string section = "",
                             std::function<void(MapReader&, T&)> read_section = nullptr) {
  ConfigSection s;
  s.make = [] { return std::make_shared<T>(); };
  if (guardrails)
    s.guardrails = [g = std::move(guardrails)](MapReader& r, FamilyConfig& c) { g(r, static_cast<T&>(c)); };
  s.section = std::move(section);
  if (read_section)
    s.read_section = [f = std::move(read_section)](MapReader& r, FamilyConfig& c) { f(r, static_cast<T&>(c)); };
  return s;
}

// The families' parsers, in the order the families are listed (runner/families.cpp); their keys
// are read in that order, so their errors come in that order.
class ConfigRegistry {
 public:
  void add(std::string family, ConfigSection section);
  const std::vector<std::pair<std::string, ConfigSection>>& sections() const { return sections_; }

 private:
  std::vector<std::pair<std::string, ConfigSection>> sections_;
};

struct ConfigOutcome {
  AgentConfig config;
  Diagnostics diags;
};

// Reads agent.yaml strictly (unknown keys are errors), each family's part with the parser it
// registered. An absent file gives the defaults.
ConfigOutcome load_agent_config(const std::string& path, const ConfigRegistry& families);
ConfigOutcome parse_agent_config(const std::string& text, const std::string& file, const ConfigRegistry& families);

// Checks a listen address "IP:PORT" or "[IPv6]:PORT" (an IP literal, a port 1..65535); returns it
// in the form the HTTP server takes, or why it is not one.
Result<std::string> parse_listen_address(const std::string& text);

// A group name agent.yaml may name in api.group / api.operatorsGroup.
bool valid_group_name(std::string_view name);

}  // namespace chaos
