// The probes' shared scheduler: open loop, so a stalled target shows up as errors at the true
// rate (no coordinated omission) and recovery is seen within one interval of happening.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "observe/probe.h"

namespace chaos {

// Starts request(t) every `interval` (t: the run clock at the start) on a short-lived thread
// created from the calling thread, so each request runs in the namespace the caller entered.
// At most max_inflight run at once; past that, saturated(t) is called instead. Returns once
// `stop` is set, after joining every request.
void run_open_loop(const RunClock& clock, Duration interval, const std::atomic<bool>& stop,
                   const std::function<void(Duration t)>& request,
                   const std::function<void(Duration t, std::size_t max_inflight)>& saturated,
                   std::size_t max_inflight = 64);

// The body the open-loop probes share (http, tcp, prometheus, etcdWriter): a thread that enters the probe's
// namespace and runs run_open_loop(), samples kept in start-time order (requests finish out of
// order), failures to enter the namespace and saturation recorded as failed samples.
class OpenLoopProbe : public Probe {
 public:
  ~OpenLoopProbe() override;
  Result<void> start(RunClock clock) override;
  void stop() override;
  std::vector<ProbeSample> samples() const override;
  std::vector<ProbeSample> samples_since(Duration from) const override;

 protected:
  // what: "requests", "puts" (for the saturation message).
  OpenLoopProbe(Duration interval, std::string what) : interval_(interval), what_(std::move(what)) {}
  // Where the requests come from (plan() sets it; "" = the agent's own namespace).
  void set_netns(std::string path) { netns_path_ = std::move(path); }
  const std::string& netns_path() const { return netns_path_; }
  // One request, started at t; runs on its own thread inside the namespace. Subclasses call
  // record() (or record_locked() with mu_ held) with its sample.
  virtual void fire(Duration t) = 0;
  void record(const ProbeSample& s);
  void record_locked(const ProbeSample& s);
  // Guards the samples; a subclass may keep its own state under it too (record_locked).
  mutable std::mutex mu_;

 private:
  void loop(RunClock clock);

  Duration interval_;
  std::string what_;
  std::string netns_path_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<ProbeSample> samples_;  // ordered by t
  std::uint64_t recorded_ = 0;        // the last seq given
};

}  // namespace chaos
