// Time for the runner's timeline. The real clock waits on a condition variable (so halt wakes it);
// the fake clock jumps straight to the wake-up time so timeline tests run instantly.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace chaos {

class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual time_point now() = 0;
  // CLOCK_MONOTONIC in ns: the clock BPF programs and workers compare lease deadlines with.
  virtual std::uint64_t mono_ns() = 0;
  // Waits until `until` or until cv is notified (spurious wake-ups are fine: callers loop).
  virtual void wait_until(std::unique_lock<std::mutex>& lk, std::condition_variable& cv, time_point until) = 0;
};

class RealClock : public Clock {
 public:
  time_point now() override { return std::chrono::steady_clock::now(); }
  std::uint64_t mono_ns() override;
  void wait_until(std::unique_lock<std::mutex>& lk, std::condition_variable& cv, time_point until) override {
    cv.wait_until(lk, until);
  }
};

class FakeClock : public Clock {
 public:
  time_point now() override { return now_; }
  std::uint64_t mono_ns() override {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now_.time_since_epoch()).count()) + skew_ns_;
  }
  void wait_until(std::unique_lock<std::mutex>&, std::condition_variable&, time_point until) override {
    if (until > now_) now_ = until;
  }
  void advance(std::chrono::nanoseconds d) { now_ += d; }
  // Moves the monotonic clock alone, as a SIGSTOP'd process sees it after SIGCONT.
  void skew(std::chrono::nanoseconds d) { skew_ns_ += static_cast<std::uint64_t>(d.count()); }

 private:
  time_point now_{std::chrono::seconds(1000)};
  std::uint64_t skew_ns_ = 0;
};

}  // namespace chaos
