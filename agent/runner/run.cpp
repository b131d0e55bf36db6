#include "runner/run.h"

#include <time.h>

#include <algorithm>
#include <charconv>
#include <functional>
#include <chrono>
#include <ctime>

#include "core/log.h"

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

double ms(Duration d) { return duration_cast<microseconds>(d).count() / 1000.0; }

}  // namespace

std::uint64_t RealClock::mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

const char* run_state_name(RunState s) {
  switch (s) {
    case RunState::planned: return "planned";
    case RunState::running: return "running";
    case RunState::finished: return "finished";
    case RunState::aborted: return "aborted";
    case RunState::failed: return "failed";
  }
  return "?";
}

struct Run::ActiveFault {
  const FaultEntry* entry = nullptr;
  std::unique_ptr<Fault> fault;
  std::vector<std::string> plan;
  // Written by the timeline thread, read by status() and live() from others. Atomic stores
  // publish what was written before them: apply_took before applied, revert_took before reverted.
  std::atomic<bool> applied{false};
  std::atomic<bool> reverted{false};
  std::optional<Duration> applied_at, reverted_at;
  std::uint64_t deadline_ns = 0;  // the lease deadline last given to the fault
  std::string error;
  nlohmann::json observed = nlohmann::json::object();
  std::vector<std::string> violations;  // from Fault::verify()
  std::optional<Duration> plan_took, apply_took, revert_took;  // wall time of plan(), apply(), revert()
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

void Run::emit(const EventSink& sink, nlohmann::json ev) {
  ev["run"] = id_;
  if (t0_ != Clock::time_point{}) ev["t"] = ms(clock_.now() - t0_) / 1000.0;
  if (sink) sink(ev);
}

void Run::halt(const std::string& reason) {
  {
    std::lock_guard lk(mu_);
    if (!halt_reason_) halt_reason_ = reason;
  }
  cv_.notify_all();
}

void Run::revert_fault(ActiveFault& f, const EventSink& sink, const std::string& why) {
  if (!f.applied || f.reverted) return;
  // Announced before the first change, like "applying": a client sees when the node starts
  // changing back, not only when it is done.
  emit(sink, {{"event", "fault"}, {"fault", f.entry->name}, {"state", "reverting"}, {"why", why}});
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
    emit(sink, {{"event", "fault"}, {"fault", f.entry->name}, {"state", "revert-failed"}, {"error", f.error}});
    return;
  }
  emit(sink, {{"event", "fault"}, {"fault", f.entry->name}, {"state", "reverted"}, {"why", why}});
}

nlohmann::json Run::execute(const EventSink& sink) {
  auto log = logger("runner");
  if (!planned_) {
    state_ = RunState::failed;
    outcome_reason_ = "execute() before a successful plan()";
    report_ = build_report();
    return report_;
  }
  state_ = RunState::running;
  started_at_ = iso_now();
  {
    std::lock_guard lk(mu_);
    t0_ = clock_.now();
  }
  emit(sink, {{"event", "started"}, {"name", exp_.name}, {"duration", ms(exp_.duration) / 1000.0}});

  RunClock rc{steady_clock::now() - (clock_.now() - t0_)};
  for (auto& p : probes_) {
    if (auto r = p->start(rc); !r) {
      log->error("run {}: probe failed to start: {}", id_, r.error().text());
      halt("probe failed to start: " + r.error().text());
    }
  }

  struct Event {
    Duration at;
    std::size_t idx;
    bool apply;
  };
  std::vector<Event> events;
  for (std::size_t i = 0; i < faults_.size(); ++i) {
    events.push_back({faults_[i]->entry->start, i, true});
    events.push_back({faults_[i]->entry->end(), i, false});
  }
  // Reverts before applies at the same instant, then by fault order.
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    if (a.at != b.at) return a.at < b.at;
    return a.apply < b.apply;
  });
  std::size_t next_event = 0;
  std::optional<std::string> abort_reason;
  Duration next_progress{seconds(1)};
  const auto lease_ns = static_cast<std::uint64_t>(config_.lease.count());

  while (true) {
    {
      std::lock_guard lk(mu_);
      if (halt_reason_) {
        abort_reason = "halted: " + *halt_reason_;
        break;
      }
    }
    Duration now = clock_.now() - t0_;
    last_tick_mono_ns_.store(clock_.mono_ns(), std::memory_order_relaxed);

    // The lease check comes before anything else: after a hang (SIGSTOP, a stuck syscall) the
    // faults may have expired by themselves and the node healed; carrying on would report a
    // blast radius the node never had.
    auto lease_lapsed = [&](std::uint64_t mono) {
      for (auto& f : faults_) {
        if (f->applied && !f->reverted && f->deadline_ns != 0 && mono > f->deadline_ns) {
          abort_reason = "lease lapsed: fault " + f->entry->name + " was not renewed for " +
                         std::to_string((mono - f->deadline_ns) / 1'000'000 + lease_ns / 1'000'000) +
                         "ms (lease " + format_duration(config_.lease) + "); the agent was hung and the fault "
                         "stopped by itself";
          return true;
        }
      }
      return false;
    };
    std::uint64_t mono = clock_.mono_ns();
    if (lease_lapsed(mono)) break;

    while (next_event < events.size() && events[next_event].at <= now) {
      const Event& ev = events[next_event++];
      ActiveFault& f = *faults_[ev.idx];
      if (ev.apply) {
        emit(sink, {{"event", "fault"}, {"fault", f.entry->name}, {"state", "applying"}});
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
          emit(sink, {{"event", "fault"}, {"fault", f.entry->name}, {"state", "failed"}, {"error", f.error}});
          abort_reason = "fault " + f.entry->name + ": " + f.error;
          break;
        }
        // The first lease runs from the end of apply(), not its start: a GPU fill or a CUDA
        // context can take longer than a lease, and a deadline already past would make the fault
        // stop itself and the run report a hang that never happened.
        const auto deadline = clock_.mono_ns() + lease_ns;
        if (auto rn = f.fault->renew(deadline); !rn) {
          f.applied = true;
          abort_reason = "fault " + f.entry->name + ": lease: " + rn.error().text();
          break;
        }
        f.deadline_ns = deadline;
        f.applied = true;
        f.applied_at = clock_.now() - t0_;
        if (!during_begin_) during_begin_ = apply_began;
        emit(sink, {{"event", "fault"}, {"fault", f.entry->name}, {"state", "applied"}});
      } else {
        revert_fault(f, sink, "ended");
      }
    }
    if (abort_reason) break;

    mono = clock_.mono_ns();
    // Again before renewing: a hang inside an apply() above (this fault's or another's) lets
    // leases run out just as a stop does, and renewing now would hide that the node healed.
    if (lease_lapsed(mono)) break;
    for (auto& f : faults_) {
      if (!f->applied || f->reverted) continue;
      std::uint64_t deadline = mono + lease_ns;
      if (auto r = f->fault->renew(deadline); !r) {
        abort_reason = "fault " + f->entry->name + ": lease renewal failed: " + r.error().text();
        break;
      }
      f->deadline_ns = deadline;
      lease_renewals_.fetch_add(1, std::memory_order_relaxed);
      auto s = f->fault->sample();
      if (!s.is_null()) {
        samples_.push_back({{"t", ms(now) / 1000.0}, {"fault", f->entry->name}, {"sample", s}});
        for (const auto& a : exp_.abort_when) {
          if (a.fault != f->entry->name || abort_reason) continue;
          if (auto why = check_telemetry_abort(s, a)) {
            abort_reason = "stop condition: fault " + a.fault + ": " + *why;
            stop_condition_ = {{"fault", a.fault}, {"key", a.key}, {"reason", *why}, {"t", ms(now) / 1000.0}};
            emit(sink, {{"event", "stop-condition"}, {"fault", a.fault}, {"reason", *why}});
          }
        }
        std::lock_guard lk(mu_);
        f->latest_sample = std::move(s);
      }
      if (abort_reason) break;
    }
    if (abort_reason) break;

    // Stop conditions: from the start (a broken baseline stops the run before any injection)
    // until the last fault is gone.
    if (next_event < events.size() || std::any_of(faults_.begin(), faults_.end(), [](const auto& f) {
          return f->applied && !f->reverted;
        })) {
      for (std::size_t i = 0; i < probes_.size() && !abort_reason; ++i) {
        const auto& aw = exp_.probes[i].abort_when;
        if (!aw) continue;
        // Only the window: a long run's probes hold hundreds of thousands of samples. A sample
        // that answered inside the window started at most one timeout (plus the time a late
        // answer takes to be noticed) before it.
        const Duration lookback = aw->window + 2 * exp_.probes[i].timeout;
        const Duration from = now > lookback ? now - lookback : Duration{0};
        if (auto why = check_abort(probes_[i]->samples_since(from), now, *aw)) {
          abort_reason = "stop condition: probe " + exp_.probes[i].name + ": " + *why;
          stop_condition_ = {{"probe", exp_.probes[i].name}, {"reason", *why}, {"t", ms(now) / 1000.0}};
          emit(sink, {{"event", "stop-condition"}, {"probe", exp_.probes[i].name}, {"reason", *why}});
        }
      }
      if (abort_reason) break;
    }

    if (now >= next_progress) {
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
      emit(sink, {{"event", "progress"}, {"active", active}, {"probes", probes}});
      next_progress += seconds(1);
    }

    if (now >= exp_.duration) break;
    Duration wake = std::min(exp_.duration, now + config_.tick);
    if (next_event < events.size()) wake = std::min(wake, events[next_event].at);
    std::unique_lock lk(mu_);
    if (!halt_reason_) clock_.wait_until(lk, cv_, t0_ + wake);
  }

  // Whatever is still in place goes now, newest first.
  for (auto it = faults_.rbegin(); it != faults_.rend(); ++it)
    revert_fault(**it, sink, abort_reason ? "aborted" : "run ended");
  if (abort_reason) {
    // Keep sampling a little after an abort so the report shows the recovery.
    log->warn("run {} aborted: {}", id_, *abort_reason);
    emit(sink, {{"event", "aborted"}, {"reason", *abort_reason}});
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
  outcome_reason_ = abort_reason.value_or("");
  state_ = abort_reason ? RunState::aborted : RunState::finished;
  auto report = build_report();
  {
    // status() and report() read it from API threads.
    std::lock_guard lk(mu_);
    report_ = report;
  }
  // The faults' kernel-side owners (loaded programs, their maps) go now, not when the agent
  // forgets the run: a long-lived agent would otherwise hold every finished run's programs.
  for (auto& f : faults_) f->fault.reset();
  emit(sink, {{"event", "done"}, {"outcome", report["outcome"]}, {"reason", outcome_reason_}});
  return report;
}

Phase phase_of(const ProbeSample& s, Duration during_begin, Duration during_end) {
  if (s.t >= during_end) return Phase::after;
  if (s.t + s.latency < during_begin) return Phase::before;
  return Phase::during;
}

namespace {

PhaseStats stats_of(const std::vector<ProbeSample>& samples, const std::function<bool(const ProbeSample&)>& in) {
  PhaseStats s;
  std::vector<Duration> lat;
  double sum = 0;
  for (const auto& x : samples) {
    if (!in(x)) continue;
    s.requests++;
    if (!x.ok) s.errors++;
    else lat.push_back(x.latency);
    if (x.value) {
      s.value_min = s.values ? std::min(s.value_min, *x.value) : *x.value;
      s.value_max = s.values ? std::max(s.value_max, *x.value) : *x.value;
      sum += *x.value;
      s.values++;
    }
  }
  if (s.values) s.value_mean = sum / static_cast<double>(s.values);
  s.error_rate = s.requests ? static_cast<double>(s.errors) / static_cast<double>(s.requests) : 0.0;
  if (!lat.empty()) {
    std::sort(lat.begin(), lat.end());
    auto pct = [&](double q) {
      // Nearest-rank percentile.
      auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(lat.size())));
      return lat[std::min(lat.size() - 1, rank == 0 ? 0 : rank - 1)];
    };
    s.p50 = pct(0.50);
    s.p90 = pct(0.90);
    s.p99 = pct(0.99);
    s.max = lat.back();
  }
  return s;
}

}  // namespace

PhaseStats phase_stats(const std::vector<ProbeSample>& samples, Duration from, Duration to) {
  return stats_of(samples, [&](const ProbeSample& x) { return x.t >= from && x.t < to; });
}

PhaseStats phase_stats(const std::vector<ProbeSample>& samples, Phase phase, Duration during_begin,
                       Duration during_end) {
  return stats_of(samples,
                  [&](const ProbeSample& x) { return phase_of(x, during_begin, during_end) == phase; });
}

nlohmann::json PhaseStats::to_json() const {
  nlohmann::json j{{"requests", requests}, {"errors", errors},  {"errorRate", error_rate}, {"p50_ms", ms(p50)},
                   {"p90_ms", ms(p90)},   {"p99_ms", ms(p99)}, {"max_ms", ms(max)}};
  if (values) j["value"] = {{"samples", values}, {"min", value_min}, {"mean", value_mean}, {"max", value_max}};
  return j;
}

std::optional<std::string> check_abort(const std::vector<ProbeSample>& samples, Duration now, const AbortWhen& a) {
  // The answers seen in the last window (by when each request finished, so a probe whose timeout
  // is longer than the window still brakes: its failures land in the window when they happen).
  const Duration from = now > a.window ? now - a.window : Duration{0};
  auto st = stats_of(samples, [&](const ProbeSample& x) {
    const Duration done = x.t + x.latency;
    return done >= from && done <= now;
  });
  if (st.requests < a.min_samples) return std::nullopt;
  char buf[160];
  if (a.error_rate && st.error_rate + 1e-12 >= *a.error_rate) {
    std::snprintf(buf, sizeof buf, "error rate %.1f%% (%zu/%zu) over the last %s, at or above %.1f%%",
                  st.error_rate * 100, st.errors, st.requests, format_duration(a.window).c_str(), *a.error_rate * 100);
    return std::string(buf);
  }
  const std::size_t ok = st.requests - st.errors;
  if (ok < a.min_samples) return std::nullopt;
  auto lat = [&](const char* name, Duration got, const std::optional<Duration>& lim) -> std::optional<std::string> {
    if (!lim || got <= *lim) return std::nullopt;
    return std::string(name) + " " + format_duration(got) + " over the last " + format_duration(a.window) +
           " (" + std::to_string(ok) + " successful samples), above " + format_duration(*lim);
  };
  if (auto v = lat("p50", st.p50, a.p50)) return v;
  if (auto v = lat("p99", st.p99, a.p99)) return v;
  return std::nullopt;
}

namespace {

// The node at a dotted key, or nullptr when the path does not exist.
const nlohmann::json* telemetry_node(const nlohmann::json& sample, const std::string& key) {
  const nlohmann::json* at = &sample;
  std::size_t pos = 0;
  while (pos <= key.size()) {
    auto dot = key.find('.', pos);
    std::string part = key.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    if (at->is_object()) {
      auto it = at->find(part);
      if (it == at->end()) return nullptr;
      at = &*it;
    } else if (at->is_array()) {
      std::size_t i = 0;
      auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), i);
      if (part.empty() || ec != std::errc{} || end != part.data() + part.size() || i >= at->size()) return nullptr;
      at = &(*at)[i];
    } else {
      return nullptr;
    }
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return at;
}

}  // namespace

std::optional<double> telemetry_value(const nlohmann::json& sample, const std::string& key) {
  const nlohmann::json* at = telemetry_node(sample, key);
  if (!at) return std::nullopt;
  if (at->is_boolean()) return at->get<bool>() ? 1.0 : 0.0;
  if (at->is_number()) return at->get<double>();
  return std::nullopt;
}

std::optional<std::string> check_telemetry_abort(const nlohmann::json& sample, const TelemetryAbort& a) {
  // Present but null: the fault has not measured it yet (a GPU's duty cycle before two bursts).
  if (const auto* node = telemetry_node(sample, a.key); node && node->is_null()) return std::nullopt;
  auto v = telemetry_value(sample, a.key);
  auto num = [](double x) {
    char b[48];
    std::snprintf(b, sizeof b, "%.6g", x);
    return std::string(b);
  };
  if (!v && telemetry_node(sample, a.key))
    return a.key + " is " + telemetry_node(sample, a.key)->dump() +
           " in the fault's telemetry, not a number; a stop condition that cannot compare stops the run";
  if (!v) {
    std::string keys;
    if (sample.is_object())
      for (const auto& [k, _] : sample.items()) keys += (keys.empty() ? "" : ", ") + k;
    return a.key + " is not in the fault's telemetry (its top-level keys: " + (keys.empty() ? "none" : keys) +
           "); a stop condition that cannot see stops the run";
  }
  if (a.above && *v > *a.above) return a.key + " = " + num(*v) + ", above " + num(*a.above);
  if (a.below && *v < *a.below) return a.key + " = " + num(*v) + ", below " + num(*a.below);
  return std::nullopt;
}

std::vector<std::string> check_tolerance(const PhaseStats& s, const Tolerance& t) {
  std::vector<std::string> v;
  if (s.requests == 0) {
    v.push_back("no samples in this phase");
    return v;
  }
  auto pct = [](double x) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f%%", x * 100);
    return std::string(b);
  };
  if (t.max_error_rate && s.error_rate > *t.max_error_rate + 1e-12)
    v.push_back("error rate " + pct(s.error_rate) + " (" + std::to_string(s.errors) + "/" +
                std::to_string(s.requests) + ") above " + pct(*t.max_error_rate));
  auto lat = [&](const char* name, Duration got, const std::optional<Duration>& lim) {
    if (lim && got > *lim) v.push_back(std::string(name) + " " + format_duration(got) + " above " + format_duration(*lim));
  };
  lat("p50", s.p50, t.p50);
  lat("p90", s.p90, t.p90);
  lat("p99", s.p99, t.p99);
  lat("max", s.max, t.max);
  return v;
}

nlohmann::json Run::build_report() {
  using nlohmann::json;
  json r;
  r["run"] = id_;
  r["experiment"] = exp_.name;
  r["file"] = exp_.file;
  r["startedAt"] = started_at_;
  r["endedAt"] = ended_at_;
  r["state"] = run_state_name(state_);
  r["plan"] = plan_lines_;
  Duration end = exp_.duration;
  Duration db = during_begin_.value_or(exp_.faults_begin());
  Duration de = during_end_.value_or(exp_.faults_end());
  if (de < db) de = db;
  r["phases"] = {{"before", {{"from", 0.0}, {"to", ms(db) / 1000.0}}},
                 {"during", {{"from", ms(db) / 1000.0}, {"to", ms(de) / 1000.0}}},
                 {"after", {{"from", ms(de) / 1000.0}, {"to", ms(end) / 1000.0}}}};
  json faults = json::array();
  for (auto& f : faults_) {
    json fj{{"name", f->entry->name}, {"family", f->entry->family}, {"plan", f->plan},
            {"requested", {{"start", ms(f->entry->start) / 1000.0}, {"duration", ms(f->entry->duration) / 1000.0}}}};
    if (f->applied_at) fj["appliedAt"] = ms(*f->applied_at) / 1000.0;
    if (f->reverted_at) fj["revertedAt"] = ms(*f->reverted_at) / 1000.0;
    if (f->plan_took) fj["plan_ms"] = ms(*f->plan_took);
    if (f->apply_took) fj["apply_ms"] = ms(*f->apply_took);
    if (f->revert_took) fj["revert_ms"] = ms(*f->revert_took);
    if (!f->error.empty()) fj["error"] = f->error;
    fj["observed"] = f->reverted ? f->observed : f->fault->observe();
    if (!f->violations.empty()) fj["violations"] = f->violations;
    faults.push_back(fj);
  }
  r["faults"] = faults;

  bool held = true;
  for (auto& f : faults_)
    if (!f->violations.empty()) held = false;
  json probes = json::array();
  for (std::size_t i = 0; i < probes_.size(); ++i) {
    const ProbeEntry& pe = exp_.probes[i];
    auto ss = probes_[i]->samples();
    json pj{{"name", pe.name}, {"kind", pe.kind}};
    if (pe.spec) pj["spec"] = pe.spec->to_json();
    json phases = json::object();
    json hyp = json::array();
    for (Phase ph : {Phase::before, Phase::during, Phase::after}) {
      auto st = phase_stats(ss, ph, db, de);
      phases[phase_name(ph)] = st.to_json();
      if (std::find(pe.check_in.begin(), pe.check_in.end(), ph) != pe.check_in.end()) {
        auto v = check_tolerance(st, pe.tolerance);
        if (!v.empty()) held = false;
        hyp.push_back({{"phase", phase_name(ph)}, {"held", v.empty()}, {"violations", v}});
      }
    }
    if (i < probe_checks_.size() && probe_checks_[i].is_object()) {
      const json& check = probe_checks_[i];
      json v = check.value("violations", json::array());
      if (!v.empty()) held = false;
      hyp.push_back({{"phase", "after"}, {"check", check.value("check", std::string("verify"))},
                     {"held", v.empty()}, {"violations", v}});
      pj["verify"] = check;
    }
    pj["phases"] = phases;
    pj["hypothesis"] = hyp;
    // Recovery: from the last revert to the completion of the first successful request started after it.
    if (during_end_) {
      for (const auto& s : ss) {
        if (s.t >= *during_end_ && s.ok) {
          pj["recovery_ms"] = ms(s.t + s.latency - *during_end_);
          break;
        }
      }
      // Errors seen outside the window: the blast radius leaked in time.
      std::size_t first_err = 0, last_err = 0;
      bool any = false;
      for (const auto& s : ss)
        if (!s.ok) {
          if (!any) first_err = static_cast<std::size_t>(duration_cast<milliseconds>(s.t).count());
          last_err = static_cast<std::size_t>(duration_cast<milliseconds>(s.t).count());
          any = true;
        }
      if (any) pj["errorWindow"] = {{"first", first_err / 1000.0}, {"last", last_err / 1000.0}};
    }
    json raw = json::array();
    for (const auto& s : ss) {
      json x = {ms(s.t) / 1000.0, s.ok, ms(s.latency)};
      if (!s.ok) x.push_back(s.error);
      raw.push_back(x);
    }
    pj["samples"] = raw;  // [t_s, ok, latency_ms, error?]
    json values = json::array();
    for (const auto& s : ss)
      if (s.value) values.push_back({ms(s.t) / 1000.0, *s.value});
    if (!values.empty()) pj["values"] = values;  // [t_s, value]: what the probe measured
    probes.push_back(pj);
  }
  r["probes"] = probes;
  r["series"] = samples_;
  std::string outcome;
  if (state_ == RunState::aborted) outcome = "aborted";
  else if (state_ == RunState::failed) outcome = "failed";
  else outcome = held ? "held" : "deviated";
  for (auto& f : faults_)
    if (!f->error.empty() && outcome == "held") outcome = "failed";
  r["outcome"] = outcome;
  r["reason"] = outcome_reason_;
  if (!stop_condition_.is_null()) r["stopCondition"] = stop_condition_;
  return r;
}

nlohmann::json Run::status() const {
  nlohmann::json s{{"run", id_}, {"experiment", exp_.name}, {"state", run_state_name(state_)}};
  Clock::time_point t0;
  {
    std::lock_guard lk(mu_);
    t0 = t0_;
  }
  if (t0 != Clock::time_point{} && state_ == RunState::running) s["elapsed"] = ms(clock_.now() - t0) / 1000.0;
  s["duration"] = ms(exp_.duration) / 1000.0;
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
