// Supervised worker processes: a forked child that runs one function and can never outlive the
// agent. Three independent ways it stops:
//   1. the agent kills and reaps it (Worker::kill_and_reap, also the destructor);
//   2. PR_SET_PDEATHSIG(SIGKILL): the kernel kills it when the agent dies;
//   3. its own lease: a CLOCK_MONOTONIC POSIX timer in the child that delivers SIGKILL at the lease
//      deadline. The agent renews by storing a later deadline in a shared page; the child re-arms
//      the timer from that page at every checkpoint(). A hung agent stops renewing, a hung child
//      stops re-arming: either way the kernel kills the child at the last deadline.
//
// Identity: a pid alone can be reused, so the journal records pid + start time (ProcessIdentity,
// kernel/process.h). kill_if_same() checks both through a pidfd, which pins the process, so it
// can never signal a stranger that inherited the pid.
//
// The child is a fork of the agent (no exec). It is held at a gate until release(), so the parent
// can journal its identity, move it into a cgroup and set its oom_score_adj before it does
// anything; renew() works at the gate too (the child re-arms its timer while it waits). In the child only the forking thread exists: the body must not take locks another
// agent thread might have held at fork time (no logging; malloc is safe with glibc).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "kernel/process.h"

namespace chaos {

// CLOCK_MONOTONIC now, in ns (the clock leases are expressed in).
std::uint64_t monotonic_ns();

// The page shared between the agent and one worker. Plain atomics on a MAP_SHARED page.
struct WorkerShared {
  std::atomic<std::uint64_t> deadline_ns;  // CLOCK_MONOTONIC lease deadline
  std::atomic<std::uint32_t> stop;         // cooperative stop request
  std::atomic<std::uint32_t> phase;        // body-defined progress marker
  std::atomic<std::uint64_t> counters[8];  // body-defined counters the agent samples
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

// What the body sees in the child.
class WorkerControl {
 public:
  explicit WorkerControl(WorkerShared* shared, void* timer) : shared_(shared), timer_(timer) {}
  // Re-arms the lease timer from the shared deadline. Returns false when the agent asked the
  // worker to stop or the lease has already expired: the body should return then.
  // Call at least a few times per lease period; a body that does not is killed at the deadline.
  bool checkpoint();
  WorkerShared& shared() { return *shared_; }

 private:
  WorkerShared* shared_;
  void* timer_;  // timer_t
  std::uint64_t armed_ = 0;
};

struct WorkerOptions {
  std::string name;  // the child's comm (15 chars shown by ps)
  std::uint64_t deadline_ns = 0;  // initial lease deadline, CLOCK_MONOTONIC
};

class Worker {
 public:
  // The body runs in the child after release(); its return value is the exit status.
  using Body = std::function<int(WorkerControl&)>;

  // Forks the child and leaves it waiting at the gate (already under PDEATHSIG and its lease).
  static Result<Worker> spawn(const WorkerOptions& opts, Body body);

  Worker(Worker&& other) noexcept;
  Worker& operator=(Worker&& other) noexcept;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  ~Worker();  // kills and reaps the child if it is still there

  pid_t pid() const { return id_.pid; }
  const ProcessIdentity& identity() const { return id_; }
  WorkerShared& shared() { return *shared_; }
  const WorkerShared& shared() const { return *shared_; }

  // Opens the gate: the body starts. EPIPE-like errors when the child died meanwhile.
  Result<void> release();
  // Moves the lease deadline (CLOCK_MONOTONIC ns).
  void renew(std::uint64_t deadline_ns);
  // Asks the body to return at its next checkpoint.
  void request_stop();

  // Reaps the child when it has exited. Returns its wait status once it has (and from then on).
  std::optional<int> poll();
  bool exited() const { return status_.has_value(); }
  std::optional<int> status() const { return status_; }

  // SIGKILL and reap. Idempotent. ETIMEDOUT if the child could not be reaped within timeout
  // (it stays owned; call again).
  Result<void> kill_and_reap(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // "exited 0", "killed by SIGKILL", "running".
  std::string describe_status() const;

 private:
  Worker() = default;
  void reset();

  ProcessIdentity id_;
  WorkerShared* shared_ = nullptr;
  int gate_fd_ = -1;  // write end of the gate pipe
  std::optional<int> status_;
};

// "exited 3", "killed by SIGKILL".
std::string describe_wait_status(int status);

}  // namespace chaos
