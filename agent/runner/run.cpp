#include "runner/run.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <ctime>

#include "core/log.h"
#include "runner/verdicts.h"

namespace chaos {

using namespace std::chrono;

namespace {

std::string iso_now() {
  auto t = system_clock::now();
  std::time_t tt = system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count() % 1000;
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03lldZ", buf, static_cast<long long>(ms));
  return out;
}


}  // namespace

std::uint64_t RealClock::mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

// What the report says of a fault (FaultRecord), and what the timeline keeps to drive it.
struct Run::ActiveFault : FaultRecord {
  std::unique_ptr<Fault> fault;
  // Written by the timeline thread, read by status() and live() from others. Atomic stores
  // publish what was written before them: apply_took before applied, revert_took before reverted.
  std::atomic<bool> applied{false};
  std::atomic<bool> reverted{false};
  std::uint64_t deadline_ns = 0;  // the lease deadline last given to the fault
  nlohmann::json latest_sample;  // the last sample(), under mu_ (for live())
};

Run::Run(std::string id, Experiment exp, const AgentConfig& config, Journal& journal, const Families& families,
         Clock& clock)
    : id_(std::move(id)), exp_(std::move(exp)), config_(config), journal_(journal), families_(families),
      clock_(clock) {}

Run::~Run() {
  for (auto& p : probes_) p->stop();
}

Result<std::vector<std::string>> Run::plan() {
  auto log = logger("runner");
  // A refusal points at what the user wrote: the fault's (or probe's) entry in the file.
  auto refused_at = [&](const Location& loc, const Error& e) {
    refused_at_ = loc;
    return std::unexpected(e);
  };
  if (exp_.duration > config_.max_run_duration)
    return refused_at(exp_.duration_loc,
                      refuse("spec.duration " + format_duration(exp_.duration) +
                             " is above the agent's maxRunDuration " + format_duration(config_.max_run_duration))
                          .error());
  FaultContext ctx{&config_, &journal_, id_, logger("fault")};
  for (const auto& entry : exp_.faults) {
    const FaultFamily* fam = families_.fault(entry.family);
    if (!fam) return refused_at(entry.loc, fail("fault " + entry.name + ": unknown family " + entry.family).error());
    auto f = fam->make(entry, ctx);
    if (!f) return refused_at(entry.loc, wrap(f.error(), "fault " + entry.name).error());
    auto t_begin = steady_clock::now();
    auto lines = (*f)->plan();
    if (!lines) return refused_at(entry.loc, wrap(lines.error(), "fault " + entry.name).error());
    auto af = std::make_unique<ActiveFault>();
    af->plan_took = steady_clock::now() - t_begin;
    af->entry = &entry;
    af->fault = std::move(*f);
    af->plan = *lines;
    for (const auto& l : *lines)
      plan_lines_.push_back("fault " + entry.name + " at +" + format_duration(entry.start) + " for " +
                            format_duration(entry.duration) + ": " + l);
    faults_.push_back(std::move(af));
  }
  for (const auto& entry : exp_.probes) {
    const ProbeKind* kind = families_.probe(entry.kind);
    if (!kind) return refused_at(entry.loc, fail("probe " + entry.name + ": unknown kind " + entry.kind).error());
    auto p = kind->make(entry);
    if (!p) return refused_at(entry.loc, wrap(p.error(), "probe " + entry.name).error());
    auto lines = (*p)->plan();
    if (!lines) return refused_at(entry.loc, wrap(lines.error(), "probe " + entry.name).error());
    for (const auto& l : *lines) plan_lines_.push_back("probe " + entry.name + ": " + l);
    probes_.push_back(std::move(*p));
  }
  planned_ = true;
  return plan_lines_;
}

void Run::emit(const EventSink& sink, RunEvent kind, nlohmann::json ev) {
  ev["event"] = name(kind);
  ev["run"] = id_;
  if (t0_ != Clock::time_point{}) ev["t"] = millis(clock_.now() - t0_) / 1000.0;
  if (sink) sink(ev);
}

void Run::emit_fault(const EventSink& sink, const ActiveFault& f, FaultState state, nlohmann::json ev) {
  ev["fault"] = f.entry->name;
  ev["state"] = name(state);
  emit(sink, RunEvent::fault, std::move(ev));
}

void Run::halt(const std::string& reason, AbortCause cause) {
  {
    std::lock_guard lk(mu_);
    if (!halt_) halt_ = Abort{cause, "halted: " + reason};
  }
  cv_.notify_all();
}

nlohmann::json Run::execute(const EventSink& sink) {
  if (!planned_) {
    state_ = RunState::failed;
    outcome_reason_ = "execute() before a successful plan()";
    auto rep = make_report();
    std::lock_guard lk(mu_);
    report_ = rep.json;
    outcome_ = rep.outcome;
    return report_;
  }
  state_ = RunState::running;
  started_at_ = iso_now();
  {
    std::lock_guard lk(mu_);
    t0_ = clock_.now();
  }
  emit(sink, RunEvent::started, {{"name", exp_.name}, {"duration", millis(exp_.duration) / 1000.0}});
  start_probes();

  const std::vector<TimelineEvent> events = timeline();
  std::size_t next_event = 0;
  std::optional<Abort> abort;
  Duration next_progress{seconds(1)};
  while (true) {
    {
      std::lock_guard lk(mu_);
      if (halt_) {
        abort = *halt_;
        break;
      }
    }
    const Duration now = clock_.now() - t0_;
    last_tick_mono_ns_.store(clock_.mono_ns(), std::memory_order_relaxed);

    // The lease check comes before anything else: after a hang (SIGSTOP, a stuck syscall) the
    // faults may have expired by themselves and the node healed; carrying on would report a
    // blast radius the node never had.
    if ((abort = lease_lapsed(clock_.mono_ns()))) break;

    while (next_event < events.size() && events[next_event].at <= now && !abort) {
      const TimelineEvent& ev = events[next_event++];
      ActiveFault& f = *faults_[ev.fault];
      if (ev.apply) abort = apply_fault(f, sink);
      else revert_fault(f, sink, "ended");
    }
    if (abort) break;

    const std::uint64_t mono = clock_.mono_ns();
    // Again before renewing: a hang inside an apply() above (this fault's or another's) lets
    // leases run out just as a stop does, and renewing now would hide that the node healed.
    if ((abort = lease_lapsed(mono))) break;
    if ((abort = renew_and_sample(now, mono, sink))) break;

    // Stop conditions: from the start (a broken baseline stops the run before any injection)
    // until the last fault is gone.
    const bool faults_ahead = next_event < events.size() || std::any_of(faults_.begin(), faults_.end(), [](const auto& f) {
                                return f->applied && !f->reverted;
                              });
    if (faults_ahead && (abort = check_probe_stops(now, sink))) break;

    if (now >= next_progress) {
      emit_progress(sink);
      next_progress += seconds(1);
    }

    if (now >= exp_.duration) break;
    Duration wake = std::min(exp_.duration, now + config_.tick);
    if (next_event < events.size()) wake = std::min(wake, events[next_event].at);
    std::unique_lock lk(mu_);
    if (!halt_) clock_.wait_until(lk, cv_, t0_ + wake);
  }
  return finish(abort, sink);
}

void Run::start_probes() {
  RunClock rc{steady_clock::now() - (clock_.now() - t0_)};
  for (auto& p : probes_) {
    if (auto r = p->start(rc); !r) {
      logger("runner")->error("run {}: probe failed to start: {}", id_, r.error().text());
      halt("probe failed to start: " + r.error().text(), AbortCause::probe_failed);
    }
  }
}

std::vector<Run::TimelineEvent> Run::timeline() const {
  std::vector<TimelineEvent> events;
  for (std::size_t i = 0; i < faults_.size(); ++i) {
    events.push_back({faults_[i]->entry->start, i, true});
    events.push_back({faults_[i]->entry->end(), i, false});
  }
  // Reverts before applies at the same instant, then by fault order.
  std::stable_sort(events.begin(), events.end(), [](const TimelineEvent& a, const TimelineEvent& b) {
    if (a.at != b.at) return a.at < b.at;
    return a.apply < b.apply;
  });
  return events;
}

std::optional<Run::Abort> Run::lease_lapsed(std::uint64_t mono) const {
  const auto lease_ns = static_cast<std::uint64_t>(config_.lease.count());
  for (const auto& f : faults_) {
    if (f->applied && !f->reverted && f->deadline_ns != 0 && mono > f->deadline_ns)
      return Abort{AbortCause::lease_lapsed,
                   "lease lapsed: fault " + f->entry->name + " was not renewed for " +
                       std::to_string((mono - f->deadline_ns) / 1'000'000 + lease_ns / 1'000'000) + "ms (lease " +
                       format_duration(config_.lease) + "); the agent was hung and the fault stopped by itself"};
  }
  return std::nullopt;
}

std::optional<Run::Abort> Run::apply_fault(ActiveFault& f, const EventSink& sink) {
  emit_fault(sink, f, FaultState::applying);
  // The fault may act from the first instant of apply(): the during phase starts here,
  // or a request that began (and failed) while apply() ran would count against the baseline.
  const Duration apply_began = clock_.now() - t0_;
  auto t_begin = steady_clock::now();
  auto r = f.fault->apply();
  f.apply_took = steady_clock::now() - t_begin;
  if (!r) {
    f.error = "apply failed: " + r.error().text();
    f.applied = true;  // revert undoes whatever part was made
    f.applied_at = clock_.now() - t0_;
    emit_fault(sink, f, FaultState::failed, {{"error", f.error}});
    return Abort{AbortCause::fault_failed, "fault " + f.entry->name + ": " + f.error};
  }
  // The first lease runs from the end of apply(), not its start: a GPU fill or a CUDA
  // context can take longer than a lease, and a deadline already past would make the fault
  // stop itself and the run report a hang that never happened.
  const auto deadline = clock_.mono_ns() + static_cast<std::uint64_t>(config_.lease.count());
  if (auto rn = f.fault->renew(deadline); !rn) {
    f.applied = true;
    return Abort{AbortCause::fault_failed, "fault " + f.entry->name + ": lease: " + rn.error().text()};
  }
  f.deadline_ns = deadline;
  f.applied = true;
  f.applied_at = clock_.now() - t0_;
  if (!during_begin_) during_begin_ = apply_began;
  emit_fault(sink, f, FaultState::applied);
  return std::nullopt;
}

void Run::revert_fault(ActiveFault& f, const EventSink& sink, const std::string& why) {
  if (!f.applied || f.reverted) return;
  // Announced before the first change, like "applying": a client sees when the node starts
  // changing back, not only when it is done.
  emit_fault(sink, f, FaultState::reverting, {{"why", why}});
  auto t_begin = steady_clock::now();
  auto r = f.fault->revert();
  f.revert_took = steady_clock::now() - t_begin;
  f.reverted = true;
  f.reverted_at = clock_.now() - t0_;
  f.observed = f.fault->observe();
  during_end_ = during_end_ ? std::max(*during_end_, *f.reverted_at) : *f.reverted_at;
  if (!r) {
    f.error = "revert failed: " + r.error().text();
    logger("runner")->error("run {} fault {}: {}", id_, f.entry->name, f.error);
    emit_fault(sink, f, FaultState::revert_failed, {{"error", f.error}});
    return;
  }
  emit_fault(sink, f, FaultState::reverted, {{"why", why}});
}

std::optional<Run::Abort> Run::renew_and_sample(Duration now, std::uint64_t mono, const EventSink& sink) {
  const auto lease_ns = static_cast<std::uint64_t>(config_.lease.count());
  for (auto& f : faults_) {
    if (!f->applied || f->reverted) continue;
    std::uint64_t deadline = mono + lease_ns;
    if (auto r = f->fault->renew(deadline); !r)
      return Abort{AbortCause::fault_failed, "fault " + f->entry->name + ": lease renewal failed: " + r.error().text()};
    f->deadline_ns = deadline;
    lease_renewals_.fetch_add(1, std::memory_order_relaxed);
    auto s = f->fault->sample();
    if (s.is_null()) continue;
    std::optional<Abort> abort;
    samples_.push_back({{"t", millis(now) / 1000.0}, {"fault", f->entry->name}, {"sample", s}});
    for (const auto& a : exp_.abort_when) {
      if (a.fault != f->entry->name || abort) continue;
      if (auto why = check_telemetry_abort(s, a)) {
        abort = Abort{AbortCause::stop_condition, "stop condition: fault " + a.fault + ": " + *why};
        stop_condition_ = {{"fault", a.fault}, {"key", a.key}, {"reason", *why}, {"t", millis(now) / 1000.0}};
        emit(sink, RunEvent::stop_condition, {{"fault", a.fault}, {"reason", *why}});
      }
    }
    {
      std::lock_guard lk(mu_);
      f->latest_sample = std::move(s);
    }
    if (abort) return abort;
  }
  return std::nullopt;
}

std::optional<Run::Abort> Run::check_probe_stops(Duration now, const EventSink& sink) {
  for (std::size_t i = 0; i < probes_.size(); ++i) {
    const ProbeEntry& pe = exp_.probes[i];
    if (!pe.abort_when) continue;
    // Only the window: a long run's probes hold hundreds of thousands of samples. A sample
    // that answered inside the window started at most one timeout (plus the time a late
    // answer takes to be noticed) before it.
    const Duration lookback = pe.abort_when->window + 2 * pe.timeout;
    const Duration from = now > lookback ? now - lookback : Duration{0};
    if (auto why = check_abort(probes_[i]->samples_since(from), now, *pe.abort_when)) {
      stop_condition_ = {{"probe", pe.name}, {"reason", *why}, {"t", millis(now) / 1000.0}};
      emit(sink, RunEvent::stop_condition, {{"probe", pe.name}, {"reason", *why}});
      return Abort{AbortCause::stop_condition, "stop condition: probe " + pe.name + ": " + *why};
    }
  }
  return std::nullopt;
}

void Run::emit_progress(const EventSink& sink) {
  nlohmann::json probes = nlohmann::json::object();
  for (std::size_t i = 0; i < probes_.size(); ++i) {
    auto ss = probes_[i]->samples();
    std::size_t errs = 0;
    const ProbeSample* latest = nullptr;  // the last value recorded, for a probe that measures one
    for (const auto& s : ss) {
      errs += s.ok ? 0 : 1;
      if (s.value && (!latest || s.seq > latest->seq || (s.seq == 0 && s.t >= latest->t))) latest = &s;
    }
    probes[exp_.probes[i].name] = {{"requests", ss.size()}, {"errors", errs}};
    if (latest) probes[exp_.probes[i].name]["value"] = *latest->value;
  }
  nlohmann::json active = nlohmann::json::array();
  for (auto& f : faults_)
    if (f->applied && !f->reverted) active.push_back(f->entry->name);
  emit(sink, RunEvent::progress, {{"active", active}, {"probes", probes}});
}

nlohmann::json Run::finish(const std::optional<Abort>& abort, const EventSink& sink) {
  // Whatever is still in place goes now, newest first.
  for (auto it = faults_.rbegin(); it != faults_.rend(); ++it)
    revert_fault(**it, sink, abort ? "aborted" : "run ended");
  if (abort) {
    // Keep sampling a little after an abort so the report shows the recovery.
    logger("runner")->warn("run {} aborted: {}", id_, abort->reason);
    emit(sink, RunEvent::aborted, {{"reason", abort->reason}, {"abortCause", name(abort->cause)}});
  }
  for (auto& p : probes_) p->stop();
  // Checks of the aftermath (an etcd read-back), now that nothing is in place any more.
  for (auto& f : faults_) {
    if (!f->applied) continue;
    f->violations = f->fault->verify();
    f->observed = f->fault->observe();
  }
  probe_checks_.clear();
  for (auto& p : probes_) probe_checks_.push_back(p->verify());
  ended_at_ = iso_now();
  outcome_reason_ = abort ? abort->reason : "";
  if (abort) abort_cause_ = abort->cause;
  state_ = abort ? RunState::aborted : RunState::finished;
  auto report = make_report();
  {
    // status() and report() read it from API threads.
    std::lock_guard lk(mu_);
    report_ = report.json;
    outcome_ = report.outcome;
  }
  // The faults' kernel-side owners (loaded programs, their maps) go now, not when the agent
  // forgets the run: a long-lived agent would otherwise hold every finished run's programs.
  for (auto& f : faults_) f->fault.reset();
  nlohmann::json done{{"outcome", name(report.outcome)}, {"reason", outcome_reason_}};
  if (abort) done["abortCause"] = name(abort->cause);
  emit(sink, RunEvent::done, std::move(done));
  return std::move(report.json);
}

RunReport Run::make_report() {
  RunRecord rec{.id = id_,
                .experiment = exp_,
                .started_at = started_at_,
                .ended_at = ended_at_,
                .state = state_.load(),
                .plan = plan_lines_,
                .during_begin = during_begin_,
                .during_end = during_end_,
                .faults = {},
                .probes = {},
                .series = samples_,
                .reason = outcome_reason_,
                .abort_cause = abort_cause_,
                .stop_condition = stop_condition_};
  for (const auto& f : faults_) {
    FaultRecord r = *f;
    // A fault never reverted (never applied) tells what it would have done.
    if (!f->reverted && f->fault) r.observed = f->fault->observe();
    rec.faults.push_back(std::move(r));
  }
  for (std::size_t i = 0; i < probes_.size(); ++i)
    rec.probes.push_back({&exp_.probes[i], probes_[i]->samples(),
                          i < probe_checks_.size() ? probe_checks_[i] : nlohmann::json()});
  return build_report(rec);
}

nlohmann::json Run::status() const {
  nlohmann::json s{{"run", id_}, {"experiment", exp_.name}, {"state", name(state_.load())}};
  Clock::time_point t0;
  {
    std::lock_guard lk(mu_);
    t0 = t0_;
  }
  if (t0 != Clock::time_point{} && state_ == RunState::running) s["elapsed"] = millis(clock_.now() - t0) / 1000.0;
  s["duration"] = millis(exp_.duration) / 1000.0;
  nlohmann::json active = nlohmann::json::array();
  for (auto& f : faults_)
    if (f->applied && !f->reverted) active.push_back(f->entry->name);
  s["activeFaults"] = active;
  std::lock_guard lk(mu_);
  if (!report_.is_null()) s["outcome"] = report_["outcome"];
  return s;
}

nlohmann::json Run::report() const {
  std::lock_guard lk(mu_);
  return report_;
}

std::optional<RunOutcome> Run::outcome() const {
  std::lock_guard lk(mu_);
  return outcome_;
}

RunLive Run::live() const {
  RunLive l;
  l.lease_renewals = lease_renewals_.load(std::memory_order_relaxed);
  std::lock_guard lk(mu_);
  for (const auto& f : faults_) {
    RunLive::Fault x{f->entry->name, f->entry->family};
    const bool applied = f->applied, reverted = f->reverted;
    x.active = applied && !reverted;
    if (applied) x.apply_took = f->apply_took;
    if (reverted) x.revert_took = f->revert_took;
    x.sample = f->latest_sample;
    l.faults.push_back(std::move(x));
  }
  return l;
}

std::vector<ProbeSample> Run::probe_samples(std::size_t i) const {
  return i < probes_.size() ? probes_[i]->samples() : std::vector<ProbeSample>{};
}

}  // namespace chaos
