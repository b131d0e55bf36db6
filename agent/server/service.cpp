#include "server/service.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>

#include "core/log.h"
#include "core/parser.h"
#include "server/metrics.h"

namespace chaos {

AgentService::AgentService(AgentConfig config, std::string state_dir, const Families& families)
    : config_(std::move(config)), state_dir_(std::move(state_dir)), families_(families),
      spec_(families.spec_registry()), undo_(families.undo_registry()) {}

AgentService::~AgentService() { shutdown("agent stopping"); }

Result<RecoveryReport> AgentService::start() {
  auto j = Journal::open(state_dir_);
  if (!j) return std::unexpected(j.error());
  journal_ = std::move(*j);
  auto a = AuditLog::open(state_dir_);
  if (!a) return std::unexpected(a.error());
  audit_ = std::move(*a);
  ::mkdir((state_dir_ + "/runs").c_str(), 0700);
  auto rep = chaos::recover(*journal_, undo_);
  if (rep.failed == 0) {
    if (auto c = journal_->compact(); !c) logger("agent")->warn("journal compaction: {}", c.error().text());
  }
  return rep;
}

std::string AgentService::new_run_id(const std::string& name) {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  static std::mt19937 rng{std::random_device{}()};
  // Unique among the runs in memory and on disk (two runs of one experiment in one second would
  // otherwise share an id one time in 65536, and one report would overwrite the other).
  for (;;) {
    char suffix[8];
    std::snprintf(suffix, sizeof suffix, "%04x", static_cast<unsigned>(rng() & 0xffff));
    std::string id = name + "-" + buf + "-" + suffix;
    struct stat st {};
    if (!runs_.count(id) && ::stat((state_dir_ + "/runs/" + id).c_str(), &st) != 0) return id;
  }
}

nlohmann::json AgentService::validate(const std::string& yaml, const std::string& file) const {
  auto out = parse_experiment(yaml, file, spec_);
  nlohmann::json errs = nlohmann::json::array();
  for (const auto& d : out.diags.items()) errs.push_back(d.str());
  return {{"ok", out.diags.ok()}, {"errors", errs}};
}

Result<void> AgentService::audit(const Caller& who, AuditRecord r) const {
  if (!audit_) return fail("the audit log is not open (the agent has not started)");
  r.uid = who.uid;
  r.pid = who.pid;
  r.user = who.user;
  r.exe = who.exe;
  r.via = who.via;
  return audit_->append(std::move(r));
}

namespace {

// The "done" event that ends a request to run (core/run_events.h), with `fields` beside.
nlohmann::json done_event(RunOutcome outcome, nlohmann::json fields = nlohmann::json::object()) {
  fields["event"] = name(RunEvent::done);
  fields["outcome"] = name(outcome);
  return fields;
}

}  // namespace

nlohmann::json AgentService::run(const std::string& yaml, const std::string& file, bool dry_run,
                                 const Caller& who, const EventSink& sink) {
  auto log = logger("agent");
  // A run that would change the node is audited whatever becomes of it; a dry run changes nothing.
  AuditRecord rec;
  rec.op = "run";
  if (!dry_run) rec.sha256 = sha256_hex(yaml);
  auto audited = [&](nlohmann::json done) {
    if (dry_run) return done;
    rec.outcome = done.value("outcome", "");
    rec.run = done.value("run", "");
    rec.reason = done.contains("reason") && done["reason"].is_string() ? done["reason"].get<std::string>() : "";
    if (rec.outcome == name(RunOutcome::invalid) && done.contains("errors") && !done["errors"].empty()) {
      rec.reason = done["errors"][0].get<std::string>();
      if (done["errors"].size() > 1) rec.reason += " (and " + std::to_string(done["errors"].size() - 1) + " more)";
    }
    if (auto a = audit(who, rec); !a) log->error("audit log: {} (run requested by {})", a.error().text(), who.str());
    return done;
  };
  auto parsed = parse_experiment(yaml, file, spec_);
  if (!parsed.diags.ok()) {
    nlohmann::json errs = nlohmann::json::array();
    for (const auto& d : parsed.diags.items()) errs.push_back(d.str());
    return audited(done_event(RunOutcome::invalid, {{"errors", errs}}));
  }
  rec.experiment = parsed.experiment->name;
  std::shared_ptr<Run> run;
  // Holds a place among api.maxConcurrentRuns from the check until the run is in runs_ (or not).
  struct Slot {
    AgentService* svc = nullptr;
    void release() {
      if (!svc) return;
      std::lock_guard lk(svc->mu_);
      --svc->planning_;
      svc = nullptr;
    }
    ~Slot() { release(); }
  } slot;
  {
    std::lock_guard lk(mu_);
    if (shutting_down_) return audited(done_event(RunOutcome::refused, {{"reason", "the agent is stopping"}}));
    if (!journal_)
      return audited(done_event(RunOutcome::refused, {{"reason", "the agent has not started"}}));
    if (!dry_run) {
      std::vector<std::string> active;
      for (const auto& [id, r] : runs_)
        if (r->state() == RunState::running || r->state() == RunState::planned) active.push_back(id);
      const int cap = config_.api.max_concurrent_runs;
      if (static_cast<int>(active.size()) + planning_ >= cap) {
        std::string which;
        for (std::size_t i = 0; i < active.size() && i < 3; ++i) which += (i ? ", " : "") + active[i];
        if (active.size() > 3) which += ", ...";
        if (planning_ > 0) which += std::string(which.empty() ? "" : "; ") + std::to_string(planning_) + " being planned";
        log->warn("run of {} refused: {} runs active (api.maxConcurrentRuns {}), requested by {}",
                  parsed.experiment->name, active.size() + planning_, cap, who.str());
        return audited(done_event(RunOutcome::refused, {{"reason", "too many runs: " + std::to_string(active.size() + planning_) +
                                       " are active on this agent (" + which + "), api.maxConcurrentRuns is " +
                                       std::to_string(cap) + "; try again when one has ended (chaosctl status)"}}));
      }
      ++planning_;
      slot.svc = this;
    }
    std::string id = new_run_id(parsed.experiment->name);
    run = std::make_shared<Run>(id, std::move(*parsed.experiment), config_, *journal_, families_, clock_);
  }
  auto lines = run->plan();
  if (!lines) {
    const std::string at = run->refused_at() ? run->refused_at()->str() : Location{file}.str();
    log->warn("run {} refused at plan: {}: {}", run->id(), at, lines.error().text());
    return audited(done_event(RunOutcome::refused, {{"run", run->id()}, {"reason", lines.error().text()},
                    {"location", at}}));
  }
  if (dry_run) {
    return done_event(RunOutcome::planned, {{"run", run->id()}, {"plan", *lines}});
  }
  // On disk before the run can touch anything: a node changed by nobody on record must not happen.
  rec.run = run->id();
  rec.outcome = "accepted";
  if (auto a = audit(who, rec); !a) {
    log->error("run {} refused: audit log: {}", run->id(), a.error().text());
    return done_event(RunOutcome::refused, {{"run", run->id()}, {"reason", "cannot write the audit log (" + a.error().text() + "); nothing was changed"}});
  }
  {
    std::lock_guard lk(mu_);
    if (shutting_down_)
      return audited(
          done_event(RunOutcome::refused, {{"run", run->id()}, {"reason", "the agent is stopping"}}));
    runs_[run->id()] = run;
    --planning_;
    slot.svc = nullptr;
  }
  log->info("run {} of {} started by {}", run->id(), run->experiment().name, who.str());
  sink({{"event", "planned"}, {"run", run->id()}, {"plan", *lines}});
  EventSink events = sink;
  if (metrics_)
    events = [this, &sink, r = run.get()](const nlohmann::json& ev) {
      metrics_->on_run_event(*r, ev);
      if (sink) sink(ev);  // scheduled runs have no client
    };
  auto report = run->execute(events);
  std::string dir = state_dir_ + "/runs/" + run->id();
  ::mkdir(dir.c_str(), 0700);
  std::ofstream(dir + "/run.json") << report.dump(1) << "\n";
  // Belt and braces: anything this run journaled and did not revert goes now.
  auto left = journal_->outstanding(run->id());
  if (!left.empty()) {
    log->error("run {} left {} journal entries outstanding; reverting from the journal", run->id(), left.size());
    chaos::recover(*journal_, undo_, run->id());
  }
  log->info("run {} finished: {} {}", run->id(), report["outcome"].get<std::string>(),
            report.value("reason", std::string()));
  {
    std::lock_guard lk(mu_);
    finished_.push_back(run->id());
    while (finished_.size() > kFinishedKept) {
      runs_.erase(finished_.front());
      finished_.pop_front();
    }
  }
  nlohmann::json done = done_event(run->outcome().value_or(RunOutcome::failed),
                                   {{"run", run->id()}, {"reason", report["reason"]}, {"report", report}});
  if (report.contains("abortCause")) done["abortCause"] = report["abortCause"];
  return audited(std::move(done));
}

std::vector<std::string> AgentService::stalled_runs(std::chrono::nanoseconds limit) const {
  std::vector<std::string> out;
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const auto now = static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
  std::lock_guard lk(mu_);
  for (const auto& [id, r] : runs_) {
    if (r->state() != RunState::running) continue;
    auto last = r->last_tick_mono_ns();
    if (last == 0 || now <= last) continue;
    auto stuck = std::chrono::nanoseconds(now - last);
    if (stuck > limit)
      out.push_back("run " + id + ": timeline stuck for " +
                    std::to_string(std::chrono::duration_cast<std::chrono::seconds>(stuck).count()) + "s");
  }
  return out;
}

nlohmann::json AgentService::status() const {
  std::lock_guard lk(mu_);
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& [id, r] : runs_) runs.push_back(r->status());
  nlohmann::json out{{"runs", runs}, {"stateDir", state_dir_}};
  if (journal_) out["journalOutstanding"] = journal_->outstanding().size();
  if (metrics_) out["metrics"] = metrics_->url();  // where /metrics is served (the bound port)
  return out;
}

nlohmann::json AgentService::halt(const std::string& run_id, const Caller& who) {
  std::lock_guard lk(mu_);
  nlohmann::json halted = nlohmann::json::array();
  for (auto& [id, r] : runs_) {
    if (!run_id.empty() && id != run_id) continue;
    if (r->state() != RunState::running && r->state() != RunState::planned) continue;
    r->halt("requested by " + who.str());
    halted.push_back(id);
  }
  logger("agent")->info("halt {} by {}: {}", run_id.empty() ? "all" : run_id, who.str(), halted.dump());
  if (!run_id.empty() && halted.empty() && !runs_.count(run_id))
    return {{"ok", false}, {"error", "no run " + run_id}};
  return {{"ok", true}, {"halted", halted}};
}

nlohmann::json AgentService::recover(const Caller& who) {
  logger("agent")->info("recover requested by {}", who.str());
  std::lock_guard lk(mu_);
  // Entries of runs still in progress belong to them: recovering those would pull faults out
  // from under a live timeline.
  std::vector<std::string> live;
  // A planned run is about to start its timeline (and journal): it is live too.
  for (auto& [id, r] : runs_)
    if (r->state() == RunState::running || r->state() == RunState::planned) live.push_back(id);
  // One pass over every dead run's entries together: a clsact one run made may carry another
  // dead run's filter, and containers are undone only after everything they may contain.
  auto rep = chaos::recover_if(*journal_, undo_, [&](const JournalEntry& e) {
    return std::find(live.begin(), live.end(), e.run) == live.end();
  });
  return {{"ok", rep.failed == 0 && rep.deferred == 0}, {"reverted", rep.reverted}, {"failed", rep.failed},
          {"deferred", rep.deferred}, {"lines", rep.lines}};
}

nlohmann::json AgentService::report(const std::string& run_id) const {
  {
    std::lock_guard lk(mu_);
    if (auto it = runs_.find(run_id); it != runs_.end()) {
      auto r = it->second->report();
      if (!r.is_null()) return {{"ok", true}, {"report", r}};
      return {{"ok", false}, {"error", "run " + run_id + " has not finished"}, {"status", it->second->status()}};
    }
  }
  if (run_id.find('/') != std::string::npos || run_id.find("..") != std::string::npos)
    return {{"ok", false}, {"error", "bad run id"}};
  std::ifstream in(state_dir_ + "/runs/" + run_id + "/run.json");
  if (!in) return {{"ok", false}, {"error", "no run " + run_id}};
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded()) return {{"ok", false}, {"error", "run " + run_id + ": report unreadable"}};
  return {{"ok", true}, {"report", j}};
}

void AgentService::shutdown(const std::string& reason) {
  std::vector<std::shared_ptr<Run>> live;
  {
    std::lock_guard lk(mu_);
    shutting_down_ = true;
    for (auto& [id, r] : runs_)
      if (r->state() == RunState::running || r->state() == RunState::planned) live.push_back(r);
  }
  for (auto& r : live) r->halt(reason, AbortCause::shutdown);
  // Runs execute on their clients' connection threads; wait for each to revert.
  for (auto& r : live)
    while (r->state() == RunState::running) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

}  // namespace chaos
