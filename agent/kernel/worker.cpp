#include "kernel/worker.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <new>
#include <thread>
#include <utility>

namespace chaos {

namespace {

// Child side, right after fork(). Only async-signal-safe calls until the body runs, and never a
// return into the parent's stack: every path ends in _exit().
[[noreturn]] void child_main(pid_t parent, int gate_fd, WorkerShared* shared,
                             const WorkerOptions& opts, const Worker::Body& body) {
  // The kernel kills us when the thread that forked us dies. Checking the parent afterwards
  // closes the race where it died before prctl().
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != parent) ::_exit(120);

  // The agent's signal handling (blocked signals, handlers) must not leak into the worker:
  // SIGTERM and SIGINT should simply kill it. Every inherited fd but stdio and the gate goes: the
  // agent's sockets, journal and BPF link fds must not be kept alive by a worker.
  if (fork_child_reset(gate_fd) != 0) ::_exit(121);
  gate_fd = 3;

  if (!opts.name.empty()) ::prctl(PR_SET_NAME, opts.name.c_str(), 0, 0, 0);

  // The lease: the kernel delivers SIGKILL at the deadline unless checkpoint() moves it.
  timer_t timer{};
  struct sigevent ev{};
  ev.sigev_notify = SIGEV_SIGNAL;
  ev.sigev_signo = SIGKILL;
  if (::timer_create(CLOCK_MONOTONIC, &ev, &timer) != 0) ::_exit(122);
  WorkerControl ctl(shared, &timer);
  if (!ctl.checkpoint()) ::_exit(123);

  // At the gate the agent is still setting up (journal fsyncs, cgroup, oom_score_adj): its
  // renewals count here too, re-armed every 10ms, so a slow disk before release() cannot use up
  // the lease. A hung agent stops renewing, and the timer kills the gated child as ever (its
  // SIGKILL, not a check of ours that might see the deadline first, ends it).
  char go = 0;
  ssize_t n = -1;
  for (;;) {
    pollfd p{gate_fd, POLLIN, 0};
    int r = ::poll(&p, 1, 10);
    if (r < 0 && errno != EINTR) break;
    if (r > 0) {
      do {
        n = ::read(gate_fd, &go, 1);
      } while (n < 0 && errno == EINTR);
      break;
    }
    (void)ctl.checkpoint();
  }
  if (n != 1) ::_exit(124);  // the agent closed the gate without releasing: abort
  ::close(gate_fd);
  // The body starts on the lease the agent renewed last before release(); its own checkpoint()
  // says whether that has run out.
  (void)ctl.checkpoint();

  int rc = 125;
  try {
    rc = body(ctl);
  } catch (...) {
    rc = 125;
  }
  ::_exit(rc);
}

}  // namespace

std::uint64_t monotonic_ns() {
  struct timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

bool WorkerControl::checkpoint() {
  std::uint64_t d = shared_->deadline_ns.load(std::memory_order_acquire);
  if (shared_->stop.load(std::memory_order_acquire) != 0) return false;
  if (d != armed_) {
    struct itimerspec its{};
    its.it_value.tv_sec = static_cast<time_t>(d / 1000000000ull);
    its.it_value.tv_nsec = static_cast<long>(d % 1000000000ull);
    // An absolute time already past fires at once: the lease has lapsed.
    if (::timer_settime(*static_cast<timer_t*>(timer_), TIMER_ABSTIME, &its, nullptr) != 0) return false;
    armed_ = d;
  }
  return monotonic_ns() < d;
}

Result<Worker> Worker::spawn(const WorkerOptions& opts, Body body) {
  if (opts.deadline_ns <= monotonic_ns()) return fail("worker " + opts.name + ": lease deadline already past", EINVAL);
  void* page = ::mmap(nullptr, sizeof(WorkerShared), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return fail_errno("worker " + opts.name + ": map shared page");
  Worker w;
  w.shared_ = new (page) WorkerShared{};
  w.shared_->deadline_ns.store(opts.deadline_ns);
  int gate[2];
  if (::pipe2(gate, O_CLOEXEC) != 0) return fail_errno("worker " + opts.name + ": gate pipe");
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(gate[0]);
    ::close(gate[1]);
    return fail("worker " + opts.name + ": fork", e);
  }
  if (pid == 0) {
    ::close(gate[1]);
    child_main(parent, gate[0], w.shared_, opts, body);
  }
  ::close(gate[0]);
  w.gate_fd_ = gate[1];
  w.id_.pid = pid;
  // Our unreaped child: its pid cannot be reused yet, so this start time is its own.
  auto st = proc_start_time(pid);
  if (!st) {
    auto e = st.error();
    (void)w.kill_and_reap();
    return wrap(e, "worker " + opts.name + ": read start time of pid " + std::to_string(pid));
  }
  w.id_.start_time = *st;
  return w;
}

Worker::Worker(Worker&& o) noexcept
    : id_(std::exchange(o.id_, {})),
      shared_(std::exchange(o.shared_, nullptr)),
      gate_fd_(std::exchange(o.gate_fd_, -1)),
      status_(std::exchange(o.status_, std::nullopt)) {}

Worker& Worker::operator=(Worker&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = std::exchange(o.id_, {});
    shared_ = std::exchange(o.shared_, nullptr);
    gate_fd_ = std::exchange(o.gate_fd_, -1);
    status_ = std::exchange(o.status_, std::nullopt);
  }
  return *this;
}

Worker::~Worker() { reset(); }

void Worker::reset() {
  if (id_.pid > 0 && !status_) (void)kill_and_reap();
  if (gate_fd_ >= 0) ::close(gate_fd_);
  if (shared_) ::munmap(shared_, sizeof(WorkerShared));
  gate_fd_ = -1;
  shared_ = nullptr;
  id_ = {};
  status_.reset();
}

Result<void> Worker::release() {
  if (gate_fd_ < 0) return fail("worker " + std::to_string(id_.pid) + ": already released", EALREADY);
  char go = 'g';
  ssize_t n;
  do {
    n = ::write(gate_fd_, &go, 1);
  } while (n < 0 && errno == EINTR);
  int e = errno;
  ::close(gate_fd_);
  gate_fd_ = -1;
  if (n != 1) return fail("worker " + std::to_string(id_.pid) + ": release", e == 0 ? EPIPE : e);
  return {};
}

void Worker::renew(std::uint64_t deadline_ns) {
  if (shared_) shared_->deadline_ns.store(deadline_ns, std::memory_order_release);
}

void Worker::request_stop() {
  if (shared_) shared_->stop.store(1, std::memory_order_release);
}

std::optional<int> Worker::poll() {
  if (status_ || id_.pid <= 0) return status_;
  int st = 0;
  pid_t r;
  do {
    r = ::waitpid(id_.pid, &st, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == id_.pid) status_ = st;
  else if (r < 0 && errno == ECHILD) status_ = 0;  // reaped elsewhere (SIGCHLD ignored): it is gone
  return status_;
}

Result<void> Worker::kill_and_reap(std::chrono::milliseconds timeout) {
  if (id_.pid <= 0 || poll()) return {};
  // Still our unreaped child, so the pid is still its own: a plain kill() is safe here.
  if (::kill(id_.pid, SIGKILL) != 0 && errno != ESRCH) return fail_errno("kill worker " + std::to_string(id_.pid));
  auto until = std::chrono::steady_clock::now() + timeout;
  // A task killed inside memory reclaim can take a moment to exit; never block the agent on it.
  while (!poll()) {
    if (std::chrono::steady_clock::now() >= until)
      return fail("worker " + std::to_string(id_.pid) + ": not reaped after SIGKILL", ETIMEDOUT);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return {};
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exited " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* name = ::sigabbrev_np(WTERMSIG(status));
    return std::string("killed by SIG") + (name ? name : std::to_string(WTERMSIG(status)).c_str());
  }
  return "status " + std::to_string(status);
}

std::string Worker::describe_status() const {
  return status_ ? describe_wait_status(*status_) : std::string("running");
}

}  // namespace chaos
