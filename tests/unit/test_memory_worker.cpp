// The supervised worker on the real kernel (no root needed): the gate, the lease timer, renewal,
// PDEATHSIG when the parent is SIGKILLed, fd hygiene, and identity-checked kills.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "kernel/worker.h"

namespace chaos {
namespace {

using namespace std::chrono_literals;

std::uint64_t in_ms(int ms) { return monotonic_ns() + static_cast<std::uint64_t>(ms) * 1000000ull; }

// A body that holds until told to stop, reporting its open fd count. It keeps re-arming the lease
// timer but ignores a lapse (checkpoint() returning false without a stop request): only the kernel
// timer's SIGKILL can end it then, so "killed by SIGKILL" does not race a clean return.
int holder(WorkerControl& ctl) {
  int fds = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)e;
    ++fds;
  }
  ctl.shared().counters[0].store(static_cast<std::uint64_t>(fds));
  ctl.shared().phase.store(1);
  for (;;) {
    ctl.checkpoint();
    if (ctl.shared().stop.load() != 0) return 7;
    std::this_thread::sleep_for(5ms);
  }
}

// Returns as soon as pred holds: the generous timeouts below cost nothing when it does.
bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

// Tests that end the worker themselves give it a 60 s lease, so that its lapse cannot interfere.
TEST(Worker, GateHoldsUntilReleaseAndStopEndsTheBody) {
  auto w = Worker::spawn({"chaos-test-wkr", in_ms(60000)}, holder);
  ASSERT_TRUE(w) << w.error().text();
  EXPECT_TRUE(process_alive(w->identity()));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(w->shared().phase.load(), 0u) << "the body ran before release()";
  EXPECT_EQ(process_comm(w->pid()).value_or(""), "chaos-test-wkr");
  ASSERT_TRUE(w->release());
  ASSERT_TRUE(wait_for([&] { return w->shared().phase.load() == 1; }, 30s));
  w->request_stop();
  ASSERT_TRUE(wait_for([&] { return w->poll().has_value(); }, 30s));
  EXPECT_EQ(w->describe_status(), "exited 7");
}

TEST(Worker, InheritsNoFdsButStdio) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);  // not CLOEXEC: a plain fork would pass it on
  auto w = Worker::spawn({"chaos-test-wkr", in_ms(60000)}, holder);
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->release());
  ASSERT_TRUE(wait_for([&] { return w->shared().phase.load() == 1; }, 30s));
  // stdin, stdout, stderr and the directory being listed.
  EXPECT_LE(w->shared().counters[0].load(), 4u);
  ::close(p[0]);
  ::close(p[1]);
}

// Leases of 2 s: the fork and release() must fit inside the first one on a loaded machine (a child
// whose lease ran out at the gate makes release() fail). Nothing but the lease ends these workers,
// so their death is bounded by the deadline below (never before it) and, generously, above.
TEST(Worker, DiesAtItsLeaseDeadlineWithoutTheAgent) {
  const std::uint64_t deadline = in_ms(2000);
  auto w = Worker::spawn({"chaos-test-wkr", deadline}, holder);
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->release());
  ASSERT_TRUE(wait_for([&] { return w->poll().has_value(); }, 30s));
  const std::uint64_t seen = monotonic_ns();
  // Killed by the kernel timer (SIGKILL): the holder never returns on a lapse.
  EXPECT_EQ(w->describe_status(), "killed by SIGKILL");
  EXPECT_GE(seen, deadline) << "killed before its lease ran out";
  EXPECT_LT(seen, deadline + 10'000'000'000ull);
}

TEST(Worker, HungBodyIsStillKilledAtTheDeadline) {
  // A body that never calls checkpoint() again (stuck, e.g. in the kernel): the timer fires anyway.
  const std::uint64_t deadline = in_ms(2000);
  auto w = Worker::spawn({"chaos-test-wkr", deadline}, [](WorkerControl&) {
    for (;;) ::pause();
    return 0;
  });
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->release());
  ASSERT_TRUE(wait_for([&] { return w->poll().has_value(); }, 30s));
  EXPECT_EQ(w->describe_status(), "killed by SIGKILL");
  EXPECT_GE(monotonic_ns(), deadline) << "killed before its lease ran out";
}

TEST(Worker, RenewalKeepsItAlive) {
  // Renewed every 100 ms, each time 1 s ahead: the worker and this thread each have 900 ms to be
  // scheduled. 3 s of renewals outlive the first lease by construction.
  const auto started = std::chrono::steady_clock::now();
  const std::uint64_t first_deadline = in_ms(1000);
  auto w = Worker::spawn({"chaos-test-wkr", first_deadline}, holder);
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->release());
  while (std::chrono::steady_clock::now() - started < 3s) {
    w->renew(in_ms(1000));
    std::this_thread::sleep_for(100ms);
    ASSERT_FALSE(w->poll()) << "died while renewed: " << w->describe_status();
  }
  ASSERT_GT(monotonic_ns(), first_deadline + 1'000'000'000ull);
  ASSERT_TRUE(wait_for([&] { return w->poll().has_value(); }, 30s));  // renewals stop: it dies
  EXPECT_EQ(w->describe_status(), "killed by SIGKILL");
}

TEST(Worker, SigkilledParentTakesTheWorkerWithIt) {
  int ids[2];
  ASSERT_EQ(::pipe(ids), 0);
  // Orphans come to us rather than to PID 1, so the dead worker is reaped here, not left a zombie.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  pid_t agent = ::fork();
  ASSERT_GE(agent, 0);
  if (agent == 0) {
    // The "agent": a long lease, so only PDEATHSIG can end the worker quickly.
    auto w = Worker::spawn({"chaos-test-wkr", in_ms(60000)}, holder);
    if (!w || !w->release()) ::_exit(1);
    ProcessIdentity id = w->identity();
    (void)!::write(ids[1], &id, sizeof id);
    for (;;) ::pause();
  }
  ::close(ids[1]);
  ProcessIdentity id{};
  ASSERT_EQ(::read(ids[0], &id, sizeof id), static_cast<ssize_t>(sizeof id));
  ::close(ids[0]);
  ASSERT_TRUE(process_alive(id));
  ::kill(agent, SIGKILL);
  ::waitpid(agent, nullptr, 0);
  // Anything well below the 60 s lease proves PDEATHSIG did it.
  EXPECT_TRUE(wait_gone(id, 15s)) << "worker " << id.pid << " outlived its SIGKILLed parent";
  ::waitpid(id.pid, nullptr, 0);
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST(Worker, KillIfSameChecksTheStartTime) {
  auto w = Worker::spawn({"chaos-test-wkr", in_ms(60000)}, holder);
  ASSERT_TRUE(w);
  ProcessIdentity wrong = w->identity();
  wrong.start_time += 1;
  auto r = kill_if_same(wrong, SIGKILL);
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
  EXPECT_TRUE(process_alive(w->identity()));
  auto ok = kill_if_same(w->identity(), SIGKILL);
  ASSERT_TRUE(ok);
  EXPECT_TRUE(*ok);
  ASSERT_TRUE(w->kill_and_reap());
  EXPECT_FALSE(process_alive(w->identity()));
  EXPECT_FALSE(*kill_if_same(w->identity(), SIGKILL));  // gone: nothing to do, not an error
}

TEST(Worker, DestructorKillsAndReaps) {
  ProcessIdentity id;
  {
    auto w = Worker::spawn({"chaos-test-wkr", in_ms(60000)}, holder);
    ASSERT_TRUE(w);
    ASSERT_TRUE(w->release());
    id = w->identity();
  }
  EXPECT_FALSE(process_alive(id));
  EXPECT_EQ(::waitpid(id.pid, nullptr, WNOHANG), -1);  // already reaped
}

TEST(Worker, RefusesALeaseAlreadyPast) {
  auto w = Worker::spawn({"chaos-test-wkr", monotonic_ns() - 1}, holder);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code, EINVAL);
}

// Renewals count while the child waits at the gate (the agent journals with fsyncs before it
// releases the hog): three times its first lease at the gate, renewed, and it is still there.
// A gated child nobody renews still dies at its deadline.
TEST(Worker, RenewalsCountAtTheGate) {
  auto w = Worker::spawn({"chaos-test-wkr", in_ms(1000)}, holder);
  ASSERT_TRUE(w);
  for (auto until = std::chrono::steady_clock::now() + 3s; std::chrono::steady_clock::now() < until;) {
    w->renew(in_ms(1000));  // ten renewal periods ahead: the test thread may be late
    std::this_thread::sleep_for(100ms);
    ASSERT_FALSE(w->poll()) << "died at the gate while renewed: " << w->describe_status();
  }
  EXPECT_EQ(w->shared().phase.load(), 0u) << "the body ran before release()";
  w->renew(in_ms(10000));
  ASSERT_TRUE(w->release()) << "the gated child is gone";
  ASSERT_TRUE(wait_for([&] { return w->shared().phase.load() == 1; }, 30s));
  w->request_stop();
  ASSERT_TRUE(wait_for([&] { return w->poll().has_value(); }, 30s));
  EXPECT_EQ(w->describe_status(), "exited 7");

  auto gated = Worker::spawn({"chaos-test-wkr", in_ms(300)}, holder);
  ASSERT_TRUE(gated);
  ASSERT_TRUE(wait_for([&] { return gated->poll().has_value(); }, 30s)) << "a gated child outlived its lease";
  EXPECT_EQ(gated->describe_status(), "killed by SIGKILL");
}

}  // namespace
}  // namespace chaos
