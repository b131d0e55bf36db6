// libFuzzer harness: parse_agent_config over agent.yaml text. The body and its checks are
// chaos::fuzz::one_agent_config (targets.h), which the unit tier replays over every regression input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  chaos::fuzz::one_agent_config(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
