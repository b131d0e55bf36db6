// The worker process that holds one GPU, and the probe that looks at the GPUs for plan().
//
// Both run in children forked through chaos::Worker (kernel/worker.h): PR_SET_PDEATHSIG(SIGKILL),
// a lease timer that SIGKILLs the child at its deadline, identity journaled before release. CUDA
// is only ever initialised in such children, never in the agent: a process that has called
// cuInit cannot fork a child that uses CUDA, and a driver fault then takes down a worker, not
// the agent. When a worker dies, however it dies, the driver frees its memory and its kernels.
//
// The channel back to the agent is a shared page (MAP_SHARED, survives fork, needs no fd): the
// worker publishes its GpuReport and phase under a seqlock, the agent reads it whenever it likes.
// Commands go the other way through WorkerShared (deadline, stop).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "faults/gpu/cuda_driver.h"
#include "faults/gpu/session.h"
#include "kernel/worker.h"

namespace chaos::gpu {

using DriverFactory = std::function<Result<std::shared_ptr<CudaDriver>>()>;

enum class WorkerPhase : std::uint32_t {
  starting = 0,
  opening = 1,   // cuInit, context
  filling = 2,   // taking memory
  loading = 3,   // starting the SM load
  running = 4,   // holding
  stopping = 5,
  stopped = 6,   // gave everything back on request
  expired = 7,   // the lease lapsed: stopped by itself
  failed = 8,    // report.error says why
};
const char* worker_phase_name(WorkerPhase p);

// Exit statuses of the worker body.
inline constexpr int kWorkerExitStopped = 0;
inline constexpr int kWorkerExitFailed = 1;
inline constexpr int kWorkerExitExpired = 2;

struct WorkerPage {
  std::atomic<std::uint32_t> seq;
  std::atomic<std::uint32_t> phase;
  std::atomic<std::uint64_t> updated_ns;  // CLOCK_MONOTONIC of the last publish
  GpuReport report;
};

// An anonymous shared mapping of one T, visible to children forked after it was made.
template <class T>
class SharedPage {
 public:
  static Result<SharedPage> create();
  SharedPage() = default;
  SharedPage(SharedPage&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  SharedPage& operator=(SharedPage&& o) noexcept;
  ~SharedPage();
  T* get() const { return p_; }
  T* operator->() const { return p_; }

 private:
  T* p_ = nullptr;
};

// Worker side: publishes a report (seqlock writer).
void publish(WorkerPage* page, const GpuReport& report, WorkerPhase phase);
// Agent side: a consistent copy.
struct WorkerSnapshot {
  GpuReport report;
  WorkerPhase phase = WorkerPhase::starting;
  std::uint64_t updated_ns = 0;
};
WorkerSnapshot read_page(const WorkerPage* page);

struct WorkerParams {
  SessionConfig session;
  DriverFactory driver;                          // called in the child
  std::uint64_t status_interval_ns = 100'000'000;
};

// The worker body: open, fill, load, hold until stop or the lease lapses, give back.
int run_gpu_worker(WorkerControl& ctl, WorkerPage* page, const WorkerParams& params);

// What the probe found (plan() reads this; nothing is held).
struct ProbedGpu {
  int ordinal = 0;
  std::string name, pci_bus_id;
  int sm_total = 0, cc_major = 0, cc_minor = 0, compute_mode = 0;
  bool vmm = false, can_map_host = false;
  std::uint64_t total_bytes = 0;
};
struct ProbeResult {
  std::string driver;  // where it came from
  int driver_version = 0;
  bool green_contexts = false;
  std::vector<ProbedGpu> gpus;
};

// Forks a short-lived child that loads the driver and describes every GPU. The errors are the
// ones users see: "no NVIDIA driver (libcuda.so.1 not found)", "cuInit: CUDA_ERROR_NO_DEVICE ...".
Result<ProbeResult> probe_gpus(const DriverFactory& driver, std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace chaos::gpu
