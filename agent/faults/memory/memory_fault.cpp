#include "faults/memory/memory_fault.h"

#include <fcntl.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/log.h"
#include "core/units.h"

namespace chaos::memory {

namespace {

// MemAvailable from /proc/meminfo, in bytes.
Result<std::uint64_t> host_available() {
  auto text = cgroup::read_file("/proc/meminfo");
  if (!text) return std::unexpected(text.error());
  std::istringstream in(*text);
  std::string key;
  std::uint64_t kb = 0;
  std::string unit;
  while (in >> key >> kb) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return kb * 1024;
  }
  return fail("/proc/meminfo: no MemAvailable", ENOENT);
}

bool under(const std::string& rel, const std::string& prefix) {
  if (prefix == "/") return true;
  return rel == prefix || rel.rfind(prefix + "/", 0) == 0;
}

std::string trim_slashes(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  if (!s.empty() && s.front() != '/') s = "/" + s;
  return s;
}

}  // namespace

Result<void> undo_memory_hog(const nlohmann::json& undo) {
  if (!undo.is_object()) return fail("memory-hog undo: expected an object, got " + undo.dump(), EINVAL);
  // Journaled before the fork: no hog was ever started, so nothing to undo.
  if (undo.value("pid", 0) == 0) return {};
  auto id = ProcessIdentity::from_json(undo);
  if (!id) return wrap(id.error(), "memory-hog undo");
  auto killed = kill_if_same(*id, SIGKILL);
  if (!killed) return wrap(killed.error(), "memory-hog undo (cgroup " + undo.value("cgroup", "?") + ")");
  if (*killed && !wait_gone(*id, std::chrono::seconds(2)))
    return fail("memory-hog undo: pid " + std::to_string(id->pid) + " still alive 2s after SIGKILL", ETIMEDOUT);
  return {};
}

bool can_lower_oom_score_adj() {
  auto text = cgroup::read_file("/proc/self/status");
  if (!text) return false;
  auto pos = text->find("CapEff:");
  if (pos == std::string::npos) return false;
  std::uint64_t caps = std::strtoull(text->c_str() + pos + 7, nullptr, 16);
  constexpr int kCapSysResource = 24;
  return (caps >> kCapSysResource) & 1;
}

namespace {

// Writes a process's oom_score_adj only if it is still the process the identity names: the
// proc file is opened first, so a pid reused after the check cannot receive the write.
Result<bool> set_oom_score_adj_if_same(const ProcessIdentity& id, int value) {
  std::string path = "/proc/" + std::to_string(id.pid) + "/oom_score_adj";
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ESRCH) return false;
    return fail_errno("open " + path);
  }
  auto st = proc_start_time(id.pid);
  if (!st || *st != id.start_time) {
    ::close(fd);
    return false;
  }
  std::string v = std::to_string(value);
  ssize_t n = ::write(fd, v.data(), v.size());
  int e = errno;
  ::close(fd);
  if (n < 0) {
    if (e == ESRCH) return false;
    return fail("write " + v + " to " + path, e);
  }
  return true;
}

}  // namespace

Result<void> undo_oom_score_adj(const nlohmann::json& undo) {
  if (!undo.is_object() || !undo.contains("procs") || !undo["procs"].is_array())
    return fail("memory-oom-score-adj undo: expected {\"procs\": [...]}, got " + undo.dump(), EINVAL);
  std::string errors;
  for (const auto& p : undo["procs"]) {
    auto id = ProcessIdentity::from_json(p);
    if (!id || !p.contains("value") || !p["value"].is_number_integer()) {
      errors += (errors.empty() ? "" : "; ") + std::string("unusable entry ") + p.dump();
      continue;
    }
    if (auto r = set_oom_score_adj_if_same(*id, p["value"].get<int>()); !r)
      errors += (errors.empty() ? "" : "; ") + r.error().text();
  }
  if (!errors.empty()) return fail("memory-oom-score-adj undo: " + errors, EIO);
  return {};
}

MemoryFault::MemoryFault(std::shared_ptr<const MemorySpec> spec, FaultContext ctx, std::string name)
    : spec_(std::move(spec)), ctx_(std::move(ctx)), name_(std::move(name)) {
  log_ = ctx_.log ? ctx_.log : logger("memory");
}

MemoryFault::~MemoryFault() {
  if (worker_ && !reverted_) {
    if (auto r = revert(); !r) log_->error("{}: revert at destruction failed: {}", name_, r.error().text());
  }
}

Result<std::vector<std::string>> MemoryFault::plan() {
  static const AgentConfig defaults;
  const AgentConfig& cfg = ctx_.config ? *ctx_.config : defaults;
  const MemorySpec& s = *spec_;
  MemoryPlan p;
  auto where = [&](const std::string& what) { return "memory " + s.target.str() + ": " + what; };

  auto h = cgroup::find_hierarchy("memory");
  if (!h) return wrap(h.error(), where("find the memory controller"));
  p.hierarchy = *h;

  Result<cgroup::CgroupPath> path = fail("unresolved");
  switch (s.target.kind) {
    case MemoryTarget::Kind::cgroup: path = cgroup::resolve_path(*h, s.target.path); break;
    case MemoryTarget::Kind::unit: path = cgroup::resolve_unit(*h, s.target.unit); break;
    case MemoryTarget::Kind::pid: path = cgroup::resolve_pid(*h, s.target.pid, "memory"); break;
    default:  // process targets are resolved to cgroups by the family (memory.cpp); namespaces are refused by the parser
      path = fail("a " + std::string(target_kind_key(s.target.kind)) + " target names no single cgroup", EINVAL);
      break;
  }
  if (!path) return wrap(path.error(), where("resolve the target"));
  p.cgroup = *path;

  // Guardrails.
  if (p.cgroup.is_root())
    return refuse(where("the root cgroup is not a target: the hog would press on the whole host"));
  for (const auto& prot : cfg.protected_cgroups) {
    std::string pr = trim_slashes(prot);
    if (pr.rfind(h->mount, 0) == 0) pr = trim_slashes(pr.substr(h->mount.size()));
    if (under(p.cgroup.relative, pr))
      return refuse(where("cgroup " + p.cgroup.relative + " is protected by the agent's config (" + prot + ")"));
  }
  for (const auto& unit : cfg.protected_units) {
    std::istringstream parts(p.cgroup.relative);
    std::string part;
    while (std::getline(parts, part, '/'))
      if (part == unit)
        return refuse(where("cgroup " + p.cgroup.relative + " belongs to protected unit " + unit));
  }

  auto cg = cgroup::MemoryCgroup::open(*h, p.cgroup);
  if (!cg) return wrap(cg.error(), where("open"));
  // A hog beside the agent could get the agent itself OOM-killed.
  if (auto mine = cg->contains(::getpid()); mine && *mine)
    return refuse(where("cgroup " + p.cgroup.relative + " holds the agent itself (pid " +
                      std::to_string(::getpid()) + ")"));
  if (auto d = cg->delegates_memory(); !d) {
    return wrap(d.error(), where("read cgroup.subtree_control"));
  } else if (*d) {
    return fail(where("cgroup " + p.cgroup.relative +
                      " enables the memory controller for its children, so it cannot hold processes "
                      "(cgroup v2 \"no internal processes\"): name a leaf cgroup"),
                EBUSY);
  }

  auto lim = cg->effective_limit();
  if (!lim) return wrap(lim.error(), where("read the memory limit"));
  p.limit = *lim;
  auto usage = cg->usage();
  if (!usage) return wrap(usage.error(), where("read usage"));
  p.usage_at_plan = *usage;

  if (s.fraction) {
    if (!p.limit)
      return fail(where("fraction " + format_number(*s.fraction) + ": cgroup " + p.cgroup.relative +
                        " has no memory limit, nor has any cgroup above it; give size instead"),
                  EINVAL);
    p.bytes = static_cast<std::uint64_t>(std::llround(static_cast<long double>(p.limit->bytes) * *s.fraction));
  } else if (s.size) {
    p.bytes = *s.size;
  }
  if (s.mode == Mode::oom) {
    if (!p.limit)
      return fail(where("mode oom: cgroup " + p.cgroup.relative +
                        " has no memory limit, so only the host-wide OOM killer could fire; refused"),
                  EINVAL);
    // The hog cannot hold more than the limit: the cap is where it stops when nothing was killed.
    if (p.bytes == 0 || p.bytes > p.limit->bytes) p.bytes = p.limit->bytes;
    auto procs = cg->procs(true);
    if (!procs) return wrap(procs.error(), where("list processes"));
    if (s.victim == Victim::workload && procs->empty())
      return fail(where("mode oom, victim workload: cgroup " + p.cgroup.relative +
                        " holds no process for the OOM killer to take"),
                  EINVAL);
  } else if (p.limit && p.bytes >= p.limit->bytes) {
    return fail(where("size " + format_bytes(p.bytes) + " reaches the limit " + format_bytes(p.limit->bytes) +
                      " of " + p.limit->relative + ": pressure mode would end in the OOM killer; use mode: oom "
                      "or a smaller size"),
                EINVAL);
  }
  if (auto avail = host_available(); avail && p.bytes > *avail)
    return fail(where("the hog (" + format_bytes(p.bytes) + ") exceeds the host's available memory (" +
                      format_bytes(*avail) + "): refused, it would press on the whole host"),
                ENOMEM);
  p.rate = s.rate.value_or(0);
  p.oom_score_adj = victim_oom_score_adj(s.victim);
  if (s.victim == Victim::workload && !can_lower_oom_score_adj()) {
    p.raise_workload = true;
    p.oom_score_adj = 0;
  }

  std::string limit_text = p.limit ? format_bytes(p.limit->bytes) +
                                         (p.limit->relative == p.cgroup.relative ? "" : " set by " + p.limit->relative)
                                   : std::string("none");
  p.lines.push_back("memory: cgroup " + std::string(cgroup::version_name(h->version)) + " " + p.cgroup.dir +
                    " (limit " + limit_text + ", usage " + format_bytes(p.usage_at_plan) + ")");
  std::string amount = format_bytes(p.bytes);
  if (s.fraction) amount += " (" + format_number(*s.fraction) + " of the limit)";
  p.lines.push_back(std::string("memory: hog process ") + (s.mode == Mode::oom ? "grows until the OOM killer fires, at most " : "holds ") +
                    amount + (p.rate ? " at " + format_bytes(p.rate) + "/s" : std::string(" as fast as it can")) +
                    ", victim " + victim_name(s.victim) +
                    (p.raise_workload ? std::string(" (the workload's processes get oom_score_adj 1000: the agent lacks "
                                                    "CAP_SYS_RESOURCE to lower the hog's; restored on revert)")
                                      : " (hog oom_score_adj " + std::to_string(p.oom_score_adj) + ")"));
  if (s.mode == Mode::pressure && p.limit && p.bytes + p.usage_at_plan > p.limit->bytes)
    p.lines.push_back("memory: warning: usage " + format_bytes(p.usage_at_plan) + " plus the hog exceeds the limit: expect reclaim and OOM kills");
  if (h->version == cgroup::Version::v2 && s.victim == Victim::hog) {
    // memory.oom.group: one OOM kill takes every process of the cgroup (but -1000 ones), so the
    // hog as victim would take the workload with it.
    if (auto g = cgroup::read_file(p.cgroup.dir + "/memory.oom.group"); g && g->rfind("1", 0) == 0)
      p.lines.push_back("memory: warning: " + p.cgroup.relative +
                        " has memory.oom.group=1: an OOM kill of the hog kills the whole cgroup, workload included");
  }
  p.lines.push_back("memory: the hog joins " + p.cgroup.dir + "/cgroup.procs; killed on revert, on agent death, or " +
                    format_duration(cfg.lease) + " after the last lease renewal");
  plan_ = std::move(p);
  cg_ = std::move(*cg);
  return plan_->lines;
}

std::optional<ProcessIdentity> MemoryFault::hog() const {
  if (!worker_ || worker_->exited()) return std::nullopt;
  return worker_->identity();
}

std::uint64_t MemoryFault::hog_bytes() const {
  return worker_ ? worker_->shared().counters[kHogTouchedBytes].load() : 0;
}

HogPhase MemoryFault::hog_phase() const {
  return worker_ ? static_cast<HogPhase>(worker_->shared().phase.load()) : HogPhase::gated;
}

std::int64_t MemoryFault::since_start_ms() const {
  return static_cast<std::int64_t>((monotonic_ns() - t0_ns_) / 1000000);
}

std::map<pid_t, std::string> MemoryFault::snapshot_procs() {
  std::map<pid_t, std::string> out;
  auto procs = cg_->procs(true);
  if (!procs) return out;
  for (pid_t pid : *procs) {
    std::string name;
    if (tracker_) name = tracker_->name_of(pid).value_or("");
    if (name.empty()) name = process_comm(pid).value_or("");
    out[pid] = name;
  }
  return out;
}

Result<void> MemoryFault::apply() {
  if (worker_) return fail("memory fault " + name_ + ": already applied", EALREADY);
  if (!plan_) {
    auto p = plan();
    if (!p) return std::unexpected(p.error());
  }
  auto r = apply_impl();
  if (!r) {
    // Partial apply: the hog may exist; revert is idempotent.
    if (auto rv = revert(); !rv) log_->error("{}: revert after failed apply: {}", name_, rv.error().text());
  }
  return r;
}

Result<void> MemoryFault::apply_impl() {
  static const AgentConfig defaults;
  const AgentConfig& cfg = ctx_.config ? *ctx_.config : defaults;
  const MemoryPlan& p = *plan_;
  const bool v1 = p.hierarchy.version == cgroup::Version::v1;
  reverted_ = false;

  // Baselines first, so every delta is the fault's own.
  auto ev = cg_->events();
  if (!ev) return wrap(ev.error(), "memory " + p.cgroup.dir + ": read events");
  base_events_ = last_events_ = *ev;
  if (v1) {
    if (auto c = cgroup::OomEventCounter::open(p.cgroup.dir)) oom_counter_ = std::move(*c);
    else log_->warn("{}: no v1 OOM notifications ({}); the oom counter will be missing", name_, c.error().text());
  }
  if (auto psi = cg_->pressure()) base_psi_ = *psi;
  if (auto k = KmsgReader::open_at_end()) kmsg_ = std::move(*k);
  else kmsg_error_ = k.error().text();
  tracker_.emplace(p.cgroup.relative);
  tracker_->update_procs(snapshot_procs());
  t0_ns_ = monotonic_ns();

  HogParams hp;
  hp.bytes = p.bytes;
  hp.rate = p.rate;
  hp.until_oom = spec_->mode == Mode::oom;
  hp.events_file = p.cgroup.dir + (v1 ? "/memory.oom_control" : "/memory.events");
  hp.oom_kill_base = base_events_.oom_kill;

  // Journal first: the entry exists before the process does. The pid is only known after the
  // fork; the hog waits at its gate until the entry carries it.
  nlohmann::json undo{{"pid", 0}, {"start_time", 0}, {"cgroup", p.cgroup.dir}, {"fault", name_}};
  if (ctx_.journal) {
    auto seq = ctx_.journal->intend(ctx_.run_id, kHogJournalKind, undo);
    if (!seq) return wrap(seq.error(), "journal memory hog");
    seq_ = *seq;
  }
  // Every lease below runs from after the journal write before it: an fsync is as slow as the
  // disk, and must not eat the time the hog has (the gated hog re-arms from renewals).
  const auto lease_ns = static_cast<std::uint64_t>(cfg.lease.count());
  auto w = Worker::spawn({"chaos-mem-hog", monotonic_ns() + lease_ns},
                         [hp](WorkerControl& ctl) { return run_hog(ctl, hp); });
  if (!w) return wrap(w.error(), "memory " + p.cgroup.dir + ": start the hog");
  worker_ = std::move(*w);
  const ProcessIdentity id = worker_->identity();
  undo["pid"] = id.pid;
  undo["start_time"] = id.start_time;
  if (ctx_.journal) {
    if (auto r = ctx_.journal->applied(*seq_, undo); !r) return wrap(r.error(), "journal memory hog pid");
    worker_->renew(monotonic_ns() + lease_ns);
  }
  // Into the target before it touches a single page, so every page is charged there.
  if (auto r = cg_->add_process(id.pid); !r) return std::unexpected(r.error());
  if (!p.raise_workload) {
    std::string adj = "/proc/" + std::to_string(id.pid) + "/oom_score_adj";
    if (auto r = cgroup::write_file(adj, std::to_string(p.oom_score_adj)); !r)
      return wrap(r.error(), "set the hog's oom_score_adj");
  } else {
    raised_pids_.insert(id.pid);  // never raise the hog itself
    if (auto r = raise_workload(snapshot_procs()); !r) return std::unexpected(r.error());
  }
  // The hog starts on a full lease (raise_workload() journals too); the runner renews from here.
  worker_->renew(monotonic_ns() + lease_ns);
  if (auto r = worker_->release(); !r) return std::unexpected(r.error());
  log_->info("{}: hog pid {} in {} ({} {}, {})", name_, id.pid, p.cgroup.dir, mode_name(spec_->mode),
             format_bytes(p.bytes), p.rate ? format_bytes(p.rate) + "/s" : std::string("unbounded rate"));
  return {};
}

Result<void> MemoryFault::raise_workload(const std::map<pid_t, std::string>& procs) {
  std::vector<Raised> batch;
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [pid, name] : procs) {
    if (raised_pids_.count(pid)) continue;
    auto st = proc_start_time(pid);
    auto old = cgroup::read_file("/proc/" + std::to_string(pid) + "/oom_score_adj");
    if (!st || !old) continue;  // already gone
    Raised r{{pid, *st}, std::atoi(old->c_str()), 0};
    batch.push_back(r);
    list.push_back({{"pid", pid}, {"start_time", *st}, {"value", r.old_value}});
  }
  if (batch.empty()) return {};
  std::uint64_t seq = 0;
  if (ctx_.journal) {
    auto s = ctx_.journal->intend(ctx_.run_id, kOomScoreJournalKind, {{"procs", list}, {"fault", name_}});
    if (!s) return wrap(s.error(), "journal oom_score_adj of the workload");
    seq = *s;
  }
  for (auto& r : batch) {
    r.seq = seq;
    raised_pids_.insert(r.id.pid);
    auto done = set_oom_score_adj_if_same(r.id, 1000);
    if (!done) return wrap(done.error(), "raise the workload's oom_score_adj");
    if (*done) raised_.push_back(r);
  }
  if (ctx_.journal) {
    if (auto a = ctx_.journal->applied(seq); !a) return wrap(a.error(), "journal oom_score_adj of the workload");
  }
  return {};
}

Result<void> MemoryFault::restore_workload() {
  std::string errors;
  std::set<std::uint64_t> seqs;
  for (const auto& r : raised_) {
    seqs.insert(r.seq);
    if (auto done = set_oom_score_adj_if_same(r.id, r.old_value); !done)
      errors += (errors.empty() ? "" : "; ") + done.error().text();
  }
  if (!errors.empty()) return fail("restore the workload's oom_score_adj: " + errors, EIO);
  if (ctx_.journal)
    for (auto seq : seqs)
      if (seq)
        if (auto r = ctx_.journal->reverted(seq); !r) return wrap(r.error(), "journal oom_score_adj restored");
  raised_.clear();
  return {};
}

Result<void> MemoryFault::renew(std::uint64_t deadline_mono_ns) {
  if (!worker_) return fail("memory fault " + name_ + ": renew before apply", EINVAL);
  worker_->renew(deadline_mono_ns);
  return {};
}

nlohmann::json MemoryFault::sample() {
  if (!worker_ || !cg_ || reverted_) return nullptr;
  const std::int64_t now_ms = since_start_ms();
  nlohmann::json s{{"t_ms", now_ms}};
  ++samples_;

  // The hog: alive, or gone (the OOM killer may have taken it: victim hog).
  if (auto st = worker_->poll(); st && hog_exit_.empty()) {
    hog_exit_ = describe_wait_status(*st);
    log_->info("{}: hog {} {}", name_, worker_->pid(), hog_exit_);
  }
  std::uint64_t hb = hog_bytes();
  peak_hog_bytes_ = std::max(peak_hog_bytes_, hb);
  HogPhase ph = hog_phase();
  if (hog_full_ms_ < 0) {
    if (auto full = worker_->shared().counters[kHogFullNs].load(); full)
      hog_full_ms_ = static_cast<std::int64_t>((full - t0_ns_) / 1000000);
  }
  s["hog_bytes"] = hb;
  s["hog_phase"] = hog_phase_name(ph);
  s["hog_alive"] = !worker_->exited();

  if (auto u = cg_->usage()) {
    last_usage_ = *u;
    peak_usage_ = std::max(peak_usage_, *u);
    s["usage_bytes"] = *u;
    if (plan_->limit) {
      s["limit_bytes"] = plan_->limit->bytes;
      s["usage_fraction"] = static_cast<double>(*u) / static_cast<double>(plan_->limit->bytes);
    }
  } else {
    last_error_ = u.error().text();
  }

  std::uint64_t new_kills = 0;
  if (auto ev = cg_->events()) {
    if (oom_counter_) {
      if (auto n = oom_counter_->total()) {
        ev->oom = *n;
        ev->has_oom = true;
      }
    }
    last_events_ = *ev;
    std::uint64_t kills = ev->oom_kill - base_events_.oom_kill;
    new_kills = kills - last_oom_kill_delta_;
    last_oom_kill_delta_ = kills;
    if (kills > 0 && !first_oom_kill_ms_) {
      // The hog polls the counter between steps: its timestamp is closer than this tick's.
      auto seen = worker_->shared().counters[kHogOomSeenNs].load();
      first_oom_kill_ms_ = seen ? static_cast<std::int64_t>((seen - t0_ns_) / 1000000) : now_ms;
    }
    s["oom_kill"] = kills;
    s["oom"] = ev->has_oom ? nlohmann::json(ev->oom - (base_events_.has_oom ? base_events_.oom : 0)) : nlohmann::json(nullptr);
    s["max"] = ev->max - base_events_.max;
    if (plan_->hierarchy.version == cgroup::Version::v1) s["under_oom"] = ev->under_oom;
  } else {
    last_error_ = ev.error().text();
  }

  if (auto psi = cg_->pressure()) {
    psi_scope_ = psi->system_wide ? "system" : "cgroup";
    peak_some_avg10_ = std::max(peak_some_avg10_, psi->some.avg10);
    peak_full_avg10_ = std::max(peak_full_avg10_, psi->full.avg10);
    if (base_psi_) {
      some_stall_us_ = psi->some.total_us - base_psi_->some.total_us;
      full_stall_us_ = psi->full.total_us - base_psi_->full.total_us;
    }
    s["psi"] = {{"scope", psi_scope_},
                {"some_avg10", psi->some.avg10},
                {"full_avg10", psi->full.avg10},
                {"some_stall_ms", some_stall_us_ / 1000},
                {"full_stall_ms", full_stall_us_ / 1000}};
  }

  // Victims: first learn who is in the subtree (names for the log lines), then read the log.
  auto procs_now = snapshot_procs();
  if (plan_->raise_workload && !worker_->exited()) {
    if (auto r = raise_workload(procs_now); !r) last_error_ = r.error().text();
  }
  auto departed = tracker_->update_procs(procs_now);
  std::size_t before = tracker_->victims().size();
  if (kmsg_) {
    for (const auto& rec : kmsg_->drain())
      if (auto oom = parse_kmsg_oom(rec)) tracker_->add_kmsg(*oom, now_ms, worker_->pid());
  } else {
    tracker_->infer_from_departed(departed, new_kills, now_ms, worker_->pid());
  }
  if (tracker_->victims().size() > before) {
    nlohmann::json nv = nlohmann::json::array();
    for (std::size_t i = before; i < tracker_->victims().size(); ++i) nv.push_back(tracker_->victims()[i].to_json());
    s["new_victims"] = nv;
    for (const auto& v : nv) log_->warn("{}: OOM killer took pid {} ({})", name_, v["pid"].get<int>(), v["name"].get<std::string>());
  }
  s["victims"] = tracker_->victims().size();
  return s;
}

Result<void> MemoryFault::revert() {
  if (!worker_) {
    // Nothing was started, but an intent may be journaled (apply failed before the fork).
    if (ctx_.journal && seq_ && !reverted_) {
      if (auto r = ctx_.journal->reverted(*seq_); !r) return wrap(r.error(), "journal memory hog reverted");
    }
    kmsg_.reset();
    oom_counter_.reset();
    reverted_ = true;
    return {};
  }
  if (!reverted_) {
    // Last look before the hog goes: kills logged since the last tick still count.
    (void)sample();
    if (auto r = worker_->kill_and_reap(); !r) return wrap(r.error(), "memory fault " + name_ + ": stop the hog");
    if (hog_exit_.empty()) hog_exit_ = "killed by revert";
    if (auto r = restore_workload(); !r) return wrap(r.error(), "memory fault " + name_);
    if (ctx_.journal && seq_) {
      if (auto r = ctx_.journal->reverted(*seq_); !r) return wrap(r.error(), "journal memory hog reverted");
    }
    kmsg_.reset();
    oom_counter_.reset();
    reverted_ = true;
    log_->info("{}: hog {} stopped, {} OOM kill(s), {} victim(s)", name_, worker_->pid(), last_oom_kill_delta_,
               tracker_ ? tracker_->victims().size() : 0);
  }
  return {};
}

nlohmann::json MemoryFault::observe() const {
  nlohmann::json requested{{"mode", mode_name(spec_->mode)},
                           {"victim", victim_name(spec_->victim)},
                           {"target", spec_->target.to_json()}};
  if (spec_->size) requested["size_bytes"] = *spec_->size;
  if (spec_->fraction) requested["fraction"] = *spec_->fraction;
  if (plan_) {
    requested["hog_bytes"] = plan_->bytes;
    requested["rate_bytes_per_s"] = plan_->rate ? nlohmann::json(plan_->rate) : nlohmann::json(nullptr);
  }
  nlohmann::json out{{"requested", requested}};
  if (!plan_) return out;
  out["cgroup"] = {{"dir", plan_->cgroup.dir},
                   {"version", cgroup::version_name(plan_->hierarchy.version)},
                   {"limit_bytes", plan_->limit ? nlohmann::json(plan_->limit->bytes) : nlohmann::json(nullptr)}};
  if (!worker_) return out;
  nlohmann::json victims = nlohmann::json::array();
  if (tracker_)
    for (const auto& v : tracker_->victims()) victims.push_back(v.to_json());
  std::uint64_t held = std::max(peak_hog_bytes_, hog_bytes());
  nlohmann::json achieved{
      {"hog_bytes", held},
      {"hog_full_ms", hog_full_ms_ >= 0 ? nlohmann::json(hog_full_ms_) : nlohmann::json(nullptr)},
      {"peak_usage_bytes", peak_usage_},
      {"last_usage_bytes", last_usage_},
      {"oom_kills", last_events_.oom_kill - base_events_.oom_kill},
      {"oom_events", last_events_.has_oom ? nlohmann::json(last_events_.oom - (base_events_.has_oom ? base_events_.oom : 0))
                                          : nlohmann::json(nullptr)},
      {"max_events", last_events_.max - base_events_.max},
      {"first_oom_kill_ms", first_oom_kill_ms_ ? nlohmann::json(*first_oom_kill_ms_) : nlohmann::json(nullptr)},
      {"victims", victims},
      {"hog_exit", hog_exit_.empty() ? std::string("running") : hog_exit_},
      {"psi", {{"scope", psi_scope_},
               {"peak_some_avg10", peak_some_avg10_},
               {"peak_full_avg10", peak_full_avg10_},
               {"some_stall_ms", some_stall_us_ / 1000},
               {"full_stall_ms", full_stall_us_ / 1000}}},
      {"samples", samples_}};
  if (hog_full_ms_ > 0) achieved["achieved_rate_bytes_per_s"] = held * 1000 / static_cast<std::uint64_t>(hog_full_ms_);
  out["achieved"] = achieved;
  out["victim_mechanism"] = plan_->raise_workload
                                ? std::string("workload oom_score_adj 1000 (no CAP_SYS_RESOURCE to lower the hog)")
                                : "hog oom_score_adj " + std::to_string(plan_->oom_score_adj);
  out["kernel_log"] = kmsg_error_.empty() ? std::string("read") : "unavailable: " + kmsg_error_;
  if (!last_error_.empty()) out["last_error"] = last_error_;
  return out;
}

}  // namespace chaos::memory
