// The agent's one HTTP/1.1 client against a scripted loopback server: each answer framing
// (Content-Length, chunked, close-delimited), the probe's status-line-only read, and the
// failures a partitioned or hung peer produces, each with its errno and the step that failed.
#include <arpa/inet.h>
#include <poll.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "observe/http_client.h"
#include "unit/support/one_shot_server.h"

namespace chaos {
namespace {

using namespace std::chrono_literals;

HttpRequest get(std::uint16_t port, std::string path = "/") {
  HttpRequest r;
  r.host = "127.0.0.1";
  r.port = port;
  r.path = std::move(path);
  return r;
}

TEST(HttpClient, ContentLengthBodyIsCutToItsLength) {
  fake::OneShotServer s;
  ASSERT_NE(s.port(), 0);
  s.serve("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello, and junk");
  auto r = http_exchange(get(s.port(), "/x?y=1"), 2s);
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
  EXPECT_EQ(r->head, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b");
  EXPECT_EQ(s.request().substr(0, s.request().find("\r\n")), "GET /x?y=1 HTTP/1.1");
  EXPECT_NE(s.request().find("Host: 127.0.0.1:" + std::to_string(s.port()) + "\r\n"), std::string::npos);
  EXPECT_NE(s.request().find("Connection: close\r\n"), std::string::npos);
}

TEST(HttpClient, PostSendsItsBodyAndReadsAChunkedAnswer) {
  fake::OneShotServer s;
  s.serve("HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"
          "4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\nGrpc-Status: 14\r\n\r\n");
  HttpRequest req = get(s.port(), "/v3/kv/put");
  req.method = "POST";
  req.content_type = "application/json";
  req.body = R"({"key":"YQ=="})";
  auto r = http_exchange(req, 2s);
  ASSERT_TRUE(r) << r.error().text();
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, R"({"a":1})");
  EXPECT_NE(s.request().find("Content-Type: application/json\r\nContent-Length: 14\r\n"), std::string::npos)
      << s.request();
  EXPECT_EQ(s.request().substr(s.request().size() - 14), R"({"key":"YQ=="})");
}

TEST(HttpClient, StatusOnlyReturnsAtTheFirstLineWithoutWaitingForTheRest) {
  fake::OneShotServer s;
  // The server sends a status line and then holds the connection for 5s: a full read would
  // wait for the close and time out after 1s; the probe's read returns at the first line.
  s.serve("HTTP/1.1 204 No Content\r\n", 5000ms);
  HttpRequest req = get(s.port());
  req.status_only = true;
  req.host_header = "api.internal";
  auto r = http_exchange(req, 1s);
  ASSERT_TRUE(r) << r.error().text() << ": status_only waited for more than the first line";
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(r->head, "HTTP/1.1 204 No Content");
  EXPECT_NE(s.request().find("Host: api.internal\r\n"), std::string::npos);
}

TEST(HttpClient, ASilentPeerTimesOutWaitingForTheAnswer) {
  fake::OneShotServer s;
  s.serve("", 5000ms);  // accepts, reads the request, says nothing
  auto r = http_exchange(get(s.port()), 300ms);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ETIMEDOUT);
  EXPECT_EQ(r.error().message, "waiting for the answer");
}

// A probe thread starved past its deadline still gets what the kernel already has: wait_for polls
// once more with timeout 0 before it reports a timeout. On loopback the kernel completes the
// handshake inside connect() (a listener's backlog, nobody accepts), so with the deadline already
// past the connect succeeds and the wait for the answer, which never comes, is what times out.
TEST(HttpClient, ADeadlineAlreadyPastStillSeesACompletedConnect) {
  int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(l, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(l, 4), 0);
  ASSERT_EQ(::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len), 0);
  auto r = http_exchange(get(ntohs(a.sin_port)), 0ms);
  ::close(l);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ETIMEDOUT);
  EXPECT_EQ(r.error().message, "waiting for the answer") << "a connect the kernel had completed was reported as timed out";
}

// A port bound on loopback that does not listen (and that no one else can take meanwhile).
struct RefusingPort {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  std::uint16_t port = 0;
  RefusingPort() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port = ntohs(a.sin_port);
  }
  ~RefusingPort() {
    if (fd >= 0) ::close(fd);
  }
};

TEST(HttpClient, RefusedConnectionKeepsItsErrno) {
  RefusingPort closed;
  ASSERT_NE(closed.port, 0);
  auto r = http_exchange(get(closed.port), 1s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ECONNREFUSED);
  EXPECT_EQ(r.error().text(), std::string("connect: ") + std::strerror(ECONNREFUSED));
}

TEST(HttpClient, BadAnswersAndAddressesAreErrorsNotGuesses) {
  {
    fake::OneShotServer s;
    s.serve("SSH-2.0-OpenSSH_9.2\r\n\r\n");
    auto r = http_exchange(get(s.port()), 2s);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EPROTO);
  }
  {
    fake::OneShotServer s;
    s.serve("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
    auto r = http_exchange(get(s.port()), 2s);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EPROTO);
  }
  for (const char* answer : {"HTTP/1.1 2000 OK\r\n\r\n",                                   // not a status
                             "HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nabc",            // not a length
                             "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
                             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nab\r\n0\r\n\r\n",
                             "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n"}) {
    fake::OneShotServer s;
    s.serve(answer);
    auto r = http_exchange(get(s.port()), 2s);
    ASSERT_FALSE(r) << answer;
    EXPECT_EQ(r.error().code, EPROTO) << answer << ": " << r.error().text();
  }
  {
    fake::OneShotServer s;
    s.serve("HTTP/1.1 200 OK\r\n\r\n" + std::string(4096, 'x'));
    HttpRequest req = get(s.port());
    req.max_response = 1024;
    auto r = http_exchange(req, 2s);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EMSGSIZE);
  }
  HttpRequest named = get(80);
  named.host = "example.com";
  auto r = http_exchange(named, 1s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EINVAL);
}

TEST(HttpClient, SockaddrLiterals) {
  for (auto [text, family] : {std::pair{"198.18.0.20", AF_INET}, std::pair{"[2001:2::20]", AF_INET6},
                               std::pair{"2001:2::20", AF_INET6}, std::pair{"localhost", AF_INET}}) {
    auto a = make_sockaddr(text, 80);
    ASSERT_TRUE(a) << text;
    EXPECT_EQ(a->family, family) << text;
  }
  EXPECT_FALSE(make_sockaddr("example.com", 80));
  EXPECT_FALSE(make_sockaddr("", 80));
}

}  // namespace
}  // namespace chaos
