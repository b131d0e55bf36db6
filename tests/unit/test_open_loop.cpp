// The open-loop probe body: a request starts every interval whatever the earlier ones do (no
// coordinated omission), samples come out in start-time order though requests finish out of
// order, and samples_since() answers a window without the rest.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "observe/open_loop.h"

namespace chaos {
namespace {

using namespace std::chrono_literals;

// The first five requests hang until a request that started after them has been recorded; the rest
// answer at once. A closed loop would never start a sixth request while the first one hangs; an open
// loop starts it on schedule, and the hung ones are recorded after later ones. Latches, not sleeps:
// nothing here depends on how fast this machine is (each wait gives up after 30 s).
class HangFirstFive : public OpenLoopProbe {
 public:
  static constexpr Duration kInterval = 20ms;
  HangFirstFive() : OpenLoopProbe(kInterval, "requests") {}
  ~HangFirstFive() override { stop(); }
  Result<std::vector<std::string>> plan() override { return std::vector<std::string>{}; }

  // Until at least `fired` requests have started and all five hung ones were released.
  bool wait_until(int fired) {
    std::unique_lock lk(m_);
    return cv_.wait_for(lk, 30s, [&] { return fired_ >= fired && released_ == 5; });
  }
  int fired() {
    std::lock_guard lk(m_);
    return fired_;
  }

 private:
  void fire(Duration t) override {
    ProbeSample s;
    s.t = t;
    s.ok = true;
    std::unique_lock lk(m_);
    const bool hang = fired_++ < 5;
    cv_.notify_all();
    if (hang) {
      s.status = 1;  // marks the hung ones for the test
      cv_.wait_for(lk, 30s, [&] { return latest_recorded_ > t; });
      lk.unlock();
      record(s);
      lk.lock();
      ++released_;
      cv_.notify_all();
      return;
    }
    lk.unlock();
    record(s);
    lk.lock();
    latest_recorded_ = std::max(latest_recorded_, t);
    cv_.notify_all();
  }

  std::mutex m_;
  std::condition_variable cv_;
  int fired_ = 0, released_ = 0;
  Duration latest_recorded_ = Duration::min();
};

TEST(OpenLoopProbe, RequestsStartOnScheduleAndSamplesStayOrderedByStart) {
  HangFirstFive p;
  RunClock clock{std::chrono::steady_clock::now()};
  ASSERT_TRUE(p.start(clock));
  ASSERT_TRUE(p.wait_until(25)) << "fired " << p.fired()
                                << ": the loop waited on the hung requests (closed loop)";
  p.stop();
  auto all = p.samples();
  ASSERT_EQ(all.size(), static_cast<std::size_t>(p.fired()));
  for (std::size_t i = 1; i < all.size(); ++i) EXPECT_LE(all[i - 1].t, all[i].t) << "at " << i;
  // On schedule and never ahead of it: the k-th start is at least k intervals after the clock's
  // start (a stall delays the schedule, it does not bring a burst to catch up).
  for (std::size_t k = 0; k < all.size(); ++k)
    EXPECT_GE(all[k].t, static_cast<long>(k) * HangFirstFive::kInterval) << "request " << k << " started early";
  // Numbered in the order they were recorded: every number once, and each hung request was
  // recorded after one that started later, yet sits at its own start.
  std::set<std::uint64_t> seqs;
  for (const auto& s : all) seqs.insert(s.seq);
  EXPECT_EQ(seqs.size(), all.size());
  EXPECT_EQ(*seqs.begin(), 1u);
  EXPECT_EQ(*seqs.rbegin(), all.size());
  int hung = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i].status != 1) continue;
    ++hung;
    bool overtaken = std::any_of(all.begin() + static_cast<long>(i) + 1, all.end(),
                                 [&](const ProbeSample& later) { return later.seq < all[i].seq; });
    EXPECT_TRUE(overtaken) << "hung request " << i << " was not recorded after a later one";
  }
  EXPECT_EQ(hung, 5);
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
