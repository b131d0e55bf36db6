// libFuzzer harness: CronSchedule::parse and the firings of what it accepts. The body and its checks are
// chaos::fuzz::one_cron (targets.h), which the unit tier replays over every regression input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  chaos::fuzz::one_cron(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
