// kernel/process.h: the one /proc/PID/stat parser, process identity, and the one way to start a
// daemon (the lab's HTTP responder and etcd members) or a short command. No root needed: every
// daemon here runs in the test's own namespace, and each test kills and waits for what it started.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/files.h"
#include "kernel/process.h"

namespace chaos {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// ---- /proc/PID/stat

TEST(ProcStat, ParsesTheFieldsAroundACommWithSpacesAndParentheses) {
  // comm is whatever the process named itself: ") S 1 " inside it must not end it.
  const std::string stat =
      "4242 (a) S 1 (b c) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615\n";
  auto st = parse_proc_stat(stat);
  ASSERT_TRUE(st) << st.error().text();
  EXPECT_EQ(st->pid, 4242);
  EXPECT_EQ(st->comm, "a) S 1 (b c");
  EXPECT_EQ(st->state, 'S');
  EXPECT_EQ(st->ppid, 17);
  EXPECT_EQ(st->start_time, 987654u);

  auto empty_comm = parse_proc_stat("7 () Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55");
  ASSERT_TRUE(empty_comm) << empty_comm.error().text();
  EXPECT_EQ(empty_comm->comm, "");
  EXPECT_EQ(empty_comm->state, 'Z');
  EXPECT_EQ(empty_comm->start_time, 55u);
}

TEST(ProcStat, RefusesWhatIsNotAStatLine) {
  for (const char* bad : {
           "",
           "123 (x) S 1 2",                                                  // too few fields
           "123 x S 1 123 123 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",             // no (comm)
           "12a (x) S 1 123 123 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",           // pid
           "123 (x) S one 123 123 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",         // ppid
           "123 (x) S 1 123 123 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -5",          // start time
           "123 (x) SS 1 123 123 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",          // state
       }) {
    auto st = parse_proc_stat(bad);
    ASSERT_FALSE(st) << "\"" << bad << "\" parsed";
    EXPECT_EQ(st.error().code, EINVAL) << bad;
  }
}

TEST(ProcStat, ReadsThisProcessAndNotOneThatIsGone) {
  auto st = read_proc_stat(::getpid());
  ASSERT_TRUE(st) << st.error().text();
  EXPECT_EQ(st->pid, ::getpid());
  EXPECT_EQ(st->ppid, ::getppid());
  EXPECT_EQ(st->comm, process_comm(::getpid()).value_or("?"));
  EXPECT_GT(st->start_time, 0u);
  EXPECT_EQ(proc_start_time(::getpid()).value_or(0), st->start_time);

  auto gone = read_proc_stat(0x3ffffff);  // above pid_max's ceiling: never a process
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ENOENT);
  EXPECT_EQ(proc_start_time(0x3ffffff).error().code, ENOENT);
}

TEST(ProcStat, AProcessNamedWithSpacesAndParenthesesReadsBack) {
  int named[2], hold[2];  // child -> parent: "named now"; parent -> child: EOF lets it go
  ASSERT_EQ(::pipe(named), 0);
  ASSERT_EQ(::pipe(hold), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(named[0]);
    ::close(hold[1]);
    ::prctl(PR_SET_NAME, "x) (y z", 0, 0, 0);
    (void)!::write(named[1], "n", 1);
    char c;
    (void)!::read(hold[0], &c, 1);  // until the parent closes its end
    ::_exit(0);
  }
  ::close(named[1]);
  ::close(hold[0]);
  char c;
  ASSERT_EQ(::read(named[0], &c, 1), 1);
  auto st = read_proc_stat(child);
  ::close(hold[1]);
  ::waitpid(child, nullptr, 0);
  ::close(named[0]);
  ASSERT_TRUE(st) << st.error().text();
  EXPECT_EQ(st->comm, "x) (y z");
  EXPECT_EQ(st->ppid, ::getpid());
}

TEST(ProcessIdentity, JsonRoundTripAndLiveness) {
  auto self = ProcessIdentity{::getpid(), *proc_start_time(::getpid())};
  auto back = ProcessIdentity::from_json(self.to_json());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->pid, self.pid);
  EXPECT_EQ(back->start_time, self.start_time);
  EXPECT_TRUE(process_alive(self));
  EXPECT_FALSE(process_alive({self.pid, self.start_time + 1})) << "same pid, another start: someone else";
  EXPECT_FALSE(ProcessIdentity::from_json({{"pid", 5}}));
  EXPECT_FALSE(ProcessIdentity::from_json({{"pid", 5}, {"start_time", -1}}));
}

// ---- daemons

// Processes (not zombies) whose comm is `comm`.
std::vector<pid_t> live_with_comm(const std::string& comm) {
  std::vector<pid_t> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    std::string n = e.path().filename();
    if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos) continue;
    auto st = read_proc_stat(std::stoi(n));
    if (st && st->comm == comm && st->state != 'Z' && st->state != 'X') out.push_back(st->pid);
  }
  return out;
}

class Daemon : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/chaos-process-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const auto& id : started_) {
      (void)kill_if_same(id, SIGKILL);
      EXPECT_TRUE(wait_gone(id, 5s)) << "daemon " << id.pid << " outlived its test";
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  // Remembered at once, so TearDown stops it whatever the test does next.
  ProcessIdentity track(pid_t pid) {
    ProcessIdentity id{pid, proc_start_time(pid).value_or(0)};
    started_.push_back(id);
    return id;
  }
  std::string log() const { return dir_ + "/daemon.log"; }
  // The log once it holds `what` (a daemon writes on its own time).
  std::string log_with(const std::string& what) const {
    std::string text;
    for (auto until = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < until;) {
      text = read_file(log()).value_or("");
      if (text.find(what) != std::string::npos) break;
      std::this_thread::sleep_for(10ms);
    }
    return text;
  }
  DaemonOptions opts(const std::string& name) const {
    DaemonOptions o;
    o.name = name;
    o.log_path = log();
    return o;
  }

  std::string dir_;
  std::vector<ProcessIdentity> started_;
};

TEST_F(Daemon, ExecRunsDetachedInItsOwnSessionWithExactlyTheGivenEnvironment) {
  ::setenv("CHAOS_TEST_LEAK", "leaked", 1);
  auto pid = spawn_daemon(opts("test-exec"),
                          {"/bin/sh", "-c", "echo env=$FOO leak=$CHAOS_TEST_LEAK cwd=$(pwd) umask=$(umask); exec sleep 30"},
                          {"FOO=bar", "PATH=/usr/bin:/bin"});
  ::unsetenv("CHAOS_TEST_LEAK");
  ASSERT_TRUE(pid) << pid.error().text();
  auto id = track(*pid);
  EXPECT_TRUE(process_alive(id));
  std::string text = log_with("umask=");
  EXPECT_THAT(text, HasSubstr("env=bar leak= cwd=/ umask=0022")) << text;

  auto st = read_proc_stat(*pid);
  ASSERT_TRUE(st);
  EXPECT_NE(st->ppid, ::getpid()) << "reparented: never this process's zombie";
  EXPECT_NE(::getsid(*pid), ::getsid(0)) << "a session of its own";
  EXPECT_NE(::getsid(*pid), *pid) << "not a session leader: it can never take a controlling terminal";
}

TEST_F(Daemon, FunctionKeepsNoFdNoHandlerNoMaskOfTheCaller) {
  // Something to leak: an fd without close-on-exec, a handler, a blocked signal.
  int leak = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(leak, 0);
  struct sigaction handler{}, old_usr1{};
  handler.sa_handler = [](int) {};
  ::sigaction(SIGUSR1, &handler, &old_usr1);
  sigset_t usr2, old_mask;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  ::pthread_sigmask(SIG_BLOCK, &usr2, &old_mask);

  auto pid = spawn_daemon(opts("chaos-t-fn"), [](DaemonReady& ready) -> int {
    ready.ok();
    std::string fds;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
      std::string n = e.path().filename();
      std::error_code ec;
      // The iterator's own directory fd is the one that points at /proc/self/fd.
      if (std::filesystem::read_symlink(e.path(), ec).string().find("/fd") == std::string::npos) fds += " " + n;
    }
    struct sigaction now{};
    ::sigaction(SIGUSR1, nullptr, &now);
    struct sigaction hup{};
    ::sigaction(SIGHUP, nullptr, &hup);
    sigset_t mask;
    ::sigprocmask(SIG_SETMASK, nullptr, &mask);
    dprintf(STDERR_FILENO, "fds:%s usr1 %s hup %s usr2 %s\n", fds.c_str(),
            now.sa_handler == SIG_DFL ? "default" : "inherited", hup.sa_handler == SIG_IGN ? "ignored" : "not ignored",
            sigismember(&mask, SIGUSR2) ? "blocked" : "unblocked");
    ::pause();
    return 0;
  });
  ::close(leak);
  ::sigaction(SIGUSR1, &old_usr1, nullptr);
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ASSERT_TRUE(pid) << pid.error().text();
  track(*pid);
  EXPECT_EQ(process_comm(*pid).value_or(""), "chaos-t-fn");
  std::string text = log_with("usr2");
  EXPECT_THAT(text, HasSubstr("fds: 0 1 2 usr1 default hup ignored usr2 unblocked")) << text;
}

TEST_F(Daemon, AFailedStepComesBackWithItsErrno) {
  auto missing = spawn_daemon(opts("test-missing"), {"/nonexistent/chaos-test-prog"}, {});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_THAT(missing.error().message, HasSubstr("exec /nonexistent/chaos-test-prog"));

  auto o = opts("test-netns");
  o.netns_path = "/run/netns/chaos-unit-no-such-netns";
  auto no_ns = spawn_daemon(o, {"/bin/true"}, {});
  ASSERT_FALSE(no_ns);
  EXPECT_EQ(no_ns.error().code, ENOENT);
  EXPECT_THAT(no_ns.error().message, HasSubstr("open the netns"));

  auto o2 = opts("test-log");
  o2.log_path = dir_ + "/no/such/dir/log";
  auto no_log = spawn_daemon(o2, {"/bin/true"}, {});
  ASSERT_FALSE(no_log);
  EXPECT_EQ(no_log.error().code, ENOENT);
  EXPECT_THAT(no_log.error().message, HasSubstr("open the log"));

  auto relative = spawn_daemon(opts("test-rel"), {"true"}, {});
  ASSERT_FALSE(relative);
  EXPECT_EQ(relative.error().code, EINVAL);
}

TEST_F(Daemon, TheBodysOwnFailureIsTheErrorAndIsLogged) {
  auto r = spawn_daemon(opts("chaos-t-bind"), [](DaemonReady& ready) -> int {
    ready.fail(EADDRINUSE, "bind 198.18.0.20:8080");
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EADDRINUSE);
  EXPECT_THAT(r.error().message, HasSubstr("chaos-t-bind: bind 198.18.0.20:8080"));
  EXPECT_THAT(log_with("bind"), HasSubstr("chaos-t-bind: bind 198.18.0.20:8080: Address already in use"));
}

TEST_F(Daemon, NotReadyIsAnErrorAndTheDaemonIsKilled) {
  auto quits = spawn_daemon(opts("chaos-t-quit"), [](DaemonReady&) -> int { return 3; });
  ASSERT_FALSE(quits);
  EXPECT_EQ(quits.error().code, ECHILD);
  EXPECT_THAT(quits.error().message, HasSubstr("exited before it was ready"));

  auto o = opts("chaos-t-slow");
  o.ready_timeout = 300ms;
  auto slow = spawn_daemon(o, [](DaemonReady&) -> int {
    ::sleep(30);
    return 0;
  });
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error().code, ETIMEDOUT);
  // The SIGKILL went out before spawn_daemon() returned: whatever runs under that name is dying.
  std::vector<pid_t> left;
  for (auto until = std::chrono::steady_clock::now() + 5s;;) {
    left = live_with_comm("chaos-t-slow");
    if (left.empty() || std::chrono::steady_clock::now() >= until) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(left.empty()) << "a daemon that never became ready is still running (pid " << left.front() << ")";
}

TEST(RunCapture, ReturnsStdoutAndRefusesAFailure) {
  auto out = run_capture({"/bin/sh", "-c", "echo out; echo err >&2"});
  ASSERT_TRUE(out) << out.error().text();
  EXPECT_EQ(*out, "out\n");
  auto failed = run_capture({"/bin/sh", "-c", "exit 3"});
  ASSERT_FALSE(failed);
  EXPECT_THAT(failed.error().message, HasSubstr("exit status 3"));
  EXPECT_FALSE(run_capture({"/nonexistent/chaos-test-prog"}));
  EXPECT_FALSE(run_capture({"sh"}));
}

}  // namespace
}  // namespace chaos
