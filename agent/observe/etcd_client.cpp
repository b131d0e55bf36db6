#include "observe/etcd_client.h"


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

// Calls `path` on `ep` and parses the JSON answer; an error status becomes an Error with etcd's text.
Result<json> call(const EtcdUrl& ep, const char* path, const json& body, Duration timeout) {
  HttpRequest req;
  req.method = "POST";
  req.host = ep.host;
  req.port = ep.port;
  req.path = path;
  req.content_type = "application/json";
  req.body = body.dump();
  auto r = http_exchange(req, timeout);
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
  if (u.host.empty() || u.host.front() == '[' || !make_sockaddr(u.host, u.port))
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
