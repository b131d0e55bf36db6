#include "faults/gpu/fake_driver.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "kernel/worker.h"

namespace chaos::gpu {

namespace {

// Function handles are the addresses of these tags.
char g_fn_burn, g_fn_burn_tensor, g_fn_clock;

constexpr std::uint64_t kForever = ~0ull;

}  // namespace

std::string FakeDriver::Live::str() const {
  return "handles=" + std::to_string(handles) + " reservations=" + std::to_string(reservations) +
         " mappings=" + std::to_string(mappings) + " device_allocs=" + std::to_string(device_allocs) +
         " host_allocs=" + std::to_string(host_allocs) + " modules=" + std::to_string(modules) +
         " streams=" + std::to_string(streams) + " contexts=" + std::to_string(contexts) +
         " bytes_created=" + std::to_string(bytes_created);
}

FakeDriver::FakeDriver(FakeDriverConfig cfg) : cfg_(std::move(cfg)) {
  for (auto& g : cfg_.gpus)
    if (g.sm_ids.empty())
      for (int i = 0; i < g.sms; ++i) g.sm_ids.push_back(static_cast<unsigned>(i));
}

FakeDriver::~FakeDriver() {
  for (auto& [p, size] : device_allocs_) std::free(reinterpret_cast<void*>(p));
  for (void* p : host_allocs_) std::free(p);
}

FakeDriver::Live FakeDriver::live() const {
  Live l;
  l.handles = handles_.size();
  l.reservations = reservations_.size();
  l.mappings = mappings_.size();
  l.device_allocs = device_allocs_.size();
  l.host_allocs = host_allocs_.size();
  l.modules = modules_.size();
  l.streams = streams_.size();
  for (auto& [d, n] : ctx_refs_) l.contexts += static_cast<std::size_t>(n);
  l.bytes_created = created_;
  return l;
}

int FakeDriver::calls(const std::string& name) const {
  auto it = calls_.find(name);
  return it == calls_.end() ? 0 : it->second;
}

CuResult FakeDriver::enter(const std::string& call) {
  int n = ++calls_[call];
  for (const auto& s : cfg_.scripts) {
    if (s.call != call) continue;
    if (n == s.nth || (s.every_after && n > s.nth)) {
      if (s.crash) std::abort();
      return s.result;
    }
  }
  if (call != "init" && call != "driver_version" && call != "error" && !initialized_) return kCuErrorNotInitialized;
  return kCuSuccess;
}

const FakeGpu* FakeDriver::gpu(CuDevice d) const {
  if (d < 0 || d >= static_cast<int>(cfg_.gpus.size())) return nullptr;
  return &cfg_.gpus[static_cast<std::size_t>(d)];
}

CuResult FakeDriver::init() {
  if (CuResult rc = enter("init"); rc != kCuSuccess) return rc;
  if (cfg_.init_result != kCuSuccess) return cfg_.init_result;
  initialized_ = true;
  return kCuSuccess;
}

CuResult FakeDriver::driver_version(int* v) {
  if (CuResult rc = enter("driver_version"); rc != kCuSuccess) return rc;
  *v = cfg_.driver_version;
  return kCuSuccess;
}

CuResult FakeDriver::device_count(int* n) {
  if (CuResult rc = enter("device_count"); rc != kCuSuccess) return rc;
  *n = static_cast<int>(cfg_.gpus.size());
  return kCuSuccess;
}

CuResult FakeDriver::device_get(CuDevice* d, int ordinal) {
  if (CuResult rc = enter("device_get"); rc != kCuSuccess) return rc;
  if (!gpu(ordinal)) return kCuErrorInvalidDevice;
  *d = ordinal;
  return kCuSuccess;
}

CuResult FakeDriver::device_name(CuDevice d, std::string* name) {
  if (CuResult rc = enter("device_name"); rc != kCuSuccess) return rc;
  if (!gpu(d)) return kCuErrorInvalidDevice;
  *name = gpu(d)->name;
  return kCuSuccess;
}

CuResult FakeDriver::device_pci_bus_id(CuDevice d, std::string* id) {
  if (CuResult rc = enter("device_pci_bus_id"); rc != kCuSuccess) return rc;
  if (!gpu(d)) return kCuErrorInvalidDevice;
  *id = gpu(d)->pci_bus_id;
  return kCuSuccess;
}

CuResult FakeDriver::device_total_mem(CuDevice d, std::size_t* bytes) {
  if (CuResult rc = enter("device_total_mem"); rc != kCuSuccess) return rc;
  if (!gpu(d)) return kCuErrorInvalidDevice;
  *bytes = gpu(d)->total_bytes;
  return kCuSuccess;
}

CuResult FakeDriver::device_attribute(CuDevice d, int attr, int* v) {
  if (CuResult rc = enter("device_attribute"); rc != kCuSuccess) return rc;
  const FakeGpu* g = gpu(d);
  if (!g) return kCuErrorInvalidDevice;
  switch (attr) {
    case kAttrMultiprocessorCount: *v = g->sms; return kCuSuccess;
    case kAttrCanMapHostMemory: *v = g->can_map_host ? 1 : 0; return kCuSuccess;
    case kAttrComputeMode: *v = g->compute_mode; return kCuSuccess;
    case kAttrComputeCapabilityMajor: *v = g->cc_major; return kCuSuccess;
    case kAttrComputeCapabilityMinor: *v = g->cc_minor; return kCuSuccess;
    case kAttrVirtualMemoryManagement: *v = g->vmm ? 1 : 0; return kCuSuccess;
    case kAttrMaxSharedMemoryPerSm: *v = g->shared_per_sm; return kCuSuccess;
    case kAttrMaxSharedMemoryPerBlockOptin: *v = g->shared_per_block_optin; return kCuSuccess;
    default: return kCuErrorInvalidValue;
  }
}

CuResult FakeDriver::primary_ctx_retain(CuContext* c, CuDevice d) {
  if (CuResult rc = enter("primary_ctx_retain"); rc != kCuSuccess) return rc;
  const FakeGpu* g = gpu(d);
  if (!g) return kCuErrorInvalidDevice;
  if (g->compute_mode == kComputeModeProhibited) return kCuErrorDeviceUnavailable;
  ++ctx_refs_[d];
  *c = reinterpret_cast<CuContext>(static_cast<std::uintptr_t>(0x1000 + d));
  return kCuSuccess;
}

CuResult FakeDriver::primary_ctx_release(CuDevice d) {
  if (CuResult rc = enter("primary_ctx_release"); rc != kCuSuccess) return rc;
  auto it = ctx_refs_.find(d);
  if (it == ctx_refs_.end() || it->second == 0) return kCuErrorInvalidValue;
  if (--it->second == 0) ctx_refs_.erase(it);
  return kCuSuccess;
}

CuResult FakeDriver::ctx_set_current(CuContext c) {
  if (CuResult rc = enter("ctx_set_current"); rc != kCuSuccess) return rc;
  current_ = c ? static_cast<CuDevice>(reinterpret_cast<std::uintptr_t>(c) - 0x1000) : -1;
  return kCuSuccess;
}

CuResult FakeDriver::mem_get_info(std::size_t* free, std::size_t* total) {
  if (CuResult rc = enter("mem_get_info"); rc != kCuSuccess) return rc;
  const FakeGpu* g = gpu(current_);
  if (!g) return kCuErrorInvalidValue;
  *free = g->free_bytes > used_ ? g->free_bytes - used_ : 0;
  *total = g->total_bytes;
  return kCuSuccess;
}

CuResult FakeDriver::mem_granularity(std::size_t* gran, CuDevice d) {
  if (CuResult rc = enter("mem_granularity"); rc != kCuSuccess) return rc;
  if (!gpu(d)) return kCuErrorInvalidDevice;
  *gran = cfg_.granularity;
  return kCuSuccess;
}

CuResult FakeDriver::mem_create(CuMemHandle* h, std::size_t size, CuDevice d) {
  if (CuResult rc = enter("mem_create"); rc != kCuSuccess) return rc;
  const FakeGpu* g = gpu(d);
  if (!g) return kCuErrorInvalidDevice;
  if (size == 0 || size % cfg_.granularity != 0) return kCuErrorInvalidValue;
  if (used_ + size > g->free_bytes) return kCuErrorOutOfMemory;
  used_ += size;
  created_ += size;
  peak_created_ = std::max(peak_created_, created_);
  create_sizes_.push_back(size);
  *h = next_handle_++;
  handles_[*h] = size;
  return kCuSuccess;
}

CuResult FakeDriver::mem_release(CuMemHandle h) {
  if (CuResult rc = enter("mem_release"); rc != kCuSuccess) return rc;
  auto it = handles_.find(h);
  if (it == handles_.end()) return kCuErrorInvalidValue;
  used_ -= it->second;
  created_ -= it->second;
  handles_.erase(it);
  return kCuSuccess;
}

CuResult FakeDriver::mem_address_reserve(CuDevicePtr* p, std::size_t size, std::size_t align) {
  if (CuResult rc = enter("mem_address_reserve"); rc != kCuSuccess) return rc;
  if (size == 0 || size % cfg_.granularity != 0) return kCuErrorInvalidValue;
  std::size_t a = std::max<std::size_t>(align, cfg_.granularity);
  next_va_ = (next_va_ + a - 1) / a * a;
  *p = next_va_;
  reservations_[*p] = size;
  next_va_ += size;
  return kCuSuccess;
}

CuResult FakeDriver::mem_address_free(CuDevicePtr p, std::size_t size) {
  if (CuResult rc = enter("mem_address_free"); rc != kCuSuccess) return rc;
  auto it = reservations_.find(p);
  if (it == reservations_.end() || it->second != size) return kCuErrorInvalidValue;
  for (auto& [m, msize] : mappings_)
    if (m >= p && m < p + size) return kCuErrorInvalidValue;  // still mapped
  reservations_.erase(it);
  return kCuSuccess;
}

CuResult FakeDriver::mem_map(CuDevicePtr p, std::size_t size, CuMemHandle h) {
  if (CuResult rc = enter("mem_map"); rc != kCuSuccess) return rc;
  auto hit = handles_.find(h);
  if (hit == handles_.end() || hit->second != size) return kCuErrorInvalidValue;
  bool inside = false;
  for (auto& [r, rsize] : reservations_)
    if (p >= r && p + size <= r + rsize) inside = true;
  if (!inside || mappings_.count(p)) return kCuErrorInvalidValue;
  mappings_[p] = size;
  return kCuSuccess;
}

CuResult FakeDriver::mem_unmap(CuDevicePtr p, std::size_t size) {
  if (CuResult rc = enter("mem_unmap"); rc != kCuSuccess) return rc;
  auto it = mappings_.find(p);
  if (it == mappings_.end() || it->second != size) return kCuErrorInvalidValue;
  mappings_.erase(it);
  return kCuSuccess;
}

CuResult FakeDriver::mem_set_access(CuDevicePtr p, std::size_t size, CuDevice d) {
  if (CuResult rc = enter("mem_set_access"); rc != kCuSuccess) return rc;
  if (!gpu(d)) return kCuErrorInvalidDevice;
  auto it = mappings_.find(p);
  if (it == mappings_.end() || it->second != size) return kCuErrorInvalidValue;
  return kCuSuccess;
}

CuResult FakeDriver::memset_d8(CuDevicePtr p, unsigned char, std::size_t n) {
  if (CuResult rc = enter("memset_d8"); rc != kCuSuccess) return rc;
  bool ok = false;
  for (auto& [m, msize] : mappings_)
    if (p >= m && p + n <= m + msize) ok = true;
  for (auto& [m, msize] : device_allocs_)
    if (p >= m && p + n <= m + msize) {
      if (msize <= (64u << 20)) std::memset(reinterpret_cast<void*>(p), 0, n);  // big ones are not backed
      ok = true;
    }
  if (!ok) return kCuErrorIllegalAddress;
  memset_bytes_ += n;
  return kCuSuccess;
}

CuResult FakeDriver::mem_alloc(CuDevicePtr* p, std::size_t size) {
  if (CuResult rc = enter("mem_alloc"); rc != kCuSuccess) return rc;
  const FakeGpu* g = gpu(current_);
  if (!g) return kCuErrorInvalidValue;
  // cuMemAlloc rounds up to 2 MiB pages on current GPUs.
  std::uint64_t charged = (size + (2ull << 20) - 1) / (2ull << 20) * (2ull << 20);
  if (used_ + charged > g->free_bytes) return kCuErrorOutOfMemory;
  // Small buffers are real memory so the simulated kernels can write them; big ones (the bench
  // baseline) are only accounted.
  void* mem = size <= (64u << 20) ? std::calloc(1, size) : std::malloc(1);
  if (!mem) return kCuErrorOutOfMemory;
  used_ += charged;
  *p = reinterpret_cast<CuDevicePtr>(mem);
  device_allocs_[*p] = size;
  return kCuSuccess;
}

CuResult FakeDriver::mem_free(CuDevicePtr p) {
  if (CuResult rc = enter("mem_free"); rc != kCuSuccess) return rc;
  auto it = device_allocs_.find(p);
  if (it == device_allocs_.end()) return kCuErrorInvalidValue;
  used_ -= (it->second + (2ull << 20) - 1) / (2ull << 20) * (2ull << 20);
  std::free(reinterpret_cast<void*>(p));
  device_allocs_.erase(it);
  return kCuSuccess;
}

CuResult FakeDriver::mem_host_alloc(void** p, std::size_t size) {
  if (CuResult rc = enter("mem_host_alloc"); rc != kCuSuccess) return rc;
  void* mem = std::calloc(1, size);
  if (!mem) return kCuErrorOutOfMemory;
  host_allocs_.insert(mem);
  *p = mem;
  return kCuSuccess;
}

CuResult FakeDriver::mem_free_host(void* p) {
  if (CuResult rc = enter("mem_free_host"); rc != kCuSuccess) return rc;
  if (!host_allocs_.erase(p)) return kCuErrorInvalidValue;
  std::free(p);
  return kCuSuccess;
}

CuResult FakeDriver::host_device_pointer(CuDevicePtr* d, void* h) {
  if (CuResult rc = enter("host_device_pointer"); rc != kCuSuccess) return rc;
  if (!host_allocs_.count(h)) return kCuErrorInvalidValue;
  *d = reinterpret_cast<CuDevicePtr>(h);  // unified addressing: the same address on both sides
  return kCuSuccess;
}

CuResult FakeDriver::module_load_data(CuModule* m, const void* image) {
  if (CuResult rc = enter("module_load_data"); rc != kCuSuccess) return rc;
  if (!image) return kCuErrorInvalidValue;
  const FakeGpu* g = gpu(current_);
  if (g && g->cc_major < 8) return kCuErrorNoBinaryForGpu;
  *m = reinterpret_cast<CuModule>(static_cast<std::uintptr_t>(0x2000 + ++module_tag_));
  modules_.insert(*m);
  return kCuSuccess;
}

CuResult FakeDriver::module_unload(CuModule m) {
  if (CuResult rc = enter("module_unload"); rc != kCuSuccess) return rc;
  if (!modules_.erase(m)) return kCuErrorInvalidValue;
  return kCuSuccess;
}

CuResult FakeDriver::module_get_function(CuFunction* f, CuModule m, const char* name) {
  if (CuResult rc = enter("module_get_function"); rc != kCuSuccess) return rc;
  if (!modules_.count(m)) return kCuErrorInvalidValue;
  std::string n(name);
  if (n == CHAOS_GPU_KERNEL_BURN) *f = &g_fn_burn;
  else if (n == CHAOS_GPU_KERNEL_BURN_TENSOR) *f = &g_fn_burn_tensor;
  else if (n == CHAOS_GPU_KERNEL_CLOCK) *f = &g_fn_clock;
  else return kCuErrorNotFound;
  return kCuSuccess;
}

CuResult FakeDriver::func_set_attribute(CuFunction f, int attr, int value) {
  if (CuResult rc = enter("func_set_attribute"); rc != kCuSuccess) return rc;
  const FakeGpu* g = gpu(current_);
  if (!f || attr != kFuncAttrMaxDynamicSharedBytes || !g || value < 0 || value > g->shared_per_block_optin)
    return kCuErrorInvalidValue;
  max_dynamic_shared_ = value;
  return kCuSuccess;
}

CuResult FakeDriver::stream_create(CuStream* s) {
  if (CuResult rc = enter("stream_create"); rc != kCuSuccess) return rc;
  static int tag = 0;
  *s = reinterpret_cast<CuStream>(static_cast<std::uintptr_t>(0x3000 + ++tag));
  streams_.insert(*s);
  return kCuSuccess;
}

CuResult FakeDriver::stream_destroy(CuStream s) {
  if (CuResult rc = enter("stream_destroy"); rc != kCuSuccess) return rc;
  if (!streams_.erase(s)) return kCuErrorInvalidValue;
  return kCuSuccess;
}

CuResult FakeDriver::stream_query(CuStream) {
  if (CuResult rc = enter("stream_query"); rc != kCuSuccess) return rc;
  advance(monotonic_ns());
  return queue_.empty() ? kCuSuccess : kCuErrorNotReady;
}

CuResult FakeDriver::stream_synchronize(CuStream) {
  if (CuResult rc = enter("stream_synchronize"); rc != kCuSuccess) return rc;
  for (;;) {
    std::uint64_t now = monotonic_ns();
    advance(now);
    if (queue_.empty()) return kCuSuccess;
    const Burst& b = queue_.front();
    auto* ctl = reinterpret_cast<ChaosGpuControl*>(b.p.control);
    std::uint64_t deadline = ctl->deadline_gt - static_cast<std::uint64_t>(cfg_.globaltimer_offset_ns);
    // A kernel with no end in sight would hang the real driver too: say so instead.
    if (b.p.on_ns == kForever && !ctl->stop && deadline > now + 10'000'000'000ull) return 702;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

CuResult FakeDriver::ctx_synchronize() {
  if (CuResult rc = enter("ctx_synchronize"); rc != kCuSuccess) return rc;
  calls_["stream_synchronize"]--;  // counted under ctx_synchronize
  return stream_synchronize(nullptr);
}

CuResult FakeDriver::launch_kernel(CuFunction f, unsigned grid, unsigned block, unsigned shm, CuStream s,
                                   void** params) {
  if (CuResult rc = enter("launch_kernel"); rc != kCuSuccess) return rc;
  if (!streams_.count(s) || !params || grid == 0 || block == 0) return kCuErrorInvalidValue;
  if (shm > static_cast<unsigned>(max_dynamic_shared_)) return kCuErrorInvalidValue;  // as the driver does
  last_shm_ = shm;
  std::uint64_t now = monotonic_ns();
  if (f == &g_fn_clock) {
    advance(now);
    if (!queue_.empty()) return kCuErrorInvalidValue;  // the host code calibrates on an idle stream
    auto control = *static_cast<std::uint64_t*>(params[0]);
    reinterpret_cast<ChaosGpuControl*>(control)->clock_gt = gt(now);
    return kCuSuccess;
  }
  if (f != &g_fn_burn && f != &g_fn_burn_tensor) return kCuErrorInvalidValue;
  Burst b;
  b.p = *static_cast<ChaosGpuBurnParams*>(params[0]);
  b.launched = now;
  queue_.push_back(b);
  ++bursts_launched_;
  advance(now);
  return kCuSuccess;
}

void FakeDriver::advance(std::uint64_t now) {
  const FakeGpu* g = gpu(current_);
  while (!queue_.empty()) {
    Burst& b = queue_.front();
    std::uint64_t start = std::max(b.launched, gpu_free_at_);
    if (start > now) return;
    auto* ctl = reinterpret_cast<ChaosGpuControl*>(b.p.control);
    auto* slots = reinterpret_cast<ChaosGpuSmSlot*>(b.p.slots);
    if (!b.started) {
      b.started = true;
      b.start = start;
      auto* claim = reinterpret_cast<unsigned*>(b.p.claim);
      auto* chosen = reinterpret_cast<unsigned*>(b.p.chosen);
      auto* selected = reinterpret_cast<unsigned long long*>(b.p.selected);
      for (unsigned sm : g ? g->sm_ids : std::vector<unsigned>{}) {
        if (sm >= CHAOS_GPU_MAX_SM || claim[sm] >= b.p.seq) continue;
        claim[sm] = b.p.seq;
        bool stay = chosen[sm] != 0;
        if (!stay && (*selected)++ < b.p.want_sms) {
          chosen[sm] = 1;
          stay = true;
        }
        if (!stay) continue;
        b.sms.push_back(sm);
        ChaosGpuSmSlot& s = slots[sm];
        b.base[sm] = s.busy_ns;
        if (s.first_gt == 0) s.first_gt = gt(start);
        s.last_start_gt = gt(start);
        s.last_busy_ns = 0;
        s.heartbeat_gt = gt(start);
        s.nsmid = g ? static_cast<unsigned>(g->sms) : 0;
      }
    }
    std::uint64_t end = b.p.on_ns == kForever ? kForever : start + b.p.on_ns;
    std::uint64_t deadline = ctl->deadline_gt - static_cast<std::uint64_t>(cfg_.globaltimer_offset_ns);
    end = std::min(end, std::max(deadline, start));
    if (ctl->stop) end = std::min(end, std::max(now, start));
    std::uint64_t upto = std::min(end, now);
    for (unsigned sm : b.sms) {
      ChaosGpuSmSlot& s = slots[sm];
      s.busy_ns = b.base[sm] + (upto - start);
      s.last_busy_ns = upto - start;
      s.heartbeat_gt = gt(upto);
      if (end <= now) ++s.bursts;
    }
    if (end > now) return;  // still running
    gpu_free_at_ = end;
    queue_.pop_front();
  }
}

std::string FakeDriver::error_name(CuResult rc) const {
  switch (rc) {
    case kCuSuccess: return "CUDA_SUCCESS";
    case kCuErrorInvalidValue: return "CUDA_ERROR_INVALID_VALUE";
    case kCuErrorOutOfMemory: return "CUDA_ERROR_OUT_OF_MEMORY";
    case kCuErrorNotInitialized: return "CUDA_ERROR_NOT_INITIALIZED";
    case kCuErrorInsufficientDriver: return "CUDA_ERROR_INSUFFICIENT_DRIVER";
    case kCuErrorDeviceUnavailable: return "CUDA_ERROR_DEVICE_UNAVAILABLE";
    case kCuErrorNoDevice: return "CUDA_ERROR_NO_DEVICE";
    case kCuErrorInvalidDevice: return "CUDA_ERROR_INVALID_DEVICE";
    case kCuErrorNoBinaryForGpu: return "CUDA_ERROR_NO_BINARY_FOR_GPU";
    case kCuErrorNotFound: return "CUDA_ERROR_NOT_FOUND";
    case kCuErrorNotReady: return "CUDA_ERROR_NOT_READY";
    case kCuErrorIllegalAddress: return "CUDA_ERROR_ILLEGAL_ADDRESS";
    case kCuErrorLaunchFailed: return "CUDA_ERROR_LAUNCH_FAILED";
    case 702: return "CUDA_ERROR_LAUNCH_TIMEOUT";
    case kCuErrorNotSupported: return "CUDA_ERROR_NOT_SUPPORTED";
    case kCuErrorUnknown: return "CUDA_ERROR_UNKNOWN";
    default: return "CUresult " + std::to_string(rc);
  }
}

std::string FakeDriver::error_string(CuResult rc) const {
  switch (rc) {
    case kCuErrorOutOfMemory: return "out of memory";
    case kCuErrorNoDevice: return "no CUDA-capable device is detected";
    case kCuErrorLaunchFailed: return "unspecified launch failure";
    case kCuErrorIllegalAddress: return "an illegal memory access was encountered";
    case kCuErrorDeviceUnavailable: return "CUDA-capable device(s) is/are busy or unavailable";
    default: return "fake driver error";
  }
}

}  // namespace chaos::gpu
