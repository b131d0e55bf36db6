// A scripted HTTP peer on 127.0.0.1:<ephemeral> for client-side tests (the HTTP client, the
// prometheus probe): serve() answers one connection with a canned answer after reading the
// request (head and Content-Length body), or holds it open without a word.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

namespace chaos::fake {

class OneShotServer {
 public:
  OneShotServer();
  ~OneShotServer();
  OneShotServer(const OneShotServer&) = delete;
  OneShotServer& operator=(const OneShotServer&) = delete;

  // 0 when the listener could not be made.
  std::uint16_t port() const { return port_; }
  // What the client sent; waits for the connection to be done with (call it after the client
  // call returned).
  const std::string& request();

  // Answers the next connection with `answer` (empty: says nothing), then keeps it open until
  // the client hangs up or `hold` passes.
  void serve(std::string answer, std::chrono::milliseconds hold = std::chrono::milliseconds(0));

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread t_;
  std::string request_;
};

}  // namespace chaos::fake
