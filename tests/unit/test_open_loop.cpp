// The open-loop probe body: a request starts every interval whatever the earlier ones do (no
// coordinated omission), samples come out in start-time order though requests finish out of
// order, and samples_since() answers a window without the rest.
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "observe/open_loop.h"

namespace chaos {
namespace {

using namespace std::chrono_literals;

// Every request "hangs" for a time that shrinks as t grows, so later requests finish first.
class SlowThenFast : public OpenLoopProbe {
 public:
  SlowThenFast() : OpenLoopProbe(20ms, "requests") {}
  ~SlowThenFast() override { stop(); }
  Result<std::vector<std::string>> plan() override { return std::vector<std::string>{}; }
  std::atomic<int> fired{0};

 private:
  void fire(Duration t) override {
    int n = fired++;
    std::this_thread::sleep_for(std::chrono::milliseconds(n < 5 ? 200 - 30 * n : 1));
    ProbeSample s;
    s.t = t;
    s.ok = true;
    record(s);
  }
};

TEST(OpenLoopProbe, RequestsStartOnScheduleAndSamplesStayOrderedByStart) {
  SlowThenFast p;
  RunClock clock{std::chrono::steady_clock::now()};
  ASSERT_TRUE(p.start(clock));
  std::this_thread::sleep_for(500ms);
  p.stop();
  auto all = p.samples();
  // 500ms at one start per 20ms: about 25, although the first requests each took up to 200ms.
  EXPECT_GE(all.size(), 18u);
  for (std::size_t i = 1; i < all.size(); ++i) EXPECT_LE(all[i - 1].t, all[i].t) << "at " << i;
  // The gaps between starts are the interval, not the latency of the one before.
  for (std::size_t i = 1; i < std::min<std::size_t>(all.size(), 6); ++i)
    EXPECT_LT(all[i].t - all[i - 1].t, Duration(60ms)) << "request " << i << " waited on an earlier one";
  // Numbered in the order they were recorded: every number once, and the first (slow) request
  // was recorded after faster ones that started later.
  std::set<std::uint64_t> seqs;
  for (const auto& s : all) seqs.insert(s.seq);
  EXPECT_EQ(seqs.size(), all.size());
  EXPECT_EQ(*seqs.begin(), 1u);
  EXPECT_EQ(*seqs.rbegin(), all.size());
  EXPECT_GT(all[0].seq, all[5].seq) << "the 200ms request finished after the 1ms ones";
  // A window: exactly the samples that started at or after `from`.
  const Duration from = all[all.size() / 2].t;
  auto tail = p.samples_since(from);
  std::size_t expect = 0;
  for (const auto& s : all) expect += s.t >= from;
  EXPECT_EQ(tail.size(), expect);
  ASSERT_FALSE(tail.empty());
  EXPECT_EQ(tail.front().t, from);
}

}  // namespace
}  // namespace chaos
