// The gpu fault: per GPU, one worker process (gpu_worker.h) that holds memory and keeps K SMs
// busy at a duty cycle, supervised by the agent, with NVML telemetry sampled alongside.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "faults/fault.h"
#include "faults/gpu/gpu_worker.h"
#include "faults/gpu/nvml.h"
#include "faults/gpu/sizing.h"
#include "faults/gpu/spec.h"

namespace chaos::gpu {

// The journal kind of a GPU worker. Undo data: {"pid", "start_time", "device"}.
inline constexpr const char* kWorkerJournalKind = "gpu-worker";
// SIGKILLs the worker named by the undo data if, and only if, pid and start time still match
// (the driver then frees its memory and stops its kernels), and waits until it is gone.
Result<void> undo_gpu_worker(const nlohmann::json& undo);

// Without MPS, contexts of different processes do not share the GPU at the same time.
inline constexpr const char* kTimeSliceNote =
    "without MPS the GPU time-slices between processes: while the SM load runs, other processes "
    "on this GPU get only their time slices, not the SMs left idle";

using NvmlFactory = std::function<Result<std::shared_ptr<Nvml>>()>;

struct GpuFaultOptions {
  DriverFactory driver;  // called only in worker and probe children; default: load_cuda_driver()
  NvmlFactory nvml;      // called in the agent; default: load_nvml()
  std::span<const std::uint8_t> fatbin;  // default: embedded_fatbin()
  int kernels_cuda_version = 0;          // default: kernels_cuda_version()
  std::string no_kernels_reason;         // default: kernels_missing_reason()
  std::uint64_t step_bytes = kDefaultStepBytes;
  std::chrono::milliseconds setup_timeout{std::chrono::seconds(120)};
  std::chrono::milliseconds stop_timeout{std::chrono::seconds(20)};
  std::chrono::milliseconds probe_timeout{std::chrono::seconds(60)};
  std::uint64_t status_interval_ns = 100'000'000;
  std::uint64_t sm_settle_ns = 3'000'000'000;
  // A duty cycle measured further than this from the request is reported as off target.
  double duty_tolerance = 0.05;

  static GpuFaultOptions defaults();
};

// The minimum driver (cuDriverGetVersion) for memory-only faults: VMM and primary contexts.
inline constexpr int kMinDriverForMemory = 11000;

class GpuFault final : public Fault {
 public:
  GpuFault(std::string name, std::shared_ptr<const GpuSpec> spec, FaultContext ctx, GpuFaultOptions opts);
  ~GpuFault() override;

  Result<std::vector<std::string>> plan() override;
  Result<void> apply() override;
  Result<void> renew(std::uint64_t deadline_mono_ns) override;
  Result<void> revert() override;
  nlohmann::json sample() override;
  nlohmann::json observe() const override;

  // The worker processes (tests and the device check watch them).
  std::vector<ProcessIdentity> workers() const;
  std::vector<WorkerSnapshot> snapshots() const;

 private:
  struct Target {
    ProbedGpu gpu;
    int nvml = -1;
    std::uint64_t bytes = 0;  // the plan's estimate; the worker sizes again on the GPU
    int sms = 0;
    std::vector<GpuProcess> others;
  };
  struct Telemetry {
    std::optional<std::uint64_t> peak_memory_used;
    std::optional<unsigned> max_temperature_c, min_sm_clock_mhz, max_sm_clock_mhz, max_utilization;
    std::optional<double> max_power_w;
    std::uint64_t throttle_seen = 0;
    std::vector<std::uint64_t> xids;
    int samples = 0;
  };
  struct Running {
    Target* target = nullptr;
    std::optional<Worker> worker;
    SharedPage<WorkerPage> page;
    std::optional<std::uint64_t> seq;  // journal entry
    WorkerSnapshot last;               // the latest report while running
    std::optional<std::string> ended;  // "exited 0", "killed by SIGKILL"
    std::optional<std::string> error;
    bool reverted = false;
    Telemetry tele;
  };

  void log_info(const std::string& msg) const;
  Result<void> stop_worker(Running& r);
  std::optional<std::string> check_worker(Running& r);  // error text when it failed or died
  nlohmann::json gpu_observation(const Running& r) const;

  std::string name_;
  std::shared_ptr<const GpuSpec> spec_;
  FaultContext ctx_;
  GpuFaultOptions opts_;
  bool planned_ = false;
  std::optional<ProbeResult> probe_;
  std::shared_ptr<Nvml> nvml_;
  std::string nvml_missing_;
  std::vector<Target> targets_;
  std::vector<std::unique_ptr<Running>> running_;
};

}  // namespace chaos::gpu
