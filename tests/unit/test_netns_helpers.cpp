// No root needed: address parsing, libnl error mapping, lab naming/plan/state, and the HTTP
// responder served over loopback in this process.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <netlink/errno.h>

#include "lab/http_responder.h"
#include "lab/lab.h"
#include "kernel/netlink.h"
#include "kernel/netns.h"

namespace chaos {
namespace {

TEST(InterfaceAddress, ParsesBothFamiliesWithPrefix) {
  auto a = parse_interface_address("198.18.0.10/24");
  ASSERT_TRUE(a) << a.error().text();
  EXPECT_EQ(a->family, AF_INET);
  EXPECT_EQ(a->prefix, 24);
  EXPECT_EQ(a->ip(), "198.18.0.10");
  EXPECT_EQ(a->str(), "198.18.0.10/24");
  EXPECT_EQ(a->network().str(), "198.18.0.0/24");
  EXPECT_EQ(a->host().prefix, 32);

  auto b = parse_interface_address("2001:2::10/64");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->family, AF_INET6);
  EXPECT_EQ(b->str(), "2001:2::10/64");
  EXPECT_EQ(b->network().str(), "2001:2::/64");

  auto bare = parse_interface_address("2001:2::1");
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->prefix, 128);
  auto odd = parse_interface_address("198.18.1.7/23");
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->network().str(), "198.18.0.0/23");
}

TEST(InterfaceAddress, RejectsGarbage) {
  for (const char* bad : {"", "198.18.0.10/33", "198.18.0.10/", "198.18.0.10/2x", "2001:2::1/129",
                          "host", "198.18.0.300/24", "198.18.0.10/-1"}) {
    auto a = parse_interface_address(bad);
    ASSERT_FALSE(a) << bad;
    EXPECT_EQ(a.error().code, EINVAL);
    EXPECT_NE(a.error().message.find("expected"), std::string::npos) << a.error().message;
  }
}

TEST(NetlinkErrors, MapBackToErrno) {
  EXPECT_EQ(nl_error_to_errno(-NLE_EXIST), EEXIST);
  EXPECT_EQ(nl_error_to_errno(-NLE_NODEV), ENODEV);
  EXPECT_EQ(nl_error_to_errno(-NLE_OBJ_NOTFOUND), ENOENT);
  EXPECT_EQ(nl_error_to_errno(-NLE_PERM), EPERM);
  EXPECT_EQ(nl_error_to_errno(-NLE_BUSY), EBUSY);
  EXPECT_EQ(nl_error_to_errno(-NLE_OPNOTSUPP), EOPNOTSUPP);
  EXPECT_EQ(nl_error_to_errno(-NLE_NOADDR), EADDRNOTAVAIL);
  EXPECT_EQ(nl_error_to_errno(-NLE_PARSE_ERR), 0);  // no errno behind it
  auto e = fail_nl(-NLE_EXIST, "create veth a <-> b");
  EXPECT_EQ(e.error().code, EEXIST);
  EXPECT_EQ(e.error().message, "create veth a <-> b: Object exists");
}

TEST(Netns, NamesAndIdentityWithoutRoot) {
  EXPECT_FALSE(named_netns_path("../etc"));
  EXPECT_FALSE(named_netns_path(""));
  EXPECT_FALSE(named_netns_path(".."));
  EXPECT_EQ(*named_netns_path("chaoslab-client"), "/run/netns/chaoslab-client");

  auto missing = resolve_named_netns("chaos-unit-no-such-netns");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_NE(missing.error().message.find("netns chaos-unit-no-such-netns"), std::string::npos);

  auto self = resolve_pid_netns(getpid());
  ASSERT_TRUE(self) << self.error().text();
  auto cur = current_netns_id();
  ASSERT_TRUE(cur) << cur.error().text();
  EXPECT_EQ(self->id, *cur);
  EXPECT_TRUE(verify_netns(*self));
  NetnsRef wrong = *self;
  wrong.id.ino += 1;
  auto v = verify_netns(wrong);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ESTALE);

  // Not a namespace at all: a regular file.
  auto notns = netns_id("/proc/self/stat");
  ASSERT_FALSE(notns);
  EXPECT_EQ(notns.error().code, EINVAL);
  EXPECT_FALSE(resolve_pid_netns(0));
}

TEST(Lab, NamesAndAddressPlan) {
  EXPECT_TRUE(validate_lab_name("chaoslab"));
  EXPECT_TRUE(validate_lab_name("t-1234_x"));
  EXPECT_FALSE(validate_lab_name(""));
  EXPECT_FALSE(validate_lab_name("-x"));
  EXPECT_FALSE(validate_lab_name("a/b"));
  EXPECT_FALSE(validate_lab_name(std::string(33, 'a')));
  EXPECT_TRUE(validate_lab_host_name("etcd1"));
  EXPECT_FALSE(validate_lab_host_name("etcd-1"));  // '-' would make LAB-HOST ambiguous
  EXPECT_FALSE(validate_lab_host_name("Client"));
  EXPECT_FALSE(validate_lab_host_name("abcdefghijklm"));  // v-<13> overflows IFNAMSIZ
  EXPECT_EQ(lab_netns_name("chaoslab", "client"), "chaoslab-client");
  EXPECT_EQ(lab_state_dir("x"), "/run/chaos-lab/x");

  auto v4range = parse_cidr("198.18.0.0/15");
  auto v6range = parse_cidr("2001:2::/48");
  ASSERT_TRUE(v4range && v6range);
  auto hosts = lab_default_hosts();
  for (int k = 1; k <= 9; ++k) hosts.push_back(lab_etcd_host(k));
  ASSERT_EQ(hosts.size(), 11u);
  EXPECT_EQ(hosts[0].ipv4.str(), "198.18.0.10/24");
  EXPECT_EQ(hosts[1].ipv4.str(), "198.18.0.20/24");
  EXPECT_EQ(hosts[1].ipv6.str(), "2001:2::20/64");
  EXPECT_EQ(lab_etcd_host(3).name, "etcd3");
  EXPECT_EQ(lab_etcd_host(3).ipv4.str(), "198.18.0.33/24");
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    EXPECT_TRUE(validate_lab_host_name(hosts[i].name));
    EXPECT_TRUE(v4range->contains(hosts[i].ipv4.host())) << hosts[i].ipv4.str();
    EXPECT_TRUE(v6range->contains(hosts[i].ipv6.host())) << hosts[i].ipv6.str();
    EXPECT_EQ(hosts[i].ipv4.network(), hosts[0].ipv4.network());  // one subnet, one bridge
    for (std::size_t j = 0; j < i; ++j) {
      EXPECT_NE(hosts[i].ipv4, hosts[j].ipv4);
      EXPECT_NE(hosts[i].ipv6, hosts[j].ipv6);
    }
  }
}

TEST(Lab, StateRoundTrips) {
  LabInfo info;
  info.name = "t1";
  info.state = "ready";
  info.switch_netns = "t1-switch";
  info.bridge = "br0";
  info.netns = {"t1-switch", "t1-client"};
  info.responder_port = 8080;
  LabHost h;
  h.name = "client";
  h.netns = "t1-client";
  h.interface = "eth0";
  h.switch_port = "v-client";
  h.ipv4 = *parse_interface_address("198.18.0.10/24");
  h.ipv6 = *parse_interface_address("2001:2::10/64");
  info.hosts.push_back(h);
  info.processes.push_back({"responder", "server", 4242, 987654321, true});

  auto back = lab_from_json(lab_to_json(info));
  ASSERT_TRUE(back) << back.error().text();
  EXPECT_EQ(back->name, "t1");
  EXPECT_EQ(back->netns, info.netns);
  ASSERT_EQ(back->hosts.size(), 1u);
  EXPECT_EQ(back->hosts[0].ipv6, h.ipv6);
  EXPECT_EQ(back->hosts[0].switch_port, "v-client");
  ASSERT_NE(back->process("responder"), nullptr);
  EXPECT_EQ(back->process("responder")->start_time, 987654321u);
  EXPECT_EQ(back->responder_port, 8080);

  auto torn = lab_from_json("{\"name\": \"t1\", \"state\": ");
  ASSERT_FALSE(torn);
  EXPECT_EQ(torn.error().code, EINVAL);
  EXPECT_FALSE(lab_from_json("{\"name\": \"t1\"}"));
}

TEST(Lab, StatusOfUnknownLabIsENOENT) {
  auto s = lab_status("chaos-unit-no-such-lab");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ENOENT);
  auto h = lab_host("chaos-unit-no-such-lab", "client");
  ASSERT_FALSE(h);
  EXPECT_EQ(h.error().code, ENOENT);
}

TEST(HttpParsing, RequestLineAndResponses) {
  auto rl = parse_request_line("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(rl);
  EXPECT_EQ(rl->method, "GET");
  EXPECT_EQ(rl->target, "/healthz");
  EXPECT_EQ(rl->version, "HTTP/1.1");
  EXPECT_FALSE(parse_request_line("GET /\r\n\r\n"));
  EXPECT_FALSE(parse_request_line("get / HTTP/1.1\r\n\r\n"));
  EXPECT_FALSE(parse_request_line("GET / FTP/1\r\n\r\n"));
  EXPECT_FALSE(parse_request_line("\r\n\r\n"));

  std::string ok = http_response_for("GET / HTTP/1.1\r\n\r\n", "hello\n");
  EXPECT_EQ(ok.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(ok.find("Content-Length: 6\r\n"), std::string::npos);
  EXPECT_NE(ok.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(ok.substr(ok.size() - 6), "hello\n");
  std::string head = http_response_for("HEAD / HTTP/1.1\r\n\r\n", "hello\n");
  EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");  // no body
  EXPECT_EQ(http_response_for("POST / HTTP/1.1\r\n\r\n", "x").rfind("HTTP/1.1 405", 0), 0u);
  EXPECT_EQ(http_response_for("garbage\r\n\r\n", "x").rfind("HTTP/1.1 400", 0), 0u);
}

// A responder on loopback in this process, stopped through an eventfd.
class LoopbackResponder : public ::testing::Test {
 protected:
  // Short, so that IdleConnectionsAreClosed sees the close quickly; a fixture whose test needs a
  // connection to stay open through work of its own sets it long (LoopbackResponderPatient).
  std::chrono::milliseconds idle_timeout_{1500};
  void SetUp() override {
    HttpResponderOptions o;
    o.listen = {"127.0.0.1", "::1"};
    o.port = 0;
    o.body = "unit body\n";
    o.idle_timeout = idle_timeout_;
    auto r = HttpResponder::bind(o);
    ASSERT_TRUE(r) << r.error().text();
    port_ = r->port();
    ASSERT_NE(port_, 0);
    stop_ = eventfd(0, EFD_CLOEXEC);
    ASSERT_GE(stop_, 0);
    srv_ = std::make_unique<HttpResponder>(std::move(*r));
    done_ = std::async(std::launch::async, [this] { return srv_->serve(stop_); });
  }
  void TearDown() override {
    if (stop_ >= 0) {
      std::uint64_t one = 1;
      [[maybe_unused]] auto w = write(stop_, &one, sizeof one);
      if (done_.valid()) {
        ASSERT_EQ(done_.wait_for(std::chrono::seconds(3)), std::future_status::ready);
        auto r = done_.get();
        EXPECT_TRUE(r) << r.error().text();
      }
      close(stop_);
    }
  }
  int raw_connect(int family) {
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_storage ss{};
    socklen_t len;
    if (family == AF_INET) {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_port = htons(port_);
      inet_pton(AF_INET, "127.0.0.1", &a->sin_addr);
      len = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(port_);
      inet_pton(AF_INET6, "::1", &a->sin6_addr);
      len = sizeof *a;
    }
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&ss), len), 0) << strerror(errno);
    return fd;
  }
  static std::string read_all(int fd) {
    std::string out;
    char buf[1024];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    return out;
  }

  std::uint16_t port_ = 0;
  int stop_ = -1;
  std::unique_ptr<HttpResponder> srv_;
  std::future<Result<void>> done_;
};

TEST_F(LoopbackResponder, AnswersGetOnBothFamilies) {
  auto r4 = http_get("127.0.0.1", port_, "/x");
  ASSERT_TRUE(r4) << r4.error().text();
  EXPECT_EQ(r4->status, 200);
  EXPECT_EQ(r4->body, "unit body\n");
  EXPECT_NE(r4->head.find("Connection: close"), std::string::npos);
  auto r6 = http_get("::1", port_, "/");
  ASSERT_TRUE(r6) << r6.error().text();
  EXPECT_EQ(r6->status, 200);
  auto r6b = http_get("[::1]", port_, "/");
  ASSERT_TRUE(r6b) << r6b.error().text();
}

// The stalled connection below must outlive 64 thread starts and exchanges however loaded the
// machine is: the responder closes it idle_timeout after its accept.
class LoopbackResponderPatient : public LoopbackResponder {
 protected:
  LoopbackResponderPatient() { idle_timeout_ = std::chrono::seconds(60); }
};

TEST_F(LoopbackResponderPatient, ManyConcurrentClientsWhileOneStalls) {
  // A client that sends half a request and waits must not block anybody else: a responder that
  // waited on it would hold every other client until its 60 s idle timeout, far past their 10 s.
  int stalled = raw_connect(AF_INET);
  ASSERT_EQ(write(stalled, "GET / HT", 8), 8);

  constexpr int kClients = 64;
  std::atomic<int> ok{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < kClients; ++i)
    ts.emplace_back([&, i] {
      auto r = http_get(i % 2 ? "::1" : "127.0.0.1", port_, "/c" + std::to_string(i),
                        std::chrono::seconds(10));
      if (r && r->status == 200 && r->body == "unit body\n") ++ok;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), kClients);

  // The stalled one finishes its request and is answered too.
  ASSERT_EQ(write(stalled, "TP/1.1\r\n\r\n", 10), 10);
  std::string resp = read_all(stalled);
  close(stalled);
  EXPECT_EQ(resp.rfind("HTTP/1.1 200 OK", 0), 0u) << resp;
  EXPECT_EQ(srv_->requests_answered(), static_cast<std::uint64_t>(kClients + 1));
}

TEST_F(LoopbackResponder, HalfCloseOtherMethodsAndOversizedHeads) {
  int fd = raw_connect(AF_INET6);
  std::string req = "HEAD / HTTP/1.0\r\n\r\n";
  ASSERT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  shutdown(fd, SHUT_WR);  // half-closed after the request: still answered
  std::string resp = read_all(fd);
  close(fd);
  EXPECT_EQ(resp.rfind("HTTP/1.1 200 OK", 0), 0u) << resp;
  EXPECT_EQ(resp.find("unit body"), std::string::npos);  // HEAD: no body

  fd = raw_connect(AF_INET);
  req = "DELETE / HTTP/1.1\r\n\r\n";
  ASSERT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  resp = read_all(fd);
  close(fd);
  EXPECT_EQ(resp.rfind("HTTP/1.1 405", 0), 0u) << resp;

  fd = raw_connect(AF_INET);
  std::string huge = "GET / HTTP/1.1\r\nX-Pad: " + std::string(20000, 'a') + "\r\n\r\n";
  ASSERT_EQ(write(fd, huge.data(), huge.size()), static_cast<ssize_t>(huge.size()));
  resp = read_all(fd);
  close(fd);
  EXPECT_EQ(resp.rfind("HTTP/1.1 431", 0), 0u) << resp.substr(0, 40);
}

TEST_F(LoopbackResponder, IdleConnectionsAreClosed) {
  int fd = raw_connect(AF_INET);
  auto t0 = std::chrono::steady_clock::now();
  std::string resp = read_all(fd);  // returns at EOF: the responder closed it
  auto waited = std::chrono::steady_clock::now() - t0;
  close(fd);
  EXPECT_TRUE(resp.empty());
  EXPECT_GE(waited, std::chrono::milliseconds(1000));  // not before its 1.5 s idle timeout
  // Closed at all is the claim (read_all would block forever otherwise); how late the responder
  // thread gets to it depends on the scheduler.
  EXPECT_LT(waited, std::chrono::seconds(30));
}

TEST(HttpClient, RefusedAndTimeoutKeepErrno) {
  // A port nobody listens on: bound here but not listening, and kept bound through the connect so
  // that no other process can take it and listen meanwhile.
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  auto r = http_get("127.0.0.1", ntohs(a.sin_port));
  close(s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ECONNREFUSED);

  // A listener that never answers: the deadline holds.
  s = socket(AF_INET, SOCK_STREAM, 0);
  a.sin_port = 0;
  ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(s, 4), 0);
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  auto t0 = std::chrono::steady_clock::now();
  auto t = http_get("127.0.0.1", ntohs(a.sin_port), "/", std::chrono::milliseconds(300));
  auto took = std::chrono::steady_clock::now() - t0;
  close(s);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code, ETIMEDOUT);
  EXPECT_GE(took, std::chrono::milliseconds(300));  // never before its deadline
  // It gave up (the listener would keep it waiting forever); how late, the scheduler decides.
  EXPECT_LT(took, std::chrono::seconds(10));
  EXPECT_FALSE(http_get("not-an-ip", 80));
}

TEST(HttpResponderBind, PortInUseIsReported) {
  HttpResponderOptions o;
  o.listen = {"127.0.0.1"};
  o.port = 0;
  auto a = HttpResponder::bind(o);
  ASSERT_TRUE(a);
  o.port = a->port();
  auto b = HttpResponder::bind(o);
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().code, EADDRINUSE);
  EXPECT_NE(b.error().message.find("127.0.0.1:" + std::to_string(o.port)), std::string::npos);
}

}  // namespace
}  // namespace chaos
