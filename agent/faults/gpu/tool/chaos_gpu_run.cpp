// chaos-gpu-run: drives the gpu fault's real code path on a machine with a GPU, for
// tests/gpu/device-check.sh and bench/gpu-fill.sh. Not installed; the agent does not need it.
//
//   chaos-gpu-run info                         probe the GPUs (through a worker) and NVML
//   chaos-gpu-run fault --spec YAML --hold 5s [--state-dir D] [--lease 3s] [--out FILE]
//                                              plan, apply, renew and sample, revert, observe
//   chaos-gpu-run recover --state-dir D        replay the journal (gpu-worker undo)
//   chaos-gpu-run fill --mode vmm|alloc --fraction 0.9 [--device 0] [--step 256MiB]
//                                              time to occupy and release HBM
//   chaos-gpu-run nvml [--device 0 | --pci BUSID]  NVML's view of one GPU (memory used, processes)
//
// CHAOS_GPU_RUN_FAKE=1 swaps in the fake driver and NVML (an H200-shaped GPU that is not there),
// so the scripts' plumbing can be exercised on a machine without a GPU. Nothing it prints about
// the GPU is real then.
//
// `fault` prints "READY" and the worker pids on stderr once the fault holds, so a script can
// kill this process mid-fault; everything else goes to stdout as one JSON document.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/config.h"
#include "core/fields.h"
#include "core/journal.h"
#include "core/log.h"
#include "faults/gpu/config.h"
#include "faults/gpu/fake_driver.h"
#include "faults/gpu/family.h"
#include "faults/gpu/fatbin.h"
#include "faults/gpu/sizing.h"

using namespace chaos;
using namespace chaos::gpu;

namespace {

struct Args {
  std::string cmd;
  std::map<std::string, std::string> opts;
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = opts.find(k);
    return it == opts.end() ? def : it->second;
  }
};

bool fake() { return std::getenv("CHAOS_GPU_RUN_FAKE") != nullptr; }

Result<std::shared_ptr<CudaDriver>> driver() {
  if (fake()) return std::shared_ptr<CudaDriver>(std::make_shared<FakeDriver>(FakeDriverConfig{}));
  return load_cuda_driver();
}

Result<std::shared_ptr<Nvml>> nvml() {
  if (fake()) return std::shared_ptr<Nvml>(std::make_shared<FakeNvml>());
  return load_nvml();
}

GpuFaultOptions options() {
  GpuFaultOptions o = GpuFaultOptions::defaults();
  o.driver = driver;
  o.nvml = nvml;
  return o;
}

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "chaos-gpu-run: " << why << "\n"
            << "usage: chaos-gpu-run info | fault --spec YAML --hold DUR [--state-dir D] [--lease DUR] [--out F]\n"
            << "       | recover --state-dir D | fill --mode vmm|alloc --fraction F [--device N] [--step SIZE]\n"
            << "       | nvml [--device N | --pci BUSID]\n";
  std::exit(2);
}

Duration duration_arg(const Args& a, const std::string& k, const std::string& def) {
  auto d = parse_duration(a.get(k, def));
  if (!d) usage("--" + k + ": " + d.error().message);
  return *d;
}

void emit(const nlohmann::json& j, const std::string& out) {
  std::string text = j.dump(2);
  std::cout << text << std::endl;
  if (!out.empty()) std::ofstream(out) << text << "\n";
}

int cmd_info() {
  nlohmann::json j;
  j["kernels_built"] = kernels_built();
  if (kernels_built()) {
    auto imgs = read_fatbin(embedded_fatbin());
    auto a = nlohmann::json::array();
    if (imgs)
      for (const auto& i : *imgs) a.push_back(i.str());
    j["fatbin"] = a;
    j["kernels_cuda_version"] = format_cuda_version(kernels_cuda_version());
  }
  auto p = probe_gpus(driver);
  if (!p) {
    j["error"] = p.error().message;
    emit(j, "");
    return 1;
  }
  j["driver"] = p->driver;
  j["driver_cuda_version"] = format_cuda_version(p->driver_version);
  j["green_contexts"] = p->green_contexts;
  auto gpus = nlohmann::json::array();
  auto nv = nvml();
  for (const auto& g : p->gpus) {
    nlohmann::json gj{{"ordinal", g.ordinal}, {"name", g.name}, {"pci_bus_id", g.pci_bus_id},
                      {"sms", g.sm_total}, {"cc", std::to_string(g.cc_major) + "." + std::to_string(g.cc_minor)},
                      {"total_bytes", g.total_bytes}, {"vmm", g.vmm}, {"compute_mode", g.compute_mode}};
    if (nv) {
      if (auto h = (*nv)->find(g.pci_bus_id)) {
        gj["nvml"] = (*nv)->sample(*h).to_json();
        if (auto m = (*nv)->mig_enabled(*h)) gj["mig"] = *m;
      }
    }
    gpus.push_back(gj);
  }
  j["gpus"] = gpus;
  if (fake()) j["fake"] = true;
  if (!nv) j["nvml"] = nv.error().message;
  emit(j, "");
  return 0;
}

int cmd_fault(const Args& a) {
  std::string spec_text = a.get("spec");
  if (spec_text.empty()) usage("fault needs --spec");
  Duration hold = duration_arg(a, "hold", "5s");
  Duration lease = duration_arg(a, "lease", "3s");
  Duration every = duration_arg(a, "sample-every", "200ms");
  const std::string out = a.get("out");

  Diagnostics diags;
  YAML::Node node;
  try {
    node = YAML::Load(spec_text);
  } catch (const YAML::Exception& e) {
    std::cerr << "--spec: " << e.what() << "\n";
    return 2;
  }
  YNode yn(node, "gpu", "--spec", &diags);
  MapReader r(yn);
  auto parsed = parse_gpu_spec(r);
  if (!diags.ok() || !parsed) {
    std::cerr << diags.str();
    return 2;
  }
  auto spec = std::dynamic_pointer_cast<const GpuSpec>(parsed);

  std::unique_ptr<Journal> journal;
  if (!a.get("state-dir").empty()) {
    auto jr = Journal::open(a.get("state-dir"));
    if (!jr) {
      std::cerr << jr.error().text() << "\n";
      return 1;
    }
    journal = std::move(*jr);
  }
  AgentConfig cfg;
  cfg.lease = lease;
  if (!a.get("max-memory-fraction").empty()) {
    gpu::GpuConfig g;
    g.max_memory_fraction = std::stod(a.get("max-memory-fraction"));
    gpu::set_config(cfg, g);
  }
  FaultContext ctx{&cfg, journal.get(), "gpu-run-" + std::to_string(::getpid()), logger("gpu")};
  GpuFault fault("device-check", spec, ctx, options());

  nlohmann::json doc{{"spec", spec->to_json()}};
  auto plan = fault.plan();
  if (!plan) {
    doc["error"] = plan.error().message;
    doc["phase"] = "plan";
    emit(doc, out);
    return 1;
  }
  doc["plan"] = *plan;
  for (const auto& l : *plan) std::cerr << "plan: " << l << "\n";

  auto t0 = std::chrono::steady_clock::now();
  auto applied = fault.apply();
  double apply_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  doc["apply_ms"] = apply_ms;
  if (!applied) {
    doc["error"] = applied.error().message;
    doc["phase"] = "apply";
    doc["observe"] = fault.observe();
    (void)fault.revert();
    emit(doc, out);
    return 1;
  }
  std::cerr << "READY parent=" << ::getpid();
  for (const auto& w : fault.workers()) std::cerr << " worker=" << w.pid;
  std::cerr << std::endl;

  auto samples = nlohmann::json::array();
  auto start = std::chrono::steady_clock::now();
  auto next_sample = start;
  std::string failure;
  while (std::chrono::steady_clock::now() - start < hold) {
    auto renewed = fault.renew(monotonic_ns() + static_cast<std::uint64_t>(lease.count()));
    if (!renewed) {
      failure = renewed.error().message;
      break;
    }
    if (std::chrono::steady_clock::now() >= next_sample) {
      auto s = fault.sample();
      s["t_ms"] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      samples.push_back(s);
      next_sample += every;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  t0 = std::chrono::steady_clock::now();
  auto reverted = fault.revert();
  doc["revert_ms"] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  doc["samples"] = samples;
  doc["observe"] = fault.observe();
  if (!failure.empty()) doc["error"] = failure, doc["phase"] = "hold";
  if (!reverted) doc["revert_error"] = reverted.error().message;
  emit(doc, out);
  return failure.empty() && reverted && doc["observe"]["ok"].get<bool>() ? 0 : 1;
}

int cmd_recover(const Args& a) {
  if (a.get("state-dir").empty()) usage("recover needs --state-dir");
  auto jr = Journal::open(a.get("state-dir"));
  if (!jr) {
    std::cerr << jr.error().text() << "\n";
    return 1;
  }
  UndoRegistry undo;
  family(options()).register_undo(undo);
  auto rep = recover(**jr, undo);
  nlohmann::json j{{"reverted", rep.reverted}, {"failed", rep.failed}, {"lines", rep.lines}};
  emit(j, "");
  return rep.failed == 0 ? 0 : 1;
}

// Occupies a fraction of HBM in this process and gives it back, timing both. vmm is the fault's
// own path (GpuSession); alloc is the gpu-burn way: cuMemAlloc in fixed steps, each written.
int cmd_fill(const Args& a) {
  const std::string mode = a.get("mode", "vmm");
  const double fraction = std::stod(a.get("fraction", "0.9"));
  const int device = std::stoi(a.get("device", "0"));
  auto step = parse_bytes(a.get("step", mode == "vmm" ? "2GiB" : "256MiB"));
  if (!step) usage("--step: " + step.error().message);
  auto drv = driver();
  if (!drv) {
    std::cerr << drv.error().message << "\n";
    return 1;
  }
  CudaDriver& d = **drv;
  nlohmann::json j{{"mode", mode}, {"fraction", fraction}, {"device", device}, {"step_bytes", *step}};
  if (mode == "vmm") {
    SessionConfig c;
    c.device = device;
    c.memory = MemoryRequest{MemoryRequest::Mode::fraction, 0, fraction};
    c.step_bytes = *step;
    GpuSession s(*drv, c);
    auto t0 = monotonic_ns();
    auto r = s.open();
    auto t1 = monotonic_ns();
    if (r) r = s.hold_memory();
    auto t2 = monotonic_ns();
    auto st = s.stop();
    auto t3 = monotonic_ns();
    j["open_ms"] = (t1 - t0) / 1e6;
    j["occupy_ms"] = (t2 - t1) / 1e6;
    j["release_ms"] = (t3 - t2) / 1e6;
    j["bytes"] = s.report().bytes_held;
    j["total_bytes"] = s.report().total_bytes;
    j["steps"] = s.report().steps;
    if (!r) j["error"] = r.error().message;
    else if (!st) j["error"] = st.error().message;
    emit(j, "");
    return r && st ? 0 : 1;
  }
  if (mode != "alloc") usage("--mode: vmm or alloc");
  auto t0 = monotonic_ns();
  CuDevice dev = 0;
  CuContext ctx = nullptr;
  std::size_t free = 0, total = 0;
  if (CuResult rc = d.init(); rc) return std::cerr << cuda_error(d, rc, "cuInit").message << "\n", 1;
  if (CuResult rc = d.device_get(&dev, device); rc) return std::cerr << cuda_error(d, rc, "cuDeviceGet").message << "\n", 1;
  if (CuResult rc = d.primary_ctx_retain(&ctx, dev); rc) return std::cerr << cuda_error(d, rc, "ctx").message << "\n", 1;
  d.ctx_set_current(ctx);
  d.mem_get_info(&free, &total);
  auto t1 = monotonic_ns();
  const std::uint64_t target = static_cast<std::uint64_t>(static_cast<long double>(total) * fraction);
  std::vector<CuDevicePtr> blocks;
  std::uint64_t held = 0;
  std::string error;
  while (held < target) {
    std::uint64_t n = std::min<std::uint64_t>(*step, target - held);
    CuDevicePtr p = 0;
    if (CuResult rc = d.mem_alloc(&p, n); rc) {
      error = cuda_error(d, rc, "cuMemAlloc at " + format_bytes(held)).message;
      break;
    }
    blocks.push_back(p);
    if (CuResult rc = d.memset_d8(p, 0xA5, n); rc) {
      error = cuda_error(d, rc, "cuMemsetD8").message;
      break;
    }
    held += n;
  }
  d.ctx_synchronize();
  auto t2 = monotonic_ns();
  for (auto p : blocks) d.mem_free(p);
  d.ctx_synchronize();
  auto t3 = monotonic_ns();
  d.primary_ctx_release(dev);
  j["open_ms"] = (t1 - t0) / 1e6;
  j["occupy_ms"] = (t2 - t1) / 1e6;
  j["release_ms"] = (t3 - t2) / 1e6;
  j["bytes"] = held;
  j["total_bytes"] = total;
  j["steps"] = blocks.size();
  if (!error.empty()) j["error"] = error;
  emit(j, "");
  return error.empty() ? 0 : 1;
}

int cmd_nvml(const Args& a) {
  // --pci skips the CUDA probe (a second per call): the device check polls with it.
  std::string pci = a.get("pci");
  if (pci.empty()) {
    const int device = std::stoi(a.get("device", "0"));
    auto p = probe_gpus(driver);
    if (!p) return std::cerr << p.error().message << "\n", 1;
    if (device >= static_cast<int>(p->gpus.size())) return std::cerr << "no GPU " << device << "\n", 1;
    pci = p->gpus[static_cast<std::size_t>(device)].pci_bus_id;
  }
  auto n = nvml();
  if (!n) return std::cerr << n.error().message << "\n", 1;
  auto h = (*n)->find(pci);
  if (!h) return std::cerr << h.error().message << "\n", 1;
  nlohmann::json j = (*n)->sample(*h).to_json();
  auto procs = nlohmann::json::array();
  if (auto ps = (*n)->compute_processes(*h))
    for (const auto& pr : *ps) procs.push_back({{"pid", pr.pid}, {"used_bytes", pr.used_bytes}});
  j["compute_processes"] = procs;
  emit(j, "");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) usage("no command");
  Args a;
  a.cmd = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0 || i + 1 >= argc) usage("bad argument " + k);
    a.opts[k.substr(2)] = argv[++i];
  }
  if (a.cmd == "info") return cmd_info();
  if (a.cmd == "fault") return cmd_fault(a);
  if (a.cmd == "recover") return cmd_recover(a);
  if (a.cmd == "fill") return cmd_fill(a);
  if (a.cmd == "nvml") return cmd_nvml(a);
  usage("unknown command " + a.cmd);
}
