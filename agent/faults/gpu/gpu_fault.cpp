#include "faults/gpu/gpu_fault.h"

#include <signal.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <thread>

#include "core/log.h"
#include "faults/gpu/config.h"
#include "faults/gpu/fatbin.h"

namespace chaos::gpu {

namespace {

std::uint64_t ms_to_ns(std::chrono::milliseconds d) { return static_cast<std::uint64_t>(d.count()) * 1'000'000ull; }

std::string pct(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", fraction * 100.0);
  return buf;
}

std::string compute_mode_name(int m) {
  switch (m) {
    case kComputeModeDefault: return "default";
    case kComputeModeProhibited: return "prohibited";
    case kComputeModeExclusiveProcess: return "exclusive-process";
    default: return "mode " + std::to_string(m);
  }
}

std::string processes_str(const std::vector<GpuProcess>& ps) {
  std::string out;
  for (std::size_t i = 0; i < ps.size() && i < 8; ++i) {
    if (i) out += ", ";
    out += "pid " + std::to_string(ps[i].pid);
    if (ps[i].used_bytes) out += " (" + format_bytes(ps[i].used_bytes) + ")";
  }
  if (ps.size() > 8) out += ", and " + std::to_string(ps.size() - 8) + " more";
  return out;
}

}  // namespace

GpuFaultOptions GpuFaultOptions::defaults() {
  GpuFaultOptions o;
  o.driver = [] { return load_cuda_driver(); };
  o.nvml = [] { return load_nvml(); };
  o.fatbin = embedded_fatbin();
  o.kernels_cuda_version = gpu::kernels_cuda_version();
  o.no_kernels_reason = kernels_missing_reason();
  return o;
}

Result<void> undo_gpu_worker(const nlohmann::json& undo) {
  auto id = ProcessIdentity::from_json(undo);
  if (!id) return wrap(id.error(), "gpu-worker undo");
  auto killed = kill_if_same(*id, SIGKILL);
  if (!killed) return wrap(killed.error(), "gpu-worker undo");
  if (*killed && !wait_gone(*id, std::chrono::seconds(10)))
    return fail("gpu-worker undo: pid " + std::to_string(id->pid) + " still there 10s after SIGKILL", ETIMEDOUT);
  return {};
}

GpuFault::GpuFault(std::string name, std::shared_ptr<const GpuSpec> spec, FaultContext ctx, GpuFaultOptions opts)
    : name_(std::move(name)), spec_(std::move(spec)), ctx_(std::move(ctx)), opts_(std::move(opts)) {
  auto def = GpuFaultOptions::defaults();
  if (!opts_.driver) opts_.driver = def.driver;
  if (!opts_.nvml) opts_.nvml = def.nvml;
  if (opts_.no_kernels_reason.empty()) opts_.no_kernels_reason = def.no_kernels_reason;
}

GpuFault::~GpuFault() {
  // Workers' destructors SIGKILL and reap them; the driver gives everything back.
  running_.clear();
}

void GpuFault::log_info(const std::string& msg) const {
  auto log = ctx_.log ? ctx_.log : logger("gpu");
  log->info("{}: {}", name_, msg);
}

Result<std::vector<std::string>> GpuFault::plan() {
  const GpuSpec& s = *spec_;
  if (s.loads_sms() && opts_.fatbin.empty())
    return fail("gpu: " + opts_.no_kernels_reason + "; sm, utilization and tensor need the kernels "
                "(memory-only faults work without them)", ENOEXEC);

  auto probe = probe_gpus(opts_.driver, opts_.probe_timeout);
  if (!probe) return wrap(probe.error(), "gpu");
  probe_ = *probe;

  const int need = s.loads_sms() ? opts_.kernels_cuda_version : kMinDriverForMemory;
  if (probe->driver_version < need) {
    std::string why = s.loads_sms() ? "the stress kernels were built with CUDA " + format_cuda_version(need) +
                                          " and need a driver for CUDA " + format_cuda_version(need) + " or newer"
                                    : "holding memory needs a driver for CUDA " + format_cuda_version(need) +
                                          " or newer (virtual memory management)";
    return fail("gpu: NVIDIA driver too old: it supports CUDA " + format_cuda_version(probe->driver_version) +
                "; " + why, ENOTSUP);
  }
  if (probe->gpus.empty()) return fail("gpu: the NVIDIA driver sees no GPU on this node", ENODEV);

  std::vector<int> ordinals = s.devices;
  if (s.all_devices)
    for (const auto& g : probe->gpus) ordinals.push_back(g.ordinal);
  std::string errors;
  auto error = [&](const std::string& e) { errors += (errors.empty() ? "" : "; ") + e; };
  for (int o : ordinals) {
    if (o >= static_cast<int>(probe->gpus.size())) {
      std::string have;
      for (const auto& g : probe->gpus) have += (have.empty() ? "" : ", ") + std::to_string(g.ordinal) + ": " + g.name;
      error("devices: GPU " + std::to_string(o) + " does not exist; this node has " +
            std::to_string(probe->gpus.size()) + " (" + have + ")");
    }
  }
  if (!errors.empty()) return fail("gpu: " + errors, ENODEV);

  if (auto n = opts_.nvml(); n) {
    nvml_ = *n;
  } else {
    nvml_missing_ = n.error().message;
  }

  std::vector<std::string> lines;
  std::string driver_line = "gpu: driver " + probe->driver + ", CUDA " + format_cuda_version(probe->driver_version);
  if (nvml_) {
    if (auto v = nvml_->driver_version()) driver_line += ", NVIDIA " + *v;
  } else {
    driver_line += "; " + nvml_missing_ + ": no MIG or process check, no telemetry";
  }
  driver_line += std::string("; green contexts ") + (probe->green_contexts ? "available (not needed: SMs are chosen by %smid)" : "not in this driver");
  lines.push_back(driver_line);

  targets_.clear();
  for (int o : ordinals) {
    Target t;
    t.gpu = probe->gpus[static_cast<std::size_t>(o)];
    const ProbedGpu& g = t.gpu;
    const std::string label = "GPU " + std::to_string(o) + " (" + g.name + ")";
    if (s.loads_sms() && g.cc_major < 8)
      error(label + " is compute capability " + std::to_string(g.cc_major) + "." + std::to_string(g.cc_minor) +
            ": the SM load kernels need 8.0 or newer");
    if (s.memory && !g.vmm) error(label + ": no virtual memory management in the driver for this GPU");
    if (s.loads_sms() && !g.can_map_host) error(label + ": cannot map host memory (the kernels' lease lives there)");
    if (g.compute_mode == kComputeModeProhibited)
      error(label + " is in compute mode prohibited: no process may use it");

    std::uint64_t used = 0;
    bool used_known = false;
    if (nvml_) {
      if (auto h = nvml_->find(g.pci_bus_id)) {
        t.nvml = *h;
        if (auto mig = nvml_->mig_enabled(*h); mig && *mig)
          error(label + " has MIG enabled: the gpu fault needs a whole GPU (disable MIG on it or pick another)");
        if (auto ps = nvml_->compute_processes(*h)) t.others = *ps;
        if (auto m = nvml_->memory(*h)) used = m->first, used_known = true;
        (void)nvml_->watch_xids(*h);
      }
    }
    if (g.compute_mode == kComputeModeExclusiveProcess && !t.others.empty())
      error(label + " is in compute mode exclusive-process and " + processes_str(t.others) + " already uses it");

    std::string head = label + ": " + g.pci_bus_id + ", compute " + std::to_string(g.cc_major) + "." +
                       std::to_string(g.cc_minor) + ", " + std::to_string(g.sm_total) + " SMs, " +
                       format_bytes(g.total_bytes) +
                       (used_known ? " (" + format_bytes(used) + " in use)" : " (use unknown without NVML)") +
                       ", compute mode " + compute_mode_name(g.compute_mode);
    lines.push_back(head);

    if (s.memory) {
      std::uint64_t free = used_known && used < g.total_bytes ? g.total_bytes - used : g.total_bytes;
      auto bytes = memory_target(*s.memory, g.total_bytes, free, 2ull << 20,
                                 ctx_.config ? config_of(*ctx_.config).max_memory_fraction : std::nullopt);
      if (!bytes) {
        error(label + ": " + bytes.error().message);
      } else {
        t.bytes = *bytes;
        lines.push_back(label + ": hold " +
                        std::string(s.memory->mode == MemoryRequest::Mode::leave ? "about " : "") +
                        format_bytes(*bytes) + " of HBM (" + pct(double(*bytes) / double(g.total_bytes)) +
                        ") in a worker process, in " + format_bytes(opts_.step_bytes) +
                        " VMM steps, each written once so it is resident");
      }
    }
    if (s.loads_sms()) {
      auto k = sm_target(s.sm, g.sm_total);
      if (!k) {
        error(label + ": " + k.error().message);
      } else {
        t.sms = *k;
        lines.push_back(label + ": keep " + std::to_string(*k) + " of " + std::to_string(g.sm_total) +
                        " SMs busy at " + pct(s.duty()) + " duty" +
                        (s.duty() < kPersistentDuty ? " (" + format_duration(s.period) + " period)" : "") +
                        (s.tensor ? " with tensor-core (mma) load" : " with FMA load") +
                        ", stopping by itself at the lease deadline");
      }
    }
    if (!t.others.empty())
      lines.push_back(label + ": shared with " + std::to_string(t.others.size()) + " other process" +
                      (t.others.size() == 1 ? "" : "es") + " (" + processes_str(t.others) + ")" +
                      (s.loads_sms() ? std::string(": ") + kTimeSliceNote : std::string()));
    targets_.push_back(std::move(t));
  }
  if (!errors.empty()) return fail("gpu: " + errors, EINVAL);
  planned_ = true;
  return lines;
}

Result<void> GpuFault::apply() {
  if (!planned_) return fail("gpu: apply() before a successful plan()", EINVAL);
  if (!running_.empty()) return fail("gpu: already applied", EALREADY);
  const GpuSpec& s = *spec_;
  const std::uint64_t lease_ns = ctx_.config ? static_cast<std::uint64_t>(ctx_.config->lease.count())
                                             : 3'000'000'000ull;

  for (auto& t : targets_) {
    auto r = std::make_unique<Running>();
    r->target = &t;
    auto page = SharedPage<WorkerPage>::create();
    if (!page) {
      (void)revert();
      return wrap(page.error(), "gpu");
    }
    r->page = std::move(*page);

    WorkerParams params;
    params.driver = opts_.driver;
    params.status_interval_ns = opts_.status_interval_ns;
    SessionConfig& c = params.session;
    c.device = t.gpu.ordinal;
    c.memory = s.memory;
    c.max_memory_fraction = ctx_.config ? config_of(*ctx_.config).max_memory_fraction : std::nullopt;
    c.load_sms = s.loads_sms();
    c.sm = s.sm;
    c.duty = s.duty();
    c.tensor = s.tensor;
    c.period_ns = static_cast<std::uint64_t>(s.period.count());
    c.step_bytes = opts_.step_bytes;
    c.fatbin = opts_.fatbin;
    c.sm_settle_ns = opts_.sm_settle_ns;

    WorkerOptions wo;
    wo.name = "chaos-gpu" + std::to_string(t.gpu.ordinal);
    // The setup (fill and load) runs on this lease; once running, the runner's renewals take over.
    wo.deadline_ns = monotonic_ns() + ms_to_ns(opts_.setup_timeout) + lease_ns;
    WorkerPage* p = r->page.get();
    auto w = Worker::spawn(wo, [p, params](WorkerControl& ctl) { return run_gpu_worker(ctl, p, params); });
    if (!w) {
      (void)revert();
      return wrap(w.error(), "gpu: GPU " + std::to_string(t.gpu.ordinal) + " worker");
    }
    r->worker.emplace(std::move(*w));
    if (ctx_.journal) {
      nlohmann::json undo = r->worker->identity().to_json();
      undo["device"] = t.gpu.ordinal;
      undo["pci_bus_id"] = t.gpu.pci_bus_id;
      auto seq = ctx_.journal->intend(ctx_.run_id, kWorkerJournalKind, undo);
      if (!seq) {
        running_.push_back(std::move(r));
        (void)revert();
        return wrap(seq.error(), "gpu: journal GPU " + std::to_string(t.gpu.ordinal) + " worker");
      }
      r->seq = *seq;
    }
    auto rel = r->worker->release();
    running_.push_back(std::move(r));
    if (!rel) {
      (void)revert();
      return wrap(rel.error(), "gpu: start GPU " + std::to_string(t.gpu.ordinal) + " worker");
    }
    log_info("GPU " + std::to_string(t.gpu.ordinal) + " worker pid " + std::to_string(running_.back()->worker->pid()) +
             " started");
  }

  // Wait until every worker holds what it was asked to, or says why it cannot.
  const std::uint64_t until = monotonic_ns() + ms_to_ns(opts_.setup_timeout);
  std::string errors;
  for (;;) {
    bool all = true;
    for (auto& r : running_) {
      r->last = read_page(r->page.get());
      if (auto e = check_worker(*r)) {
        if (!r->error) {
          r->error = e;
          errors += (errors.empty() ? "" : "; ") + *e;
        }
        continue;
      }
      if (r->last.phase != WorkerPhase::running) all = false;
    }
    if (!errors.empty()) break;
    if (all) break;
    if (monotonic_ns() >= until) {
      for (auto& r : running_)
        if (r->last.phase != WorkerPhase::running) {
          std::string e = "GPU " + std::to_string(r->target->gpu.ordinal) + ": not running after " +
                          std::to_string(opts_.setup_timeout.count()) + "ms (still " +
                          worker_phase_name(r->last.phase) + ")";
          r->error = e;
          errors += (errors.empty() ? "" : "; ") + e;
        }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!errors.empty()) {
    (void)revert();
    return fail("gpu: " + errors, EIO);
  }
  for (auto& r : running_) {
    r->worker->renew(monotonic_ns() + lease_ns);
    if (ctx_.journal && r->seq) (void)ctx_.journal->applied(*r->seq);
    const GpuReport& rep = r->last.report;
    std::string msg = "GPU " + std::to_string(rep.device) + " running:";
    if (rep.granularity) msg += " holding " + format_bytes(rep.bytes_held) + " (filled in " +
                                std::to_string(rep.fill_ns / 1'000'000) + "ms)";
    if (rep.sm_target) msg += " " + std::to_string(rep.sm_busy) + "/" + std::to_string(rep.sm_target) + " SMs busy";
    log_info(msg);
  }
  return {};
}

std::optional<std::string> GpuFault::check_worker(Running& r) {
  const std::string label = "GPU " + std::to_string(r.target->gpu.ordinal);
  if (r.last.phase == WorkerPhase::failed)
    return std::string(r.last.report.error[0] ? r.last.report.error : (label + ": worker failed").c_str());
  if (r.worker && !r.ended) {
    if (r.worker->poll()) r.ended = r.worker->describe_status();
  }
  if (r.ended && !r.reverted) {
    WorkerSnapshot s = read_page(r.page.get());
    r.last = s;
    if (s.phase == WorkerPhase::failed && s.report.error[0]) return std::string(s.report.error);
    if (s.phase == WorkerPhase::expired)
      return label + ": the worker's lease lapsed and it stopped by itself (" + *r.ended + ")";
    return label + ": worker died (" + *r.ended + ", last phase " + worker_phase_name(s.phase) + ")";
  }
  return std::nullopt;
}

Result<void> GpuFault::renew(std::uint64_t deadline_mono_ns) {
  std::string errors;
  for (auto& r : running_) {
    if (r->reverted || !r->worker) continue;
    r->worker->renew(deadline_mono_ns);
    WorkerSnapshot s = read_page(r->page.get());
    if (s.phase == WorkerPhase::running) r->last = s;
    else r->last.phase = s.phase;
    if (s.phase == WorkerPhase::failed) r->last = s;
    if (auto e = check_worker(*r)) {
      if (!r->error) r->error = e;
      errors += (errors.empty() ? "" : "; ") + *e;
    }
  }
  if (!errors.empty()) return fail("gpu: " + errors, EIO);
  return {};
}

nlohmann::json GpuFault::sample() {
  if (running_.empty()) return nullptr;
  auto gpus = nlohmann::json::array();
  for (auto& r : running_) {
    if (r->reverted) continue;
    WorkerSnapshot s = read_page(r->page.get());
    if (s.phase == WorkerPhase::running) r->last = s;
    nlohmann::json g{{"device", r->target->gpu.ordinal}, {"phase", worker_phase_name(s.phase)}};
    const GpuReport& rep = s.report;
    if (rep.granularity) g["memory_held_bytes"] = rep.bytes_held;
    if (rep.sm_target) {
      g["sms_busy"] = rep.sm_busy;
      // null until two bursts were timed: present, so a stop condition on it waits instead of
      // taking the missing key for a broken brake.
      g["duty"] = rep.duty_achieved >= 0 ? nlohmann::json(rep.duty_achieved) : nlohmann::json(nullptr);
    }
    if (rep.error[0]) g["error"] = rep.error;
    if (nvml_ && r->target->nvml >= 0) {
      GpuTelemetry t = nvml_->sample(r->target->nvml);
      Telemetry& a = r->tele;
      ++a.samples;
      auto up = [](auto& acc, auto v, bool bigger) {
        if (!acc || (bigger ? v > *acc : v < *acc)) acc = v;
      };
      if (t.memory_used) up(a.peak_memory_used, *t.memory_used, true);
      if (t.temperature_c) up(a.max_temperature_c, *t.temperature_c, true);
      if (t.sm_clock_mhz) up(a.min_sm_clock_mhz, *t.sm_clock_mhz, false), up(a.max_sm_clock_mhz, *t.sm_clock_mhz, true);
      if (t.utilization_gpu) up(a.max_utilization, *t.utilization_gpu, true);
      if (t.power_w) up(a.max_power_w, *t.power_w, true);
      if (t.throttle_reasons) a.throttle_seen |= *t.throttle_reasons;
      for (const auto& x : t.xids) a.xids.push_back(x.xid);
      g["nvml"] = t.to_json();
    }
    gpus.push_back(std::move(g));
  }
  return {{"gpus", gpus}};
}

Result<void> GpuFault::stop_worker(Running& r) {
  if (r.reverted) return {};
  const std::string label = "GPU " + std::to_string(r.target->gpu.ordinal);
  if (r.worker) {
    r.worker->request_stop();
    const std::uint64_t until = monotonic_ns() + ms_to_ns(opts_.stop_timeout);
    while (!r.worker->poll() && monotonic_ns() < until) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    if (!r.worker->exited()) {
      if (auto k = r.worker->kill_and_reap(); !k) return wrap(k.error(), "gpu: " + label + " worker");
    }
    r.ended = r.worker->describe_status();
    WorkerSnapshot s = read_page(r.page.get());
    if (s.phase == WorkerPhase::failed && !r.error) r.error = std::string(s.report.error);
    // Keep the running numbers (what was held) and take the release figures from the end.
    r.last.report.release_ns = s.report.release_ns;
    r.last.report.released = s.report.released;
    if (s.report.duty_achieved >= 0 && s.report.sm_target) {
      r.last.report.duty_achieved = s.report.duty_achieved;
      r.last.report.duty_min = s.report.duty_min;
      r.last.report.duty_max = s.report.duty_max;
      r.last.report.bursts = s.report.bursts;
      r.last.report.bursts_skipped = s.report.bursts_skipped;
    }
    r.last.phase = s.phase;
    // The process is gone, so the driver has taken back all it had. Where NVML lists compute
    // processes, make sure it agrees before calling the GPU clean.
    if (nvml_ && r.target->nvml >= 0) {
      const auto pid = static_cast<unsigned>(r.worker->pid());
      const std::uint64_t deadline = monotonic_ns() + 5'000'000'000ull;
      for (;;) {
        auto ps = nvml_->compute_processes(r.target->nvml);
        bool listed = ps && std::any_of(ps->begin(), ps->end(), [&](const GpuProcess& p) { return p.pid == pid; });
        if (!listed) break;
        if (monotonic_ns() >= deadline) return fail("gpu: " + label + ": NVML still lists worker pid " + std::to_string(pid) + " 5s after it exited", EBUSY);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }
  if (ctx_.journal && r.seq) {
    if (auto j = ctx_.journal->reverted(*r.seq); !j) return wrap(j.error(), "gpu: journal");
  }
  r.reverted = true;
  log_info(label + " worker " + r.ended.value_or("never started") + "; the GPU has all of it back");
  return {};
}

Result<void> GpuFault::revert() {
  std::string errors;
  for (auto& r : running_) {
    if (auto s = stop_worker(*r); !s) errors += (errors.empty() ? "" : "; ") + s.error().message;
  }
  if (!errors.empty()) return fail(errors, EIO);
  return {};
}

nlohmann::json GpuFault::gpu_observation(const Running& r) const {
  const GpuReport& rep = r.last.report;
  const Target& t = *r.target;
  nlohmann::json requested = nlohmann::json::object(), achieved = nlohmann::json::object();
  bool ok = !r.error.has_value();
  if (spec_->memory) {
    requested["memory"] = spec_->memory->to_json();
    requested["memory_bytes"] = rep.bytes_target ? rep.bytes_target : t.bytes;
    achieved["memory_bytes"] = rep.bytes_held;
    achieved["fill_ms"] = rep.fill_ns / 1e6;
    achieved["release_ms"] = rep.release_ns / 1e6;
    if (!rep.bytes_target || rep.bytes_held != rep.bytes_target) ok = false;
  }
  if (spec_->loads_sms()) {
    requested["sms"] = rep.sm_target ? rep.sm_target : t.sms;
    requested["duty"] = spec_->duty();
    requested["tensor"] = spec_->tensor;
    achieved["sms"] = rep.sm_busy;
    achieved["sm_ids"] = rep.sm_ids();
    achieved["duty"] = rep.duty_achieved < 0 ? nlohmann::json(nullptr) : nlohmann::json(rep.duty_achieved);
    achieved["duty_min"] = rep.duty_min < 0 ? nlohmann::json(nullptr) : nlohmann::json(rep.duty_min);
    achieved["duty_max"] = rep.duty_max < 0 ? nlohmann::json(nullptr) : nlohmann::json(rep.duty_max);
    achieved["bursts"] = rep.bursts;
    achieved["bursts_skipped"] = rep.bursts_skipped;
    bool duty_ok = rep.duty_achieved >= 0 && std::fabs(rep.duty_achieved - spec_->duty()) <= opts_.duty_tolerance;
    achieved["duty_within_tolerance"] = duty_ok;
    if (rep.sm_busy != rep.sm_target || rep.sm_target == 0 || !duty_ok) ok = false;
  }
  nlohmann::json j{{"device", t.gpu.ordinal},
                   {"name", t.gpu.name},
                   {"pci_bus_id", t.gpu.pci_bus_id},
                   {"requested", requested},
                   {"achieved", achieved},
                   {"phase", worker_phase_name(r.last.phase)},
                   {"ok", ok}};
  if (r.worker) j["worker_pid"] = r.worker->pid();
  if (r.ended) j["worker_ended"] = *r.ended;
  if (r.error) j["error"] = *r.error;
  if (!t.others.empty()) {
    auto ps = nlohmann::json::array();
    for (const auto& p : t.others) ps.push_back({{"pid", p.pid}, {"used_bytes", p.used_bytes}});
    j["other_processes"] = ps;
  }
  const Telemetry& a = r.tele;
  if (a.samples) {
    nlohmann::json tj{{"samples", a.samples}};
    if (a.peak_memory_used) tj["peak_memory_used_bytes"] = *a.peak_memory_used;
    if (a.max_temperature_c) tj["max_temperature_c"] = *a.max_temperature_c;
    if (a.min_sm_clock_mhz) tj["min_sm_clock_mhz"] = *a.min_sm_clock_mhz;
    if (a.max_sm_clock_mhz) tj["max_sm_clock_mhz"] = *a.max_sm_clock_mhz;
    if (a.max_utilization) tj["max_utilization_gpu_pct"] = *a.max_utilization;
    if (a.max_power_w) tj["max_power_w"] = *a.max_power_w;
    tj["throttle_seen"] = throttle_reason_names(a.throttle_seen);
    tj["xid"] = a.xids;
    j["telemetry"] = tj;
  }
  return j;
}

nlohmann::json GpuFault::observe() const {
  nlohmann::json j{{"family", "gpu"}, {"requested", spec_->to_json()}};
  auto gpus = nlohmann::json::array();
  bool ok = !running_.empty();
  for (const auto& r : running_) {
    auto g = gpu_observation(*r);
    ok = ok && g["ok"].get<bool>();
    gpus.push_back(std::move(g));
  }
  j["gpus"] = gpus;
  j["ok"] = ok;
  if (spec_->loads_sms()) j["note"] = kTimeSliceNote;
  if (!nvml_missing_.empty()) j["telemetry"] = nvml_missing_;
  return j;
}

std::vector<ProcessIdentity> GpuFault::workers() const {
  std::vector<ProcessIdentity> out;
  for (const auto& r : running_)
    if (r->worker) out.push_back(r->worker->identity());
  return out;
}

std::vector<WorkerSnapshot> GpuFault::snapshots() const {
  std::vector<WorkerSnapshot> out;
  for (const auto& r : running_) out.push_back(read_page(r->page.get()));
  return out;
}

}  // namespace chaos::gpu
