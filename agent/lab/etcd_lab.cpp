#include "lab/etcd_lab.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/log.h"
#include "lab/http_responder.h"
#include "kernel/netns.h"

namespace chaos {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono;

std::shared_ptr<spdlog::logger> lab_log() { return logger("lab"); }

struct SpawnMsg {
  int kind;   // 1: the member's pid, 2: errno of a failed step in the child
  int value;
  int step;   // 2: which step failed (for the message)
};

const char* step_name(int step) {
  switch (step) {
    case 1: return "open the netns";
    case 2: return "setns";
    case 3: return "fork";
    case 4: return "open the log";
    case 5: return "exec";
  }
  return "?";
}

// fork, setns into the member's namespace, setsid, fork again (reparented to init: never the
// caller's zombie, and it outlives chaosctl), stdout/stderr to the log, exec etcd. Only
// async-signal-safe calls between fork and exec; everything is prepared before.
Result<pid_t> spawn_member(const std::string& netns_path, const std::string& log_path,
                           const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // A small, fixed environment: nothing of the caller's leaks into the member.
  const char* envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "GOMAXPROCS=2", nullptr};

  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return fail_errno("etcd: pipe");
  pid_t mid = fork();
  if (mid < 0) {
    auto e = fail_errno("etcd: fork");
    ::close(p[0]);
    ::close(p[1]);
    return e;
  }
  if (mid == 0) {
    ::close(p[0]);
    auto die = [&](int step) {
      SpawnMsg m{2, errno, step};
      (void)!::write(p[1], &m, sizeof m);
      _exit(1);
    };
    int ns = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0) die(1);
    if (setns(ns, CLONE_NEWNET) != 0) die(2);
    ::close(ns);
    setsid();
    pid_t d = fork();
    if (d < 0) die(3);
    if (d == 0) {
      int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (log < 0) die(4);
      int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (devnull >= 0) ::dup2(devnull, 0);
      ::dup2(log, 1);
      ::dup2(log, 2);
      // Keep only the error pipe (close-on-exec: EOF tells the caller exec worked).
      if (p[1] != 3) {
        ::dup2(p[1], 3);
        p[1] = 3;
      }
      ::fcntl(3, F_SETFD, FD_CLOEXEC);
      ::syscall(SYS_close_range, 4u, ~0u, 0u);
      signal(SIGHUP, SIG_IGN);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      ::execve(argv[0], argv.data(), const_cast<char* const*>(envp));
      die(5);
    }
    SpawnMsg m{1, d, 0};
    (void)!::write(p[1], &m, sizeof m);
    _exit(0);
  }
  ::close(p[1]);
  int st = 0;
  while (waitpid(mid, &st, 0) < 0 && errno == EINTR) {
  }
  pid_t member = -1;
  int err = 0, step = 0;
  while (true) {
    SpawnMsg m{};
    ssize_t n = ::read(p[0], &m, sizeof m);
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof m)) break;  // EOF: exec happened (or the child died)
    if (m.kind == 1) member = m.value;
    if (m.kind == 2) {
      err = m.value;
      step = m.step;
    }
  }
  ::close(p[0]);
  if (err != 0) {
    if (member > 0) kill(member, SIGKILL);
    return fail("etcd in " + netns_path + ": " + step_name(step) + (step == 5 ? " " + args[0] : ""), err);
  }
  if (member <= 0) return fail("etcd in " + netns_path + ": the launcher died", ECHILD);
  return member;
}

Result<void> write_text(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return fail_errno("write " + tmp);
    out << text;
    if (!out.flush()) return fail_errno("write " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail_errno("rename " + tmp);
  return {};
}

json to_json(const LabEtcdCluster& c) {
  json m = json::array();
  for (const auto& x : c.members)
    m.push_back({{"name", x.name}, {"host", x.host}, {"netns", x.netns}, {"clientURL", x.client_url},
                 {"peerURL", x.peer_url}, {"dataDir", x.data_dir}, {"log", x.log}, {"pid", x.pid}});
  return {{"lab", c.lab},
          {"members", m},
          {"heartbeat_ms", c.heartbeat.count()},
          {"electionTimeout_ms", c.election_timeout.count()},
          {"preVote", c.pre_vote},
          {"token", c.token},
          {"version", c.version}};
}

std::string etcd_version(const std::string& binary) {
  // The banner etcd prints for --version; read without a shell.
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return "";
  pid_t pid = fork();
  if (pid < 0) {
    ::close(p[0]);
    ::close(p[1]);
    return "";
  }
  if (pid == 0) {
    ::dup2(p[1], 1);
    int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) ::dup2(devnull, 2);
    const char* argv[] = {binary.c_str(), "--version", nullptr};
    ::execv(argv[0], const_cast<char* const*>(argv));
    _exit(127);
  }
  ::close(p[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = ::read(p[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(p[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  auto pos = out.find("etcd Version: ");
  if (pos == std::string::npos) return "";
  auto end = out.find('\n', pos);
  return out.substr(pos + 14, end == std::string::npos ? std::string::npos : end - pos - 14);
}

}  // namespace

std::vector<std::string> LabEtcdCluster::client_urls() const {
  std::vector<std::string> out;
  for (const auto& m : members) out.push_back(m.client_url);
  return out;
}

Result<LabEtcdCluster> lab_start_etcd(const LabInfo& lab, const LabEtcdOptions& opts) {
  std::string what = "lab " + lab.name + ": etcd";
  if (::access(opts.binary.c_str(), X_OK) != 0)
    return fail(what + ": " + opts.binary + " not found (scripts/install-deps.sh installs etcd-server)", ENOENT);
  std::vector<const LabHost*> hosts;
  for (const auto& h : lab.hosts)
    if (h.name.rfind("etcd", 0) == 0) hosts.push_back(&h);
  if (hosts.empty()) return fail(what + ": the lab has no etcd hosts (lab up --etcd K)", ENOENT);
  std::string conf = lab.state_dir + "/etcd.json";
  if (::access(conf.c_str(), F_OK) == 0) return fail(what + ": already started (" + conf + ")", EEXIST);

  // The members' data on a tmpfs of the lab's own: the sandbox's etcd stands in for a cluster
  // whose faults are the network's, and a write must not wait for a shared, busy disk's fsync
  // (seconds on a loaded machine) to be the steady state. lab down unmounts it.
  const std::string data_root = lab.state_dir + "/etcd-data";
  if (::mkdir(data_root.c_str(), 0700) != 0 && errno != EEXIST) return fail_errno(what + ": mkdir " + data_root);
  if (::mount("chaos-lab-etcd", data_root.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=512m,mode=0700") != 0)
    return fail_errno(what + ": mount a tmpfs on " + data_root);

  LabEtcdCluster c;
  c.lab = lab.name;
  c.heartbeat = opts.heartbeat;
  c.election_timeout = opts.election_timeout;
  c.pre_vote = opts.pre_vote;
  c.token = "chaos-lab-" + lab.name;
  c.version = etcd_version(opts.binary);
  std::string initial;
  for (const auto* h : hosts) {
    LabEtcdMember m;
    m.name = h->name;
    m.host = h->name;
    m.netns = h->netns;
    m.peer_url = "http://" + h->ipv4.ip() + ":" + std::to_string(opts.peer_port);
    m.client_url = "http://" + h->ipv4.ip() + ":" + std::to_string(opts.client_port);
    m.data_dir = data_root + "/" + h->name;
    m.log = lab.state_dir + "/" + h->name + ".log";
    initial += (initial.empty() ? "" : ",") + m.name + "=" + m.peer_url;
    c.members.push_back(m);
  }

  auto stop_started = [&] {
    for (auto& m : c.members)
      if (m.pid > 0) kill(m.pid, SIGKILL);
  };
  for (auto& m : c.members) {
    std::vector<std::string> args{opts.binary,
                                  "--name=" + m.name,
                                  "--data-dir=" + m.data_dir,
                                  "--listen-peer-urls=" + m.peer_url,
                                  "--initial-advertise-peer-urls=" + m.peer_url,
                                  "--listen-client-urls=" + m.client_url + ",http://127.0.0.1:" +
                                      std::to_string(opts.client_port),
                                  "--advertise-client-urls=" + m.client_url,
                                  "--initial-cluster=" + initial,
                                  "--initial-cluster-state=new",
                                  "--initial-cluster-token=" + c.token,
                                  "--heartbeat-interval=" + std::to_string(opts.heartbeat.count()),
                                  "--election-timeout=" + std::to_string(opts.election_timeout.count()),
                                  std::string("--pre-vote=") + (opts.pre_vote ? "true" : "false"),
                                  "--logger=zap",
                                  "--log-outputs=stderr"};
    auto pid = spawn_member(std::string(kNetnsRunDir) + "/" + m.netns, m.log, args);
    if (!pid) {
      stop_started();
      return wrap(pid.error(), what);
    }
    m.pid = *pid;
    // Recorded at once: from here on `lab down` stops it whatever happens to this process.
    if (auto r = lab_record_process(lab.name, m.name, m.host, m.pid); !r) {
      stop_started();
      return wrap(r.error(), what);
    }
  }

  // Ready when every member answers /health (it has a leader and serves reads) from inside its
  // own namespace.
  auto deadline = steady_clock::now() + opts.ready_timeout;
  for (auto& m : c.members) {
    std::string ip = m.client_url.substr(7, m.client_url.rfind(':') - 7);
    std::string last;
    bool ready = false;
    while (!ready && steady_clock::now() < deadline) {
      if (kill(m.pid, 0) != 0) {
        stop_started();
        return fail(what + ": member " + m.name + " exited (see " + m.log + ")", ESRCH);
      }
      std::thread t([&] {
        auto g = NetnsGuard::enter(std::string(kNetnsRunDir) + "/" + m.netns);
        if (!g) {
          last = g.error().text();
          return;
        }
        auto r = http_get(ip, opts.client_port, "/health", milliseconds(1000));
        if (r && r->status == 200 && r->body.find("\"true\"") != std::string::npos) ready = true;
        else last = r ? "HTTP " + std::to_string(r->status) + " " + r->body : r.error().text();
      });
      t.join();
      if (!ready) std::this_thread::sleep_for(milliseconds(100));
    }
    if (!ready) {
      stop_started();
      return fail(what + ": member " + m.name + " not healthy within " + std::to_string(opts.ready_timeout.count()) +
                      "ms (last answer: " + last + "; see " + m.log + ")",
                  ETIMEDOUT);
    }
  }
  if (auto r = write_text(conf, to_json(c).dump(2) + "\n"); !r) {
    stop_started();
    return wrap(r.error(), what);
  }
  lab_log()->info("lab {}: etcd cluster of {} members is up (heartbeat {}ms, election timeout {}ms, pre-vote {})",
                  lab.name, c.members.size(), c.heartbeat.count(), c.election_timeout.count(), c.pre_vote);
  return c;
}

Result<LabEtcdCluster> lab_etcd_cluster(const std::string& lab) {
  std::string path = lab_state_dir(lab) + "/etcd.json";
  std::ifstream in(path);
  if (!in) return fail("lab " + lab + " has no etcd cluster (" + path + ")", ENOENT);
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail(path + ": not JSON", EINVAL);
  LabEtcdCluster c;
  c.lab = j.value("lab", lab);
  c.heartbeat = milliseconds(j.value("heartbeat_ms", 0));
  c.election_timeout = milliseconds(j.value("electionTimeout_ms", 0));
  c.pre_vote = j.value("preVote", false);
  c.token = j.value("token", std::string());
  c.version = j.value("version", std::string());
  for (const auto& m : j.value("members", json::array())) {
    LabEtcdMember x;
    x.name = m.value("name", std::string());
    x.host = m.value("host", std::string());
    x.netns = m.value("netns", std::string());
    x.client_url = m.value("clientURL", std::string());
    x.peer_url = m.value("peerURL", std::string());
    x.data_dir = m.value("dataDir", std::string());
    x.log = m.value("log", std::string());
    x.pid = m.value("pid", 0);
    c.members.push_back(x);
  }
  return c;
}

std::string describe_lab_etcd(const LabEtcdCluster& c) {
  std::string out = "etcd " + (c.version.empty() ? std::string("?") : c.version) + ": " +
                    std::to_string(c.members.size()) + " members, heartbeat " + std::to_string(c.heartbeat.count()) +
                    "ms, election timeout " + std::to_string(c.election_timeout.count()) + "ms, pre-vote " +
                    (c.pre_vote ? "on" : "off") + "\n";
  for (const auto& m : c.members)
    out += "  " + m.name + " pid " + std::to_string(m.pid) + " client " + m.client_url + " peer " + m.peer_url +
           " (netns " + m.netns + ")\n";
  return out;
}

}  // namespace chaos
