// AgentService: it keeps only the last kFinishedKept finished runs in memory (a schedule firing
// every minute must not grow the agent) while older reports are still served from
// STATE/runs/ID/run.json; and it names a run whose timeline is stuck (the systemd watchdog).
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "server/service.h"
#include "unit/support/fake_run.h"

namespace chaos {
namespace {

TEST(ServiceRetention, FinishedRunsAreDroppedFromMemoryButTheirReportsStayOnDisk) {
  auto dir = std::filesystem::temp_directory_path() / ("chaos-retention-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    static const Families none;  // no fault family: an experiment without faults is still a run
    AgentService svc(AgentConfig{}, dir.string(), none);
    auto rec = svc.start();
    ASSERT_TRUE(rec) << rec.error().text();
    const std::string yaml =
        "apiVersion: chaos-agent/v1\nkind: Experiment\nmetadata: {name: tiny}\nspec:\n  duration: 20ms\n";
    std::vector<std::string> ids;
    for (int i = 0; i < 40; ++i) {
      auto done = svc.run(yaml, "tiny.yaml", false, Caller{0, 1}, [](const nlohmann::json&) {});
      ASSERT_EQ(done.value("outcome", ""), "held") << done.dump();
      ids.push_back(done["run"].get<std::string>());
    }
    auto st = svc.status();
    EXPECT_EQ(st["runs"].size(), 32u) << "finished runs kept in memory";
    // The oldest is gone from memory, yet its report is served (from disk).
    bool in_memory = false;
    for (const auto& r : st["runs"]) in_memory |= r.value("run", "") == ids.front();
    EXPECT_FALSE(in_memory);
    auto rep = svc.report(ids.front());
    EXPECT_TRUE(rep.value("ok", false)) << rep.dump();
    EXPECT_EQ(rep["report"].value("run", ""), ids.front());
    // The newest is still in memory.
    bool newest = false;
    for (const auto& r : st["runs"]) newest |= r.value("run", "") == ids.back();
    EXPECT_TRUE(newest);
  }
  std::filesystem::remove_all(dir);
}

// Holds a fault's apply() until released: the run's timeline is stuck inside it.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, open = false;
};

TEST(ServiceWatchdog, AStuckTimelineIsNamedAndClearsWhenItMovesAgain) {
  auto dir = std::filesystem::temp_directory_path() / ("chaos-stall-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  Gate gate;
  fake::FaultScript script;
  script.on_apply = [&gate](const std::string&) -> Result<void> {
    std::unique_lock lk(gate.mu);
    gate.entered = true;
    gate.cv.notify_all();
    gate.cv.wait(lk, [&] { return gate.open; });
    return {};
  };
  {
    Families fams;
    fams.faults.push_back(fake::fault_family(script, "block"));
    AgentService svc(AgentConfig{}, dir.string(), fams);
    ASSERT_TRUE(svc.start());
    const std::string yaml =
        "apiVersion: chaos-agent/v1\nkind: Experiment\nmetadata: {name: stuck}\nspec:\n  duration: 1s\n"
        "  faults:\n    - name: b\n      duration: 500ms\n      block: {}\n";
    nlohmann::json done;
    std::thread t([&] { done = svc.run(yaml, "stuck.yaml", false, Caller{0, 1}, [](const nlohmann::json&) {}); });
    {
      std::unique_lock lk(gate.mu);
      ASSERT_TRUE(gate.cv.wait_for(lk, std::chrono::seconds(5), [&] { return gate.entered; }));
    }
    EXPECT_TRUE(svc.stalled_runs(std::chrono::seconds(5)).empty()) << "not stuck for 5s yet";
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto stuck = svc.stalled_runs(std::chrono::milliseconds(200));
    ASSERT_EQ(stuck.size(), 1u);
    EXPECT_NE(stuck[0].find("timeline stuck for"), std::string::npos) << stuck[0];
    {
      std::lock_guard lk(gate.mu);
      gate.open = true;
    }
    gate.cv.notify_all();
    t.join();
    EXPECT_EQ(done.value("outcome", ""), "held") << done.dump();
    EXPECT_TRUE(svc.stalled_runs(std::chrono::milliseconds(200)).empty()) << "a finished run is never stuck";
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace chaos
