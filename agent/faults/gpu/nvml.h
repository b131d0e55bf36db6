// NVML, for preflight (MIG, other processes, free memory) and for the blast-radius telemetry the
// fault samples every tick. libnvidia-ml.so.1 is dlopen()ed: NVML is optional, and without it
// the fault still runs and says what it could not see. Unlike CUDA, NVML is safe to use in the
// agent itself (it creates no CUDA context, so the agent can still fork GPU workers).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace chaos::gpu {

struct GpuProcess {
  unsigned pid = 0;
  std::uint64_t used_bytes = 0;  // 0 when NVML cannot tell (it reports N/A)
};

struct XidEvent {
  std::uint64_t xid = 0;
  std::uint64_t at_mono_ns = 0;  // when the agent saw it
};

struct GpuTelemetry {
  std::optional<std::uint64_t> memory_used, memory_total, memory_free;
  std::optional<unsigned> utilization_gpu, utilization_memory;  // percent over NVML's sample window
  std::optional<unsigned> sm_clock_mhz;
  std::optional<unsigned> temperature_c;
  std::optional<double> power_w;
  std::optional<std::uint64_t> throttle_reasons;  // nvmlClocksEventReason bits
  std::vector<XidEvent> xids;                     // new since the last sample
  nlohmann::json to_json() const;
};

// Names of the throttle-reason bits that are set: "sw_power_cap", "hw_thermal_slowdown", ...
std::vector<std::string> throttle_reason_names(std::uint64_t bits);

class Nvml {
 public:
  virtual ~Nvml() = default;
  virtual Result<std::string> driver_version() = 0;  // "580.159.03"
  // An index for later calls, by PCI bus id (CUDA and NVML number GPUs differently).
  virtual Result<int> find(const std::string& pci_bus_id) = 0;
  virtual Result<bool> mig_enabled(int h) = 0;
  virtual Result<std::vector<GpuProcess>> compute_processes(int h) = 0;
  virtual Result<std::pair<std::uint64_t, std::uint64_t>> memory(int h) = 0;  // used, total
  // Starts collecting XID events for the device (best effort: not every GPU supports it).
  virtual Result<void> watch_xids(int h) = 0;
  virtual GpuTelemetry sample(int h) = 0;
};

// dlopen()s libnvidia-ml.so.1 and calls nvmlInit_v2. Fails plainly when there is no NVML.
Result<std::shared_ptr<Nvml>> load_nvml(const std::string& path = "libnvidia-ml.so.1");

// Scripted NVML for tests.
struct FakeNvmlGpu {
  std::string pci_bus_id = "0000:19:00.0";
  bool mig = false;
  std::vector<GpuProcess> processes;
  std::uint64_t used = 1ull << 30, total = 140ull << 30;
  GpuTelemetry telemetry;
  std::vector<std::uint64_t> pending_xids;
};
class FakeNvml final : public Nvml {
 public:
  std::string version = "580.159.03";
  std::vector<FakeNvmlGpu> gpus{FakeNvmlGpu{}};

  Result<std::string> driver_version() override { return version; }
  Result<int> find(const std::string& pci) override;
  Result<bool> mig_enabled(int h) override { return gpus.at(static_cast<std::size_t>(h)).mig; }
  Result<std::vector<GpuProcess>> compute_processes(int h) override { return gpus.at(static_cast<std::size_t>(h)).processes; }
  Result<std::pair<std::uint64_t, std::uint64_t>> memory(int h) override {
    auto& g = gpus.at(static_cast<std::size_t>(h));
    return std::make_pair(g.used, g.total);
  }
  Result<void> watch_xids(int) override { return {}; }
  GpuTelemetry sample(int h) override;
};

}  // namespace chaos::gpu
