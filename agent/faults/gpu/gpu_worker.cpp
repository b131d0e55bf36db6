#include "faults/gpu/gpu_worker.h"

#include <sys/mman.h>
#include <time.h>

#include <cstring>
#include <new>
#include <thread>

namespace chaos::gpu {

const char* worker_phase_name(WorkerPhase p) {
  switch (p) {
    case WorkerPhase::starting: return "starting";
    case WorkerPhase::opening: return "opening";
    case WorkerPhase::filling: return "filling";
    case WorkerPhase::loading: return "loading";
    case WorkerPhase::running: return "running";
    case WorkerPhase::stopping: return "stopping";
    case WorkerPhase::stopped: return "stopped";
    case WorkerPhase::expired: return "expired";
    case WorkerPhase::failed: return "failed";
  }
  return "?";
}

template <class T>
Result<SharedPage<T>> SharedPage<T>::create() {
  void* m = ::mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return fail_errno("gpu: map a shared page");
  SharedPage p;
  p.p_ = new (m) T{};
  return p;
}

template <class T>
SharedPage<T>& SharedPage<T>::operator=(SharedPage&& o) noexcept {
  if (this != &o) {
    if (p_) ::munmap(p_, sizeof(T));
    p_ = std::exchange(o.p_, nullptr);
  }
  return *this;
}

template <class T>
SharedPage<T>::~SharedPage() {
  if (p_) ::munmap(p_, sizeof(T));
}

void publish(WorkerPage* page, const GpuReport& report, WorkerPhase phase) {
  std::uint32_t s = page->seq.load(std::memory_order_relaxed);
  page->seq.store(s + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  std::memcpy(static_cast<void*>(&page->report), &report, sizeof report);
  page->phase.store(static_cast<std::uint32_t>(phase), std::memory_order_relaxed);
  page->updated_ns.store(monotonic_ns(), std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  page->seq.store(s + 2, std::memory_order_release);
}

WorkerSnapshot read_page(const WorkerPage* page) {
  WorkerSnapshot out;
  for (;;) {
    std::uint32_t a = page->seq.load(std::memory_order_acquire);
    if (a & 1u) {
      std::this_thread::yield();
      continue;
    }
    std::memcpy(&out.report, static_cast<const void*>(&page->report), sizeof out.report);
    out.phase = static_cast<WorkerPhase>(page->phase.load(std::memory_order_relaxed));
    out.updated_ns = page->updated_ns.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (page->seq.load(std::memory_order_relaxed) == a) return out;
  }
}

namespace {

void sleep_until_mono(std::uint64_t t) {
  struct timespec ts{};
  ts.tv_sec = static_cast<time_t>(t / 1'000'000'000ull);
  ts.tv_nsec = static_cast<long>(t % 1'000'000'000ull);
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

}  // namespace

int run_gpu_worker(WorkerControl& ctl, WorkerPage* page, const WorkerParams& params) {
  GpuReport early;
  early.device = params.session.device;
  publish(page, early, WorkerPhase::opening);
  auto drv = params.driver();
  if (!drv) {
    std::strncpy(early.error, drv.error().message.c_str(), sizeof early.error - 1);
    publish(page, early, WorkerPhase::failed);
    return kWorkerExitFailed;
  }
  GpuSession s(*drv, params.session);
  auto keep_going = [&] { return ctl.checkpoint(); };
  auto stop_asked = [&] { return ctl.shared().stop.load(std::memory_order_acquire) != 0; };

  // Ends the worker: gives everything back and says how it ended.
  auto finish = [&](WorkerPhase how) {
    publish(page, s.report(), how == WorkerPhase::failed ? WorkerPhase::failed : WorkerPhase::stopping);
    auto r = s.stop();
    if (!r && how != WorkerPhase::failed) how = WorkerPhase::failed;
    publish(page, s.report(), how);
    return how == WorkerPhase::stopped ? kWorkerExitStopped
           : how == WorkerPhase::expired ? kWorkerExitExpired
                                         : kWorkerExitFailed;
  };
  auto after_error = [&] {
    // A step cut short because the agent asked to stop is a stop, not a failure.
    if (stop_asked()) return finish(WorkerPhase::stopped);
    return finish(WorkerPhase::failed);
  };

  if (!s.open()) return after_error();
  publish(page, s.report(), WorkerPhase::filling);
  if (!s.hold_memory(keep_going)) return after_error();
  publish(page, s.report(), WorkerPhase::loading);
  if (!s.start_load(ctl.shared().deadline_ns.load(std::memory_order_acquire), keep_going)) return after_error();
  publish(page, s.report(), WorkerPhase::running);

  std::uint64_t next_status = monotonic_ns() + params.status_interval_ns;
  for (;;) {
    if (!ctl.checkpoint()) break;
    std::uint64_t deadline = ctl.shared().deadline_ns.load(std::memory_order_acquire);
    s.set_deadline(deadline);
    std::uint64_t now = monotonic_ns();
    if (!s.tick(now)) return after_error();
    if (now >= next_status) {
      s.refresh();
      publish(page, s.report(), WorkerPhase::running);
      next_status = now + params.status_interval_ns;
    }
    std::uint64_t wake = std::min({s.next_wakeup(now), next_status, now + std::uint64_t{50'000'000}, deadline});
    if (wake > now) sleep_until_mono(wake);
  }
  s.refresh();
  return finish(stop_asked() ? WorkerPhase::stopped : WorkerPhase::expired);
}

namespace {

constexpr int kMaxProbed = 16;

struct ProbePage {
  std::int32_t done;
  std::int32_t driver_version;
  std::int32_t device_count;
  std::int32_t green;
  char driver[128];
  char error[512];
  struct Dev {
    char name[96];
    char pci[32];
    std::int32_t sm_total, cc_major, cc_minor, compute_mode, vmm, map_host;
    std::uint64_t total_bytes;
  } devs[kMaxProbed];
};

int run_probe(ProbePage* page, const DriverFactory& factory) {
  auto say = [&](const std::string& msg) {
    std::strncpy(page->error, msg.c_str(), sizeof page->error - 1);
    page->done = 1;
    return 1;
  };
  auto drv = factory();
  if (!drv) return say(drv.error().message);
  CudaDriver& d = **drv;
  std::strncpy(page->driver, d.describe().c_str(), sizeof page->driver - 1);
  page->green = d.has_green_contexts() ? 1 : 0;
  // The version is known before cuInit, and says more than cuInit's failure on an old driver.
  int version = 0;
  if (CuResult rc = d.driver_version(&version); rc != kCuSuccess)
    return say(cuda_error(d, rc, "cuDriverGetVersion").message);
  page->driver_version = version;
  if (CuResult rc = d.init(); rc != kCuSuccess) {
    std::string hint = rc == kCuErrorNoDevice ? "no usable NVIDIA GPU" : "the NVIDIA driver did not initialise";
    return say(hint + ": " + cuda_error(d, rc, "cuInit").message);
  }
  int n = 0;
  if (CuResult rc = d.device_count(&n); rc != kCuSuccess) return say(cuda_error(d, rc, "cuDeviceGetCount").message);
  page->device_count = n;
  for (int i = 0; i < n && i < kMaxProbed; ++i) {
    CuDevice dev = 0;
    std::string what = "GPU " + std::to_string(i) + ": ";
    if (CuResult rc = d.device_get(&dev, i); rc != kCuSuccess) return say(cuda_error(d, rc, what + "cuDeviceGet").message);
    auto& o = page->devs[i];
    std::string name, pci;
    std::size_t total = 0;
    CuResult rc = d.device_name(dev, &name);
    if (rc == kCuSuccess) rc = d.device_pci_bus_id(dev, &pci);
    if (rc == kCuSuccess) rc = d.device_total_mem(dev, &total);
    if (rc == kCuSuccess) rc = d.device_attribute(dev, kAttrMultiprocessorCount, &o.sm_total);
    if (rc == kCuSuccess) rc = d.device_attribute(dev, kAttrComputeCapabilityMajor, &o.cc_major);
    if (rc == kCuSuccess) rc = d.device_attribute(dev, kAttrComputeCapabilityMinor, &o.cc_minor);
    if (rc == kCuSuccess) rc = d.device_attribute(dev, kAttrComputeMode, &o.compute_mode);
    if (rc == kCuSuccess) rc = d.device_attribute(dev, kAttrVirtualMemoryManagement, &o.vmm);
    if (rc == kCuSuccess) rc = d.device_attribute(dev, kAttrCanMapHostMemory, &o.map_host);
    if (rc != kCuSuccess) return say(cuda_error(d, rc, what + "device properties").message);
    std::strncpy(o.name, name.c_str(), sizeof o.name - 1);
    std::strncpy(o.pci, pci.c_str(), sizeof o.pci - 1);
    o.total_bytes = total;
  }
  page->done = 1;
  return 0;
}

}  // namespace

Result<ProbeResult> probe_gpus(const DriverFactory& factory, std::chrono::milliseconds timeout) {
  auto page = SharedPage<ProbePage>::create();
  if (!page) return std::unexpected(page.error());
  ProbePage* p = page->get();
  WorkerOptions opts;
  opts.name = "chaos-gpu-probe";
  opts.deadline_ns = monotonic_ns() + static_cast<std::uint64_t>(timeout.count()) * 1'000'000ull;
  auto w = Worker::spawn(opts, [p, &factory](WorkerControl&) { return run_probe(p, factory); });
  if (!w) return wrap(w.error(), "gpu: probe");
  if (auto r = w->release(); !r) return wrap(r.error(), "gpu: probe");
  while (!w->poll()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  if (!p->done)
    return fail("gpu: the GPU probe process died (" + w->describe_status() + ") before it could report", EIO);
  if (p->error[0]) return fail(p->error, ENODEV);
  ProbeResult out;
  out.driver = p->driver;
  out.driver_version = p->driver_version;
  out.green_contexts = p->green != 0;
  for (int i = 0; i < p->device_count && i < kMaxProbed; ++i) {
    const auto& d = p->devs[i];
    ProbedGpu g;
    g.ordinal = i;
    g.name = d.name;
    g.pci_bus_id = d.pci;
    g.sm_total = d.sm_total;
    g.cc_major = d.cc_major;
    g.cc_minor = d.cc_minor;
    g.compute_mode = d.compute_mode;
    g.vmm = d.vmm != 0;
    g.can_map_host = d.map_host != 0;
    g.total_bytes = d.total_bytes;
    out.gpus.push_back(std::move(g));
  }
  return out;
}

template class SharedPage<WorkerPage>;

}  // namespace chaos::gpu
