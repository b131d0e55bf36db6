// A scripted CUDA driver for machines without a GPU (the unit tests; CI never has one).
// It keeps books on every object the real driver would hand out, so tests can check that every
// path, failures included, gives everything back; it fails or crashes on the calls a test names;
// and it simulates the stress kernels well enough (claims by %smid, on-time per burst, the
// host-mapped deadline and stop flag) for the host code's arithmetic to be checked end to end.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "faults/gpu/cuda_driver.h"
#include "faults/gpu/kernel_abi.h"

namespace chaos::gpu {

struct FakeGpu {
  std::string name = "Fake H200";
  std::string pci_bus_id = "0000:19:00.0";
  int sms = 132;
  std::vector<unsigned> sm_ids;  // the %smid values blocks land on; empty: 0..sms-1
  int cc_major = 9, cc_minor = 0;
  std::uint64_t total_bytes = 140ull << 30;
  std::uint64_t free_bytes = 139ull << 30;  // before this process allocates anything
  int compute_mode = kComputeModeDefault;
  bool vmm = true;
  bool can_map_host = true;
  int shared_per_sm = 228 * 1024;
  int shared_per_block_optin = 227 * 1024;
};

struct FakeDriverConfig {
  CuResult init_result = kCuSuccess;
  int driver_version = 13000;
  std::vector<FakeGpu> gpus{FakeGpu{}};
  std::uint64_t granularity = 2ull << 20;
  bool green_contexts = true;
  std::int64_t globaltimer_offset_ns = 1'700'000'000'000'000'000;  // %globaltimer - CLOCK_MONOTONIC

  struct Script {
    std::string call;  // "mem_create", "launch_kernel", ...
    int nth = 1;       // 1-based call count at which it triggers
    CuResult result = kCuErrorUnknown;
    bool every_after = false;  // also every later call
    bool crash = false;        // abort() instead of returning
  };
  std::vector<Script> scripts;

  FakeDriverConfig& fail(std::string call, CuResult rc, int nth = 1, bool every_after = false) {
    scripts.push_back({std::move(call), nth, rc, every_after, false});
    return *this;
  }
  FakeDriverConfig& crash(std::string call, int nth = 1) {
    scripts.push_back({std::move(call), nth, kCuSuccess, false, true});
    return *this;
  }
};

class FakeDriver final : public CudaDriver {
 public:
  explicit FakeDriver(FakeDriverConfig cfg);
  ~FakeDriver() override;

  // Books: objects handed out and not given back.
  struct Live {
    std::size_t handles = 0, reservations = 0, mappings = 0, device_allocs = 0, host_allocs = 0,
                modules = 0, streams = 0, contexts = 0;
    std::uint64_t bytes_created = 0;  // physical bytes of live cuMemCreate handles
    bool clean() const {
      return handles == 0 && reservations == 0 && mappings == 0 && device_allocs == 0 && host_allocs == 0 &&
             modules == 0 && streams == 0 && contexts == 0;
    }
    std::string str() const;
  };
  Live live() const;
  int calls(const std::string& name) const;
  std::uint64_t bytes_memset() const { return memset_bytes_; }
  std::uint64_t peak_bytes_created() const { return peak_created_; }
  std::vector<std::uint64_t> create_sizes() const { return create_sizes_; }
  int bursts_launched() const { return bursts_launched_; }

  std::string describe() const override { return "fake"; }
  CuResult init() override;
  CuResult driver_version(int* v) override;
  CuResult device_count(int* n) override;
  CuResult device_get(CuDevice* d, int ordinal) override;
  CuResult device_name(CuDevice d, std::string* name) override;
  CuResult device_pci_bus_id(CuDevice d, std::string* id) override;
  CuResult device_total_mem(CuDevice d, std::size_t* bytes) override;
  CuResult device_attribute(CuDevice d, int attr, int* v) override;
  CuResult primary_ctx_retain(CuContext* c, CuDevice d) override;
  CuResult primary_ctx_release(CuDevice d) override;
  CuResult ctx_set_current(CuContext c) override;
  CuResult mem_get_info(std::size_t* free, std::size_t* total) override;
  CuResult mem_granularity(std::size_t* g, CuDevice d) override;
  CuResult mem_create(CuMemHandle* h, std::size_t size, CuDevice d) override;
  CuResult mem_release(CuMemHandle h) override;
  CuResult mem_address_reserve(CuDevicePtr* p, std::size_t size, std::size_t align) override;
  CuResult mem_address_free(CuDevicePtr p, std::size_t size) override;
  CuResult mem_map(CuDevicePtr p, std::size_t size, CuMemHandle h) override;
  CuResult mem_unmap(CuDevicePtr p, std::size_t size) override;
  CuResult mem_set_access(CuDevicePtr p, std::size_t size, CuDevice d) override;
  CuResult memset_d8(CuDevicePtr p, unsigned char v, std::size_t n) override;
  CuResult mem_alloc(CuDevicePtr* p, std::size_t size) override;
  CuResult mem_free(CuDevicePtr p) override;
  CuResult mem_host_alloc(void** p, std::size_t size) override;
  CuResult mem_free_host(void* p) override;
  CuResult host_device_pointer(CuDevicePtr* d, void* h) override;
  CuResult module_load_data(CuModule* m, const void* image) override;
  CuResult module_unload(CuModule m) override;
  CuResult module_get_function(CuFunction* f, CuModule m, const char* name) override;
  CuResult func_set_attribute(CuFunction f, int attr, int value) override;
  unsigned last_shared_bytes() const { return last_shm_; }
  CuResult stream_create(CuStream* s) override;
  CuResult stream_destroy(CuStream s) override;
  CuResult stream_query(CuStream s) override;
  CuResult stream_synchronize(CuStream s) override;
  CuResult ctx_synchronize() override;
  CuResult launch_kernel(CuFunction f, unsigned grid, unsigned block, unsigned shm, CuStream s,
                         void** params) override;
  bool has_green_contexts() const override { return cfg_.green_contexts; }
  std::string error_name(CuResult rc) const override;
  std::string error_string(CuResult rc) const override;

 private:
  struct Burst {
    ChaosGpuBurnParams p{};
    std::uint64_t launched = 0;
    bool started = false;
    std::uint64_t start = 0;
    std::vector<unsigned> sms;          // SMs that stayed
    std::map<unsigned, std::uint64_t> base;  // busy_ns of each SM at the burst's start
  };

  // Counts the call and applies any script for it. Returns the scripted result or success.
  CuResult enter(const std::string& call);
  const FakeGpu* gpu(CuDevice d) const;
  void advance(std::uint64_t now);  // runs the simulated kernels up to now
  std::uint64_t gt(std::uint64_t mono) const { return mono + static_cast<std::uint64_t>(cfg_.globaltimer_offset_ns); }

  FakeDriverConfig cfg_;
  bool initialized_ = false;
  CuDevice current_ = -1;
  std::map<std::string, int> calls_;
  std::map<CuMemHandle, std::uint64_t> handles_;  // handle -> size
  CuMemHandle next_handle_ = 1;
  std::map<CuDevicePtr, std::uint64_t> reservations_;
  std::map<CuDevicePtr, std::uint64_t> mappings_;
  std::map<CuDevicePtr, std::uint64_t> device_allocs_;  // backed by host memory the kernels sim writes
  std::set<void*> host_allocs_;
  std::set<CuModule> modules_;
  std::set<CuStream> streams_;
  std::map<CuDevice, int> ctx_refs_;
  CuDevicePtr next_va_ = 0x7f0000000000ull;
  std::uint64_t used_ = 0, created_ = 0, peak_created_ = 0, memset_bytes_ = 0;
  std::vector<std::uint64_t> create_sizes_;
  std::deque<Burst> queue_;
  std::uint64_t gpu_free_at_ = 0;
  int bursts_launched_ = 0;
  int module_tag_ = 0;
  int max_dynamic_shared_ = 48 * 1024;
  unsigned last_shm_ = 0;
};

}  // namespace chaos::gpu
