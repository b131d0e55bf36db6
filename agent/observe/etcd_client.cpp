#include "observe/etcd_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <optional>

#include <nlohmann/json.hpp>

namespace chaos::etcd {

using namespace std::chrono;
using nlohmann::json;

namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::string lower(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

// The gateway writes uint64 as a JSON string; absent means 0.
std::uint64_t u64(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return 0;
  if (it->is_number_unsigned() || it->is_number_integer()) return it->get<std::uint64_t>();
  if (!it->is_string()) return 0;
  const auto& s = it->get_ref<const std::string&>();
  std::uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Calls `path` on `ep` and parses the JSON answer; an error status becomes an Error with etcd's text.
Result<json> call(const EtcdUrl& ep, const char* path, const json& body, Duration timeout) {
  auto r = http_post(ep, path, body.dump(), timeout);
  if (!r) return wrap(r.error(), "etcd " + ep.url + path);
  json j = json::parse(r->body, nullptr, false);
  if (r->status != 200) {
    std::string msg = "HTTP " + std::to_string(r->status);
    if (j.is_object() && j.contains("error") && j["error"].is_string()) msg = j["error"].get<std::string>() + " (" + msg + ")";
    else if (!r->body.empty()) msg += ": " + r->body.substr(0, 200);
    // 503/504 with "no leader", "request timed out": the cluster could not serve it right now.
    int code = r->status == 503 || r->status == 504 ? EAGAIN : EIO;
    return fail("etcd " + ep.url + path + ": " + msg, code);
  }
  if (j.is_discarded() || !j.is_object()) return fail("etcd " + ep.url + path + ": the answer is not a JSON object", EPROTO);
  return j;
}

}  // namespace

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    std::uint32_t v = (static_cast<std::uint8_t>(in[i]) << 16) | (static_cast<std::uint8_t>(in[i + 1]) << 8) |
                      static_cast<std::uint8_t>(in[i + 2]);
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i < in.size()) {
    std::uint32_t v = static_cast<std::uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<std::uint8_t>(in[i + 1]) << 8;
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < in.size() ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::string> base64_decode(std::string_view in) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return fail("base64: bad length", EINVAL);
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = b64_value(c);
    if (v < 0) return fail(std::string("base64: bad character '") + c + "'", EINVAL);
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& c = reinterpret_cast<unsigned char&>(end.back());
    if (c < 0xFF) {
      ++c;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key ("\0" as range_end means "to the end")
}

std::string member_id_hex(std::uint64_t id) {
  char b[20];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(id));
  return b;
}

Result<EtcdUrl> parse_etcd_url(std::string_view url) {
  EtcdUrl u;
  u.url = std::string(url);
  std::string_view rest = url;
  if (rest.rfind("https://", 0) == 0) return fail("\"" + u.url + "\": https is not supported (plain http:// only)", EINVAL);
  if (rest.rfind("http://", 0) != 0) return fail("\"" + u.url + "\": expected http://ADDRESS:PORT", EINVAL);
  rest.remove_prefix(7);
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    if (rest.substr(slash) != "/") return fail("\"" + u.url + "\": expected no path after the port", EINVAL);
    rest = rest.substr(0, slash);
  }
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return fail("\"" + u.url + "\": unclosed [", EINVAL);
    u.host = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return fail("\"" + u.url + "\": expected :PORT after ]", EINVAL);
      port = rest.substr(1);
    }
  } else {
    auto colon = rest.rfind(':');
    if (colon != std::string_view::npos && rest.find(':') != colon)
      return fail("\"" + u.url + "\": an IPv6 address needs brackets: http://[::1]:2379", EINVAL);
    u.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port = rest.substr(colon + 1);
  }
  if (u.host == "localhost") u.host = "127.0.0.1";
  in_addr a4{};
  in6_addr a6{};
  if (inet_pton(AF_INET, u.host.c_str(), &a4) != 1 && inet_pton(AF_INET6, u.host.c_str(), &a6) != 1)
    return fail("\"" + u.url + "\": expected an address literal as the host (namespaces have no resolver)", EINVAL);
  if (!port.empty()) {
    unsigned p = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc{} || ptr != port.data() + port.size() || p < 1 || p > 65535)
      return fail("\"" + u.url + "\": expected a port 1..65535", EINVAL);
    u.port = static_cast<std::uint16_t>(p);
  }
  return u;
}

Result<HttpResponse> parse_http_response(std::string_view raw) {
  auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return fail("HTTP: incomplete response head", EPROTO);
  std::string_view head = raw.substr(0, head_end);
  std::string_view body = raw.substr(head_end + 4);
  if (head.rfind("HTTP/1.", 0) != 0 || head.size() < 12) return fail("HTTP: bad status line", EPROTO);
  HttpResponse r;
  r.status = std::atoi(std::string(head.substr(9, 3)).c_str());
  bool chunked = false;
  std::optional<std::size_t> length;
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos < head.size()) {
    std::size_t next = head.find("\r\n", pos + 2);
    std::string_view line = head.substr(pos + 2, (next == std::string_view::npos ? head.size() : next) - pos - 2);
    auto colon = line.find(':');
    if (colon != std::string_view::npos) {
      std::string name = lower(line.substr(0, colon));
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      if (name == "transfer-encoding" && lower(value).find("chunked") != std::string::npos) chunked = true;
      if (name == "content-length") length = static_cast<std::size_t>(std::strtoull(std::string(value).c_str(), nullptr, 10));
    }
    pos = next;
  }
  if (chunked) {
    std::string out;
    std::string_view b = body;
    while (true) {
      auto eol = b.find("\r\n");
      if (eol == std::string_view::npos) return fail("HTTP: truncated chunk size", EPROTO);
      std::size_t n = std::strtoull(std::string(b.substr(0, eol)).c_str(), nullptr, 16);
      b.remove_prefix(eol + 2);
      if (n == 0) break;  // trailers (grpc-gateway sends some after errors) are of no interest
      if (b.size() < n + 2) return fail("HTTP: truncated chunk", EPROTO);
      out.append(b.substr(0, n));
      b.remove_prefix(n + 2);
    }
    r.body = std::move(out);
  } else if (length) {
    if (body.size() < *length) return fail("HTTP: body shorter than Content-Length", EPROTO);
    r.body = std::string(body.substr(0, *length));
  } else {
    r.body = std::string(body);
  }
  return r;
}

Result<HttpResponse> http_post(const EtcdUrl& to, const std::string& path, const std::string& json_body,
                               Duration timeout) {
  auto deadline = steady_clock::now() + timeout;
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, to.host.c_str(), &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons(to.port);
    len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, to.host.c_str(), &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(to.port);
    len = sizeof(sockaddr_in6);
  } else {
    return fail("bad address " + to.host, EINVAL);
  }
  Fd sock;
  sock.fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (sock.fd < 0) return fail_errno("socket");
  int one = 1;
  ::setsockopt(sock.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // Thousands of short connections (the writer, the watch) must not pile up in TIME_WAIT.
  linger lg{1, 0};
  ::setsockopt(sock.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);

  auto wait_for = [&](short events) -> bool {
    while (true) {
      auto left = duration_cast<milliseconds>(deadline - steady_clock::now()).count();
      if (left <= 0) return false;
      pollfd p{sock.fd, events, 0};
      int r = ::poll(&p, 1, static_cast<int>(left));
      if (r < 0 && errno == EINTR) continue;
      return r > 0;
    }
  };
  if (::connect(sock.fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS) return fail_errno("connect");
    if (!wait_for(POLLOUT)) return fail("connect: timed out", ETIMEDOUT);
    int err = 0;
    socklen_t el = sizeof err;
    ::getsockopt(sock.fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err != 0) return fail("connect", err);
  }
  std::string req = "POST " + path + " HTTP/1.1\r\nHost: " + to.host + ":" + std::to_string(to.port) +
                    "\r\nUser-Agent: chaos-agent\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(json_body.size()) + "\r\nConnection: close\r\n\r\n" + json_body;
  std::size_t sent = 0;
  while (sent < req.size()) {
    ssize_t n = ::send(sock.fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return fail_errno("send");
    if (!wait_for(POLLOUT)) return fail("send: timed out", ETIMEDOUT);
  }
  // Connection: close: the answer ends where the stream does.
  std::string raw;
  char buf[16384];
  while (true) {
    ssize_t n = ::recv(sock.fd, buf, sizeof buf, 0);
    if (n > 0) {
      raw.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) break;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return fail_errno("recv");
    if (!wait_for(POLLIN)) return fail("waiting for the answer: timed out", ETIMEDOUT);
  }
  return parse_http_response(raw);
}

Result<EtcdStatus> status(const EtcdUrl& ep, Duration timeout) {
  auto j = call(ep, "/v3/maintenance/status", json::object(), timeout);
  if (!j) return std::unexpected(j.error());
  EtcdStatus s;
  const json& h = j->contains("header") ? (*j)["header"] : json::object();
  s.member_id = u64(h, "member_id");
  s.revision = u64(h, "revision");
  s.leader = u64(*j, "leader");
  s.raft_term = u64(*j, "raftTerm");
  if (s.raft_term == 0) s.raft_term = u64(h, "raft_term");
  s.raft_index = u64(*j, "raftIndex");
  s.raft_applied_index = u64(*j, "raftAppliedIndex");
  s.version = j->value("version", std::string());
  if (s.member_id == 0) return fail("etcd " + ep.url + ": status without a member id", EPROTO);
  return s;
}

Result<std::vector<EtcdMember>> member_list(const EtcdUrl& ep, Duration timeout) {
  auto j = call(ep, "/v3/cluster/member/list", json::object(), timeout);
  if (!j) return std::unexpected(j.error());
  std::vector<EtcdMember> out;
  for (const auto& m : j->value("members", json::array())) {
    EtcdMember x;
    x.id = u64(m, "ID");
    x.name = m.value("name", std::string());
    for (const auto& u : m.value("peerURLs", json::array()))
      if (u.is_string()) x.peer_urls.push_back(u.get<std::string>());
    for (const auto& u : m.value("clientURLs", json::array()))
      if (u.is_string()) x.client_urls.push_back(u.get<std::string>());
    out.push_back(std::move(x));
  }
  return out;
}

Result<PutResult> put(const EtcdUrl& ep, std::string_view key, std::string_view value, Duration timeout) {
  auto j = call(ep, "/v3/kv/put", {{"key", base64_encode(key)}, {"value", base64_encode(value)}}, timeout);
  if (!j) return std::unexpected(j.error());
  // An acknowledgement is a header with the revision the write got: nothing less counts.
  const json& h = j->contains("header") ? (*j)["header"] : json::object();
  PutResult r{u64(h, "revision"), u64(h, "raft_term"), u64(h, "member_id")};
  if (r.revision == 0) return fail("etcd " + ep.url + ": put answered without a revision", EPROTO);
  return r;
}

Result<RangeResult> range(const EtcdUrl& ep, std::string_view key, std::string_view range_end, bool serializable,
                          std::int64_t limit, Duration timeout) {
  json body{{"key", base64_encode(key)}};
  if (!range_end.empty()) body["range_end"] = base64_encode(range_end);
  if (serializable) body["serializable"] = true;
  if (limit > 0) body["limit"] = std::to_string(limit);
  auto j = call(ep, "/v3/kv/range", body, timeout);
  if (!j) return std::unexpected(j.error());
  RangeResult r;
  const json& h = j->contains("header") ? (*j)["header"] : json::object();
  r.revision = u64(h, "revision");
  r.member_id = u64(h, "member_id");
  r.more = j->value("more", false);
  r.count = u64(*j, "count");
  for (const auto& kv : j->value("kvs", json::array())) {
    auto k = base64_decode(kv.value("key", std::string()));
    auto v = base64_decode(kv.value("value", std::string()));
    if (!k || !v) return fail("etcd " + ep.url + ": range: undecodable key or value", EPROTO);
    r.kvs.push_back({std::move(*k), std::move(*v), u64(kv, "mod_revision")});
  }
  return r;
}

Result<std::vector<KeyValue>> range_all(const EtcdUrl& ep, std::string_view key, std::string_view range_end,
                                        bool serializable, Duration timeout, std::int64_t page) {
  std::vector<KeyValue> out;
  std::string from(key);
  while (true) {
    auto r = range(ep, from, range_end, serializable, page, timeout);
    if (!r) return std::unexpected(r.error());
    for (auto& kv : r->kvs) out.push_back(std::move(kv));
    if (!r->more || r->kvs.empty()) break;
    from = out.back().key + std::string(1, '\0');  // the next key after the last one seen
  }
  return out;
}

Result<std::uint64_t> delete_range(const EtcdUrl& ep, std::string_view key, std::string_view range_end,
                                   Duration timeout) {
  json body{{"key", base64_encode(key)}};
  if (!range_end.empty()) body["range_end"] = base64_encode(range_end);
  auto j = call(ep, "/v3/kv/deleterange", body, timeout);
  if (!j) return std::unexpected(j.error());
  return u64(*j, "deleted");
}

}  // namespace chaos::etcd
