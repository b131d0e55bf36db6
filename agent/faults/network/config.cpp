#include "faults/network/config.h"

#include <memory>

namespace chaos::network {

const NetworkConfig& config_of(const AgentConfig& c) { return family_config<NetworkConfig>(c, kFamilyName); }

void set_config(AgentConfig& c, NetworkConfig n) {
  c.families[kFamilyName] = std::make_shared<const NetworkConfig>(std::move(n));
}

ConfigSection config_section() {
  return chaos::config_section<NetworkConfig>(
      [](MapReader& gr, NetworkConfig& n) {
        n.max_delay = gr.duration("maxDelay");
        if (auto v = gr.percent("maxLoss")) n.max_loss_fraction = v->fraction();
      },
      "network",
      [](MapReader& nr, NetworkConfig& n) {
        // Parsed here once, into the enum every attach reads.
        if (auto v = nr.one_of<kernel::AttachMode>("attach")) n.attach = *v;
      });
}

}  // namespace chaos::network
