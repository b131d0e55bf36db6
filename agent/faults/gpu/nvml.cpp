#include "faults/gpu/nvml.h"

#include <dlfcn.h>

#include <cstring>

#include "kernel/worker.h"

namespace chaos::gpu {

nlohmann::json GpuTelemetry::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  if (memory_used) j["memory_used_bytes"] = *memory_used;
  if (memory_total) j["memory_total_bytes"] = *memory_total;
  if (utilization_gpu) j["utilization_gpu_pct"] = *utilization_gpu;
  if (utilization_memory) j["utilization_memory_pct"] = *utilization_memory;
  if (sm_clock_mhz) j["sm_clock_mhz"] = *sm_clock_mhz;
  if (temperature_c) j["temperature_c"] = *temperature_c;
  if (power_w) j["power_w"] = *power_w;
  if (throttle_reasons) {
    j["throttle_reasons"] = *throttle_reasons;
    j["throttle"] = throttle_reason_names(*throttle_reasons);
  }
  if (!xids.empty()) {
    auto a = nlohmann::json::array();
    for (const auto& x : xids) a.push_back(x.xid);
    j["xid"] = a;
  }
  return j;
}

std::vector<std::string> throttle_reason_names(std::uint64_t bits) {
  static const std::pair<std::uint64_t, const char*> kNames[] = {
      {0x1, "gpu_idle"},           {0x2, "applications_clocks_setting"}, {0x4, "sw_power_cap"},
      {0x8, "hw_slowdown"},        {0x10, "sync_boost"},                 {0x20, "sw_thermal_slowdown"},
      {0x40, "hw_thermal_slowdown"}, {0x80, "hw_power_brake_slowdown"},  {0x100, "display_clock_setting"}};
  std::vector<std::string> out;
  for (auto [bit, name] : kNames)
    if (bits & bit) out.push_back(name);
  return out;
}

Result<int> FakeNvml::find(const std::string& pci) {
  for (std::size_t i = 0; i < gpus.size(); ++i)
    if (gpus[i].pci_bus_id == pci) return static_cast<int>(i);
  return fail("NVML: no GPU at " + pci, ENODEV);
}

GpuTelemetry FakeNvml::sample(int h) {
  auto& g = gpus.at(static_cast<std::size_t>(h));
  GpuTelemetry t = g.telemetry;
  t.memory_used = g.used;
  t.memory_total = g.total;
  for (auto x : g.pending_xids) t.xids.push_back({x, monotonic_ns()});
  g.pending_xids.clear();
  return t;
}

namespace {

// NVML's types, declared here (layouts as in nvml.h; the agent builds without it).
using nvmlReturn_t = int;
using nvmlDevice_t = void*;
using nvmlEventSet_t = void*;
struct nvmlMemory_t {
  unsigned long long total, free, used;
};
struct nvmlUtilization_t {
  unsigned gpu, memory;
};
struct nvmlProcessInfo_t {  // nvmlProcessInfo_v2_t, what the _v3 process queries fill
  unsigned pid;
  unsigned long long usedGpuMemory;
  unsigned gpuInstanceId, computeInstanceId;
};
struct nvmlEventData_t {
  nvmlDevice_t device;
  unsigned long long eventType, eventData;
  unsigned gpuInstanceId, computeInstanceId;
};
constexpr nvmlReturn_t kNvmlSuccess = 0;
constexpr nvmlReturn_t kNvmlErrorInsufficientSize = 7;
constexpr nvmlReturn_t kNvmlErrorTimeout = 10;
constexpr unsigned kNvmlClockSm = 1;
constexpr unsigned kNvmlTemperatureGpu = 0;
constexpr unsigned long long kNvmlEventXid = 0x8;
constexpr unsigned long long kNvmlValueNotAvailable = ~0ull;

class DlNvml final : public Nvml {
 public:
  explicit DlNvml(void* lib) : lib_(lib) {}
  ~DlNvml() override {
    for (void* set : sets_)
      if (set && EventSetFree) EventSetFree(set);
    if (Shutdown) Shutdown();
  }

  Result<void> resolve() {
    std::string missing;
    auto need = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib_, name));
      if (!fn) missing += (missing.empty() ? "" : ", ") + std::string(name);
    };
    auto want = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib_, name));
    };
    need(Init, "nvmlInit_v2");
    need(Shutdown, "nvmlShutdown");
    need(ErrorString, "nvmlErrorString");
    need(SystemGetDriverVersion, "nvmlSystemGetDriverVersion");
    need(DeviceGetHandleByPciBusId, "nvmlDeviceGetHandleByPciBusId_v2");
    need(DeviceGetMemoryInfo, "nvmlDeviceGetMemoryInfo");
    want(DeviceGetMigMode, "nvmlDeviceGetMigMode");
    want(DeviceGetComputeRunningProcesses, "nvmlDeviceGetComputeRunningProcesses_v3");
    want(DeviceGetUtilizationRates, "nvmlDeviceGetUtilizationRates");
    want(DeviceGetClockInfo, "nvmlDeviceGetClockInfo");
    want(DeviceGetTemperature, "nvmlDeviceGetTemperature");
    want(DeviceGetPowerUsage, "nvmlDeviceGetPowerUsage");
    want(DeviceGetThrottleReasons, "nvmlDeviceGetCurrentClocksEventReasons");
    if (!DeviceGetThrottleReasons) want(DeviceGetThrottleReasons, "nvmlDeviceGetCurrentClocksThrottleReasons");
    want(EventSetCreate, "nvmlEventSetCreate");
    want(DeviceRegisterEvents, "nvmlDeviceRegisterEvents");
    want(EventSetWait, "nvmlEventSetWait_v2");
    want(EventSetFree, "nvmlEventSetFree");
    if (!missing.empty()) {
      Shutdown = nullptr;
      return fail("NVML: libnvidia-ml.so.1 lacks " + missing, ENOSYS);
    }
    if (nvmlReturn_t rc = Init(); rc != kNvmlSuccess) {
      Shutdown = nullptr;
      return fail("NVML: nvmlInit: " + err(rc), EIO);
    }
    return {};
  }

  Result<std::string> driver_version() override {
    char buf[96] = {};
    if (nvmlReturn_t rc = SystemGetDriverVersion(buf, sizeof buf); rc != kNvmlSuccess)
      return fail("NVML: driver version: " + err(rc), EIO);
    return std::string(buf);
  }

  Result<int> find(const std::string& pci) override {
    nvmlDevice_t dev = nullptr;
    if (nvmlReturn_t rc = DeviceGetHandleByPciBusId(pci.c_str(), &dev); rc != kNvmlSuccess)
      return fail("NVML: no GPU at " + pci + ": " + err(rc), ENODEV);
    for (std::size_t i = 0; i < devs_.size(); ++i)
      if (devs_[i] == dev) return static_cast<int>(i);
    devs_.push_back(dev);
    sets_.push_back(nullptr);
    return static_cast<int>(devs_.size() - 1);
  }

  Result<bool> mig_enabled(int h) override {
    if (!DeviceGetMigMode) return false;  // an NVML older than MIG: no MIG either
    unsigned cur = 0, pending = 0;
    nvmlReturn_t rc = DeviceGetMigMode(dev(h), &cur, &pending);
    if (rc == 3 /* NVML_ERROR_NOT_SUPPORTED: a GPU without MIG */) return false;
    if (rc != kNvmlSuccess) return fail("NVML: MIG mode: " + err(rc), EIO);
    return cur == 1;
  }

  Result<std::vector<GpuProcess>> compute_processes(int h) override {
    if (!DeviceGetComputeRunningProcesses) return fail("NVML: no nvmlDeviceGetComputeRunningProcesses_v3", ENOSYS);
    std::vector<nvmlProcessInfo_t> infos(64);
    for (int attempt = 0; attempt < 4; ++attempt) {
      unsigned n = static_cast<unsigned>(infos.size());
      nvmlReturn_t rc = DeviceGetComputeRunningProcesses(dev(h), &n, infos.data());
      if (rc == kNvmlErrorInsufficientSize) {
        infos.resize(n + 16);
        continue;
      }
      if (rc != kNvmlSuccess) return fail("NVML: compute processes: " + err(rc), EIO);
      std::vector<GpuProcess> out;
      for (unsigned i = 0; i < n; ++i)
        out.push_back({infos[i].pid, infos[i].usedGpuMemory == kNvmlValueNotAvailable ? 0 : infos[i].usedGpuMemory});
      return out;
    }
    return fail("NVML: compute processes: the list keeps growing", EAGAIN);
  }

  Result<std::pair<std::uint64_t, std::uint64_t>> memory(int h) override {
    nvmlMemory_t m{};
    if (nvmlReturn_t rc = DeviceGetMemoryInfo(dev(h), &m); rc != kNvmlSuccess)
      return fail("NVML: memory info: " + err(rc), EIO);
    return std::make_pair<std::uint64_t, std::uint64_t>(m.used, m.total);
  }

  Result<void> watch_xids(int h) override {
    if (!EventSetCreate || !DeviceRegisterEvents || !EventSetWait) return fail("NVML: no event API", ENOSYS);
    auto i = static_cast<std::size_t>(h);
    if (sets_[i]) return {};
    nvmlEventSet_t set = nullptr;
    if (nvmlReturn_t rc = EventSetCreate(&set); rc != kNvmlSuccess) return fail("NVML: event set: " + err(rc), EIO);
    if (nvmlReturn_t rc = DeviceRegisterEvents(dev(h), kNvmlEventXid, set); rc != kNvmlSuccess) {
      EventSetFree(set);
      return fail("NVML: register XID events: " + err(rc), EIO);
    }
    sets_[i] = set;
    return {};
  }

  GpuTelemetry sample(int h) override {
    GpuTelemetry t;
    nvmlDevice_t d = dev(h);
    nvmlMemory_t m{};
    if (DeviceGetMemoryInfo(d, &m) == kNvmlSuccess) {
      t.memory_used = m.used;
      t.memory_total = m.total;
      t.memory_free = m.free;
    }
    nvmlUtilization_t u{};
    if (DeviceGetUtilizationRates && DeviceGetUtilizationRates(d, &u) == kNvmlSuccess) {
      t.utilization_gpu = u.gpu;
      t.utilization_memory = u.memory;
    }
    unsigned v = 0;
    if (DeviceGetClockInfo && DeviceGetClockInfo(d, kNvmlClockSm, &v) == kNvmlSuccess) t.sm_clock_mhz = v;
    if (DeviceGetTemperature && DeviceGetTemperature(d, kNvmlTemperatureGpu, &v) == kNvmlSuccess) t.temperature_c = v;
    if (DeviceGetPowerUsage && DeviceGetPowerUsage(d, &v) == kNvmlSuccess) t.power_w = v / 1000.0;
    unsigned long long reasons = 0;
    if (DeviceGetThrottleReasons && DeviceGetThrottleReasons(d, &reasons) == kNvmlSuccess) t.throttle_reasons = reasons;
    if (nvmlEventSet_t set = sets_[static_cast<std::size_t>(h)]) {
      for (int i = 0; i < 64; ++i) {
        nvmlEventData_t e{};
        nvmlReturn_t rc = EventSetWait(set, &e, 0);
        if (rc == kNvmlErrorTimeout || rc != kNvmlSuccess) break;
        if (e.device == d && (e.eventType & kNvmlEventXid)) t.xids.push_back({e.eventData, monotonic_ns()});
      }
    }
    return t;
  }

 private:
  nvmlDevice_t dev(int h) const { return devs_.at(static_cast<std::size_t>(h)); }
  std::string err(nvmlReturn_t rc) const {
    const char* s = ErrorString ? ErrorString(rc) : nullptr;
    return s ? std::string(s) : "NVML error " + std::to_string(rc);
  }

  void* lib_;
  std::vector<nvmlDevice_t> devs_;
  std::vector<nvmlEventSet_t> sets_;

  nvmlReturn_t (*Init)() = nullptr;
  nvmlReturn_t (*Shutdown)() = nullptr;
  const char* (*ErrorString)(nvmlReturn_t) = nullptr;
  nvmlReturn_t (*SystemGetDriverVersion)(char*, unsigned) = nullptr;
  nvmlReturn_t (*DeviceGetHandleByPciBusId)(const char*, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*DeviceGetMemoryInfo)(nvmlDevice_t, nvmlMemory_t*) = nullptr;
  nvmlReturn_t (*DeviceGetMigMode)(nvmlDevice_t, unsigned*, unsigned*) = nullptr;
  nvmlReturn_t (*DeviceGetComputeRunningProcesses)(nvmlDevice_t, unsigned*, nvmlProcessInfo_t*) = nullptr;
  nvmlReturn_t (*DeviceGetUtilizationRates)(nvmlDevice_t, nvmlUtilization_t*) = nullptr;
  nvmlReturn_t (*DeviceGetClockInfo)(nvmlDevice_t, unsigned, unsigned*) = nullptr;
  nvmlReturn_t (*DeviceGetTemperature)(nvmlDevice_t, unsigned, unsigned*) = nullptr;
  nvmlReturn_t (*DeviceGetPowerUsage)(nvmlDevice_t, unsigned*) = nullptr;
  nvmlReturn_t (*DeviceGetThrottleReasons)(nvmlDevice_t, unsigned long long*) = nullptr;
  nvmlReturn_t (*EventSetCreate)(nvmlEventSet_t*) = nullptr;
  nvmlReturn_t (*DeviceRegisterEvents)(nvmlDevice_t, unsigned long long, nvmlEventSet_t) = nullptr;
  nvmlReturn_t (*EventSetWait)(nvmlEventSet_t, nvmlEventData_t*, unsigned) = nullptr;
  nvmlReturn_t (*EventSetFree)(nvmlEventSet_t) = nullptr;
};

}  // namespace

Result<std::shared_ptr<Nvml>> load_nvml(const std::string& path) {
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) return fail("NVML not available (" + path + " not found)", ENOENT);
  auto n = std::make_shared<DlNvml>(lib);
  if (auto r = n->resolve(); !r) return std::unexpected(r.error());
  return n;
}

}  // namespace chaos::gpu
