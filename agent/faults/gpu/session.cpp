#include "faults/gpu/session.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>

#include "faults/gpu/sizing.h"
#include "kernel/worker.h"

namespace chaos::gpu {

namespace {

constexpr std::size_t kClaimOffset = 0;
constexpr std::size_t kChosenOffset = CHAOS_GPU_MAX_SM * sizeof(std::uint32_t);
constexpr std::size_t kSelectedOffset = 2 * CHAOS_GPU_MAX_SM * sizeof(std::uint32_t);
constexpr std::size_t kSinkOffset = kSelectedOffset + sizeof(std::uint64_t);
constexpr std::size_t kDeviceBlockBytes = kSinkOffset + 64;
constexpr std::size_t kHostBlockBytes = 256 + CHAOS_GPU_MAX_SM * sizeof(ChaosGpuSmSlot);

void copy_str(char* dst, std::size_t n, const std::string& s) {
  std::size_t k = std::min(n - 1, s.size());
  std::memcpy(dst, s.data(), k);
  dst[k] = 0;
}

// One consistent copy of a slot the GPU writes under its seqlock.
bool read_slot(const ChaosGpuSmSlot* src, ChaosGpuSmSlot* out) {
  const volatile ChaosGpuSmSlot* s = src;
  for (int tries = 0; tries < 1000; ++tries) {
    std::uint32_t a = s->seq;
    std::atomic_thread_fence(std::memory_order_acquire);
    if (a & 1u) continue;
    out->bursts = s->bursts;
    out->busy_ns = s->busy_ns;
    out->first_gt = s->first_gt;
    out->last_start_gt = s->last_start_gt;
    out->last_busy_ns = s->last_busy_ns;
    out->heartbeat_gt = s->heartbeat_gt;
    out->nsmid = s->nsmid;
    std::atomic_thread_fence(std::memory_order_acquire);
    if (s->seq == a) return true;
  }
  return false;
}

}  // namespace

std::vector<int> GpuReport::sm_ids() const {
  std::vector<int> out;
  for (int i = 0; i < CHAOS_GPU_MAX_SM; ++i)
    if (sm_bitmap[i / 64] & (1ull << (i % 64))) out.push_back(i);
  return out;
}

nlohmann::json GpuReport::to_json() const {
  nlohmann::json j{
      {"device", device},
      {"name", name},
      {"pci_bus_id", pci_bus_id},
      {"sm_total", sm_total},
      {"compute_capability", std::to_string(cc_major) + "." + std::to_string(cc_minor)},
      {"total_bytes", total_bytes},
      {"free_bytes_at_start", free_bytes_at_start},
  };
  if (granularity) {
    j["memory"] = {{"target_bytes", bytes_target}, {"held_bytes", bytes_held},  {"granularity", granularity},
                   {"step_bytes", step_bytes},     {"steps", steps},            {"fill_ms", fill_ns / 1e6},
                   {"release_ms", release_ns / 1e6}};
  }
  if (sm_target) {
    j["sm"] = {{"target", sm_target},
               {"busy", sm_busy},
               {"ids", sm_ids()},
               {"duty_target", duty_target},
               {"duty_achieved", duty_achieved < 0 ? nlohmann::json(nullptr) : nlohmann::json(duty_achieved)},
               {"duty_min", duty_min < 0 ? nlohmann::json(nullptr) : nlohmann::json(duty_min)},
               {"duty_max", duty_max < 0 ? nlohmann::json(nullptr) : nlohmann::json(duty_max)},
               {"tensor", tensor != 0},
               {"shared_bytes_per_block", shared_bytes_per_block},
               {"bursts", bursts},
               {"bursts_skipped", bursts_skipped},
               {"relaunches", relaunches}};
  }
  j["released"] = released != 0;
  if (error[0]) j["error"] = error;
  if (cuda_error) j["cuda_error"] = cuda_error;
  return j;
}

GpuSession::GpuSession(std::shared_ptr<CudaDriver> driver, SessionConfig cfg)
    : drv_(std::move(driver)), cfg_(std::move(cfg)), label_("GPU " + std::to_string(cfg_.device)) {
  report_.device = cfg_.device;
  report_.duty_target = cfg_.load_sms ? cfg_.duty : 0;
  report_.tensor = cfg_.tensor ? 1 : 0;
}

GpuSession::~GpuSession() { (void)stop(); }

void GpuSession::record_error(const Error& e, CuResult rc) {
  if (report_.error[0]) return;
  copy_str(report_.error, sizeof report_.error, e.message);
  report_.cuda_error = rc;
}

Result<void> GpuSession::check(CuResult rc, const std::string& what) {
  if (rc == kCuSuccess) return {};
  Error e = cuda_error(*drv_, rc, label_ + ": " + what);
  record_error(e, rc);
  return std::unexpected(e);
}

Result<void> GpuSession::open() {
  if (auto r = check(drv_->init(), "cuInit"); !r) return r;
  int count = 0;
  if (auto r = check(drv_->device_count(&count), "cuDeviceGetCount"); !r) return r;
  if (cfg_.device >= count) {
    Error e{ENODEV, label_ + ": no such GPU, this node has " + std::to_string(count)};
    record_error(e);
    return std::unexpected(e);
  }
  if (auto r = check(drv_->device_get(&dev_, cfg_.device), "cuDeviceGet"); !r) return r;
  std::string name, pci;
  std::size_t total = 0;
  if (auto r = check(drv_->device_name(dev_, &name), "cuDeviceGetName"); !r) return r;
  if (auto r = check(drv_->device_pci_bus_id(dev_, &pci), "cuDeviceGetPCIBusId"); !r) return r;
  if (auto r = check(drv_->device_total_mem(dev_, &total), "cuDeviceTotalMem"); !r) return r;
  copy_str(report_.name, sizeof report_.name, name);
  copy_str(report_.pci_bus_id, sizeof report_.pci_bus_id, pci);
  report_.total_bytes = total;
  int vmm = 0, map_host = 0;
  if (auto r = check(drv_->device_attribute(dev_, kAttrMultiprocessorCount, &report_.sm_total), "SM count"); !r) return r;
  if (auto r = check(drv_->device_attribute(dev_, kAttrComputeCapabilityMajor, &report_.cc_major), "compute capability"); !r) return r;
  if (auto r = check(drv_->device_attribute(dev_, kAttrComputeCapabilityMinor, &report_.cc_minor), "compute capability"); !r) return r;
  if (auto r = check(drv_->device_attribute(dev_, kAttrVirtualMemoryManagement, &vmm), "VMM support"); !r) return r;
  if (auto r = check(drv_->device_attribute(dev_, kAttrCanMapHostMemory, &map_host), "host-mapped memory support"); !r) return r;
  if (cfg_.memory && !vmm) {
    Error e{ENOTSUP, label_ + ": the driver has no virtual memory management (cuMemCreate) for this GPU"};
    record_error(e);
    return std::unexpected(e);
  }
  if (cfg_.load_sms && !map_host) {
    Error e{ENOTSUP, label_ + ": cannot map host memory into the GPU (the kernels' lease lives there)"};
    record_error(e);
    return std::unexpected(e);
  }

  if (auto r = check(drv_->primary_ctx_retain(&ctx_, dev_), "cuDevicePrimaryCtxRetain"); !r) return r;
  ctx_retained_ = true;
  if (auto r = check(drv_->ctx_set_current(ctx_), "cuCtxSetCurrent"); !r) return r;

  if (cfg_.load_sms) {
    if (auto r = check(drv_->mem_host_alloc(&host_block_, kHostBlockBytes), "cuMemHostAlloc (lease and SM slots)"); !r)
      return r;
    std::memset(host_block_, 0, kHostBlockBytes);
    control_ = static_cast<ChaosGpuControl*>(host_block_);
    slots_ = reinterpret_cast<ChaosGpuSmSlot*>(static_cast<char*>(host_block_) + 256);
    if (auto r = check(drv_->host_device_pointer(&host_block_dev_, host_block_), "cuMemHostGetDevicePointer"); !r)
      return r;
    if (auto r = check(drv_->mem_alloc(&dev_block_, kDeviceBlockBytes), "cuMemAlloc (SM claims)"); !r) return r;
    if (auto r = check(drv_->memset_d8(dev_block_, 0, kDeviceBlockBytes), "cuMemsetD8 (SM claims)"); !r) return r;
  }

  std::size_t free = 0, total2 = 0;
  if (auto r = check(drv_->mem_get_info(&free, &total2), "cuMemGetInfo"); !r) return r;
  report_.free_bytes_at_start = free;
  return {};
}

Result<void> GpuSession::hold_memory(const std::function<bool()>& keep_going) {
  if (!cfg_.memory) return {};
  std::uint64_t t0 = monotonic_ns();
  std::size_t gran = 0, free = 0, total = 0;
  if (auto r = check(drv_->mem_granularity(&gran, dev_), "cuMemGetAllocationGranularity"); !r) return r;
  if (auto r = check(drv_->mem_get_info(&free, &total), "cuMemGetInfo"); !r) return r;
  report_.granularity = gran;
  auto target = memory_target(*cfg_.memory, total, free, gran, cfg_.max_memory_fraction);
  if (!target) {
    Error e = target.error();
    e.message = label_ + ": " + e.message;
    record_error(e);
    return std::unexpected(e);
  }
  report_.bytes_target = *target;
  report_.step_bytes = step_bytes(gran, cfg_.step_bytes);
  if (auto r = check(drv_->mem_address_reserve(&va_, *target, gran),
                     "cuMemAddressReserve " + format_bytes(*target));
      !r)
    return r;
  va_size_ = *target;
  std::uint64_t off = 0;
  for (std::uint64_t size : memory_steps(*target, report_.step_bytes)) {
    const std::string at = " at " + format_bytes(off) + " of " + format_bytes(*target);
    Chunk c{va_ + off, size, 0, false};
    if (auto r = check(drv_->mem_create(&c.handle, size, dev_), "cuMemCreate " + format_bytes(size) + at); !r) return r;
    chunks_.push_back(c);
    if (auto r = check(drv_->mem_map(c.ptr, size, c.handle), "cuMemMap" + at); !r) return r;
    chunks_.back().mapped = true;
    if (auto r = check(drv_->mem_set_access(c.ptr, size, dev_), "cuMemSetAccess" + at); !r) return r;
    // Physically backed already; writing it proves it usable and leaves nothing lazy.
    if (auto r = check(drv_->memset_d8(c.ptr, 0xA5, size), "cuMemsetD8" + at); !r) return r;
    off += size;
    report_.bytes_held = off;
    ++report_.steps;
    if (keep_going && !keep_going()) {
      Error e{ECANCELED, label_ + ": memory fill stopped at " + format_bytes(off) + " (lease lapsed or stop asked)"};
      record_error(e);
      return std::unexpected(e);
    }
  }
  if (auto r = check(drv_->ctx_synchronize(), "cuCtxSynchronize after the fill"); !r) return r;
  report_.fill_ns = monotonic_ns() - t0;
  return {};
}

Result<void> GpuSession::calibrate_clock() {
  // Smallest round trip wins: its midpoint is closest to when the kernel read the clock.
  std::uint64_t best_rtt = ~0ull;
  for (int i = 0; i < 5; ++i) {
    std::uint64_t control = host_block_dev_;
    void* args[] = {&control};
    const_cast<volatile std::uint64_t&>(control_->clock_gt) = 0;
    std::uint64_t a = monotonic_ns();
    if (auto r = check(drv_->launch_kernel(clock_, 1, 1, 0, stream_, args), "launch chaos_gpu_clock"); !r) return r;
    if (auto r = check(drv_->stream_synchronize(stream_), "cuStreamSynchronize (clock)"); !r) return r;
    std::uint64_t b = monotonic_ns();
    std::uint64_t gt = const_cast<volatile std::uint64_t&>(control_->clock_gt);
    if (gt == 0) {
      Error e{EIO, label_ + ": chaos_gpu_clock ran but wrote nothing to host-mapped memory"};
      record_error(e);
      return std::unexpected(e);
    }
    if (b - a < best_rtt) {
      best_rtt = b - a;
      report_.clock_offset_ns = static_cast<std::int64_t>(gt - (a + (b - a) / 2));
    }
  }
  return {};
}

void GpuSession::set_deadline(std::uint64_t deadline_mono_ns) {
  deadline_mono_ = deadline_mono_ns;
  if (control_)
    const_cast<volatile std::uint64_t&>(control_->deadline_gt) =
        deadline_mono_ns + static_cast<std::uint64_t>(report_.clock_offset_ns);
}

Result<void> GpuSession::launch_burst(std::uint64_t on_ns) {
  params_.seq = ++seq_;
  params_.on_ns = on_ns;
  void* args[] = {&params_};
  auto r = check(drv_->launch_kernel(burn_, burst_grid(report_.sm_total), CHAOS_GPU_BURN_THREADS,
                                     static_cast<unsigned>(report_.shared_bytes_per_block), stream_, args),
                 std::string("launch ") + (cfg_.tensor ? CHAOS_GPU_KERNEL_BURN_TENSOR : CHAOS_GPU_KERNEL_BURN));
  if (r) ++report_.bursts;
  return r;
}

Result<void> GpuSession::start_load(std::uint64_t deadline_mono_ns, const std::function<bool()>& keep_going) {
  if (!cfg_.load_sms) return {};
  if (cfg_.fatbin.empty()) {
    Error e{ENOEXEC, label_ + ": this build has no GPU kernels (nvcc was not found when it was built)"};
    record_error(e);
    return std::unexpected(e);
  }
  auto k = sm_target(cfg_.sm, report_.sm_total);
  if (!k) {
    Error e{k.error().code, label_ + ": " + k.error().message};
    record_error(e);
    return std::unexpected(e);
  }
  report_.sm_target = *k;
  if (auto r = check(drv_->module_load_data(&module_, cfg_.fatbin.data()), "cuModuleLoadData (stress kernels)"); !r)
    return r;
  const char* burn = cfg_.tensor ? CHAOS_GPU_KERNEL_BURN_TENSOR : CHAOS_GPU_KERNEL_BURN;
  if (auto r = check(drv_->module_get_function(&burn_, module_, burn), std::string("cuModuleGetFunction ") + burn); !r)
    return r;
  if (auto r = check(drv_->module_get_function(&clock_, module_, CHAOS_GPU_KERNEL_CLOCK),
                     "cuModuleGetFunction " CHAOS_GPU_KERNEL_CLOCK);
      !r)
    return r;
  // More than half an SM's shared memory per block: no SM can hold two, so the block scheduler
  // must give every SM one block in the first wave, and each of the K chosen SMs gets its block
  // in every burst even when K is all of them.
  int per_sm = 0, optin = 0;
  if (drv_->device_attribute(dev_, kAttrMaxSharedMemoryPerSm, &per_sm) == kCuSuccess &&
      drv_->device_attribute(dev_, kAttrMaxSharedMemoryPerBlockOptin, &optin) == kCuSuccess && per_sm > 0) {
    int shm = std::min(per_sm / 2 + 1024, optin - 2048);  // room for the kernel's static shared
    if (shm > per_sm / 2) {
      if (auto r = check(drv_->func_set_attribute(burn_, kFuncAttrMaxDynamicSharedBytes, shm),
                         "cuFuncSetAttribute (one block per SM)");
          !r)
        return r;
      report_.shared_bytes_per_block = shm;
    }
  }
  if (auto r = check(drv_->stream_create(&stream_), "cuStreamCreate"); !r) return r;
  if (auto r = calibrate_clock(); !r) return r;
  set_deadline(deadline_mono_ns);

  params_.control = host_block_dev_;
  params_.slots = host_block_dev_ + 256;
  params_.claim = dev_block_ + kClaimOffset;
  params_.chosen = dev_block_ + kChosenOffset;
  params_.selected = dev_block_ + kSelectedOffset;
  params_.sink = dev_block_ + kSinkOffset;
  params_.want_sms = static_cast<std::uint32_t>(*k);
  persistent_ = cfg_.duty >= kPersistentDuty;
  on_ns_ = persistent_ ? ~0ull : burst_on_ns(cfg_.duty, cfg_.period_ns);
  loading_ = true;
  std::uint64_t now = monotonic_ns();
  if (auto r = launch_burst(on_ns_); !r) return r;
  next_launch_ = now + cfg_.period_ns;

  // Wait until all K SMs are claimed: a load that cannot get them must say so, not run short.
  std::uint64_t until = now + cfg_.sm_settle_ns;
  for (;;) {
    now = monotonic_ns();
    if (auto r = tick(now); !r) return r;
    refresh();
    if (report_.sm_busy >= report_.sm_target) return {};
    if (now >= until || (keep_going && !keep_going())) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  Error e{EBUSY, label_ + ": the load kernel claimed only " + std::to_string(report_.sm_busy) + " of " +
                     std::to_string(report_.sm_target) + " SMs within " +
                     std::to_string(cfg_.sm_settle_ns / 1'000'000) + "ms"};
  record_error(e);
  return std::unexpected(e);
}

Result<void> GpuSession::tick(std::uint64_t now) {
  if (!loading_) return {};
  CuResult q = drv_->stream_query(stream_);
  if (q != kCuSuccess && q != kCuErrorNotReady) return check(q, "the SM load kernel failed (cuStreamQuery)");
  const bool idle = q == kCuSuccess;
  if (persistent_) {
    // The kernel only returns at the lease deadline or on stop. Returning earlier means the GPU
    // clock jumped against the host's: start it again and count it.
    if (idle && now + 20'000'000 < deadline_mono_) {
      ++report_.relaunches;
      return launch_burst(on_ns_);
    }
    return {};
  }
  if (now < next_launch_) return {};
  if (now >= next_launch_ + cfg_.period_ns) {
    // Fell behind (the worker was not scheduled): skip the lost periods, keep the phase.
    std::uint64_t lost = (now - next_launch_) / cfg_.period_ns;
    report_.bursts_skipped += lost;
    next_launch_ += lost * cfg_.period_ns;
  }
  next_launch_ += cfg_.period_ns;
  if (!idle) {
    // The last burst has not finished (another context held the GPU): do not pile up bursts.
    ++report_.bursts_skipped;
    return {};
  }
  if (now >= deadline_mono_) return {};
  return launch_burst(on_ns_);
}

std::uint64_t GpuSession::next_wakeup(std::uint64_t now) const {
  if (!loading_ || persistent_) return now + 50'000'000;
  return std::max(now, next_launch_);
}

void GpuSession::refresh() {
  if (!slots_) return;
  int busy = 0;
  double sum = 0, mn = 2, mx = -1;
  int measured = 0;
  std::fill(std::begin(report_.sm_bitmap), std::end(report_.sm_bitmap), 0);
  for (int sm = 0; sm < CHAOS_GPU_MAX_SM; ++sm) {
    ChaosGpuSmSlot s{};
    if (!read_slot(&slots_[sm], &s) || s.first_gt == 0) continue;
    ++busy;
    report_.sm_bitmap[sm / 64] |= 1ull << (sm % 64);
    double d = -1;
    if (s.last_start_gt > s.first_gt && s.busy_ns >= s.last_busy_ns) {
      // Whole periods only: from the first burst's start to the latest burst's start.
      d = double(s.busy_ns - s.last_busy_ns) / double(s.last_start_gt - s.first_gt);
    } else if (persistent_ && s.heartbeat_gt > s.first_gt) {
      d = double(s.busy_ns) / double(s.heartbeat_gt - s.first_gt);
    }
    if (d >= 0) {
      d = std::min(d, 1.0);
      sum += d;
      mn = std::min(mn, d);
      mx = std::max(mx, d);
      ++measured;
    }
  }
  report_.sm_busy = busy;
  if (measured > 0) {
    report_.duty_achieved = sum / measured;
    report_.duty_min = mn;
    report_.duty_max = mx;
  }
}

Result<void> GpuSession::stop() {
  if (stopped_) return {};
  stopped_ = true;
  Result<void> first;
  auto note = [&](CuResult rc, const std::string& what) {
    if (rc == kCuSuccess) return;
    auto r = check(rc, what);
    if (first) first = r;
  };
  if (loading_) {
    const_cast<volatile std::uint32_t&>(control_->stop) = 1;
    note(drv_->stream_synchronize(stream_), "cuStreamSynchronize (stopping the load)");
    refresh();
    loading_ = false;
  }
  if (stream_) note(drv_->stream_destroy(stream_), "cuStreamDestroy"), stream_ = nullptr;
  if (module_) note(drv_->module_unload(module_), "cuModuleUnload"), module_ = nullptr;

  std::uint64_t t0 = monotonic_ns();
  bool had_memory = !chunks_.empty() || va_ != 0;
  for (auto it = chunks_.rbegin(); it != chunks_.rend(); ++it) {
    if (it->mapped) note(drv_->mem_unmap(it->ptr, it->size), "cuMemUnmap");
    note(drv_->mem_release(it->handle), "cuMemRelease");
  }
  chunks_.clear();
  if (va_) note(drv_->mem_address_free(va_, va_size_), "cuMemAddressFree"), va_ = 0;
  if (had_memory) {
    report_.release_ns = monotonic_ns() - t0;
  }

  if (dev_block_) note(drv_->mem_free(dev_block_), "cuMemFree"), dev_block_ = 0;
  if (host_block_) note(drv_->mem_free_host(host_block_), "cuMemFreeHost"), host_block_ = nullptr;
  control_ = nullptr;
  slots_ = nullptr;
  if (ctx_retained_) note(drv_->primary_ctx_release(dev_), "cuDevicePrimaryCtxRelease"), ctx_retained_ = false;
  report_.released = first ? 1 : 0;
  return first;
}

}  // namespace chaos::gpu
