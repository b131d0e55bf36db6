// The CUDA driver API, as far as the gpu fault uses it, behind an interface: the real one
// dlopen()s libcuda.so.1 (the agent never links it, so it runs on nodes without a GPU), and a
// fake (fake_driver.h) with scripted results drives the unit tests.
//
// Calls mirror the driver's entry points one to one and return the raw CUresult, so the code
// that sizes, steps and cleans up is the same against both.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/result.h"

namespace chaos::gpu {

using CuResult = int;  // CUresult
using CuDevice = int;
using CuDevicePtr = std::uint64_t;
using CuMemHandle = std::uint64_t;  // CUmemGenericAllocationHandle
using CuContext = void*;
using CuModule = void*;
using CuFunction = void*;
using CuStream = void*;

// The CUresult values the code branches on (values from cuda.h).
inline constexpr CuResult kCuSuccess = 0;
inline constexpr CuResult kCuErrorInvalidValue = 1;
inline constexpr CuResult kCuErrorOutOfMemory = 2;
inline constexpr CuResult kCuErrorNotInitialized = 3;
inline constexpr CuResult kCuErrorStubLibrary = 34;
inline constexpr CuResult kCuErrorInsufficientDriver = 35;
inline constexpr CuResult kCuErrorDeviceUnavailable = 46;
inline constexpr CuResult kCuErrorNoDevice = 100;
inline constexpr CuResult kCuErrorInvalidDevice = 101;
inline constexpr CuResult kCuErrorInvalidImage = 200;
inline constexpr CuResult kCuErrorNoBinaryForGpu = 209;
inline constexpr CuResult kCuErrorUnsupportedPtxVersion = 222;
inline constexpr CuResult kCuErrorNotFound = 500;
inline constexpr CuResult kCuErrorNotReady = 600;
inline constexpr CuResult kCuErrorIllegalAddress = 700;
inline constexpr CuResult kCuErrorLaunchFailed = 719;
inline constexpr CuResult kCuErrorNotSupported = 801;
inline constexpr CuResult kCuErrorSystemDriverMismatch = 803;
inline constexpr CuResult kCuErrorUnknown = 999;

// CUdevice_attribute values used.
inline constexpr int kAttrMultiprocessorCount = 16;
inline constexpr int kAttrCanMapHostMemory = 19;
inline constexpr int kAttrComputeMode = 20;
inline constexpr int kAttrComputeCapabilityMajor = 75;
inline constexpr int kAttrComputeCapabilityMinor = 76;
inline constexpr int kAttrMaxSharedMemoryPerSm = 81;
inline constexpr int kAttrMaxSharedMemoryPerBlockOptin = 97;
inline constexpr int kAttrVirtualMemoryManagement = 102;
// CUfunction_attribute.
inline constexpr int kFuncAttrMaxDynamicSharedBytes = 8;

// CUcomputemode.
inline constexpr int kComputeModeDefault = 0;
inline constexpr int kComputeModeProhibited = 2;
inline constexpr int kComputeModeExclusiveProcess = 3;

class CudaDriver {
 public:
  virtual ~CudaDriver() = default;

  // Where the driver came from ("libcuda.so.1", "fake").
  virtual std::string describe() const = 0;

  virtual CuResult init() = 0;                                   // cuInit(0)
  virtual CuResult driver_version(int* version) = 0;             // cuDriverGetVersion
  virtual CuResult device_count(int* count) = 0;                 // cuDeviceGetCount
  virtual CuResult device_get(CuDevice* dev, int ordinal) = 0;   // cuDeviceGet
  virtual CuResult device_name(CuDevice dev, std::string* name) = 0;
  virtual CuResult device_pci_bus_id(CuDevice dev, std::string* id) = 0;
  virtual CuResult device_total_mem(CuDevice dev, std::size_t* bytes) = 0;  // cuDeviceTotalMem_v2
  virtual CuResult device_attribute(CuDevice dev, int attr, int* value) = 0;

  virtual CuResult primary_ctx_retain(CuContext* ctx, CuDevice dev) = 0;
  virtual CuResult primary_ctx_release(CuDevice dev) = 0;  // cuDevicePrimaryCtxRelease_v2
  virtual CuResult ctx_set_current(CuContext ctx) = 0;
  virtual CuResult mem_get_info(std::size_t* free, std::size_t* total) = 0;  // cuMemGetInfo_v2

  // Virtual memory management, for pinned device memory on `dev`.
  virtual CuResult mem_granularity(std::size_t* granularity, CuDevice dev) = 0;  // minimum
  virtual CuResult mem_create(CuMemHandle* handle, std::size_t size, CuDevice dev) = 0;
  virtual CuResult mem_release(CuMemHandle handle) = 0;
  virtual CuResult mem_address_reserve(CuDevicePtr* ptr, std::size_t size, std::size_t align) = 0;
  virtual CuResult mem_address_free(CuDevicePtr ptr, std::size_t size) = 0;
  virtual CuResult mem_map(CuDevicePtr ptr, std::size_t size, CuMemHandle handle) = 0;
  virtual CuResult mem_unmap(CuDevicePtr ptr, std::size_t size) = 0;
  virtual CuResult mem_set_access(CuDevicePtr ptr, std::size_t size, CuDevice dev) = 0;  // read-write
  virtual CuResult memset_d8(CuDevicePtr ptr, unsigned char value, std::size_t n) = 0;    // cuMemsetD8_v2

  // Plain allocations (small bookkeeping buffers, and the 256 MiB-step baseline in the bench).
  virtual CuResult mem_alloc(CuDevicePtr* ptr, std::size_t size) = 0;  // cuMemAlloc_v2
  virtual CuResult mem_free(CuDevicePtr ptr) = 0;                      // cuMemFree_v2
  // Pinned host memory mapped into the device (CU_MEMHOSTALLOC_PORTABLE | DEVICEMAP).
  virtual CuResult mem_host_alloc(void** ptr, std::size_t size) = 0;
  virtual CuResult mem_free_host(void* ptr) = 0;
  virtual CuResult host_device_pointer(CuDevicePtr* dptr, void* host) = 0;  // cuMemHostGetDevicePointer_v2

  virtual CuResult module_load_data(CuModule* module, const void* image) = 0;
  virtual CuResult module_unload(CuModule module) = 0;
  virtual CuResult module_get_function(CuFunction* fn, CuModule module, const char* name) = 0;
  virtual CuResult func_set_attribute(CuFunction fn, int attr, int value) = 0;  // cuFuncSetAttribute
  virtual CuResult stream_create(CuStream* stream) = 0;  // CU_STREAM_NON_BLOCKING
  virtual CuResult stream_destroy(CuStream stream) = 0;
  virtual CuResult stream_query(CuStream stream) = 0;
  virtual CuResult stream_synchronize(CuStream stream) = 0;
  virtual CuResult ctx_synchronize() = 0;
  // 1-D grid and block; params as cuLaunchKernel takes them.
  virtual CuResult launch_kernel(CuFunction fn, unsigned grid, unsigned block, unsigned shared_bytes,
                                 CuStream stream, void** params) = 0;

  // Whether the driver exports green contexts (cuGreenCtxCreate, CUDA 12.4+).
  virtual bool has_green_contexts() const = 0;

  // "CUDA_ERROR_OUT_OF_MEMORY" and "out of memory" (the driver's own words where it has them).
  virtual std::string error_name(CuResult rc) const = 0;
  virtual std::string error_string(CuResult rc) const = 0;
};

// dlopen()s libcuda.so.1 (or `path`) and resolves every entry point used.
// Fails with "no NVIDIA driver (libcuda.so.1 not found)" on nodes without one.
Result<std::shared_ptr<CudaDriver>> load_cuda_driver(const std::string& path = "libcuda.so.1");

// "what: CUDA_ERROR_OUT_OF_MEMORY (out of memory)"; ENOMEM as the code for out-of-memory.
Error cuda_error(const CudaDriver& drv, CuResult rc, const std::string& what);
inline std::unexpected<Error> fail_cuda(const CudaDriver& drv, CuResult rc, const std::string& what) {
  return std::unexpected<Error>(cuda_error(drv, rc, what));
}

// "13.0" from 13000.
std::string format_cuda_version(int version);

}  // namespace chaos::gpu
