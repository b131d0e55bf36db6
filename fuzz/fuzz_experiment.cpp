// libFuzzer harness: parse_experiment over YAML text, every family and probe kind. The body and its checks are
// chaos::fuzz::one_experiment (targets.h), which the unit tier replays over every regression input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  chaos::fuzz::one_experiment(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
