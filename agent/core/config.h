// Agent configuration (/etc/chaos-agent/agent.yaml): guardrails and defaults.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/diag.h"
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

struct AgentConfig {
  // Dead-man lease: faults stop by themselves this long after the last renewal.
  Duration lease{std::chrono::seconds(3)};
  // How often the runner ticks (probes are sampled on their own intervals).
  Duration tick{std::chrono::milliseconds(100)};
  // Caps, refused at plan time.
  Duration max_run_duration{std::chrono::hours(4)};
  std::optional<Duration> max_delay;             // network delay cap
  std::optional<double> max_loss_fraction;       // network loss cap
  std::optional<double> max_gpu_memory_fraction; // GPU memory cap
  // The interface that carries the root namespace's default route is refused unless allowed.
  bool allow_default_route_interface = false;
  // Network attach mode: "auto" (tcx where the kernel has it), "tcx", "classic" (clsact + cls_bpf).
  std::string network_attach = "auto";
  // Cgroups (paths) and systemd units no fault may target.
  std::vector<std::string> protected_cgroups;
  std::vector<std::string> protected_units;
  // Ports never partitioned unless the experiment allows it explicitly (SSH, the agent's API).
  std::vector<PortRange> protected_ports{{22, 22}};
  // The Prometheus /metrics endpoint (metrics.listen): "IP:PORT", "[IPv6]:PORT". Absent: none.
  std::optional<std::string> metrics_listen;
  ApiConfig api;
};

struct ConfigOutcome {
  AgentConfig config;
  Diagnostics diags;
};

// Reads agent.yaml strictly (unknown keys are errors). An absent file gives the defaults.
ConfigOutcome load_agent_config(const std::string& path);
ConfigOutcome parse_agent_config(const std::string& text, const std::string& file);

// Checks a listen address "IP:PORT" or "[IPv6]:PORT" (an IP literal, a port 1..65535); returns it
// in the form the HTTP server takes, or why it is not one.
Result<std::string> parse_listen_address(const std::string& text);

// A group name agent.yaml may name in api.group / api.operatorsGroup.
bool valid_group_name(std::string_view name);

}  // namespace chaos
