// The network family's part of agent.yaml (registered through runner/families like its block
// parser; core/config.h hands it the keys):
//   guardrails:
//     maxDelay: 10s       a delay's latency + jitter above this is refused at plan time
//     maxLoss: 100%       a loss rate above this is refused at plan time
//   network:
//     attach: auto | tcx | classic   how classifiers attach (auto: tcx where the kernel has it)
// The etcd family, which isolates members with the network family's classifiers, reads it too.
#pragma once

#include <optional>

#include "core/config.h"
#include "core/units.h"
#include "kernel/tc_attach.h"

namespace chaos::network {

inline constexpr const char* kFamilyName = "network";

struct NetworkConfig : FamilyConfig {
  std::optional<Duration> max_delay;        // guardrails.maxDelay
  std::optional<double> max_loss_fraction;  // guardrails.maxLoss
  kernel::AttachMode attach = kernel::AttachMode::automatic;  // network.attach
};

// The family's part of `c` (its defaults when `c` has none).
const NetworkConfig& config_of(const AgentConfig& c);
// Replaces it (tests, tools that build an AgentConfig in code).
void set_config(AgentConfig& c, NetworkConfig n);

// What the family registers (FaultFamily::config).
ConfigSection config_section();

}  // namespace chaos::network
