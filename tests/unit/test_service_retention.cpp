// AgentService keeps only the last kFinishedKept finished runs in memory (a schedule firing every
// minute must not grow the agent); older reports are still served from STATE/runs/ID/run.json.
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "server/service.h"

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

}  // namespace
}  // namespace chaos
