// Scheduled game days end to end, through the real binaries (build/bin/chaos-agent with its own
// socket and state dir, build/bin/chaosctl) against a lab ("t<pid>") the test makes: a schedule
// fires real 1s partitions of the lab client's TCP to the server's :8080.
//
// What is proven:
//   - `@every 3s` fires runs by itself, each at its scheduled time, their reports are readable
//     through `chaosctl report RUN` and show the fault applied and reverted;
//   - pause stops the firings, resume restarts them, rm removes the schedule;
//   - policy forbid skips a firing while the schedule's previous run is still going (and a
//     trigger while another schedule's run is active), recording why;
//   - schedules, their history and their paused state survive an agent restart; a firing due
//     while the agent was down is recorded once as "missed", not caught up; trigger runs now;
//   - a bad expression, a bad file, a bad policy and a duplicate name are refused, by chaosctl and
//     by the agent itself, and nothing is stored;
//   - nothing is left behind: no journal entry open, no filter or program of ours, lab removed
//     (TestLab) and the agent stopped (AgentProcess) in teardown.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "client.h"
#include "core/cron.h"
#include "integration/support_agent.h"
#include "kernel/tc_attach.h"

namespace chaos::itest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono;
using nlohmann::json;

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

// Polls pred every 200ms (each poll runs chaosctl) until it holds or the timeout passes.
bool poll(const std::function<bool()>& pred, Ms timeout) {
  auto end = steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(Ms(200));
  }
}

class Schedules : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: network namespaces, BPF, tc";
    if (!fs::exists(agent_binary()) || !fs::exists(chaosctl_binary()))
      FAIL() << "build chaos-agent and chaosctl first (" << agent_binary() << ")";
    ASSERT_TRUE(lab_.up());
    client_ns_ = lab_.netns_path("client");
    server_ip_ = lab_.address("server");
    ifindex_ = lab_.ifindex("client");
    ASSERT_GT(ifindex_, 0);
    agent_ = std::make_unique<AgentProcess>(dir_, "lease: 1s\n");
    ASSERT_TRUE(agent_->start());
  }

  void TearDown() override {
    if (!agent_ || !agent_->running()) return;
    // Whatever a test left scheduled goes, and every run ends, before the leftovers check.
    auto l = chaosctl(dir_, agent_->args({"schedule", "list", "-o", "json"}));
    auto all = json::parse(l.out, nullptr, false);
    if (all.is_array())
      for (const auto& s : all) chaosctl(dir_, agent_->args({"schedule", "rm", s.value("name", "")}));
    chaosctl(dir_, agent_->args({"halt", "--all"}));
    EXPECT_TRUE(poll([&] { return active_runs() == 0; }, Ms(15000))) << "runs still active at teardown";
    EXPECT_TRUE(journal_outstanding(agent_->state_dir()).empty()) << "journal entries left open";
    EXPECT_TRUE(chaos_filters(client_ns_, ifindex_).empty()) << "a classic filter is left on the lab client";
    auto loaded = chaos_prog_ids();
    for (auto id : prog_ids_held_by(agent_->pid()))
      EXPECT_FALSE(loaded.count(id)) << "the agent still holds chaos_cls program " << id;
    agent_->signal(SIGTERM);
    EXPECT_EQ(agent_->wait_exit(Ms(15000)), 0) << "the agent did not stop cleanly on SIGTERM";
  }

  // A partition of the client's egress TCP to the server's :8080, `fault` long from +200ms.
  std::string experiment(const std::string& name, const std::string& duration, const std::string& fault) const {
    return dir_.write(name + ".yaml", lab_partition_yaml(lab_, name, duration, "200ms", fault, false));
  }
  // 1s runs: far inside a 2s or 3s period, even with a run's fsyncs on a loaded disk.
  std::string short_experiment(const std::string& name) const { return experiment(name, "1s", "500ms"); }

  CmdResult ctl(std::vector<std::string> args) { return chaosctl(dir_, agent_->args(std::move(args))); }

  json show(const std::string& name) {
    auto r = ctl({"schedule", "show", name, "-o", "json"});
    auto j = json::parse(r.out, nullptr, false);
    if (r.code != 0 || j.is_discarded()) {
      ADD_FAILURE() << "schedule show " << name << ": " << r.str();
      return json::object();
    }
    return j;
  }
  json history(const std::string& name) { return show(name).value("history", json::array()); }
  int count(const json& h, const std::string& outcome) {
    int n = 0;
    for (const auto& f : h) n += f.value("outcome", "") == outcome;
    return n;
  }
  int active_runs() {
    auto st = ctl({"status", "-o", "json"});
    auto j = json::parse(st.out, nullptr, false);
    if (j.is_discarded()) return -1;
    int n = 0;
    for (const auto& r : j.value("runs", json::array())) n += r.value("state", "") == "running";
    return n;
  }

  // The run's report: the partition applied and reverted, the hypothesis held.
  void expect_good_report(const std::string& run) {
    SCOPED_TRACE("run " + run);
    auto r = ctl({"report", run, "--format", "json"});
    ASSERT_EQ(r.code, 0) << r.str();
    auto rep = json::parse(r.out, nullptr, false);
    ASSERT_FALSE(rep.is_discarded()) << r.str();
    EXPECT_EQ(rep.value("outcome", ""), "held") << rep.dump();
    ASSERT_EQ(rep["faults"].size(), 1u) << rep.dump();
    EXPECT_TRUE(rep["faults"][0].contains("appliedAt")) << rep["faults"][0].dump();
    EXPECT_TRUE(rep["faults"][0].contains("revertedAt")) << rep["faults"][0].dump();
    EXPECT_TRUE(fs::exists(agent_->state_dir() + "/runs/" + run + "/run.json"));
    auto text = ctl({"report", run});
    EXPECT_EQ(text.code, 0) << text.str();
    EXPECT_TRUE(contains(text.out, run)) << text.str();
  }

  TempDir dir_{"chaos-sched"};
  TestLab lab_;
  std::string client_ns_, server_ip_;
  int ifindex_ = 0;
  std::unique_ptr<AgentProcess> agent_;
};

TEST_F(Schedules, EveryThreeSecondsFiresPauseResumeRemove) {
  auto file = short_experiment("sched-cut");
  auto add = ctl({"schedule", "add", "gameday", "--at", "@every 3s", file});
  ASSERT_EQ(add.code, 0) << add.str();
  EXPECT_TRUE(contains(add.out, "schedule gameday added: @every 3s (UTC), experiment sched-cut, policy forbid"))
      << add.out;

  // Two runs fired by the schedule and finished (nominally about 7s after the add; the poll
  // returns as soon as they are there, the deadline is for a loaded machine).
  json h;
  ASSERT_TRUE(poll([&] { return count(h = history("gameday"), "held") >= 2; }, Ms(30000)))
      << "history after 30s: " << h.dump(1) << "\n" << agent_->log();
  std::vector<std::string> runs;
  for (const auto& f : h) {
    if (f.value("outcome", "") != "held") continue;
    runs.push_back(f.value("runId", ""));
    EXPECT_TRUE(f.contains("startedAt") && f.contains("scheduledFor")) << f.dump();
    EXPECT_FALSE(f.value("manual", false));
    // What the schedule controls: each run started at its firing, not a period later (a wake-up
    // that late would have been the next firing's). The gap itself is the agent's scheduling.
    auto due = parse_utc(f.value("scheduledFor", "")), started = parse_utc(f.value("startedAt", ""));
    ASSERT_TRUE(due && started) << f.dump();
    EXPECT_GE(duration_cast<milliseconds>(*started - *due).count(), 0) << "started before it was due: " << f.dump();
    EXPECT_LT(duration_cast<milliseconds>(*started - *due).count(), 3000) << f.dump();
  }
  ASSERT_GE(runs.size(), 2u);
  EXPECT_NE(runs[0], runs[1]);
  for (const auto& r : runs) expect_good_report(r);
  // Firings are whole periods apart in their scheduled times. A firing skipped because a run
  // overran (forbid) is in the history too; skips are allowed, not required to be absent.
  int skipped = count(h, "skipped");
  for (std::size_t i = 1; i < h.size(); ++i) {
    auto a = parse_utc(h[i - 1].value("scheduledFor", "")), b = parse_utc(h[i].value("scheduledFor", ""));
    ASSERT_TRUE(a && b) << h.dump();
    auto gap = duration_cast<milliseconds>(*b - *a).count();
    EXPECT_TRUE(gap > 0 && gap % 3000 == 0) << "firings " << gap << "ms apart: " << h.dump(1);
  }
  std::printf("gameday: %d held, %d skipped\n", count(h, "held"), skipped);

  auto list = ctl({"schedule", "list"});
  ASSERT_EQ(list.code, 0) << list.str();
  EXPECT_TRUE(contains(list.out, "NAME") && contains(list.out, "NEXT RUN (UTC)")) << list.out;
  EXPECT_TRUE(contains(list.out, "gameday") && contains(list.out, "@every 3s")) << list.out;
  auto text = ctl({"schedule", "show", "gameday"});
  EXPECT_EQ(text.code, 0) << text.str();
  EXPECT_TRUE(contains(text.out, runs[0]) && contains(text.out, "held")) << text.out;

  // pause: no firing for 6.5s (more than two periods)
  auto p = ctl({"schedule", "pause", "gameday"});
  ASSERT_EQ(p.code, 0) << p.str();
  ASSERT_TRUE(poll([&] { return show("gameday").value("activeRuns", json::array()).empty(); }, Ms(30000)));
  auto paused = show("gameday");
  EXPECT_TRUE(paused.value("suspended", false));
  EXPECT_TRUE(paused["nextRun"].is_null()) << paused.dump();
  auto size_paused = paused["history"].size();
  std::this_thread::sleep_for(Ms(6500));  // a lower bound: a longer wait only makes "nothing fired" stronger
  EXPECT_EQ(history("gameday").size(), size_paused) << "a paused schedule fired: " << history("gameday").dump(1);
  list = ctl({"schedule", "list"});
  EXPECT_TRUE(contains(list.out, "yes")) << list.out;

  // resume: firing again within a period (plus the run itself)
  auto held_before = count(history("gameday"), "held");
  auto r = ctl({"schedule", "resume", "gameday"});
  ASSERT_EQ(r.code, 0) << r.str();
  EXPECT_TRUE(contains(r.out, "resumed; next run ")) << r.out;
  EXPECT_TRUE(poll([&] { return count(history("gameday"), "held") > held_before; }, Ms(30000)))
      << history("gameday").dump(1);

  // rm: gone from the list, show says so; the runs' reports stay
  auto rm = ctl({"schedule", "rm", "gameday"});
  ASSERT_EQ(rm.code, 0) << rm.str();
  auto gone = ctl({"schedule", "show", "gameday"});
  EXPECT_EQ(gone.code, 1) << gone.str();
  EXPECT_TRUE(contains(gone.err, "no schedule gameday")) << gone.str();
  list = ctl({"schedule", "list"});
  EXPECT_TRUE(contains(list.out, "no schedules")) << list.out;
  ASSERT_TRUE(poll([&] { return active_runs() == 0; }, Ms(30000)));
  auto after_rm = ctl({"status", "-o", "json"});
  auto n_runs = json::parse(after_rm.out, nullptr, false).value("runs", json::array()).size();
  std::this_thread::sleep_for(Ms(3500));  // more than a period: a lower bound, as above
  after_rm = ctl({"status", "-o", "json"});
  EXPECT_EQ(json::parse(after_rm.out, nullptr, false).value("runs", json::array()).size(), n_runs)
      << "a removed schedule fired";
  expect_good_report(runs[0]);
}

TEST_F(Schedules, ForbidSkipsOverlappingFirings) {
  // A 60s run every 2s: every firing after the first finds it still going, however slowly the
  // checks below get there (TearDown halts it).
  auto file = experiment("sched-long", "60s", "1s");
  auto add = ctl({"schedule", "add", "long", "--at", "@every 2s", file});
  ASSERT_EQ(add.code, 0) << add.str();
  json h;
  int most_active = 0;
  ASSERT_TRUE(poll(
      [&] {
        auto s = show("long");
        h = s.value("history", json::array());
        most_active = std::max(most_active, static_cast<int>(s.value("activeRuns", json::array()).size()));
        return count(h, "skipped") >= 1;
      },
      Ms(30000)))
      << h.dump(1);
  EXPECT_LE(most_active, 1) << "forbid let two runs of one schedule overlap";
  json skipped;
  for (const auto& f : h)
    if (f.value("outcome", "") == "skipped") skipped = f;
  EXPECT_TRUE(contains(skipped.value("reason", ""), "of this schedule is still active (policy forbid)")) << skipped;
  EXPECT_FALSE(skipped.contains("runId")) << skipped;

  // While that run goes on, another forbid schedule's trigger is skipped too: any run on the node.
  auto other = ctl({"schedule", "add", "other", "--at", "@daily", short_experiment("sched-other")});
  ASSERT_EQ(other.code, 0) << other.str();
  ASSERT_TRUE(poll([&] { return !show("long").value("activeRuns", json::array()).empty(); }, Ms(30000)));
  auto active_run = show("long")["activeRuns"][0].get<std::string>();
  auto t = ctl({"schedule", "trigger", "other"});
  EXPECT_EQ(t.code, 1) << t.str();
  EXPECT_TRUE(contains(t.err, "skipped: run ")) << t.str();
  EXPECT_TRUE(contains(t.err, "of schedule long is active on this node") ||
              contains(t.err, active_run + " is active on this node"))
      << t.str();
  auto oh = history("other");
  ASSERT_EQ(oh.size(), 1u) << oh.dump();
  EXPECT_EQ(oh[0].value("outcome", ""), "skipped");
  EXPECT_TRUE(oh[0].value("manual", false));

  // A trigger of the busy schedule itself is skipped for the same reason.
  auto self = ctl({"schedule", "trigger", "long"});
  EXPECT_EQ(self.code, 1) << self.str();
  EXPECT_TRUE(contains(self.err, "of this schedule is still active")) << self.str();
}

TEST_F(Schedules, SurvivesRestartAndRecordsMissedFirings) {
  auto file = short_experiment("sched-restart");
  ASSERT_EQ(ctl({"schedule", "add", "every2", "--at", "@every 2s", "--history", "20", file}).code, 0);
  auto daily = ctl({"schedule", "add", "nightly", "--at", "30 3 * * mon-fri", "--policy", "allow", file});
  ASSERT_EQ(daily.code, 0) << daily.str();
  ASSERT_EQ(ctl({"schedule", "pause", "nightly"}).code, 0);
  ASSERT_TRUE(poll([&] { return count(history("every2"), "held") >= 1; }, Ms(30000))) << history("every2").dump(1);
  ASSERT_EQ(ctl({"schedule", "pause", "every2"}).code, 0);  // so that the stop below finds no run mid-way...
  ASSERT_TRUE(poll([&] { return show("every2").value("activeRuns", json::array()).empty(); }, Ms(30000)));
  ASSERT_EQ(ctl({"schedule", "resume", "every2"}).code, 0);  // ...and the next firing is 2s away
  agent_->signal(SIGTERM);  // at once: nothing between the resume and the stop
  ASSERT_EQ(agent_->wait_exit(Ms(15000)), 0) << agent_->log();
  // On disk: both schedules, the experiment text, the history. The history as the agent left it
  // is what the restart must keep (a firing that still came before the stop is in it).
  std::ifstream in(agent_->state_dir() + "/schedules.json");
  std::stringstream ss;
  ss << in.rdbuf();
  auto stored = json::parse(ss.str(), nullptr, false);
  ASSERT_FALSE(stored.is_discarded()) << ss.str();
  ASSERT_EQ(stored["schedules"].size(), 2u) << stored.dump(1);
  json before;
  for (const auto& sc : stored["schedules"])
    if (sc.value("name", "") == "every2") before = sc.value("history", json::array());
  ASSERT_TRUE(before.is_array() && !before.empty()) << stored.dump(1);
  EXPECT_FALSE(fs::exists(agent_->state_dir() + "/schedules.json.tmp"));
  // Stay down past the next firing (and the one after): it must be recorded once as missed.
  std::this_thread::sleep_for(Ms(4500));
  ASSERT_TRUE(agent_->start());

  auto after = show("every2");
  auto h = after.value("history", json::array());
  ASSERT_GE(h.size(), before.size() + 1) << h.dump(1);
  for (std::size_t i = 0; i < before.size(); ++i)
    EXPECT_EQ(h[i].value("runId", ""), before[i].value("runId", "")) << "history changed across the restart";
  EXPECT_EQ(h[before.size()].value("outcome", ""), "missed") << h.dump(1);
  EXPECT_TRUE(contains(h[before.size()].value("reason", ""), "not caught up")) << h.dump(1);
  EXPECT_EQ(count(h, "missed"), 1) << h.dump(1);
  // And it goes on firing after the restart.
  int held = count(h, "held");
  EXPECT_TRUE(poll([&] { return count(history("every2"), "held") > held; }, Ms(30000))) << history("every2").dump(1);

  // The paused schedule stayed paused, its settings kept; trigger runs it now.
  auto n = show("nightly");
  EXPECT_TRUE(n.value("suspended", false)) << n.dump();
  EXPECT_EQ(n.value("policy", ""), "allow");
  EXPECT_EQ(n.value("expr", ""), "30 3 * * mon-fri");
  EXPECT_TRUE(n.value("history", json::array()).empty());
  ASSERT_EQ(ctl({"schedule", "rm", "every2"}).code, 0);
  ASSERT_TRUE(poll([&] { return active_runs() == 0; }, Ms(30000)));
  auto t = ctl({"schedule", "trigger", "nightly"});
  ASSERT_EQ(t.code, 0) << t.str();
  EXPECT_TRUE(contains(t.out, "schedule nightly: started run sched-restart-")) << t.out;
  ASSERT_TRUE(poll([&] { return count(history("nightly"), "held") == 1; }, Ms(30000))) << history("nightly").dump(1);
  auto nh = history("nightly");
  EXPECT_TRUE(nh[0].value("manual", false));
  expect_good_report(nh[0].value("runId", ""));
  EXPECT_TRUE(show("nightly").value("suspended", false)) << "trigger must not resume a paused schedule";
}

TEST_F(Schedules, BadInputIsRefusedAndNothingStored) {
  auto good = short_experiment("sched-good");
  auto e = ctl({"schedule", "add", "x", "--at", "61 * * * *", good});
  EXPECT_EQ(e.code, 2) << e.str();
  EXPECT_TRUE(contains(e.err, "--at \"61 * * * *\": minute \"61\": out of range, expected 0-59")) << e.str();
  e = ctl({"schedule", "add", "x", "--at", "@every 100ms", good});
  EXPECT_EQ(e.code, 2) << e.str();
  EXPECT_TRUE(contains(e.err, "too short, expected at least 1s")) << e.str();
  e = ctl({"schedule", "add", "x", "--at", "@daily", "--policy", "sometimes", good});
  EXPECT_EQ(e.code, 2) << e.str();
  EXPECT_TRUE(contains(e.err, "expected forbid or allow")) << e.str();

  // An invalid experiment: file:line:col from chaosctl, before anything reaches the agent.
  auto bad = dir_.write("bad.yaml", "apiVersion: chaos-agent/v1\n"
                                    "kind: Experiment\n"
                                    "metadata:\n"
                                    "  name: bad\n"
                                    "spec:\n"
                                    "  duration: 10 parsecs\n");
  e = ctl({"schedule", "add", "x", "--at", "@daily", bad});
  EXPECT_EQ(e.code, 2) << e.str();
  EXPECT_TRUE(contains(e.err, bad + ":6:13: error: spec.duration")) << e.str();
  e = ctl({"schedule", "add", "x", "--at", "@daily", dir_.file("missing.yaml")});
  EXPECT_EQ(e.code, 2) << e.str();
  EXPECT_TRUE(contains(e.err, "cannot read the file")) << e.str();

  // The agent checks for itself too (a client that skips the local checks).
  auto raw = cli::call_agent(agent_->socket(), {{"op", "schedule.add"},
                                                {"name", "raw"},
                                                {"at", "0 0 30 2 *"},
                                                {"file", "raw.yaml"},
                                                {"yaml", "apiVersion: chaos-agent/v1\n"}});
  ASSERT_TRUE(raw.has_value());
  EXPECT_FALSE(raw->value("ok", true));
  EXPECT_TRUE(contains(raw->value("error", ""), "never occurs in month")) << raw->dump();
  raw = cli::call_agent(agent_->socket(), {{"op", "schedule.add"},
                                           {"name", "raw"},
                                           {"at", "@hourly"},
                                           {"file", "raw.yaml"},
                                           {"yaml", "apiVersion: chaos-agent/v1\nkind: Experiment\n"}});
  ASSERT_TRUE(raw.has_value());
  EXPECT_FALSE(raw->value("ok", true));
  EXPECT_EQ(raw->value("error", ""), "raw.yaml: not a valid experiment") << raw->dump();
  EXPECT_FALSE(raw->value("errors", json::array()).empty()) << raw->dump();
  EXPECT_TRUE(contains(raw->value("errors", json::array()).dump(), "raw.yaml:")) << raw->dump();
  raw = cli::call_agent(agent_->socket(), {{"op", "schedule.add"}, {"name", "../etc"}, {"at", "@hourly"}});
  ASSERT_TRUE(raw.has_value());
  EXPECT_TRUE(contains(raw->value("error", ""), "name \"../etc\": expected")) << raw->dump();

  auto l = ctl({"schedule", "list", "-o", "json"});
  EXPECT_EQ(l.code, 0) << l.str();
  EXPECT_EQ(json::parse(l.out, nullptr, false), json::array()) << l.out;
  EXPECT_FALSE(fs::exists(agent_->state_dir() + "/schedules.json")) << "something was stored";

  // A good one, then the same name again; unknown names.
  auto ok = ctl({"schedule", "add", "x", "--at", "@daily", "-o", "json", good});
  ASSERT_EQ(ok.code, 0) << ok.str();
  auto j = json::parse(ok.out, nullptr, false);
  EXPECT_EQ(j.value("expr", ""), "@daily");
  EXPECT_EQ(j.value("timezone", ""), "UTC");
  auto next = parse_utc(j.value("nextRun", ""));
  ASSERT_TRUE(next) << ok.out;
  EXPECT_EQ(duration_cast<seconds>(next->time_since_epoch()).count() % 86400, 0) << "@daily is midnight UTC";
  e = ctl({"schedule", "add", "x", "--at", "@hourly", good});
  EXPECT_EQ(e.code, 1) << e.str();
  EXPECT_TRUE(contains(e.err, "schedule x exists")) << e.str();
  EXPECT_EQ(show("x").value("expr", ""), "@daily") << "the refused add changed the schedule";
  for (const char* sub : {"show", "rm", "pause", "resume", "trigger"}) {
    auto u = ctl({"schedule", sub, "nope"});
    EXPECT_EQ(u.code, 1) << sub << ": " << u.str();
    EXPECT_TRUE(contains(u.err, "no schedule nope")) << sub << ": " << u.str();
  }
  auto u = ctl({"schedule", "frobnicate", "x"});
  EXPECT_EQ(u.code, 2) << u.str();
}

TEST_F(Schedules, UnreadableFileLeavesTheAgentWorkingAndTheFileAlone) {
  agent_->signal(SIGTERM);
  ASSERT_EQ(agent_->wait_exit(Ms(15000)), 0);
  std::string garbage = "{\"version\": 1, \"schedules\": [{\"name\": \"half\"";
  std::ofstream(agent_->state_dir() + "/schedules.json") << garbage;
  ASSERT_TRUE(agent_->start());
  auto l = ctl({"schedule", "list"});
  EXPECT_EQ(l.code, 1) << l.str();
  EXPECT_TRUE(contains(l.err, "schedules are unavailable: " + agent_->state_dir() +
                                  "/schedules.json: not a schedules file"))
      << l.str();
  auto add = ctl({"schedule", "add", "x", "--at", "@daily", short_experiment("sched-x")});
  EXPECT_EQ(add.code, 1) << add.str();
  EXPECT_EQ(ctl({"status"}).code, 0) << "the rest of the agent works";
  std::ifstream in(agent_->state_dir() + "/schedules.json");
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), garbage) << "the unreadable file was overwritten";
}

}  // namespace
}  // namespace chaos::itest
