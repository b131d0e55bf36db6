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

#include "kernel/http_client.h"
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

TEST(HttpClient, RefusedConnectionKeepsItsErrno) {
  std::uint16_t port;
  {
    fake::OneShotServer closed;  // bound, then closed: nothing listens on it any more
    port = closed.port();
  }
  auto r = http_exchange(get(port), 1s);
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
  EXPECT_EQ(make_sockaddr("198.18.0.20", 80)->family, AF_INET);
  EXPECT_EQ(make_sockaddr("[2001:2::20]", 80)->family, AF_INET6);
  EXPECT_EQ(make_sockaddr("2001:2::20", 80)->family, AF_INET6);
  EXPECT_EQ(make_sockaddr("localhost", 80)->family, AF_INET);
  EXPECT_FALSE(make_sockaddr("example.com", 80));
  EXPECT_FALSE(make_sockaddr("", 80));
}

}  // namespace
}  // namespace chaos
