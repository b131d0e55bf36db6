// libFuzzer harness: One API request line, as the agent server takes it short of touching the node. The body and its checks are
// chaos::fuzz::one_api_request (targets.h), which the unit tier replays over every regression input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  chaos::fuzz::one_api_request(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
