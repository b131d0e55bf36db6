// libFuzzer harness: chaosctl import over a Chaos Mesh manifest, every kind it knows. The body and its checks are
// chaos::fuzz::one_chaosmesh_import (targets.h), which the unit tier replays over every regression input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  chaos::fuzz::one_chaosmesh_import(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
