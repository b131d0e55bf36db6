#include "server/scheduler.h"

#include "core/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include <yaml-cpp/yaml.h>

#include "core/log.h"

namespace chaos {

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr int kMaxHistory = 1000;
// How long schedule.trigger waits for the run to be planned before answering without its id.
constexpr auto kTriggerWait = 30s;

const char* policy_name(OverlapPolicy p) { return p == OverlapPolicy::allow ? "allow" : "forbid"; }

std::optional<OverlapPolicy> parse_policy(const std::string& s) {
  if (s == "forbid") return OverlapPolicy::forbid;
  if (s == "allow") return OverlapPolicy::allow;
  return std::nullopt;
}

bool valid_name(const std::string& n) {
  if (n.empty() || n.size() > 63 || !std::isalnum(static_cast<unsigned char>(n[0]))) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

}  // namespace

FiringOutcome firing_outcome(RunOutcome o) {
  switch (o) {
    case RunOutcome::held: return FiringOutcome::held;
    case RunOutcome::deviated: return FiringOutcome::deviated;
    case RunOutcome::aborted: return FiringOutcome::aborted;
    case RunOutcome::failed: return FiringOutcome::failed;
    case RunOutcome::planned: return FiringOutcome::planned;
    case RunOutcome::refused: return FiringOutcome::refused;
    case RunOutcome::invalid: return FiringOutcome::invalid;
  }
  return FiringOutcome::failed;
}

namespace {

json error(const std::string& msg) { return {{"ok", false}, {"error", msg}}; }

json firing_json(const ScheduleFiring& f) {
  json j{{"scheduledFor", f.scheduled_for}, {"outcome", name(f.outcome)}};
  if (!f.run_id.empty()) j["runId"] = f.run_id;
  if (!f.started_at.empty()) j["startedAt"] = f.started_at;
  if (!f.reason.empty()) j["reason"] = f.reason;
  if (f.manual) j["manual"] = true;
  return j;
}

std::string experiment_name(const std::string& yaml) {
  try {
    auto n = YAML::Load(yaml)["metadata"]["name"];
    return n && n.IsScalar() ? n.Scalar() : std::string();
  } catch (const std::exception&) {
    return {};
  }
}

}  // namespace

Scheduler::Scheduler(AgentService& service, std::string state_dir)
    : service_(service), path_(std::move(state_dir) + "/schedules.json") {}

Scheduler::~Scheduler() {
  stop();
  join();
}

json Scheduler::to_json(const Schedule& s, bool history) const {
  json j{{"name", s.name},
         {"expr", s.cron.text()},
         {"timezone", "UTC"},
         {"file", s.file},
         {"experiment", s.experiment},
         {"policy", policy_name(s.policy)},
         {"historyLimit", s.history_limit},
         {"suspended", s.suspended},
         {"nextRun", s.next_run ? json(format_utc(*s.next_run)) : json(nullptr)},
         {"createdAt", s.created_at}};
  j["lastOutcome"] = s.history.empty() ? json(nullptr) : json(name(s.history.back().outcome));
  j["activeRuns"] = active_of_locked(s);
  if (history) {
    json h = json::array();
    for (const auto& f : s.history) h.push_back(firing_json(f));
    j["history"] = h;
  }
  return j;
}

std::vector<std::string> Scheduler::active_of_locked(const Schedule& s) const {
  std::vector<std::string> out;
  for (const auto& [seq, a] : active_)
    if (a.schedule_uid == s.uid) out.push_back(a.run_id.empty() ? "(starting)" : a.run_id);
  return out;
}

Result<void> Scheduler::save_locked() {
  json all = json::array();
  for (const auto& [name, s] : schedules_) {
    json j = to_json(s, true);
    j.erase("lastOutcome");
    j.erase("activeRuns");
    j["yaml"] = s.yaml;
    all.push_back(std::move(j));
  }
  json doc{{"version", 1}, {"schedules", all}};
  auto r = write_file_atomic(path_, doc.dump(1) + "\n", 0600);
  if (!r) logger("scheduler")->error("saving schedules: {}", r.error().text());
  return r;
}

Result<void> Scheduler::load() {
  auto log = logger("scheduler");
  auto bad = [&](const std::string& why) {
    unavailable_ = path_ + ": " + why + " (fix or move the file away, then restart the agent)";
    return fail(*unavailable_);
  };
  std::string data;
  if (auto r = read_file(path_); r) {
    data = std::move(*r);
  } else if (r.error().code != ENOENT) {
    return bad(r.error().text());
  }
  std::map<std::string, Schedule> loaded;
  if (!data.empty()) {
    auto doc = json::parse(data, nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || doc.value("version", 0) != 1 || !doc.contains("schedules") ||
        !doc["schedules"].is_array())
      return bad("not a schedules file (expected {\"version\": 1, \"schedules\": [...]})");
    int i = 0;
    for (const auto& j : doc["schedules"]) {
      std::string where = "schedules[" + std::to_string(i++) + "]";
      try {
        Schedule s;
        s.name = j.at("name").get<std::string>();
        where += " (" + s.name + ")";
        auto cron = CronSchedule::parse(j.at("expr").get<std::string>());
        if (!cron) return bad(where + ": expr: " + cron.error().message);
        s.cron = *cron;
        s.file = j.value("file", "");
        s.yaml = j.at("yaml").get<std::string>();
        s.experiment = j.value("experiment", "");
        auto policy = parse_policy(j.value("policy", "forbid"));
        if (!policy) return bad(where + ": policy: expected forbid or allow");
        s.policy = *policy;
        s.history_limit = std::clamp(j.value("historyLimit", 10), 1, kMaxHistory);
        s.suspended = j.value("suspended", false);
        if (j.contains("nextRun") && !j["nextRun"].is_null()) {
          auto t = parse_utc(j["nextRun"].get<std::string>());
          if (!t) return bad(where + ": nextRun: " + t.error().message);
          s.next_run = *t;
        }
        s.created_at = j.value("createdAt", "");
        for (const auto& h : j.value("history", json::array())) {
          ScheduleFiring f;
          f.seq = ++seq_;
          f.run_id = h.value("runId", "");
          f.scheduled_for = h.at("scheduledFor").get<std::string>();
          f.started_at = h.value("startedAt", "");
          auto outcome = parse_field<FiringOutcome>(h, "outcome");
          if (!outcome) return bad(where + ": history: " + outcome.error().text());
          f.outcome = *outcome;
          f.reason = h.value("reason", "");
          f.manual = h.value("manual", false);
          s.history.push_back(std::move(f));
        }
        if (loaded.count(s.name)) return bad(where + ": a second schedule with this name");
        s.uid = ++seq_;
        loaded.emplace(s.name, std::move(s));
      } catch (const json::exception& e) {
        return bad(where + ": " + e.what());
      }
    }
  }

  std::lock_guard lk(mu_);
  auto now = Clock::now();
  bool changed = false;
  for (auto& [name, s] : loaded) {
    for (auto& f : s.history) {
      if (f.outcome != FiringOutcome::running) continue;
      f.outcome = FiringOutcome::interrupted;
      f.reason = "the agent stopped during the run; its journal replay at start-up reverts what the run left";
      changed = true;
    }
    if (s.suspended) {
      s.next_run.reset();
      continue;
    }
    if (s.next_run && *s.next_run <= now) {
      ScheduleFiring f;
      f.seq = ++seq_;
      f.scheduled_for = format_utc(*s.next_run);
      f.outcome = FiringOutcome::missed;
      f.reason = "the agent was not running; firings due until " + format_utc(now) + " are not caught up";
      log->warn("schedule {}: missed the firing due {} (the agent was not running)", name, f.scheduled_for);
      record_locked(s, std::move(f));
      s.next_run.reset();
    }
    if (!s.next_run) {
      s.next_run = s.cron.next_after(now);
      changed = true;
    }
  }
  schedules_ = std::move(loaded);
  loaded_ = true;
  if (changed) (void)save_locked();  // logged; the in-memory state is right either way
  log->info("{} schedule(s) loaded from {}", schedules_.size(), path_);
  return {};
}

void Scheduler::start() {
  std::lock_guard lk(mu_);
  if (!loaded_ || stopping_ || timer_.joinable()) return;
  timer_ = std::thread([this] { loop(); });
}

void Scheduler::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (timer_.joinable()) timer_.join();
}

void Scheduler::join() {
  for (;;) {
    std::map<std::uint64_t, std::thread> threads;
    {
      std::lock_guard lk(mu_);
      threads.swap(threads_);
      finished_.clear();
    }
    if (threads.empty()) return;
    for (auto& [seq, t] : threads)
      if (t.joinable()) t.join();
  }
}

void Scheduler::reap_locked() {
  for (auto seq : finished_) {
    auto it = threads_.find(seq);
    if (it == threads_.end()) continue;
    // The thread marked itself finished as its last step under the lock: this join is short.
    if (it->second.joinable()) it->second.join();
    threads_.erase(it);
  }
  finished_.clear();
}

std::vector<std::string> Scheduler::active_runs() const {
  std::vector<std::string> out;
  auto st = service_.status();
  for (const auto& r : st.value("runs", json::array())) {
    auto state = parse_field<RunState>(r, "state");
    if (state && (*state == RunState::running || *state == RunState::planned)) out.push_back(r.value("run", ""));
  }
  return out;
}

void Scheduler::record_locked(Schedule& s, ScheduleFiring f) {
  s.history.push_back(std::move(f));
  // Oldest first, but never an entry whose run is still going: its outcome has yet to land
  // there (and a restart marks it interrupted), however many firings were skipped meanwhile.
  while (static_cast<int>(s.history.size()) > s.history_limit) {
    auto it = std::find_if(s.history.begin(), s.history.end(),
                           [](const ScheduleFiring& x) { return x.outcome != FiringOutcome::running; });
    if (it == s.history.end()) break;
    s.history.erase(it);
  }
}

ScheduleFiring* Scheduler::entry_locked(const std::string& name, std::uint64_t seq) {
  auto it = schedules_.find(name);
  if (it == schedules_.end()) return nullptr;
  for (auto& f : it->second.history)
    if (f.seq == seq) return &f;
  return nullptr;
}

std::pair<std::uint64_t, std::string> Scheduler::fire_locked(Schedule& s, Clock::time_point scheduled_for, bool manual,
                                                             const std::vector<std::string>& active) {
  auto log = logger("scheduler");
  ScheduleFiring f;
  f.seq = ++seq_;
  f.scheduled_for = format_utc(scheduled_for);
  f.manual = manual;
  if (s.policy == OverlapPolicy::forbid) {
    std::string why;
    for (const auto& [seq, a] : active_) {
      if (a.schedule_uid != s.uid) continue;
      why = a.run_id.empty() ? "a run of this schedule is still starting"
                             : "run " + a.run_id + " of this schedule is still active";
      break;
    }
    if (why.empty() && !active_.empty()) {
      const auto& a = active_.begin()->second;
      why = "run " + (a.run_id.empty() ? std::string("(starting)") : a.run_id) + " of schedule " + a.schedule +
            " is active on this node";
    }
    if (why.empty() && !active.empty()) why = "run " + active.front() + " is active on this node";
    if (!why.empty()) {
      f.outcome = FiringOutcome::skipped;
      f.reason = why + " (policy forbid)";
      log->info("schedule {}: skipped the firing due {}: {}", s.name, f.scheduled_for, f.reason);
      record_locked(s, std::move(f));
      return {0, why};
    }
  }
  f.started_at = format_utc(Clock::now());
  f.outcome = FiringOutcome::running;
  auto seq = f.seq;
  record_locked(s, std::move(f));
  active_[seq] = ActiveRun{s.name, s.uid, ""};
  log->info("schedule {}: firing ({}) for {}", s.name, manual ? "triggered" : "due", format_utc(scheduled_for));
  threads_.emplace(seq, std::thread(&Scheduler::run_thread, this, s.name, seq, s.yaml, s.file));
  return {seq, ""};
}

void Scheduler::run_thread(std::string name, std::uint64_t seq, std::string yaml, std::string file) {
  auto log = logger("scheduler");
  // The agent starts this run by itself: the audit log says so, and which schedule.
  Caller who{static_cast<int>(::getuid()), static_cast<int>(::getpid())};
  who.via = "schedule " + name;
  std::error_code ec;
  who.exe = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  auto done = service_.run(yaml, file, false, who, [&](const json& ev) {
    // Only "planned" (which names the run) matters here; the rest is logged.
    if (ev.value("event", "") != chaos::name(RunEvent::planned) || !ev.contains("run")) {
      log->debug("schedule {}: {}", name, ev.dump());
      return;
    }
    std::lock_guard lk(mu_);
    auto id = ev["run"].get<std::string>();
    if (auto it = active_.find(seq); it != active_.end()) it->second.run_id = id;
    if (auto* e = entry_locked(name, seq)) e->run_id = id;
    (void)save_locked();
    log->info("schedule {}: run {} started", name, id);
    cv_.notify_all();
  });
  std::string reason = done.contains("reason") && done["reason"].is_string() ? done["reason"].get<std::string>() : "";
  auto run_outcome = parse_field<RunOutcome>(done, "outcome");
  if (!run_outcome) reason += (reason.empty() ? "" : "; ") + run_outcome.error().text();
  const FiringOutcome outcome = firing_outcome(run_outcome.value_or(RunOutcome::failed));
  if (outcome == FiringOutcome::invalid) {
    for (const auto& e : done.value("errors", json::array()))
      reason += (reason.empty() ? "" : "; ") + e.get<std::string>();
  }
  std::lock_guard lk(mu_);
  std::string run_id = done.value("run", "");
  if (auto* e = entry_locked(name, seq)) {
    if (!run_id.empty()) e->run_id = run_id;
    e->outcome = outcome;
    e->reason = reason;
  }
  active_.erase(seq);
  (void)save_locked();
  log->info("schedule {}: run {} ended: {}{}{}", name, run_id.empty() ? "(none)" : run_id, chaos::name(outcome),
            reason.empty() ? "" : ": ", reason);
  finished_.push_back(seq);
  cv_.notify_all();
}

void Scheduler::loop() {
  std::unique_lock lk(mu_);
  while (!stopping_) {
    reap_locked();
    auto now = Clock::now();
    bool due = std::any_of(schedules_.begin(), schedules_.end(), [&](const auto& kv) {
      return !kv.second.suspended && kv.second.next_run && *kv.second.next_run <= now;
    });
    if (due) {
      lk.unlock();
      auto active = active_runs();  // the service's lock is never taken under ours
      lk.lock();
      if (stopping_) break;
      now = Clock::now();
      for (auto& [name, s] : schedules_) {
        if (s.suspended || !s.next_run || *s.next_run > now) continue;
        auto at = *s.next_run;
        fire_locked(s, at, false, active);
        // The next firing after this one; when the agent was busy past it, the next one after
        // now (firings are never caught up).
        auto next = s.cron.next_after(at);
        if (next <= now) next = s.cron.next_after(now);
        s.next_run = next;
      }
      (void)save_locked();
    }
    // Sleep until the earliest firing, at most a second (the wall clock can be stepped).
    auto wake = now + 1s;
    for (const auto& [name, s] : schedules_)
      if (!s.suspended && s.next_run) wake = std::min(wake, *s.next_run);
    cv_.wait_until(lk, wake);
  }
}

json Scheduler::add(const json& req, const Caller& who) {
  auto name = req.value("name", "");
  auto at = req.value("at", "");
  auto file = req.value("file", "<api>");
  auto yaml = req.value("yaml", "");
  auto policy_text = req.value("policy", "forbid");
  int history = req.value("historyLimit", 10);
  if (!valid_name(name))
    return error("name \"" + name +
                 "\": expected 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit");
  auto cron = CronSchedule::parse(at);
  if (!cron) return error("schedule \"" + at + "\": " + cron.error().message);
  auto policy = parse_policy(policy_text);
  if (!policy) return error("policy \"" + policy_text + "\": expected forbid or allow");
  if (history < 1 || history > kMaxHistory)
    return error("history " + std::to_string(history) + ": expected 1-" + std::to_string(kMaxHistory));
  // An empty experiment is refused by validate like any other, its error at FILE:1:1.
  auto v = service_.validate(yaml, file);
  if (!v.value("ok", false)) {
    json out = error(file + ": not a valid experiment");
    out["errors"] = v.value("errors", json::array());
    return out;
  }
  std::lock_guard lk(mu_);
  if (stopping_) return error("the agent is stopping");
  if (schedules_.count(name))
    return error("schedule " + name + " exists; remove it first (chaosctl schedule rm " + name + ")");
  Schedule s;
  s.name = name;
  s.cron = *cron;
  s.file = file;
  s.yaml = yaml;
  s.experiment = experiment_name(yaml);
  s.policy = *policy;
  s.history_limit = history;
  s.created_at = format_utc(Clock::now());
  s.next_run = s.cron.next_after(Clock::now());
  s.uid = ++seq_;
  schedules_.emplace(name, s);
  if (auto r = save_locked(); !r) {
    schedules_.erase(name);
    return error("schedule not added: " + r.error().text());
  }
  cv_.notify_all();
  logger("scheduler")->info("schedule {} added by {}: \"{}\" (UTC), experiment {} from {}, policy {}, next run {}",
                            name, who.str(), s.cron.text(), s.experiment, file, policy_name(s.policy),
                            format_utc(*s.next_run));
  return {{"ok", true}, {"schedule", to_json(schedules_.at(name), false)}};
}

json Scheduler::trigger(const std::string& name, const Caller& who) {
  auto active = active_runs();
  std::unique_lock lk(mu_);
  auto it = schedules_.find(name);
  if (it == schedules_.end()) return error("no schedule " + name);
  if (stopping_) return error("the agent is stopping");
  logger("scheduler")->info("schedule {} triggered by {}", name, who.str());
  auto [seq, why] = fire_locked(it->second, Clock::now(), true, active);
  (void)save_locked();
  if (!why.empty()) {
    json out = error("skipped: " + why + " (policy forbid; a schedule with policy allow starts regardless)");
    out["skipped"] = true;
    return out;
  }
  cv_.wait_for(lk, kTriggerWait, [&] {
    auto* e = entry_locked(name, seq);
    return stopping_ || !e || !e->run_id.empty() || e->outcome != FiringOutcome::running;
  });
  auto* e = entry_locked(name, seq);
  if (!e) return {{"ok", true}, {"schedule", name}};
  if (e->run_id.empty() && e->outcome != FiringOutcome::running)
    return error("the run did not start: " + std::string(chaos::name(e->outcome)) + (e->reason.empty() ? "" : ": " + e->reason));
  return {{"ok", true}, {"schedule", name}, {"run", e->run_id}, {"outcome", chaos::name(e->outcome)}};
}

json Scheduler::handle(const std::string& op, const json& req, const Caller& who) {
  try {
    {
      std::lock_guard lk(mu_);
      if (unavailable_) return error("schedules are unavailable: " + *unavailable_);
      if (!loaded_) return error("schedules are not loaded yet");
    }
    if (op == "schedule.add") return add(req, who);
    if (op == "schedule.list") {
      std::lock_guard lk(mu_);
      json all = json::array();
      for (const auto& [name, s] : schedules_) all.push_back(to_json(s, false));
      return {{"ok", true}, {"schedules", all}};
    }
    auto name = req.value("name", "");
    if (op == "schedule.trigger") return trigger(name, who);
    std::lock_guard lk(mu_);
    auto it = schedules_.find(name);
    bool known = op == "schedule.show" || op == "schedule.remove" || op == "schedule.pause" || op == "schedule.resume";
    if (!known)
      return error("unknown op " + op +
                   ": expected schedule.add, .list, .show, .remove, .pause, .resume or .trigger");
    if (it == schedules_.end()) return error("no schedule " + name);
    Schedule& s = it->second;
    if (op == "schedule.show") {
      json j = to_json(s, true);
      j["yaml"] = s.yaml;
      return {{"ok", true}, {"schedule", j}};
    }
    auto log = logger("scheduler");
    if (op == "schedule.remove") {
      Schedule before = s;
      json out{{"ok", true}, {"schedule", to_json(s, false)}};
      schedules_.erase(it);
      if (auto r = save_locked(); !r) {
        schedules_.emplace(name, std::move(before));
        return error("schedule not removed: " + r.error().text());
      }
      log->info("schedule {} removed by {}", name, who.str());
      return out;
    }
    bool suspend = op == "schedule.pause";
    Schedule before = s;
    s.suspended = suspend;
    if (suspend) s.next_run.reset();
    else if (!s.next_run) s.next_run = s.cron.next_after(Clock::now());
    if (auto r = save_locked(); !r) {
      s = std::move(before);
      return error(std::string("schedule not ") + (suspend ? "paused: " : "resumed: ") + r.error().text());
    }
    cv_.notify_all();
    log->info("schedule {} {} by {}", name, suspend ? "paused" : "resumed", who.str());
    return {{"ok", true}, {"schedule", to_json(s, false)}};
  } catch (const json::exception& e) {
    return error(std::string("bad request: ") + e.what());
  }
}

}  // namespace chaos
