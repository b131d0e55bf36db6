#include "observe/open_loop.h"

#include <algorithm>
#include <memory>
#include <thread>
#include <vector>

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

}  // namespace chaos
