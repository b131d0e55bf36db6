// Everything the gpu fault does to one GPU, from inside the worker process: open the device,
// hold memory in VMM steps, run the SM load, report what was achieved, give it all back.
// Written against CudaDriver only, so the fake driver exercises the same code as the GPU.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "faults/gpu/cuda_driver.h"
#include "faults/gpu/kernel_abi.h"
#include "faults/gpu/spec.h"

namespace chaos::gpu {

struct SessionConfig {
  int device = 0;
  std::optional<MemoryRequest> memory;
  std::optional<double> max_memory_fraction;  // the agent's guardrail, checked again on the GPU
  bool load_sms = false;
  std::optional<SmRequest> sm;  // absent: every SM
  double duty = 1.0;            // at or above kPersistentDuty: one launch until the lease or stop
  bool tensor = false;
  std::uint64_t period_ns = 100'000'000;
  std::uint64_t step_bytes = 2ull << 30;
  std::span<const std::uint8_t> fatbin;
  // How long the load may take to claim all K SMs before the fault says it could not.
  std::uint64_t sm_settle_ns = 3'000'000'000;
};

inline constexpr double kPersistentDuty = 0.999;

// What one GPU's worker reports. Plain data: it lives in a page shared with the agent.
struct GpuReport {
  std::int32_t device = -1;
  char name[96] = {};
  char pci_bus_id[32] = {};
  std::int32_t sm_total = 0, cc_major = 0, cc_minor = 0;
  std::uint64_t total_bytes = 0;
  std::uint64_t free_bytes_at_start = 0;  // cuMemGetInfo after the context was made
  std::uint64_t granularity = 0, step_bytes = 0, steps = 0;
  std::uint64_t bytes_target = 0, bytes_held = 0;
  std::uint64_t fill_ns = 0, release_ns = 0;
  std::int32_t sm_target = 0, sm_busy = 0;
  std::int32_t shared_bytes_per_block = 0;  // dynamic shared memory that keeps one block per SM
  std::uint64_t sm_bitmap[CHAOS_GPU_MAX_SM / 64] = {};
  double duty_target = 0;
  double duty_achieved = -1;  // mean over the busy SMs, from %globaltimer; -1: not measured yet
  double duty_min = -1, duty_max = -1;
  std::uint64_t bursts = 0, bursts_skipped = 0, relaunches = 0;
  std::int64_t clock_offset_ns = 0;  // %globaltimer - CLOCK_MONOTONIC
  std::int32_t tensor = 0;
  std::int32_t released = 0;  // everything was given back (bytes_held stays what was held)
  std::int32_t cuda_error = 0;  // CUresult of the failure; 0: none
  char error[512] = {};

  std::vector<int> sm_ids() const;
  bool failed() const { return error[0] != 0; }
  nlohmann::json to_json() const;
};

class GpuSession {
 public:
  GpuSession(std::shared_ptr<CudaDriver> driver, SessionConfig cfg);
  ~GpuSession();  // gives back whatever is still held
  GpuSession(const GpuSession&) = delete;
  GpuSession& operator=(const GpuSession&) = delete;

  // cuInit, the device, its primary context, the small bookkeeping buffers.
  Result<void> open();
  // Reserves the target's address range and fills it step by step, each step created, mapped,
  // made accessible and written (cuMemsetD8) so it is resident. `keep_going` is asked between
  // steps (the worker's lease checkpoint); false aborts the fill.
  Result<void> hold_memory(const std::function<bool()>& keep_going = {});
  // Loads the kernels, relates the GPU clock to CLOCK_MONOTONIC, starts the load and waits
  // until all K SMs are claimed.
  Result<void> start_load(std::uint64_t deadline_mono_ns, const std::function<bool()>& keep_going = {});
  // Moves the kernels' deadline (the lease) in host-mapped memory.
  void set_deadline(std::uint64_t deadline_mono_ns);
  // Launches the bursts that are due and checks the stream for errors.
  Result<void> tick(std::uint64_t now_mono_ns);
  // When tick() next has something to do.
  std::uint64_t next_wakeup(std::uint64_t now_mono_ns) const;
  // Stops the kernels and gives everything back. Every step is tried; the first error is returned.
  Result<void> stop();

  // Re-reads what the kernels report into report().
  void refresh();
  const GpuReport& report() const { return report_; }
  // Records a failure into the report (first one wins).
  void record_error(const Error& e, CuResult rc = 0);

 private:
  Result<void> check(CuResult rc, const std::string& what);
  Result<void> launch_burst(std::uint64_t on_ns);
  Result<void> calibrate_clock();

  std::shared_ptr<CudaDriver> drv_;
  SessionConfig cfg_;
  GpuReport report_;
  std::string label_;  // "GPU 0"

  CuDevice dev_ = -1;
  CuContext ctx_ = nullptr;
  bool ctx_retained_ = false;

  // Bookkeeping: host-mapped control + slots, device-side claim/chosen/selected/sink.
  void* host_block_ = nullptr;
  ChaosGpuControl* control_ = nullptr;
  ChaosGpuSmSlot* slots_ = nullptr;
  CuDevicePtr host_block_dev_ = 0;
  CuDevicePtr dev_block_ = 0;

  // Held memory.
  CuDevicePtr va_ = 0;
  std::uint64_t va_size_ = 0;
  struct Chunk {
    CuDevicePtr ptr;
    std::uint64_t size;
    CuMemHandle handle;
    bool mapped;
  };
  std::vector<Chunk> chunks_;

  // Load.
  CuModule module_ = nullptr;
  CuFunction burn_ = nullptr, clock_ = nullptr;
  CuStream stream_ = nullptr;
  bool loading_ = false;
  bool persistent_ = true;
  std::uint32_t seq_ = 0;
  std::uint64_t on_ns_ = 0;
  std::uint64_t next_launch_ = 0;
  std::uint64_t deadline_mono_ = 0;
  ChaosGpuBurnParams params_{};
  bool stopped_ = false;
};

}  // namespace chaos::gpu
