#include "integration/support_agent.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "client.h"
#include "kernel/bpf_util.h"
#include "kernel/clsact.h"
#include "lab/http_responder.h"
#include "kernel/netlink.h"
#include "kernel/netns.h"
#include "observe/http_probe.h"

namespace chaos::itest {

namespace fs = std::filesystem;
using namespace std::chrono;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

namespace {

// An fd closed on scope exit. Test code must never keep a BPF link or program fd longer than a
// call: an fd held here would keep a dead agent's tcx link alive.
struct ScopedFd {
  int fd = -1;
  explicit ScopedFd(int f) : fd(f) {}
  ~ScopedFd() {
    if (fd >= 0) ::close(fd);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
};

std::string prog_name_of(int fd) {
  bpf_prog_info info{};
  __u32 len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return "";
  return std::string(info.name, strnlen(info.name, sizeof info.name));
}

std::string prog_name_by_id(std::uint32_t id) {
  ScopedFd fd(bpf_prog_get_fd_by_id(id));
  if (fd.fd < 0) return "";
  return prog_name_of(fd.fd);
}

std::string popen_read(const std::string& cmd) {
  std::string out;
  if (FILE* p = ::popen((cmd + " 2>&1").c_str(), "r")) {
    std::array<char, 512> buf{};
    while (fgets(buf.data(), static_cast<int>(buf.size()), p)) out += buf.data();
    ::pclose(p);
  }
  return out;
}

std::uint16_t icmp_checksum(const void* data, std::size_t len) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < len; i += 2) sum += static_cast<std::uint32_t>(p[i] << 8 | p[i + 1]);
  if (len & 1) sum += static_cast<std::uint32_t>(p[len - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<std::uint16_t>(~sum));
}

}  // namespace

namespace {
std::string binary(const char* env, const char* name) {
  if (const char* p = std::getenv(env); p && *p) return p;
  return std::string(CHAOS_BINARY_DIR) + "/bin/" + name;
}
}  // namespace

std::string agent_binary() { return binary("CHAOS_AGENT_BINARY", "chaos-agent"); }
std::string chaosctl_binary() { return binary("CHAOS_CHAOSCTL_BINARY", "chaosctl"); }

long long ms_between(SteadyTime a, SteadyTime b) { return duration_cast<milliseconds>(b - a).count(); }

bool wait_until(const std::function<bool()>& pred, Ms timeout) {
  auto end = steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (steady_clock::now() >= end) return pred();
    std::this_thread::sleep_for(Ms(10));
  }
}

bool in_netns(const std::string& netns_path, const std::function<void()>& fn) {
  bool entered = false;
  std::string why;
  std::thread t([&] {
    auto g = NetnsGuard::enter(netns_path);
    if (!g) {
      why = g.error().text();
      return;
    }
    entered = true;
    fn();
  });
  t.join();
  if (!entered) ADD_FAILURE() << "enter " << netns_path << ": " << why;
  return entered;
}

// ---- TempDir

TempDir::TempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data())) path_ = buf.data();
  else ADD_FAILURE() << "mkdtemp " << tmpl << ": " << std::strerror(errno);
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) fs::remove_all(path_, ec);
}

std::string TempDir::write(const std::string& name, const std::string& text) const {
  std::string p = file(name);
  std::ofstream(p) << text;
  return p;
}

// ---- TestLab

TestLab::TestLab(const std::string& suffix) : name_("t" + std::to_string(::getpid()) + suffix) {}

TestLab::~TestLab() {
  if (auto r = lab_down(name_); !r) std::cerr << "lab_down " << name_ << ": " << r.error().text() << "\n";
}

bool TestLab::up() {
  LabOptions o;
  o.name = name_;
  auto info = lab_up(o);
  if (!info) {
    ADD_FAILURE() << "lab_up " << name_ << ": " << info.error().text();
    return false;
  }
  info_ = *info;
  return true;
}

std::string TestLab::netns_path(const std::string& host) const {
  return std::string(kNetnsRunDir) + "/" + lab_netns_name(name_, host);
}

std::string lab_partition_yaml(const TestLab& lab, const std::string& name, const std::string& duration,
                               const std::string& start, const std::string& fault_duration, bool probe) {
  const std::string server = lab.address("server"), port = std::to_string(kLabResponderPort);
  std::string y = "apiVersion: chaos-agent/v1\n"
                  "kind: Experiment\n"
                  "metadata:\n"
                  "  name: " + name + "\n"
                  "spec:\n"
                  "  duration: " + duration + "\n"
                  "  faults:\n"
                  "    - name: cut\n"
                  "      start: " + start + "\n"
                  "      duration: " + fault_duration + "\n"
                  "      network:\n"
                  "        action: partition\n"
                  "        lab: " + lab.target("client") + "\n"
                  "        direction: egress\n"
                  "        match:\n"
                  "          cidrs: [" + server + "/32]\n"
                  "          protocol: tcp\n"
                  "          ports: [" + port + "]\n";
  if (probe)
    y += "  steadyState:\n"
         "    - name: client-to-server\n"
         "      interval: 100ms\n"
         // Long enough that a CPU-starved lab responder is not an error before or after the
         // fault; a request the partition cuts counts in `during` whatever its timeout.
         "      timeout: 2s\n"
         "      checkIn: [before, after]\n"
         "      tolerance: {maxErrorRate: 0%}\n"
         "      http:\n"
         "        url: http://" + server + ":" + port + "/\n"
         "        lab: " + lab.target("client") + "\n";
  return y;
}

std::string TestLab::address(const std::string& host) const {
  const LabHost* h = info_.host(host);
  if (!h) return "";
  auto s = h->ipv4.str();
  return s.substr(0, s.find('/'));
}

int TestLab::ifindex(const std::string& host) const {
  int idx = 0;
  in_netns(netns_path(host), [&] { idx = static_cast<int>(if_nametoindex(kLabInterface)); });
  return idx;
}

// ---- Child

Child::~Child() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
  }
}

Child::Child(Child&& o) noexcept
    : pid_(o.pid_), status_(o.status_), out_path_(std::move(o.out_path_)), err_path_(std::move(o.err_path_)) {
  o.pid_ = -1;
}

std::optional<Child> Child::spawn(const std::vector<std::string>& argv, const std::string& out_path,
                                  const std::string& err_path) {
  // Everything the child needs is prepared before fork: only async-signal-safe calls after it.
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err = err_path == out_path ? out : ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0 || err < 0) {
    ADD_FAILURE() << "open " << out_path << " / " << err_path << ": " << std::strerror(errno);
    if (out >= 0) ::close(out);
    if (err >= 0 && err != out) ::close(err);
    return std::nullopt;
  }
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    ::close(out);
    if (err != out) ::close(err);
    return std::nullopt;
  }
  if (pid == 0) {
    // A test process that dies (a crash, a timeout's SIGKILL) takes its agents with it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  ::close(out);
  if (err != out) ::close(err);
  Child c;
  c.pid_ = pid;
  c.out_path_ = out_path;
  c.err_path_ = err_path;
  return c;
}

bool Child::running() {
  if (pid_ <= 0 || status_) return false;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return false;
  }
  return true;
}

std::optional<int> Child::wait(Ms timeout) {
  if (status_) return status_;
  wait_until([&] { return !running(); }, timeout);
  return status_;
}

void Child::signal(int sig) {
  if (pid_ > 0 && !status_) ::kill(pid_, sig);
}

std::string Child::out() const { return slurp(out_path_); }
std::string Child::err() const { return err_path_ == out_path_ ? "" : slurp(err_path_); }

std::string CmdResult::str() const {
  return "exit " + std::to_string(code) + "\n--- stdout\n" + out + "\n--- stderr\n" + err;
}

namespace {
std::atomic<int> g_cmd_no{0};
}

std::optional<Child> chaosctl_async(const TempDir& dir, const std::vector<std::string>& args) {
  std::vector<std::string> argv{chaosctl_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  int n = ++g_cmd_no;
  return Child::spawn(argv, dir.file("chaosctl-" + std::to_string(n) + ".out"),
                      dir.file("chaosctl-" + std::to_string(n) + ".err"));
}

CmdResult chaosctl(const TempDir& dir, const std::vector<std::string>& args, Ms timeout) {
  CmdResult res;
  auto c = chaosctl_async(dir, args);
  if (!c) return res;
  auto code = c->wait(timeout);
  if (!code) {
    c->signal(SIGKILL);
    c->wait(Ms(5000));
  }
  res.code = code.value_or(-1);
  res.out = c->out();
  res.err = c->err();
  return res;
}

// ---- AgentProcess

AgentProcess::AgentProcess(const TempDir& dir, const std::string& config_yaml)
    : dir_(dir), socket_(dir.file("agent.sock")), state_dir_(dir.file("state")),
      config_path_(dir.write("agent.yaml", config_yaml)) {}

AgentProcess::~AgentProcess() {
  if (child_ && child_->running()) {
    child_->signal(SIGCONT);  // a stopped agent cannot act on SIGTERM
    child_->signal(SIGTERM);
    if (!child_->wait(Ms(10000))) {
      std::cerr << "agent pid " << child_->pid() << " ignored SIGTERM for 10s: SIGKILL\n";
      child_->signal(SIGKILL);
      child_->wait(Ms(5000));
    }
  }
  if (::testing::Test::HasFailure())
    std::cerr << "---- agent log (" << dir_.path() << ")\n"
              << (failure_log_processes_ ? log_tail(failure_log_processes_) : log()) << "----\n";
}

bool AgentProcess::start() {
  if (!fs::exists(agent_binary())) {
    ADD_FAILURE() << agent_binary() << " does not exist: build the chaos-agent target first";
    return false;
  }
  std::string log_path = dir_.file("agent-" + std::to_string(logs_.size() + 1) + ".log");
  logs_.push_back(log_path);
  child_.reset();
  auto c = Child::spawn({agent_binary(), "--socket", socket_, "--state-dir", state_dir_, "--config", config_path_,
                         "--log-level", "info"},
                        log_path, log_path);
  if (!c) return false;
  child_.emplace(std::move(*c));
  bool ready = wait_until(
      [&] {
        if (!child_->running()) return true;
        auto r = cli::call_agent(socket_, {{"op", "ping"}});
        return r && r->value("ok", false) && r->value("pid", 0) == child_->pid();
      },
      Ms(15000));
  if (!ready || !child_->running()) {
    ADD_FAILURE() << "the agent did not come up on " << socket_ << "\n"
                  << (failure_log_processes_ ? log_tail(failure_log_processes_) : log());
    return false;
  }
  return true;
}

bool AgentProcess::running() { return child_ && child_->running(); }
void AgentProcess::signal(int sig) {
  if (child_) child_->signal(sig);
}
std::optional<int> AgentProcess::wait_exit(Ms timeout) {
  if (!child_) return std::nullopt;
  return child_->wait(timeout);
}

std::string AgentProcess::log() const {
  std::string out;
  for (std::size_t i = 0; i < logs_.size(); ++i) {
    if (logs_.size() > 1) out += "== agent process " + std::to_string(i + 1) + "\n";
    out += slurp(logs_[i]);
  }
  return out;
}

std::string AgentProcess::log_tail(std::size_t n) const {
  std::string out;
  for (std::size_t i = logs_.size() > n ? logs_.size() - n : 0; i < logs_.size(); ++i)
    out += "== agent process " + std::to_string(i + 1) + " of " + std::to_string(logs_.size()) + "\n" + slurp(logs_[i]);
  return out;
}

std::vector<std::string> AgentProcess::args(std::vector<std::string> rest) const {
  rest.insert(rest.begin(), {"--socket", socket_});
  return rest;
}

std::vector<nlohmann::json> journal_outstanding(const std::string& state_dir) {
  std::map<std::uint64_t, nlohmann::json> open;
  std::ifstream in(state_dir + "/journal.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    auto seq = j.value("seq", std::uint64_t{0});
    auto op = j.value("op", std::string());
    if (op == "intend") open[seq] = j;
    else if (op == "applied" && open.count(seq) && j.contains("undo") && !j["undo"].is_null()) open[seq]["undo"] = j["undo"];
    else if (op == "reverted") open.erase(seq);
  }
  std::vector<nlohmann::json> out;
  for (auto& [seq, j] : open) out.push_back(j);
  return out;
}

// ---- traffic

ProbeSample http_get(const std::string& netns_path, const std::string& ip, std::uint16_t port, Ms timeout) {
  HttpProbeSpec spec;
  spec.url = "http://" + ip + ":" + std::to_string(port) + "/";
  spec.host = ip;
  spec.port = port;
  ProbeSample s;
  s.error = "not run";
  in_netns(netns_path, [&] { s = http_request_once(spec, duration_cast<Duration>(timeout)); });
  return s;
}

bool ping(const std::string& netns_path, const std::string& ip, Ms timeout) {
  bool ok = false;
  in_netns(netns_path, [&] {
    ScopedFd fd(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP));
    if (fd.fd < 0) {
      ADD_FAILURE() << "raw ICMP socket: " << std::strerror(errno);
      return;
    }
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    inet_pton(AF_INET, ip.c_str(), &dst.sin_addr);
    static std::atomic<std::uint16_t> seq{1};
    std::array<std::uint8_t, 16> pkt{};
    auto* h = reinterpret_cast<icmphdr*>(pkt.data());
    h->type = ICMP_ECHO;
    h->un.echo.id = htons(static_cast<std::uint16_t>(::getpid()));
    h->un.echo.sequence = htons(seq++);
    h->checksum = icmp_checksum(pkt.data(), pkt.size());
    if (::sendto(fd.fd, pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst) < 0) return;
    auto end = steady_clock::now() + timeout;
    while (steady_clock::now() < end) {
      pollfd p{fd.fd, POLLIN, 0};
      int left = static_cast<int>(duration_cast<milliseconds>(end - steady_clock::now()).count());
      if (::poll(&p, 1, std::max(left, 1)) <= 0) continue;
      std::array<std::uint8_t, 1500> buf{};
      ssize_t n = ::recv(fd.fd, buf.data(), buf.size(), 0);
      if (n < static_cast<ssize_t>(sizeof(iphdr) + sizeof(icmphdr))) continue;
      const auto* iph = reinterpret_cast<const iphdr*>(buf.data());
      const auto* r = reinterpret_cast<const icmphdr*>(buf.data() + iph->ihl * 4);
      if (iph->saddr == dst.sin_addr.s_addr && r->type == ICMP_ECHOREPLY && r->un.echo.id == h->un.echo.id &&
          r->un.echo.sequence == h->un.echo.sequence) {
        ok = true;
        return;
      }
    }
  });
  return ok;
}

std::optional<Ms> measure_recovery(const std::string& netns_path, const std::string& ip, std::uint16_t port,
                                   SteadyTime since, Ms limit, Ms every, Ms timeout) {
  while (steady_clock::now() - since < limit) {
    auto begin = steady_clock::now();
    auto s = http_get(netns_path, ip, port, timeout);
    if (s.ok) return duration_cast<Ms>(steady_clock::now() - since);
    auto next = begin + every;
    if (next > steady_clock::now()) std::this_thread::sleep_until(next);
  }
  return std::nullopt;
}

SideListener::SideListener(const std::string& netns_path, std::uint16_t port) {
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
  auto bound = std::make_shared<std::promise<bool>>();
  auto fut = bound->get_future();
  thread_ = std::thread([this, netns_path, port, bound] {
    std::optional<HttpResponder> srv;
    {
      auto g = NetnsGuard::enter(netns_path);
      if (!g) {
        bound->set_value(false);
        return;
      }
      HttpResponderOptions o;
      o.listen = {"0.0.0.0"};
      o.port = port;
      o.body = "side\n";
      auto r = HttpResponder::bind(o);
      if (!r) {
        bound->set_value(false);
        return;
      }
      srv.emplace(std::move(*r));
    }
    bound->set_value(true);
    (void)srv->serve(stop_fd_);
  });
  ready_ = fut.get();
  if (!ready_) ADD_FAILURE() << "side listener on port " << port << " in " << netns_path;
}

SideListener::~SideListener() {
  std::uint64_t one = 1;
  if (stop_fd_ >= 0) [[maybe_unused]] auto n = ::write(stop_fd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

// ---- kernel state

std::set<std::uint32_t> chaos_prog_ids() {
  std::set<std::uint32_t> ids;
  std::uint32_t id = 0;
  while (bpf_prog_get_next_id(id, &id) == 0) {
    ScopedFd fd(bpf_prog_get_fd_by_id(id));
    if (fd.fd < 0) continue;  // unloaded meanwhile
    if (prog_name_of(fd.fd) == "chaos_cls") ids.insert(id);
  }
  return ids;
}

bool prog_loaded(std::uint32_t id) {
  ScopedFd fd(bpf_prog_get_fd_by_id(id));
  return fd.fd >= 0;
}

std::set<std::uint32_t> prog_ids_held_by(pid_t pid) {
  std::set<std::uint32_t> ids;
  std::string dir = "/proc/" + std::to_string(pid) + "/fdinfo";
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec)) {
    std::ifstream in(e.path());
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("prog_id:", 0) == 0) ids.insert(static_cast<std::uint32_t>(std::stoul(line.substr(8))));
  }
  return ids;
}

std::vector<TcxLink> chaos_tcx_links(int ifindex) {
  std::vector<TcxLink> out;
  std::uint32_t id = 0;
  while (bpf_link_get_next_id(id, &id) == 0) {
    ScopedFd fd(bpf_link_get_fd_by_id(id));
    if (fd.fd < 0) continue;
    auto li = kernel::bpf_link_info(fd.fd);
    if (!li || li->type != kernel::kBpfLinkTypeTcx) continue;
    if (ifindex != 0 && static_cast<int>(li->tcx_ifindex) != ifindex) continue;
    if (prog_name_by_id(li->prog_id) != "chaos_cls") continue;
    out.push_back({li->id, li->prog_id, li->tcx_ifindex, li->tcx_attach_type});
  }
  return out;
}

std::vector<kernel::TcFilterInfo> chaos_filters(const std::string& netns_path, int ifindex) {
  std::vector<kernel::TcFilterInfo> out;
  in_netns(netns_path, [&] {
    for (auto dir : {kernel::TcDirection::egress, kernel::TcDirection::ingress}) {
      auto fl = kernel::list_clsact_filters(ifindex, dir);
      if (!fl) continue;  // no clsact: no filters
      for (const auto& f : *fl)
        if (f.handle != 0 && f.kind == "bpf" &&
            (f.bpf_name.find("chaos_cls") != std::string::npos || f.prio == kernel::kClassicPrio))
          out.push_back(f);
    }
  });
  return out;
}

std::string clsact_kind(const std::string& netns_path, int ifindex) {
  std::string kind = "?";
  in_netns(netns_path, [&] {
    auto k = kernel::clsact_slot_kind(ifindex);
    kind = k ? *k : "error: " + k.error().text();
  });
  return kind;
}

std::string NodeSnapshot::str() const {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

NodeSnapshot snapshot_netns(const std::vector<std::string>& netns_paths) {
  NodeSnapshot snap;
  for (const auto& ns : netns_paths) {
    in_netns(ns, [&] {
      auto sk = NetlinkSocket::open();
      if (!sk) {
        snap.lines.push_back(ns + ": netlink: " + sk.error().text());
        return;
      }
      auto links = list_links(*sk);
      if (!links) {
        snap.lines.push_back(ns + ": links: " + links.error().text());
        return;
      }
      for (const auto& l : *links) {
        std::string where = ns + " " + l.name + ": ";
        auto kind = kernel::clsact_slot_kind(l.ifindex);
        snap.lines.push_back(where + "clsact slot " + (kind ? "'" + *kind + "'" : kind.error().text()));
        for (auto dir : {kernel::TcDirection::egress, kernel::TcDirection::ingress}) {
          auto fl = kernel::list_clsact_filters(l.ifindex, dir);
          if (!fl) continue;
          for (const auto& f : *fl)
            snap.lines.push_back(where + kernel::tc_direction_name(dir) + " filter prio " + std::to_string(f.prio) +
                                 " handle " + std::to_string(f.handle) + " " + f.kind + " " + f.bpf_name + " prog " +
                                 std::to_string(f.bpf_prog_id));
        }
      }
      // Every qdisc, cross-checked with iproute2 (popen forks from this thread: same namespace).
      std::istringstream q(popen_read("tc qdisc show"));
      for (std::string line; std::getline(q, line);)
        if (!line.empty()) snap.lines.push_back(ns + " tc: " + line);
    });
  }
  std::sort(snap.lines.begin(), snap.lines.end());
  return snap;
}

LoopbackPort::LoopbackPort(bool listen) {
  fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0 || (listen && ::listen(fd, 1) != 0))
    return;
  port = ntohs(a.sin_port);
}

void LoopbackPort::close() {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace chaos::itest
