#include "observe/open_loop.h"

#include <exception>

#include <algorithm>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "kernel/netns.h"

namespace chaos {

using namespace std::chrono;

void run_open_loop(const RunClock& clock, Duration interval, const std::atomic<bool>& stop,
                   const std::function<void(Duration t)>& request,
                   const std::function<void(Duration t, std::size_t max_inflight)>& saturated,
                   std::size_t max_inflight) {
  struct InFlight {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<InFlight> inflight;
  auto reap = [&](bool all) {
    for (auto it = inflight.begin(); it != inflight.end();) {
      if (all || it->done->load()) {
        it->thread.join();
        it = inflight.erase(it);
      } else {
        ++it;
      }
    }
  };
  auto next = steady_clock::now();
  while (!stop) {
    reap(false);
    Duration t = clock.now();
    if (inflight.size() >= max_inflight) {
      saturated(t, max_inflight);
    } else {
      auto done = std::make_shared<std::atomic<bool>>(false);
      inflight.push_back({std::thread([&request, t, done] {
                            request(t);
                            done->store(true);
                          }),
                          done});
    }
    next += interval;
    auto now = steady_clock::now();
    if (next < now) next = now;  // a stall delays the schedule; no burst to catch up
    while (!stop && steady_clock::now() < next)
      std::this_thread::sleep_for(std::min<Duration>(next - steady_clock::now(), milliseconds(20)));
  }
  reap(true);
}

OpenLoopProbe::~OpenLoopProbe() { stop(); }

Result<void> OpenLoopProbe::start(RunClock clock) {
  stop_ = false;
  thread_ = std::thread([this, clock] { loop(clock); });
  return {};
}

void OpenLoopProbe::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void OpenLoopProbe::loop(RunClock clock) {
  std::optional<NetnsGuard> guard;
  if (!netns_path_.empty()) {
    auto g = NetnsGuard::enter(netns_path_);
    if (!g) {
      ProbeSample s;
      s.t = clock.now();
      s.error = "enter " + netns_path_ + ": " + g.error().text();
      record(s);
      return;
    }
    guard.emplace(std::move(*g));
  }
  // A request runs on a bare thread: an exception escaping it would terminate the agent with
  // its faults applied. It becomes a failed sample instead.
  auto guarded = [this](Duration t) {
    try {
      fire(t);
    } catch (const std::exception& e) {
      ProbeSample s;
      s.t = t;
      s.error = std::string("probe error: ") + e.what();
      record(s);
    }
  };
  run_open_loop(clock, interval_, stop_, guarded,
                [this](Duration t, std::size_t max) {
                  ProbeSample s;
                  s.t = t;
                  s.error = "probe saturated: " + std::to_string(max) + " " + what_ + " in flight";
                  record(s);
                });
}

void OpenLoopProbe::record(const ProbeSample& s) {
  std::lock_guard lk(mu_);
  record_locked(s);
}

void OpenLoopProbe::record_locked(const ProbeSample& s) {
  // Requests finish out of order, but never by much: the place is near the end.
  auto it = std::upper_bound(samples_.begin(), samples_.end(), s.t,
                             [](Duration t, const ProbeSample& x) { return t < x.t; });
  auto at = samples_.insert(it, s);
  at->seq = ++recorded_;
}

std::vector<ProbeSample> OpenLoopProbe::samples() const {
  std::lock_guard lk(mu_);
  return samples_;
}

std::vector<ProbeSample> OpenLoopProbe::samples_since(Duration from) const {
  std::lock_guard lk(mu_);
  auto it = std::lower_bound(samples_.begin(), samples_.end(), from,
                             [](const ProbeSample& x, Duration t) { return x.t < t; });
  return std::vector<ProbeSample>(it, samples_.end());
}

}  // namespace chaos
