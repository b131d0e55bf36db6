// Root: `chaosctl lab` end to end. Each test builds its own lab with a unique name (the pid in
// it) and removes it in teardown, also on failure. The root namespace is only read.
#include <dirent.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "lab/http_responder.h"
#include "lab/lab.h"
#include "kernel/netlink.h"
#include "kernel/netns.h"

namespace chaos {
namespace {

namespace fs = std::filesystem;

std::string sh(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  std::array<char, 512> buf;
  while (fgets(buf.data(), buf.size(), p)) out += buf.data();
  pclose(p);
  return out;
}

// What the root namespace looks like: every link, address and route. Compared before and after.
struct RootSnapshot {
  std::vector<LinkInfo> links;
  std::vector<AddressInfo> addrs;
  std::vector<RouteInfo> routes;
  std::vector<std::string> describe() const {
    std::vector<std::string> out;
    for (auto& l : links) out.push_back("link " + std::to_string(l.ifindex) + " " + l.name + " " + l.kind + " flags=" + std::to_string(l.flags) + " master=" + std::to_string(l.master));
    for (auto& a : addrs) out.push_back("addr " + std::to_string(a.ifindex) + " " + a.address.str());
    for (auto& r : routes) {
      std::string s = "route t" + std::to_string(r.table) + " " + r.dst;
      for (auto i : r.ifindexes) s += " dev " + std::to_string(i);
      for (auto& g : r.gateways) s += " via " + g;
      out.push_back(s);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
};

RootSnapshot snapshot_root() {
  auto sk = NetlinkSocket::open_in(kRootNetnsPath);
  EXPECT_TRUE(sk);
  RootSnapshot s;
  if (!sk) return s;
  s.links = list_links(*sk).value_or(std::vector<LinkInfo>{});
  s.addrs = list_addresses(*sk).value_or(std::vector<AddressInfo>{});
  s.routes = list_routes(*sk).value_or(std::vector<RouteInfo>{});
  EXPECT_FALSE(s.links.empty());
  return s;
}

// Pids whose network namespace is `path`'s.
std::vector<pid_t> pids_in_netns(const std::string& path) {
  std::vector<pid_t> out;
  auto id = netns_id(path);
  if (!id) return out;
  for (auto& e : fs::directory_iterator("/proc")) {
    std::string n = e.path().filename();
    if (n.empty() || !std::isdigit(static_cast<unsigned char>(n[0]))) continue;
    struct stat st{};
    if (stat((e.path() / "ns/net").c_str(), &st) != 0) continue;
    if (st.st_dev == id->dev && st.st_ino == id->ino) out.push_back(std::stoi(n));
  }
  return out;
}

// Alive and not a zombie.
bool running(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto rp = s.rfind(')');
  return rp != std::string::npos && rp + 2 < s.size() && s[rp + 2] != 'Z' && s[rp + 2] != 'X';
}

// Runs fn inside a lab host's namespace on this thread.
template <class F>
auto in_netns(const std::string& netns, F fn) {
  auto g = NetnsGuard::enter(std::string(kNetnsRunDir) + "/" + netns);
  EXPECT_TRUE(g) << (g ? "" : g.error().text());
  return fn();
}

class LabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to create network namespaces";
    name_ = "t" + std::to_string(getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    name_ = name_.substr(0, 32);
    lab_down(name_);  // a leftover from a crashed earlier run with a recycled pid
  }
  void TearDown() override {
    if (name_.empty()) return;
    auto r = lab_down(name_);
    EXPECT_TRUE(r) << r.error().text();
    expect_gone();
  }
  void expect_gone() {
    auto all = list_named_netns();
    ASSERT_TRUE(all);
    for (auto& n : *all) EXPECT_NE(n.rfind(name_ + "-", 0), 0u) << "leaked netns " << n;
    EXPECT_FALSE(fs::exists(lab_state_dir(name_))) << "leaked state dir";
  }
  std::string name_;
};

TEST_F(LabTest, UpServesHttpWithoutDefaultRoutesAndLeavesRootUntouched) {
  RootSnapshot before = snapshot_root();
  auto roots_default = default_route_interfaces();
  ASSERT_TRUE(roots_default) << roots_default.error().text();

  LabOptions o;
  o.name = name_;
  auto info = lab_up(o);
  ASSERT_TRUE(info) << info.error().text();
  EXPECT_EQ(info->state, "ready");
  EXPECT_TRUE(info->healthy());

  // Namespaces: three, none of them the root one.
  for (auto* role : {"switch", "client", "server"}) {
    auto ref = resolve_named_netns(lab_netns_name(name_, role));
    ASSERT_TRUE(ref) << role << ": " << ref.error().text();
    EXPECT_FALSE(*is_root_netns(ref->path)) << role;
  }
  EXPECT_NE(sh("ip netns list").find(name_ + "-server"), std::string::npos);

  // Topology: eth0 veth with the planned addresses; ports enslaved to br0 in the switch.
  for (auto& h : info->hosts) {
    auto sk = NetlinkSocket::open_in(std::string(kNetnsRunDir) + "/" + h.netns);
    ASSERT_TRUE(sk);
    auto eth = get_link(*sk, "eth0");
    ASSERT_TRUE(eth) << h.name;
    EXPECT_EQ(eth->kind, "veth");
    EXPECT_TRUE(eth->up());
    EXPECT_TRUE(*link_is_up(*sk, "lo"));
    auto addrs = list_addresses(*sk, eth->ifindex);
    ASSERT_TRUE(addrs);
    auto has = [&](const InterfaceAddress& a) {
      return std::any_of(addrs->begin(), addrs->end(), [&](auto& x) { return x.address == a; });
    };
    EXPECT_TRUE(has(h.ipv4)) << h.name;
    EXPECT_TRUE(has(h.ipv6)) << h.name;
    auto d = default_route_interfaces(*sk);
    ASSERT_TRUE(d);
    EXPECT_TRUE(d->empty()) << h.name << " has a default route";
    auto routes = list_routes(*sk);
    ASSERT_TRUE(routes);
    EXPECT_FALSE(std::any_of(routes->begin(), routes->end(), [](auto& r) { return r.is_default(); })) << h.name;
    // iproute2 agrees.
    EXPECT_EQ(sh("ip -n " + h.netns + " route show default"), "") << h.name;
    EXPECT_EQ(sh("ip -n " + h.netns + " -6 route show default"), "") << h.name;
  }
  {
    auto sw = NetlinkSocket::open_in(std::string(kNetnsRunDir) + "/" + info->switch_netns);
    ASSERT_TRUE(sw);
    auto br = get_link(*sw, "br0");
    ASSERT_TRUE(br);
    EXPECT_EQ(br->kind, "bridge");
    EXPECT_TRUE(br->up());
    for (auto& h : info->hosts) {
      auto port = get_link(*sw, h.switch_port);
      ASSERT_TRUE(port) << h.switch_port;
      EXPECT_EQ(port->master, br->ifindex);
      EXPECT_TRUE(port->up());
    }
  }

  // HTTP from the client to the server over both families.
  in_netns(name_ + "-client", [&] {
    auto r = http_get("198.18.0.20", 8080, "/");
    ASSERT_TRUE(r) << r.error().text();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "chaos-lab " + name_ + " server\n");
    auto r6 = http_get("2001:2::20", 8080, "/anything");
    ASSERT_TRUE(r6) << r6.error().text();
    EXPECT_EQ(r6->status, 200);
    // No way out of the lab: an address beyond the bridge is unreachable at once.
    auto out = http_get("192.0.2.1", 80, "/", std::chrono::milliseconds(500));
    ASSERT_FALSE(out);
    EXPECT_EQ(out.error().code, ENETUNREACH) << out.error().text();
    auto out6 = http_get("2001:db8::1", 80, "/", std::chrono::milliseconds(500));
    ASSERT_FALSE(out6);
    EXPECT_EQ(out6.error().code, ENETUNREACH) << out6.error().text();
  });
  // The responder serves the lab only. From the root namespace 198.18.0.20 is either
  // unreachable or somebody else (a sandbox's egress proxy answers any address), never the lab.
  auto from_root = http_get("198.18.0.20", 8080, "/", std::chrono::milliseconds(300));
  if (from_root) {
    EXPECT_NE(from_root->body, "chaos-lab " + name_ + " server\n");
  }

  // Many clients at once from the client namespace (each thread enters it).
  std::atomic<int> ok{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 32; ++i)
    ts.emplace_back([&, i] {
      auto g = NetnsGuard::enter(std::string(kNetnsRunDir) + "/" + name_ + "-client");
      if (!g) return;
      auto r = http_get(i % 2 ? "2001:2::20" : "198.18.0.20", 8080, "/", std::chrono::seconds(3));
      if (r && r->status == 200) ++ok;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 32);

  // Status, the API experiments use, and the printed form.
  auto st = lab_status(name_);
  ASSERT_TRUE(st) << st.error().text();
  EXPECT_TRUE(st->healthy());
  const LabProcess* resp = st->process("responder");
  ASSERT_NE(resp, nullptr);
  EXPECT_TRUE(resp->alive);
  EXPECT_EQ(pids_in_netns(std::string(kNetnsRunDir) + "/" + name_ + "-server"), std::vector<pid_t>{resp->pid});
  {
    std::ifstream pidf(lab_state_dir(name_) + "/responder.pid");
    pid_t p = 0;
    pidf >> p;
    EXPECT_EQ(p, resp->pid);
  }
  auto client = lab_host(name_, "client");
  ASSERT_TRUE(client) << client.error().text();
  EXPECT_EQ(client->netns, name_ + "-client");
  EXPECT_EQ(client->interface, "eth0");
  EXPECT_EQ(client->ipv4.str(), "198.18.0.10/24");
  EXPECT_EQ(client->ipv6.str(), "2001:2::10/64");
  auto nohost = lab_host(name_, "nosuch");
  ASSERT_FALSE(nohost);
  EXPECT_EQ(nohost.error().code, ENOENT);
  std::ostringstream printed;
  print_lab_status(*st, printed);
  EXPECT_NE(printed.str().find("198.18.0.20/24"), std::string::npos) << printed.str();
  EXPECT_NE(printed.str().find("responder pid " + std::to_string(resp->pid)), std::string::npos) << printed.str();
  EXPECT_NE(printed.str().find("alive"), std::string::npos);

  // The root namespace did not change, and its default-route interface is the same.
  RootSnapshot during = snapshot_root();
  EXPECT_EQ(during.describe(), before.describe());
  auto roots_default2 = default_route_interfaces();
  ASSERT_TRUE(roots_default2);
  ASSERT_EQ(roots_default2->size(), roots_default->size());

  // Down removes everything: namespaces, the responder, the state; and again is a no-op.
  pid_t rpid = resp->pid;
  ASSERT_TRUE(lab_down(name_));
  expect_gone();
  EXPECT_FALSE(running(rpid)) << "responder " << rpid << " survived lab down";
  auto st2 = lab_status(name_);
  ASSERT_FALSE(st2);
  EXPECT_EQ(st2.error().code, ENOENT);
  EXPECT_TRUE(lab_down(name_));
  EXPECT_EQ(snapshot_root().describe(), before.describe());
}

TEST_F(LabTest, UpRefusesAnExistingLabAndLeavesItAlone) {
  LabOptions o;
  o.name = name_;
  ASSERT_TRUE(lab_up(o));
  auto again = lab_up(o);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, EEXIST);
  auto st = lab_status(name_);
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->healthy()) << "a refused second lab up must not damage the first";

  // A stray namespace with one of the lab's names also blocks lab up.
  ASSERT_TRUE(lab_down(name_));
  ASSERT_TRUE(create_named_netns(name_ + "-server"));
  auto blocked = lab_up(o);
  ASSERT_FALSE(blocked);
  EXPECT_EQ(blocked.error().code, EEXIST);
  EXPECT_TRUE(named_netns_exists(name_ + "-server"));
  EXPECT_FALSE(named_netns_exists(name_ + "-switch"));
}

TEST_F(LabTest, ResponderIgnoresSighupAndStopsCleanlyOnSigterm) {
  LabOptions o;
  o.name = name_;
  auto info = lab_up(o);
  ASSERT_TRUE(info) << info.error().text();
  pid_t pid = info->process("responder")->pid;
  // A daemon: its own session, not our child, no fds of ours.
  // A new session (not the caller's), and not the caller's child (no zombie of ours).
  EXPECT_NE(getsid(pid), getsid(0));
  EXPECT_GT(getsid(pid), 0);
  std::string ppid = sh("awk '/^PPid:/ {print $2}' /proc/" + std::to_string(pid) + "/status");
  EXPECT_NE(ppid, std::to_string(getpid()) + "\n");
  // Nothing inherited: stdin /dev/null, stdout/stderr the log, two listeners, the signalfd.
  std::vector<std::string> fds;
  for (auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
    fds.push_back(e.path().filename().string() + " -> " + fs::read_symlink(e.path()).string());
  std::sort(fds.begin(), fds.end());
  std::string all;
  for (auto& f : fds) all += f + "\n";
  ASSERT_EQ(fds.size(), 6u) << all;
  EXPECT_EQ(fds[0], "0 -> /dev/null") << all;
  EXPECT_EQ(fds[1], "1 -> " + lab_state_dir(name_) + "/responder.log") << all;
  EXPECT_EQ(fds[2], "2 -> " + lab_state_dir(name_) + "/responder.log") << all;
  int sockets = 0, signalfds = 0;
  for (auto& f : fds) {
    sockets += f.find("socket:[") != std::string::npos;
    signalfds += f.find("[signalfd]") != std::string::npos;
  }
  EXPECT_EQ(sockets, 2) << all;
  EXPECT_EQ(signalfds, 1) << all;

  ASSERT_EQ(kill(pid, SIGHUP), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(running(pid));
  in_netns(name_ + "-client", [&] {
    auto r = http_get("198.18.0.20", 8080);
    ASSERT_TRUE(r) << r.error().text();
    EXPECT_EQ(r->status, 200);
  });

  int pfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  ASSERT_GE(pfd, 0);
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  pollfd p{pfd, POLLIN, 0};
  // The claim is a clean stop on SIGTERM, not its latency: poll returns as soon as it exits.
  EXPECT_EQ(poll(&p, 1, 15000), 1) << "responder did not exit within 15s of SIGTERM";
  close(pfd);
  std::ifstream logf(lab_state_dir(name_) + "/responder.log");
  std::string log((std::istreambuf_iterator<char>(logf)), std::istreambuf_iterator<char>());
  EXPECT_NE(log.find("stopped after"), std::string::npos) << log;

  auto st = lab_status(name_);
  ASSERT_TRUE(st);
  EXPECT_FALSE(st->process("responder")->alive);
  EXPECT_FALSE(st->healthy());
}

TEST_F(LabTest, AddHostJoinsTheBridge) {
  LabOptions o;
  o.name = name_;
  o.responder = false;
  o.etcd_hosts = 1;
  auto info = lab_up(o);
  ASSERT_TRUE(info) << info.error().text();
  EXPECT_EQ(info->process("responder"), nullptr);
  ASSERT_NE(info->host("etcd1"), nullptr);
  EXPECT_EQ(info->host("etcd1")->ipv4.str(), "198.18.0.31/24");

  auto h = lab_add_host(name_, lab_etcd_host(2));
  ASSERT_TRUE(h) << h.error().text();
  EXPECT_EQ(h->netns, name_ + "-etcd2");
  auto dup = lab_add_host(name_, lab_etcd_host(2));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, EEXIST);
  LabHostSpec clash = lab_etcd_host(3);
  clash.ipv4 = lab_etcd_host(2).ipv4;
  auto c = lab_add_host(name_, clash);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, EEXIST);

  // A listener in etcd2 answers the client: the new host is on the same L2 segment. A process
  // recorded with the lab is stopped by lab down.
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto g = NetnsGuard::enter(std::string(kNetnsRunDir) + "/" + name_ + "-etcd2");
    HttpResponderOptions ro;
    ro.port = 2379;
    ro.body = "etcd2\n";
    auto srv = HttpResponder::bind(ro);
    if (!g || !srv) _exit(1);
    int never[2];
    if (pipe(never) != 0) _exit(1);
    srv->serve(never[0]);
    _exit(0);
  }
  ASSERT_TRUE(lab_record_process(name_, "etcd2", "etcd2", child));
  bool served = false;
  in_netns(name_ + "-client", [&] {
    for (int i = 0; i < 50 && !served; ++i) {
      auto r = http_get("198.18.0.32", 2379, "/", std::chrono::milliseconds(500));
      served = r && r->body == "etcd2\n";
      if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    auto r6 = http_get("2001:2::32", 2379);
    EXPECT_TRUE(r6 && r6->status == 200);
  });
  EXPECT_TRUE(served);
  auto st = lab_status(name_);
  ASSERT_TRUE(st);
  ASSERT_NE(st->process("etcd2"), nullptr);
  EXPECT_TRUE(st->process("etcd2")->alive);

  ASSERT_TRUE(lab_down(name_));
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << "status " << status;
}

// A lab killed after every possible step is removed by lab down, including a responder that
// was started but not yet recorded.
TEST_F(LabTest, PartialLabsAreRemovedByDown) {
  RootSnapshot before = snapshot_root();
  int total_steps = 0;
  for (int k = 1;; ++k) {
    SCOPED_TRACE("crash after step " + std::to_string(k));
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      LabOptions o;
      o.name = name_;
      o.crash_after_steps = k;
      auto r = lab_up(o);
      _exit(r ? 0 : 1);  // reached only when k is past the last step
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    if (WIFEXITED(status)) {
      ASSERT_EQ(WEXITSTATUS(status), 0);
      total_steps = k - 1;
      ASSERT_TRUE(lab_down(name_));
      break;
    }
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    ASSERT_TRUE(fs::exists(lab_state_dir(name_)));
    std::vector<pid_t> inside = pids_in_netns(std::string(kNetnsRunDir) + "/" + name_ + "-server");

    auto r = lab_down(name_);
    ASSERT_TRUE(r) << r.error().text();
    expect_gone();
    for (pid_t p : inside) EXPECT_FALSE(running(p)) << "pid " << p << " survived";
    ASSERT_TRUE(lab_down(name_));
    ASSERT_LT(k, 100) << "lab up never finished";
  }
  // client and server: 5 steps each, plus state, switch, bridge, responder x2, ready.
  EXPECT_EQ(total_steps, 16);
  EXPECT_EQ(snapshot_root().describe(), before.describe());
}

TEST_F(LabTest, DownWithoutStateStillRemovesTheLabsNamespaces) {
  LabOptions o;
  o.name = name_;
  auto info = lab_up(o);
  ASSERT_TRUE(info) << info.error().text();
  pid_t rpid = info->process("responder")->pid;
  // The state is lost (someone removed it, or it was torn): the lab's names still say what is its.
  fs::remove_all(lab_state_dir(name_));
  ASSERT_TRUE(lab_down(name_));
  expect_gone();
  EXPECT_FALSE(running(rpid));

  // A torn lab.json is no obstacle either.
  ASSERT_TRUE(lab_up(o));
  {
    std::ofstream f(lab_state_dir(name_) + "/lab.json", std::ios::trunc);
    f << "{\"name\": \"" << name_ << "\", \"sta";
  }
  ASSERT_TRUE(lab_down(name_));
  expect_gone();
}

TEST_F(LabTest, BadNamesAreRefusedBeforeAnythingIsMade) {
  LabOptions o;
  o.name = "bad/name";
  auto r = lab_up(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EINVAL);
  o.name = name_;
  o.etcd_hosts = 10;
  r = lab_up(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EINVAL);
  EXPECT_FALSE(fs::exists(lab_state_dir(name_)));
}

}  // namespace
}  // namespace chaos
