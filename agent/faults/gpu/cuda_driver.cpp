#include "faults/gpu/cuda_driver.h"

#include <dlfcn.h>

#include <cerrno>
#include <cstring>

namespace chaos::gpu {

namespace {

// The few driver types and structures used, declared here so the agent builds and runs without
// the CUDA toolkit or driver (layouts as in cuda.h, CUDA 10.2 and later).
struct CuMemLocation {
  int type;  // CU_MEM_LOCATION_TYPE_DEVICE = 1
  int id;
};
struct CuMemAllocationProp {
  int type;                  // CU_MEM_ALLOCATION_TYPE_PINNED = 1
  int requested_handle_types;  // CU_MEM_HANDLE_TYPE_NONE = 0
  CuMemLocation location;
  void* win32_handle_meta_data;
  struct {
    unsigned char compression_type;
    unsigned char gpu_direct_rdma_capable;
    unsigned short usage;
    unsigned char reserved[4];
  } alloc_flags;
};
static_assert(sizeof(CuMemAllocationProp) == 32);
struct CuMemAccessDesc {
  CuMemLocation location;
  int flags;  // CU_MEM_ACCESS_FLAGS_PROT_READWRITE = 3
};

constexpr unsigned kHostAllocPortable = 0x01;
constexpr unsigned kHostAllocDeviceMap = 0x02;
constexpr unsigned kStreamNonBlocking = 0x1;

CuMemAllocationProp pinned_on(CuDevice dev) {
  CuMemAllocationProp p{};
  p.type = 1;
  p.location = {1, dev};
  return p;
}

class DlCudaDriver final : public CudaDriver {
 public:
  DlCudaDriver(void* lib, std::string path) : lib_(lib), path_(std::move(path)) {}
  ~DlCudaDriver() override {
    // Never dlclose libcuda: its threads and atexit handlers outlive any unload.
  }

  Result<void> resolve() {
    bool ok = true;
    std::string missing;
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib_, name));
      if (!fn) {
        ok = false;
        missing += (missing.empty() ? "" : ", ") + std::string(name);
      }
    };
    sym(cuInit, "cuInit");
    sym(cuDriverGetVersion, "cuDriverGetVersion");
    sym(cuDeviceGetCount, "cuDeviceGetCount");
    sym(cuDeviceGet, "cuDeviceGet");
    sym(cuDeviceGetName, "cuDeviceGetName");
    sym(cuDeviceGetPCIBusId, "cuDeviceGetPCIBusId");
    sym(cuDeviceTotalMem, "cuDeviceTotalMem_v2");
    sym(cuDeviceGetAttribute, "cuDeviceGetAttribute");
    sym(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
    sym(cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2");
    sym(cuCtxSetCurrent, "cuCtxSetCurrent");
    sym(cuCtxSynchronize, "cuCtxSynchronize");
    sym(cuMemGetInfo, "cuMemGetInfo_v2");
    sym(cuMemGetAllocationGranularity, "cuMemGetAllocationGranularity");
    sym(cuMemCreate, "cuMemCreate");
    sym(cuMemRelease, "cuMemRelease");
    sym(cuMemAddressReserve, "cuMemAddressReserve");
    sym(cuMemAddressFree, "cuMemAddressFree");
    sym(cuMemMap, "cuMemMap");
    sym(cuMemUnmap, "cuMemUnmap");
    sym(cuMemSetAccess, "cuMemSetAccess");
    sym(cuMemsetD8, "cuMemsetD8_v2");
    sym(cuMemAlloc, "cuMemAlloc_v2");
    sym(cuMemFree, "cuMemFree_v2");
    sym(cuMemHostAlloc, "cuMemHostAlloc");
    sym(cuMemFreeHost, "cuMemFreeHost");
    sym(cuMemHostGetDevicePointer, "cuMemHostGetDevicePointer_v2");
    sym(cuModuleLoadData, "cuModuleLoadData");
    sym(cuModuleUnload, "cuModuleUnload");
    sym(cuModuleGetFunction, "cuModuleGetFunction");
    sym(cuFuncSetAttribute, "cuFuncSetAttribute");
    sym(cuStreamCreate, "cuStreamCreate");
    sym(cuStreamDestroy, "cuStreamDestroy_v2");
    sym(cuStreamQuery, "cuStreamQuery");
    sym(cuStreamSynchronize, "cuStreamSynchronize");
    sym(cuLaunchKernel, "cuLaunchKernel");
    sym(cuGetErrorName, "cuGetErrorName");
    sym(cuGetErrorString, "cuGetErrorString");
    green_ = dlsym(lib_, "cuGreenCtxCreate") != nullptr;
    if (!ok) return fail(path_ + " lacks " + missing + ": NVIDIA driver too old (the gpu fault needs CUDA 11.0 or newer)");
    return {};
  }

  std::string describe() const override { return path_; }
  CuResult init() override { return cuInit(0); }
  CuResult driver_version(int* v) override { return cuDriverGetVersion(v); }
  CuResult device_count(int* n) override { return cuDeviceGetCount(n); }
  CuResult device_get(CuDevice* d, int ordinal) override { return cuDeviceGet(d, ordinal); }
  CuResult device_name(CuDevice d, std::string* name) override {
    char buf[256] = {};
    CuResult rc = cuDeviceGetName(buf, sizeof buf - 1, d);
    if (rc == kCuSuccess) *name = buf;
    return rc;
  }
  CuResult device_pci_bus_id(CuDevice d, std::string* id) override {
    char buf[64] = {};
    CuResult rc = cuDeviceGetPCIBusId(buf, sizeof buf - 1, d);
    if (rc == kCuSuccess) *id = buf;
    return rc;
  }
  CuResult device_total_mem(CuDevice d, std::size_t* bytes) override { return cuDeviceTotalMem(bytes, d); }
  CuResult device_attribute(CuDevice d, int attr, int* v) override { return cuDeviceGetAttribute(v, attr, d); }
  CuResult primary_ctx_retain(CuContext* c, CuDevice d) override { return cuDevicePrimaryCtxRetain(c, d); }
  CuResult primary_ctx_release(CuDevice d) override { return cuDevicePrimaryCtxRelease(d); }
  CuResult ctx_set_current(CuContext c) override { return cuCtxSetCurrent(c); }
  CuResult mem_get_info(std::size_t* f, std::size_t* t) override { return cuMemGetInfo(f, t); }
  CuResult mem_granularity(std::size_t* g, CuDevice d) override {
    CuMemAllocationProp p = pinned_on(d);
    return cuMemGetAllocationGranularity(g, &p, 0 /* CU_MEM_ALLOC_GRANULARITY_MINIMUM */);
  }
  CuResult mem_create(CuMemHandle* h, std::size_t size, CuDevice d) override {
    CuMemAllocationProp p = pinned_on(d);
    return cuMemCreate(h, size, &p, 0);
  }
  CuResult mem_release(CuMemHandle h) override { return cuMemRelease(h); }
  CuResult mem_address_reserve(CuDevicePtr* p, std::size_t size, std::size_t align) override {
    return cuMemAddressReserve(p, size, align, 0, 0);
  }
  CuResult mem_address_free(CuDevicePtr p, std::size_t size) override { return cuMemAddressFree(p, size); }
  CuResult mem_map(CuDevicePtr p, std::size_t size, CuMemHandle h) override { return cuMemMap(p, size, 0, h, 0); }
  CuResult mem_unmap(CuDevicePtr p, std::size_t size) override { return cuMemUnmap(p, size); }
  CuResult mem_set_access(CuDevicePtr p, std::size_t size, CuDevice d) override {
    CuMemAccessDesc desc{{1, d}, 3};
    return cuMemSetAccess(p, size, &desc, 1);
  }
  CuResult memset_d8(CuDevicePtr p, unsigned char v, std::size_t n) override { return cuMemsetD8(p, v, n); }
  CuResult mem_alloc(CuDevicePtr* p, std::size_t size) override { return cuMemAlloc(p, size); }
  CuResult mem_free(CuDevicePtr p) override { return cuMemFree(p); }
  CuResult mem_host_alloc(void** p, std::size_t size) override {
    return cuMemHostAlloc(p, size, kHostAllocPortable | kHostAllocDeviceMap);
  }
  CuResult mem_free_host(void* p) override { return cuMemFreeHost(p); }
  CuResult host_device_pointer(CuDevicePtr* d, void* h) override { return cuMemHostGetDevicePointer(d, h, 0); }
  CuResult module_load_data(CuModule* m, const void* image) override { return cuModuleLoadData(m, image); }
  CuResult module_unload(CuModule m) override { return cuModuleUnload(m); }
  CuResult module_get_function(CuFunction* f, CuModule m, const char* name) override {
    return cuModuleGetFunction(f, m, name);
  }
  CuResult func_set_attribute(CuFunction f, int attr, int value) override { return cuFuncSetAttribute(f, attr, value); }
  CuResult stream_create(CuStream* s) override { return cuStreamCreate(s, kStreamNonBlocking); }
  CuResult stream_destroy(CuStream s) override { return cuStreamDestroy(s); }
  CuResult stream_query(CuStream s) override { return cuStreamQuery(s); }
  CuResult stream_synchronize(CuStream s) override { return cuStreamSynchronize(s); }
  CuResult ctx_synchronize() override { return cuCtxSynchronize(); }
  CuResult launch_kernel(CuFunction f, unsigned grid, unsigned block, unsigned shm, CuStream s,
                         void** params) override {
    return cuLaunchKernel(f, grid, 1, 1, block, 1, 1, shm, s, params, nullptr);
  }
  bool has_green_contexts() const override { return green_; }
  std::string error_name(CuResult rc) const override {
    const char* s = nullptr;
    if (cuGetErrorName && cuGetErrorName(rc, &s) == kCuSuccess && s) return s;
    if (rc == kCuErrorStubLibrary) return "CUDA_ERROR_STUB_LIBRARY";
    return "CUresult " + std::to_string(rc);
  }
  std::string error_string(CuResult rc) const override {
    const char* s = nullptr;
    if (cuGetErrorString && cuGetErrorString(rc, &s) == kCuSuccess && s) return s;
    // The stub answers nothing, not even this; say what it means.
    if (rc == kCuErrorStubLibrary) return "the toolkit's stub libcuda was loaded, not an NVIDIA driver";
    return "unknown error";
  }

 private:
  void* lib_;
  std::string path_;
  bool green_ = false;

  CuResult (*cuInit)(unsigned) = nullptr;
  CuResult (*cuDriverGetVersion)(int*) = nullptr;
  CuResult (*cuDeviceGetCount)(int*) = nullptr;
  CuResult (*cuDeviceGet)(CuDevice*, int) = nullptr;
  CuResult (*cuDeviceGetName)(char*, int, CuDevice) = nullptr;
  CuResult (*cuDeviceGetPCIBusId)(char*, int, CuDevice) = nullptr;
  CuResult (*cuDeviceTotalMem)(std::size_t*, CuDevice) = nullptr;
  CuResult (*cuDeviceGetAttribute)(int*, int, CuDevice) = nullptr;
  CuResult (*cuDevicePrimaryCtxRetain)(CuContext*, CuDevice) = nullptr;
  CuResult (*cuDevicePrimaryCtxRelease)(CuDevice) = nullptr;
  CuResult (*cuCtxSetCurrent)(CuContext) = nullptr;
  CuResult (*cuCtxSynchronize)() = nullptr;
  CuResult (*cuMemGetInfo)(std::size_t*, std::size_t*) = nullptr;
  CuResult (*cuMemGetAllocationGranularity)(std::size_t*, const CuMemAllocationProp*, int) = nullptr;
  CuResult (*cuMemCreate)(CuMemHandle*, std::size_t, const CuMemAllocationProp*, unsigned long long) = nullptr;
  CuResult (*cuMemRelease)(CuMemHandle) = nullptr;
  CuResult (*cuMemAddressReserve)(CuDevicePtr*, std::size_t, std::size_t, CuDevicePtr, unsigned long long) = nullptr;
  CuResult (*cuMemAddressFree)(CuDevicePtr, std::size_t) = nullptr;
  CuResult (*cuMemMap)(CuDevicePtr, std::size_t, std::size_t, CuMemHandle, unsigned long long) = nullptr;
  CuResult (*cuMemUnmap)(CuDevicePtr, std::size_t) = nullptr;
  CuResult (*cuMemSetAccess)(CuDevicePtr, std::size_t, const CuMemAccessDesc*, std::size_t) = nullptr;
  CuResult (*cuMemsetD8)(CuDevicePtr, unsigned char, std::size_t) = nullptr;
  CuResult (*cuMemAlloc)(CuDevicePtr*, std::size_t) = nullptr;
  CuResult (*cuMemFree)(CuDevicePtr) = nullptr;
  CuResult (*cuMemHostAlloc)(void**, std::size_t, unsigned) = nullptr;
  CuResult (*cuMemFreeHost)(void*) = nullptr;
  CuResult (*cuMemHostGetDevicePointer)(CuDevicePtr*, void*, unsigned) = nullptr;
  CuResult (*cuModuleLoadData)(CuModule*, const void*) = nullptr;
  CuResult (*cuModuleUnload)(CuModule) = nullptr;
  CuResult (*cuModuleGetFunction)(CuFunction*, CuModule, const char*) = nullptr;
  CuResult (*cuFuncSetAttribute)(CuFunction, int, int) = nullptr;
  CuResult (*cuStreamCreate)(CuStream*, unsigned) = nullptr;
  CuResult (*cuStreamDestroy)(CuStream) = nullptr;
  CuResult (*cuStreamQuery)(CuStream) = nullptr;
  CuResult (*cuStreamSynchronize)(CuStream) = nullptr;
  CuResult (*cuLaunchKernel)(CuFunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                             CuStream, void**, void**) = nullptr;
  CuResult (*cuGetErrorName)(CuResult, const char**) = nullptr;
  CuResult (*cuGetErrorString)(CuResult, const char**) = nullptr;
};

}  // namespace

Result<std::shared_ptr<CudaDriver>> load_cuda_driver(const std::string& path) {
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* why = dlerror();
    if (path == "libcuda.so.1") {
      return fail("no NVIDIA driver (libcuda.so.1 not found" +
                  std::string(why && std::strstr(why, "No such file") ? "" : std::string(": ") + (why ? why : "")) +
                  ")", ENOENT);
    }
    return fail("no NVIDIA driver (" + path + " not loadable: " + (why ? why : "?") + ")", ENOENT);
  }
  auto drv = std::make_shared<DlCudaDriver>(lib, path);
  if (auto r = drv->resolve(); !r) return std::unexpected(r.error());
  return drv;
}

Error cuda_error(const CudaDriver& drv, CuResult rc, const std::string& what) {
  return Error{rc == kCuErrorOutOfMemory ? ENOMEM : 0,
               what + ": " + drv.error_name(rc) + " (" + drv.error_string(rc) + ")"};
}

std::string format_cuda_version(int version) {
  return std::to_string(version / 1000) + "." + std::to_string((version % 1000) / 10);
}

}  // namespace chaos::gpu
