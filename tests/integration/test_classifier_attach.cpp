// The classifier attached for real: two namespaces joined by a veth pair (made here, named after
// this pid, deleted in teardown), real UDP/TCP traffic between them, both attach paths (tcx and
// classic clsact + cls_bpf), and the undo paths the journal uses after a crash.
//
// `ip`/`tc` are used only to build the lab and to cross-check what the agent's code did.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "core/journal.h"
#include "core/log.h"
#include "core/units.h"
#include "faults/network/partition.h"
#include "kernel/bpf_util.h"
#include "kernel/classifier.h"
#include "kernel/netns.h"

namespace chaos::kernel {
namespace {

constexpr const char* kAddrA = "198.18.50.1";
constexpr const char* kAddrB = "198.18.50.2";
constexpr int kBurst = 5;
constexpr std::uint16_t kMarkerPort = 5999;  // matched by no classifier in this file

int sh(const std::string& cmd) {
  int rc = std::system((cmd + " >/dev/null 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string capture(const std::string& cmd) {
  std::string out;
  if (FILE* p = popen((cmd + " 2>&1").c_str(), "r")) {
    std::array<char, 512> buf{};
    while (fgets(buf.data(), buf.size(), p)) out += buf.data();
    pclose(p);
  }
  return out;
}

std::uint64_t ms(int n) {
  return static_cast<std::uint64_t>(n) * 1'000'000ull;
}

// Two namespaces, A (198.18.50.1) and B (198.18.50.2), and a veth pair between them that is
// created inside A: nothing of the lab ever sits in the root namespace.
class Lab {
 public:
  Lab() {
    static int counter = 0;
    const std::string tag = std::to_string(getpid()) + "x" + std::to_string(++counter);
    ns_a = "chaos-cls-a-" + tag;
    ns_b = "chaos-cls-b-" + tag;
    if_a = "cla" + tag;
    if_b = "clb" + tag;
  }
  ~Lab() { teardown(); }
  Lab(const Lab&) = delete;
  Lab& operator=(const Lab&) = delete;

  bool setup() {
    const char* steps[] = {
        "ip netns add {A}",
        "ip netns add {B}",
        "ip -n {A} link add {IA} type veth peer name {IB} netns {B}",
        "ip -n {A} addr add 198.18.50.1/24 dev {IA}",
        "ip -n {B} addr add 198.18.50.2/24 dev {IB}",
        "ip -n {A} link set lo up",
        "ip -n {B} link set lo up",
        "ip -n {A} link set {IA} up",
        "ip -n {B} link set {IB} up",
    };
    for (const char* s : steps) {
      std::string cmd = expand(s);
      if (sh(cmd) != 0) {
        ADD_FAILURE() << "lab setup failed: " << cmd;
        return false;
      }
    }
    return true;
  }

  void teardown() {
    sh("ip netns del " + ns_a);
    sh("ip netns del " + ns_b);
  }

  // "{A}" etc. replaced; for cross-check commands.
  std::string expand(std::string s) const {
    auto rep = [&](const std::string& k, const std::string& v) {
      for (auto p = s.find(k); p != std::string::npos; p = s.find(k)) s.replace(p, k.size(), v);
    };
    rep("{A}", ns_a);
    rep("{B}", ns_b);
    rep("{IA}", if_a);
    rep("{IB}", if_b);
    return s;
  }

  std::string path_a() const { return "/run/netns/" + ns_a; }
  std::string path_b() const { return "/run/netns/" + ns_b; }

  std::string ns_a, ns_b, if_a, if_b;
};

int ifindex_in(const std::string& ns_path, const std::string& name) {
  auto g = NetnsGuard::enter(ns_path);
  if (!g) return 0;
  return static_cast<int>(if_nametoindex(name.c_str()));
}

int socket_in(const std::string& ns_path, int type) {
  auto g = NetnsGuard::enter(ns_path);
  if (!g) return -1;
  return ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
}

sockaddr_in addr(const char* ip, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

// Sends `n` datagrams from `from_ns` to `to_ip:port` (a socket bound in `to_ns`); returns how
// many arrived.
int udp_delivered(const std::string& from_ns, const std::string& to_ns, const char* to_ip,
                  std::uint16_t port, int n = kBurst) {
  int rx = socket_in(to_ns, SOCK_DGRAM);
  int tx = socket_in(from_ns, SOCK_DGRAM);
  if (rx < 0 || tx < 0) {
    ADD_FAILURE() << "sockets in the lab";
    if (rx >= 0) close(rx);
    if (tx >= 0) close(tx);
    return -1;
  }
  int one = 1;
  setsockopt(rx, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in dst = addr(to_ip, port);
  if (bind(rx, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    ADD_FAILURE() << "bind " << to_ip << ":" << port << ": " << std::strerror(errno);
    close(rx);
    close(tx);
    return -1;
  }
  // After the burst, a marker on a port no classifier here matches: once it has arrived, the
  // path has carried everything sent before it, so the count does not depend on how soon a
  // loaded machine runs the receive softirq (a fixed receive timeout would).
  int marker = socket_in(to_ns, SOCK_DGRAM);
  sockaddr_in mdst = addr(to_ip, kMarkerPort);
  setsockopt(marker, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (marker < 0 || bind(marker, reinterpret_cast<sockaddr*>(&mdst), sizeof mdst) != 0) {
    ADD_FAILURE() << "bind the marker " << to_ip << ":" << kMarkerPort << ": " << std::strerror(errno);
    if (marker >= 0) close(marker);
    close(rx);
    close(tx);
    return -1;
  }
  for (int i = 0; i < n; ++i) {
    char msg[8] = "chaos";
    sendto(tx, msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
  }
  char msg[8] = "marker";
  sendto(tx, msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&mdst), sizeof mdst);
  pollfd pm{marker, POLLIN, 0};
  if (poll(&pm, 1, 10'000) != 1) ADD_FAILURE() << "the marker datagram never arrived (10 s)";
  // Datagrams queued on another CPU's backlog just before the marker: a short grace.
  timeval tv{0, 50'000};
  setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int got = 0;
  char buf[64];
  while (got < n && recv(rx, buf, sizeof buf, 0) > 0) ++got;
  close(marker);
  close(rx);
  close(tx);
  return got;
}

int a_to_b(const Lab& lab, std::uint16_t port) {
  return udp_delivered(lab.path_a(), lab.path_b(), kAddrB, port);
}

// TCP connect from A to a listener in B, given 300 ms.
bool tcp_connects(const Lab& lab, std::uint16_t port) {
  int ls = socket_in(lab.path_b(), SOCK_STREAM);
  int c = socket_in(lab.path_a(), SOCK_STREAM | SOCK_NONBLOCK);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in dst = addr(kAddrB, port);
  bool ok = bind(ls, reinterpret_cast<sockaddr*>(&dst), sizeof dst) == 0 && listen(ls, 4) == 0;
  if (ok) {
    int rc = connect(c, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
    ok = rc == 0;
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{c, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      ok =
          poll(&p, 1, 300) == 1 && getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    }
  }
  close(ls);
  close(c);
  return ok;
}

bool link_exists(std::uint32_t id) {
  int fd = bpf_link_get_fd_by_id(id);
  if (fd < 0) return false;
  close(fd);
  return true;
}

// A classifier that drops UDP to B:5001 leaving A, or arriving at B from A.
ClassifierConfig drop_udp_5001(TcDirection dir) {
  ClassifierConfig cfg;
  cfg.direction = dir;
  cfg.protocol = ClassifierProtocol::udp;
  cfg.ports = {{5001, 5001}};
  cfg.cidrs = {*parse_cidr(dir == TcDirection::egress ? "198.18.50.2/32" : "198.18.50.1/32")};
  return cfg;
}

std::unique_ptr<Classifier> load_with_lease(const ClassifierConfig& cfg, std::uint64_t lease_ns) {
  auto c = Classifier::load(cfg);
  EXPECT_TRUE(c) << (c ? "" : c.error().text());
  if (!c) return nullptr;
  EXPECT_TRUE((*c)->set_lease_deadline(monotonic_now_ns() + lease_ns));
  return std::move(*c);
}

Result<AttachRecord> attach_in(Classifier& c, const std::string& ns_path, const std::string& ifname,
                               AttachMode mode, BeforeChange hook = {}) {
  auto g = NetnsGuard::enter(ns_path);
  if (!g) return std::unexpected(g.error());
  int ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  if (!ifindex) return fail_errno("if_nametoindex " + ifname);
  AttachOptions o;
  o.mode = mode;
  o.netns_path = ns_path;
  o.before_change = std::move(hook);
  return c.attach(ifindex, o);
}

bool has_clsact(const std::string& ns, const std::string& ifname) {
  return capture("tc -n " + ns + " qdisc show dev " + ifname).find("clsact") != std::string::npos;
}

class ClassifierAttach : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: network namespaces, tc and BPF";
    if (sh("ip -V") != 0) GTEST_SKIP() << "iproute2 (ip, tc) is needed to build the lab";
    ASSERT_TRUE(lab.setup());
    // The lab carries traffic before anything is attached; otherwise nothing below means much.
    // A fresh veth may need a moment (link watch) before its qdisc passes packets.
    int got = 0;
    for (int i = 0; i < 20 && got != kBurst; ++i) got = a_to_b(lab, 5001);
    ASSERT_EQ(got, kBurst) << "the lab does not carry traffic";
  }
  Lab lab;
};

class ClassifierAttachModes : public ClassifierAttach,
                              public ::testing::WithParamInterface<AttachMode> {};

TEST_P(ClassifierAttachModes, EgressDropsOnlyMatchingTrafficUntilDetached) {
  const AttachMode mode = GetParam();
  auto c = load_with_lease(drop_udp_5001(TcDirection::egress), ms(30'000));
  ASSERT_TRUE(c);
  std::vector<AttachRecord> journaled;
  auto rec =
      attach_in(*c, lab.path_a(), lab.if_a, mode, [&](const AttachRecord& r) -> Result<void> {
        journaled.push_back(r);
        return {};
      });
  ASSERT_TRUE(rec) << rec.error().text();
  EXPECT_EQ(rec->mode, mode);
  ASSERT_FALSE(journaled.empty()) << "every change is announced before it is made";
  EXPECT_EQ(journaled.back().to_json(), rec->to_json());

  EXPECT_EQ(a_to_b(lab, 5001), 0) << "matching UDP dropped";
  EXPECT_EQ(a_to_b(lab, 5002), kBurst) << "another port passes";
  EXPECT_TRUE(tcp_connects(lab, 5001)) << "another protocol passes";
  EXPECT_EQ(udp_delivered(lab.path_b(), lab.path_a(), kAddrA, 5001), kBurst)
      << "the other direction passes";
  auto s = c->stats();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->acted, static_cast<std::uint64_t>(kBurst));

  if (mode == AttachMode::classic) {
    std::string f = capture(lab.expand("tc -n {A} filter show dev {IA} egress"));
    EXPECT_NE(f.find("chaos_cls"), std::string::npos) << f;
    EXPECT_NE(f.find("direct-action"), std::string::npos) << f;
    EXPECT_TRUE(rec->created_clsact);
  } else {
    EXPECT_NE(rec->link_id, 0u);
    EXPECT_TRUE(link_exists(rec->link_id));
  }

  ASSERT_TRUE(c->detach());
  EXPECT_EQ(a_to_b(lab, 5001), kBurst) << "detach restores traffic";
  if (mode == AttachMode::classic) {
    EXPECT_FALSE(has_clsact(lab.ns_a, lab.if_a)) << "the clsact we made is gone";
  } else {
    EXPECT_FALSE(link_exists(rec->link_id));
  }
  EXPECT_TRUE(c->detach()) << "idempotent";
}

TEST_P(ClassifierAttachModes, IngressDropsBySourceAddress) {
  auto c = load_with_lease(drop_udp_5001(TcDirection::ingress), ms(30'000));
  ASSERT_TRUE(c);
  auto rec = attach_in(*c, lab.path_b(), lab.if_b, GetParam());
  ASSERT_TRUE(rec) << rec.error().text();
  EXPECT_EQ(a_to_b(lab, 5001), 0);
  EXPECT_EQ(a_to_b(lab, 5002), kBurst);
  ASSERT_TRUE(c->detach());
  EXPECT_EQ(a_to_b(lab, 5001), kBurst);
}

TEST_P(ClassifierAttachModes, AnUnrenewedLeaseStandsTheFaultDownWhileAttached) {
  auto c = load_with_lease(drop_udp_5001(TcDirection::egress), ms(30'000));
  ASSERT_TRUE(c);
  auto rec = attach_in(*c, lab.path_a(), lab.if_a, GetParam());
  ASSERT_TRUE(rec) << rec.error().text();
  // A check that ends after the deadline proves nothing (a loaded machine): try again.
  std::uint64_t deadline = 0;
  bool dropped_in_time = false;
  for (int attempt = 0; attempt < 3 && !dropped_in_time; ++attempt) {
    deadline = monotonic_now_ns() + ms(400);
    ASSERT_TRUE(c->set_lease_deadline(deadline));
    int got = a_to_b(lab, 5001);
    if (monotonic_now_ns() < deadline) {
      EXPECT_EQ(got, 0);
      dropped_in_time = true;
    }
  }
  ASSERT_TRUE(dropped_in_time);
  while (monotonic_now_ns() <= deadline + ms(5))
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(a_to_b(lab, 5001), kBurst) << "still attached, but the lease ran out";
  ASSERT_TRUE(c->set_lease_deadline(monotonic_now_ns() + ms(30'000)));
  EXPECT_EQ(a_to_b(lab, 5001), 0) << "renewed";
  EXPECT_GE(c->stats()->lease_expired_passes, static_cast<std::uint64_t>(kBurst));
}

// Steering on the real kernel: a root HTB with classes 1:1 (default) and 1:2; only matching
// packets must be counted by 1:2.
TEST_P(ClassifierAttachModes, SteerSendsOnlyMatchingPacketsIntoTheHtbClass) {
  for (const char* s : {"tc -n {A} qdisc add dev {IA} root handle 1: htb default 1",
                        "tc -n {A} class add dev {IA} parent 1: classid 1:1 htb rate 1gbit",
                        "tc -n {A} class add dev {IA} parent 1: classid 1:2 htb rate 1gbit"})
    ASSERT_EQ(sh(lab.expand(s)), 0) << lab.expand(s);
  ClassifierConfig cfg = drop_udp_5001(TcDirection::egress);
  cfg.action = ClassifierAction::steer;
  cfg.classid = 0x10002;
  auto c = load_with_lease(cfg, ms(30'000));
  ASSERT_TRUE(c);
  ASSERT_TRUE(attach_in(*c, lab.path_a(), lab.if_a, GetParam()));
  EXPECT_EQ(a_to_b(lab, 5001), kBurst) << "steered, not dropped";
  EXPECT_EQ(a_to_b(lab, 5002), kBurst);
  // "class htb 1:2 root ... \n Sent 250 bytes 5 pkt (dropped 0, ...)"
  const std::string text = capture(lab.expand("tc -n {A} -s class show dev {IA}"));
  auto packets_of = [&](const std::string& cls) -> long {
    auto at = text.find("class htb " + cls + " ");
    if (at == std::string::npos) return -1;
    auto sent = text.find(" Sent ", at);
    auto bytes = text.find(" bytes ", sent);
    if (sent == std::string::npos || bytes == std::string::npos) return -1;
    return std::strtol(text.c_str() + bytes + 7, nullptr, 10);
  };
  EXPECT_EQ(packets_of("1:2"), kBurst) << text;
  EXPECT_GE(packets_of("1:1"), kBurst) << text;
  ASSERT_TRUE(c->detach());
}

// Ingress netem's plumbing: matching packets go through an ifb (made here, inside B) and come
// back into B's stack; others do not touch it.
TEST_P(ClassifierAttachModes, RedirectSendsMatchingIngressPacketsThroughAnIfb) {
  const std::string ifb = "cli" + lab.if_a.substr(3);
  ASSERT_EQ(sh(lab.expand("ip -n {B} link add " + ifb + " type ifb")), 0);
  ASSERT_EQ(sh(lab.expand("ip -n {B} link set " + ifb + " up")), 0);
  auto ifb_tx = [&] {
    auto j = nlohmann::json::parse(capture(lab.expand("ip -n {B} -s -j link show dev " + ifb)),
                                   nullptr, false);
    return j.is_array() && !j.empty() ? j[0]["stats64"]["tx"].value("packets", 0ull) : ~0ull;
  };
  ClassifierConfig cfg = drop_udp_5001(TcDirection::ingress);
  cfg.action = ClassifierAction::redirect;
  cfg.redirect_ifindex = ifindex_in(lab.path_b(), ifb);
  ASSERT_GT(cfg.redirect_ifindex, 0);
  auto c = load_with_lease(cfg, ms(30'000));
  ASSERT_TRUE(c);
  ASSERT_TRUE(attach_in(*c, lab.path_b(), lab.if_b, GetParam()));
  const auto before = ifb_tx();
  EXPECT_EQ(a_to_b(lab, 5002), kBurst);
  EXPECT_EQ(ifb_tx(), before) << "unmatched traffic bypasses the ifb";
  EXPECT_EQ(a_to_b(lab, 5001), kBurst) << "redirected packets come back to B's stack";
  EXPECT_EQ(ifb_tx(), before + kBurst);
  ASSERT_TRUE(c->detach());
}

INSTANTIATE_TEST_SUITE_P(Modes, ClassifierAttachModes,
                         ::testing::Values(AttachMode::tcx, AttachMode::classic),
                         [](const auto& info) {
                           return std::string(attach_mode_name(info.param));
                         });

TEST_F(ClassifierAttach, AutoModeUsesTcxWhereTheKernelHasIt) {
  if (!tcx_supported()) GTEST_SKIP() << "this kernel has no tcx; auto means classic here";
  auto c = load_with_lease(drop_udp_5001(TcDirection::egress), ms(30'000));
  ASSERT_TRUE(c);
  auto rec = attach_in(*c, lab.path_a(), lab.if_a, AttachMode::automatic);
  ASSERT_TRUE(rec) << rec.error().text();
  EXPECT_EQ(rec->mode, AttachMode::tcx);
  EXPECT_EQ(a_to_b(lab, 5001), 0);
}

TEST_F(ClassifierAttach, TcxLinkDiesWithTheObjectThatOwnsItsFd) {
  auto c = load_with_lease(drop_udp_5001(TcDirection::egress), ms(30'000));
  ASSERT_TRUE(c);
  auto rec = attach_in(*c, lab.path_a(), lab.if_a, AttachMode::tcx);
  ASSERT_TRUE(rec) << rec.error().text();
  ASSERT_EQ(a_to_b(lab, 5001), 0);
  c->release();  // no detach: only the fd keeps the link now
  ASSERT_TRUE(link_exists(rec->link_id));
  c.reset();
  EXPECT_FALSE(link_exists(rec->link_id));
  EXPECT_EQ(a_to_b(lab, 5001), kBurst);
}

// What the crash tests run in a child process that then dies without cleaning up.
// Writes the attach record (plus the lease deadline) as one JSON line to `fd`.
[[noreturn]] void attach_and_die(int fd, const Lab& lab, AttachMode mode, std::uint64_t lease_ns) {
  auto c = Classifier::load(drop_udp_5001(TcDirection::egress));
  if (!c) _exit(1);
  const std::uint64_t deadline = monotonic_now_ns() + lease_ns;
  if (!(*c)->set_lease_deadline(deadline)) _exit(1);
  auto rec = attach_in(**c, lab.path_a(), lab.if_a, mode);
  if (!rec) _exit(1);
  auto j = rec->to_json();
  j["deadline"] = deadline;
  std::string line = j.dump() + "\n";
  // _exit while the Classifier is still alive: no destructor runs, as under SIGKILL.
  _exit(write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) ? 0 : 1);
}

nlohmann::json run_child_attach(const Lab& lab, AttachMode mode, std::uint64_t lease_ns) {
  int p[2];
  if (pipe(p) != 0) return nullptr;
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    attach_and_die(p[1], lab, mode, lease_ns);
  }
  close(p[1]);
  std::string text;
  char buf[1024];
  for (ssize_t n; (n = read(p[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  close(p[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return nullptr;
  return nlohmann::json::parse(text, nullptr, false);
}

TEST_F(ClassifierAttach, TcxLinkDiesWithTheProcess) {
  auto j = run_child_attach(lab, AttachMode::tcx, ms(30'000));
  ASSERT_TRUE(j.is_object()) << "child failed to attach";
  EXPECT_FALSE(link_exists(j.value("link_id", 0u)));
  EXPECT_EQ(a_to_b(lab, 5001), kBurst);
}

TEST_F(ClassifierAttach, ClassicFilterOutlivesTheProcessAndIsUndoneFromTheJournal) {
  auto j = run_child_attach(lab, AttachMode::classic, ms(30'000));
  ASSERT_TRUE(j.is_object()) << "child failed to attach";
  EXPECT_EQ(a_to_b(lab, 5001), 0) << "the dead agent's filter still drops (lease still live)";
  EXPECT_TRUE(has_clsact(lab.ns_a, lab.if_a));

  UndoRegistry undo;
  register_classifier_undo(undo);
  JournalEntry e;
  e.kind = kClassifierJournalKind;
  e.undo = j;
  auto r = undo.undo(e);
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(a_to_b(lab, 5001), kBurst);
  {
    auto g = NetnsGuard::enter(lab.path_a());
    ASSERT_TRUE(g);
    auto left = list_clsact_filters(j.value("ifindex", 0), TcDirection::egress);
    ASSERT_TRUE(left);
    EXPECT_TRUE(left->empty());
  }
  EXPECT_FALSE(has_clsact(lab.ns_a, lab.if_a)) << "the qdisc it created is gone too";
  EXPECT_TRUE(undo.undo(e)) << "idempotent";
}

TEST_F(ClassifierAttach, LeftoverClassicFilterGoesQuietWhenTheLeaseRunsOut) {
  // A check that ends after the deadline proves nothing (a loaded machine can make the child's
  // fork, load and attach eat most of the lease): undo and try again with a fresh child.
  nlohmann::json j;
  std::uint64_t deadline = 0;
  bool dropped_in_time = false;
  for (int attempt = 0; attempt < 3 && !dropped_in_time; ++attempt) {
    j = run_child_attach(lab, AttachMode::classic, ms(2000));
    ASSERT_TRUE(j.is_object()) << "child failed to attach";
    deadline = j.value("deadline", 0ull);
    int got = a_to_b(lab, 5001);
    if (monotonic_now_ns() < deadline) {
      EXPECT_EQ(got, 0) << "the dead agent's filter drops while the lease is live";
      dropped_in_time = true;
    } else {
      auto stale = AttachRecord::from_json(j);
      ASSERT_TRUE(stale);
      ASSERT_TRUE(undo_attach(*stale));
    }
  }
  ASSERT_TRUE(dropped_in_time) << "three children in a row reported after their lease had run out";
  while (monotonic_now_ns() <= deadline + ms(20))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(a_to_b(lab, 5001), kBurst) << "nobody renewed: the orphaned filter passes everything";
  EXPECT_NE(capture(lab.expand("tc -n {A} filter show dev {IA} egress")).find("chaos_cls"),
            std::string::npos)
      << "while the filter itself is still there";
  auto rec = AttachRecord::from_json(j);
  ASSERT_TRUE(rec);
  ASSERT_TRUE(undo_attach(*rec));
}

TEST_F(ClassifierAttach, TcxUndoFromTheRecordWorksWhileAHungAgentHoldsTheFd) {
  auto c = load_with_lease(drop_udp_5001(TcDirection::egress), ms(30'000));
  ASSERT_TRUE(c);
  auto rec = attach_in(*c, lab.path_a(), lab.if_a, AttachMode::tcx);
  ASSERT_TRUE(rec) << rec.error().text();
  ASSERT_EQ(a_to_b(lab, 5001), 0);
  auto r = undo_attach(AttachRecord::from_json(rec->to_json()).value());
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(a_to_b(lab, 5001), kBurst) << "detached although the fd is still open";
  // Found by program id alone, as after a crash between link creation and journaling its id.
  AttachRecord no_id = *rec;
  no_id.link_id = 0;
  EXPECT_TRUE(undo_attach(no_id));
  EXPECT_TRUE(c->detach()) << "the owner's own detach still succeeds";
}

TEST_F(ClassifierAttach, TcxUndoWithoutLinkIdFindsTheLinkByProgramId) {
  auto c = load_with_lease(drop_udp_5001(TcDirection::egress), ms(30'000));
  auto other = load_with_lease(drop_udp_5001(TcDirection::egress), ms(30'000));
  ASSERT_TRUE(c && other);
  auto rec = attach_in(*c, lab.path_a(), lab.if_a, AttachMode::tcx);
  auto rec_other = attach_in(*other, lab.path_b(), lab.if_b, AttachMode::tcx);
  ASSERT_TRUE(rec && rec_other);
  AttachRecord no_id = *rec;
  no_id.link_id = 0;
  ASSERT_TRUE(undo_attach(no_id));
  EXPECT_EQ(a_to_b(lab, 5001), kBurst);
  auto li_fd = bpf_link_get_fd_by_id(rec_other->link_id);
  ASSERT_GE(li_fd, 0);
  auto li = bpf_link_info(li_fd);
  close(li_fd);
  ASSERT_TRUE(li);
  EXPECT_NE(li->tcx_ifindex, 0u) << "another fault's link (other program) was left alone";
}

TEST_F(ClassifierAttach, UndoIsANoOpOnceTheNamespaceIsGoneOrReplaced) {
  auto c = load_with_lease(drop_udp_5001(TcDirection::egress), ms(30'000));
  ASSERT_TRUE(c);
  auto rec = attach_in(*c, lab.path_a(), lab.if_a, AttachMode::classic);
  ASSERT_TRUE(rec) << rec.error().text();
  c->release();
  ASSERT_EQ(sh("ip netns del " + lab.ns_a), 0);
  EXPECT_TRUE(undo_attach(*rec)) << "namespace gone";
  // The same name, a different namespace: nothing in it is ours.
  ASSERT_EQ(sh("ip netns add " + lab.ns_a), 0);
  ASSERT_EQ(sh(lab.expand("ip -n {A} link add {IA} type veth peer name {IB}")), 0);
  ASSERT_EQ(sh("tc -n " + lab.ns_a + " qdisc add dev " + lab.if_a + " clsact"), 0);
  EXPECT_TRUE(undo_attach(*rec));
  EXPECT_TRUE(has_clsact(lab.ns_a, lab.if_a)) << "someone else's qdisc left alone";
}

TEST_F(ClassifierAttach, ClassicNeverRemovesWhatItDidNotMake) {
  auto first = load_with_lease(drop_udp_5001(TcDirection::egress), ms(30'000));
  ClassifierConfig cfg2 = drop_udp_5001(TcDirection::egress);
  cfg2.ports = {{5002, 5002}};
  auto second = load_with_lease(cfg2, ms(30'000));
  ASSERT_TRUE(first && second);
  auto r1 = attach_in(*first, lab.path_a(), lab.if_a, AttachMode::classic);
  auto r2 = attach_in(*second, lab.path_a(), lab.if_a, AttachMode::classic);
  ASSERT_TRUE(r1) << r1.error().text();
  ASSERT_TRUE(r2) << r2.error().text();
  EXPECT_TRUE(r1->created_clsact);
  EXPECT_FALSE(r2->created_clsact);
  EXPECT_EQ(r1->prio, r2->prio);
  EXPECT_NE(r1->handle, r2->handle) << "two faults share the hook, each with its own handle";
  EXPECT_EQ(a_to_b(lab, 5001), 0);
  EXPECT_EQ(a_to_b(lab, 5002), 0);
  EXPECT_EQ(a_to_b(lab, 5003), kBurst);

  // A filter of somebody else's on the other hook.
  ASSERT_EQ(
      sh(lab.expand("tc -n {A} filter add dev {IA} ingress prio 7 u32 match u32 0 0 classid 1:1")),
      0);
  ASSERT_TRUE(first->detach());
  EXPECT_EQ(a_to_b(lab, 5001), kBurst);
  EXPECT_EQ(a_to_b(lab, 5002), 0) << "the other fault's filter still works";
  ASSERT_TRUE(second->detach());
  EXPECT_EQ(a_to_b(lab, 5002), kBurst);
  EXPECT_TRUE(has_clsact(lab.ns_a, lab.if_a)) << "a foreign filter still hangs off it";
  EXPECT_NE(capture(lab.expand("tc -n {A} filter show dev {IA} ingress")).find("u32"),
            std::string::npos);
}

// Issue 10: a partition with direction both puts one filter on each hook of one interface; the
// first attach makes the clsact, the second joins it. Whichever detaches first, the clsact goes
// with the last filter.
TEST_F(ClassifierAttach, TheClsactGoesWithTheLastFilterInEitherDetachOrder) {
  for (bool maker_first : {true, false}) {
    SCOPED_TRACE(maker_first ? "the filter that made the clsact detaches first" : "the joiner detaches first");
    auto eg = load_with_lease(drop_udp_5001(TcDirection::egress), ms(30'000));
    auto in = load_with_lease(drop_udp_5001(TcDirection::ingress), ms(30'000));
    ASSERT_TRUE(eg && in);
    auto r1 = attach_in(*eg, lab.path_a(), lab.if_a, AttachMode::classic);
    auto r2 = attach_in(*in, lab.path_a(), lab.if_a, AttachMode::classic);
    ASSERT_TRUE(r1) << r1.error().text();
    ASSERT_TRUE(r2) << r2.error().text();
    ASSERT_TRUE(has_clsact(lab.ns_a, lab.if_a));
    Classifier& first = maker_first ? *eg : *in;
    Classifier& second = maker_first ? *in : *eg;
    ASSERT_TRUE(first.detach());
    EXPECT_TRUE(has_clsact(lab.ns_a, lab.if_a)) << "the other filter still needs it";
    EXPECT_EQ(a_to_b(lab, 5001), maker_first ? kBurst : 0) << "the other filter still works";
    ASSERT_TRUE(second.detach());
    EXPECT_FALSE(has_clsact(lab.ns_a, lab.if_a)) << "the clsact the agent made outlived its last filter";
    EXPECT_EQ(a_to_b(lab, 5001), kBurst);
  }
}

// The same two filters journaled the way faults journal them (network::attach_journaled), then
// a crash at every point of their life: after both attached, and between the two detaches (the
// filter that made the clsact gone first, its entry closed). A replay from the journal alone must
// leave nothing, and the clsact has an entry of its own that stays outstanding until it is gone.
class ClassifierJournal : public ClassifierAttach {
 protected:
  void SetUp() override {
    ClassifierAttach::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    char tmpl[] = "/tmp/chaos-cls-journal-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    state_ = tmpl;
    auto j = Journal::open(state_);
    ASSERT_TRUE(j) << j.error().text();
    journal_ = std::move(*j);
    ctx_.config = &config_;
    ctx_.journal = journal_.get();
    ctx_.run_id = "r-cls";
    ctx_.log = logger("test");
    register_classifier_undo(undo_);
  }
  void TearDown() override {
    journal_.reset();
    if (!state_.empty()) std::filesystem::remove_all(state_);
  }
  struct Journaled {
    std::unique_ptr<Classifier> cls;
    std::uint64_t seq = 0;
  };
  Journaled attach(TcDirection dir) {
    Journaled j;
    j.cls = load_with_lease(drop_udp_5001(dir), ms(30'000));
    if (!j.cls) return j;
    int ifindex = ifindex_in(lab.path_a(), lab.if_a);
    auto r = network::attach_journaled(*j.cls, ifindex, lab.path_a(), AttachMode::classic, ctx_, j.seq);
    EXPECT_TRUE(r) << r.error().text();
    return j;
  }
  std::vector<std::string> kinds_outstanding() const {
    std::vector<std::string> out;
    for (const auto& e : journal_->outstanding()) out.push_back(e.kind);
    return out;
  }
  // What a restarted agent does: a fresh Journal over the same file, then the replay.
  RecoveryReport replay() {
    journal_.reset();
    auto j = Journal::open(state_);
    EXPECT_TRUE(j);
    journal_ = std::move(*j);
    ctx_.journal = journal_.get();
    return recover(*journal_, undo_);
  }
  std::string state_;
  std::unique_ptr<Journal> journal_;
  AgentConfig config_;
  FaultContext ctx_;
  UndoRegistry undo_;
};

TEST_F(ClassifierJournal, TheClsactIsAnEntryOfItsOwn) {
  auto eg = attach(TcDirection::egress);
  auto in = attach(TcDirection::ingress);
  ASSERT_TRUE(eg.cls && in.cls && eg.seq && in.seq);
  auto all = journal_->outstanding();  // newest first
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].seq, in.seq);
  EXPECT_EQ(all[1].seq, eg.seq);
  EXPECT_EQ(all[2].kind, kClsactJournalKind) << "made by the egress attach, its intent just before the filter's";
  EXPECT_FALSE(all[1].undo.value("created_clsact", true)) << "the filter's record does not own the clsact";
  EXPECT_FALSE(all[0].undo.value("created_clsact", true));
  EXPECT_EQ(all[2].undo.value("ifindex", 0), ifindex_in(lab.path_a(), lab.if_a));
  // Two intents, one disk sync: the clsact's is written first and made durable by the filter's.
  {
    std::ifstream f(state_ + "/journal.jsonl");
    std::string first;
    std::getline(f, first);
    EXPECT_NE(first.find("\"kind\":\"clsact\""), std::string::npos) << first;
  }

  // Normal revert, the maker first: the clsact entry stays until the last filter is gone.
  ASSERT_TRUE(network::detach_journaled(*eg.cls, ctx_, eg.seq));
  EXPECT_TRUE(has_clsact(lab.ns_a, lab.if_a));
  EXPECT_EQ(kinds_outstanding(), (std::vector<std::string>{kClassifierJournalKind, kClsactJournalKind}));
  ASSERT_TRUE(network::detach_journaled(*in.cls, ctx_, in.seq));
  EXPECT_FALSE(has_clsact(lab.ns_a, lab.if_a));
  EXPECT_TRUE(journal_->outstanding().empty());
}

TEST_F(ClassifierJournal, ACrashBetweenTheTwoDetachesLeavesNothingAfterTheReplay) {
  auto eg = attach(TcDirection::egress);
  auto in = attach(TcDirection::ingress);
  ASSERT_TRUE(eg.cls && in.cls);
  ASSERT_TRUE(network::detach_journaled(*eg.cls, ctx_, eg.seq));  // the clsact's maker, gone first
  in.cls->release();  // the crash: the ingress filter and the clsact stay, as after a SIGKILL
  in.cls.reset();
  eg.cls.reset();
  ASSERT_TRUE(has_clsact(lab.ns_a, lab.if_a));
  auto rep = replay();
  EXPECT_EQ(rep.failed, 0);
  EXPECT_EQ(rep.reverted, 2) << "the ingress filter, then the clsact";
  EXPECT_FALSE(has_clsact(lab.ns_a, lab.if_a)) << "the clsact outlived the replay";
  EXPECT_TRUE(journal_->outstanding().empty());
  EXPECT_EQ(a_to_b(lab, 5001), kBurst);
}

TEST_F(ClassifierJournal, ACrashWhileBothHoldLeavesNothingAfterTheReplay) {
  auto eg = attach(TcDirection::egress);
  auto in = attach(TcDirection::ingress);
  ASSERT_TRUE(eg.cls && in.cls);
  eg.cls->release();
  in.cls->release();
  eg.cls.reset();
  in.cls.reset();
  EXPECT_EQ(a_to_b(lab, 5001), 0) << "the dead agent's filters still drop (their lease is live)";
  auto rep = replay();
  EXPECT_EQ(rep.failed, 0);
  EXPECT_EQ(rep.reverted, 3);
  EXPECT_FALSE(has_clsact(lab.ns_a, lab.if_a));
  EXPECT_EQ(a_to_b(lab, 5001), kBurst);
}

TEST_F(ClassifierJournal, AForeignFilterKeepsTheClsactAndTheEntryClosesWithTheReason) {
  auto eg = attach(TcDirection::egress);
  ASSERT_TRUE(eg.cls);
  ASSERT_EQ(sh(lab.expand("tc -n {A} filter add dev {IA} ingress prio 7 u32 match u32 0 0 classid 1:1")), 0);
  ASSERT_TRUE(network::detach_journaled(*eg.cls, ctx_, eg.seq));
  EXPECT_TRUE(has_clsact(lab.ns_a, lab.if_a)) << "someone else's filter hangs off it";
  EXPECT_TRUE(journal_->outstanding().empty());
  std::ifstream in(state_ + "/journal.jsonl");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("left in place: foreign filter(s) on it: ingress u32 prio 7"), std::string::npos) << text;
}

TEST_F(ClassifierJournal, TheReplayLeavesAClsactWithAForeignFilterAndSaysWhy) {
  auto eg = attach(TcDirection::egress);
  ASSERT_TRUE(eg.cls);
  ASSERT_EQ(sh(lab.expand("tc -n {A} filter add dev {IA} ingress prio 7 u32 match u32 0 0 classid 1:1")), 0);
  eg.cls->release();
  eg.cls.reset();
  auto rep = replay();
  EXPECT_EQ(rep.failed, 0);
  EXPECT_TRUE(has_clsact(lab.ns_a, lab.if_a));
  ASSERT_EQ(rep.lines.size(), 2u);
  EXPECT_NE(rep.lines[1].find("left in place: foreign filter(s) on it"), std::string::npos) << rep.lines[1];
  EXPECT_EQ(capture(lab.expand("tc -n {A} filter show dev {IA} egress")).find("chaos_cls"), std::string::npos);
}

TEST_F(ClassifierJournal, TheJournalUndoLeavesAClsactAFaultOfThisProcessStillUses) {
  auto eg = attach(TcDirection::egress);
  ASSERT_TRUE(eg.cls);
  std::optional<JournalEntry> clsact;
  for (const auto& e : journal_->outstanding())
    if (e.kind == kClsactJournalKind) clsact = e;
  ASSERT_TRUE(clsact);
  auto r = undo_.undo(*clsact);
  ASSERT_FALSE(r) << "a recover must not pull the qdisc from under a live fault";
  EXPECT_EQ(r.error().code, EBUSY);
  EXPECT_TRUE(has_clsact(lab.ns_a, lab.if_a));
  EXPECT_EQ(a_to_b(lab, 5001), 0);
  ASSERT_TRUE(network::detach_journaled(*eg.cls, ctx_, eg.seq));
  EXPECT_FALSE(has_clsact(lab.ns_a, lab.if_a));
  EXPECT_TRUE(journal_->outstanding().empty());
}

TEST_F(ClassifierAttach, AFailedJournalWriteStopsTheAttachBeforeAnyChange) {
  auto c = load_with_lease(drop_udp_5001(TcDirection::egress), ms(30'000));
  ASSERT_TRUE(c);
  for (AttachMode mode : {AttachMode::tcx, AttachMode::classic}) {
    auto rec = attach_in(*c, lab.path_a(), lab.if_a, mode, [](const AttachRecord&) -> Result<void> {
      return fail("disk full", ENOSPC);
    });
    ASSERT_FALSE(rec);
    EXPECT_EQ(rec.error().code, ENOSPC);
    EXPECT_FALSE(c->attachment());
    EXPECT_FALSE(has_clsact(lab.ns_a, lab.if_a)) << attach_mode_name(mode);
    EXPECT_EQ(a_to_b(lab, 5001), kBurst) << attach_mode_name(mode);
  }
}

}  // namespace
}  // namespace chaos::kernel
