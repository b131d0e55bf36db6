// A small client for etcd's v3 JSON gateway (grpc-gateway over plain HTTP/1.1): enough to find
// roles (maintenance/status, cluster/member/list) and to write and read keys (kv/put, kv/range,
// kv/deleterange). No gRPC, no TLS: the gateway answers plain HTTP, every member has it on its
// client port, and one blocking request per call keeps the namespace story simple: a call acts
// in the calling thread's network namespace (enter one with NetnsGuard first).
//
// The gateway's conventions: keys and values are base64; 64-bit integers are JSON strings;
// an error is a non-200 status with {"error": "etcdserver: no leader", "code": 14}.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/units.h"
#include "observe/http_client.h"

namespace chaos::etcd {

std::string base64_encode(std::string_view in);
// Standard alphabet, padding optional; EINVAL on anything else.
Result<std::string> base64_decode(std::string_view in);

// The first key after every key with this prefix (etcd's "range_end" for a prefix scan).
std::string prefix_end(std::string_view prefix);

// A client URL: http://HOST:PORT with an address literal as HOST (namespaces have no resolver).
struct EtcdUrl {
  std::string url;   // as given
  std::string host;  // "198.18.0.31", "::1" (no brackets)
  std::uint16_t port = 2379;
  std::string str() const { return url; }
};
// http://ADDR[:PORT][/] ; the default port is 2379. https is refused (no TLS here).
Result<EtcdUrl> parse_etcd_url(std::string_view url);

// The gateway is spoken through the agent's one HTTP client (observe/http_client.h).
using chaos::HttpResponse;
using chaos::parse_http_response;

// ---- etcd calls. An error status from etcd comes back as an Error whose message carries
// etcd's own text ("etcdserver: no leader") and the HTTP status.

struct EtcdStatus {
  std::uint64_t member_id = 0;  // the answering member
  std::uint64_t leader = 0;     // 0: this member knows no leader right now
  std::uint64_t raft_term = 0;
  std::uint64_t raft_index = 0;
  std::uint64_t raft_applied_index = 0;
  std::uint64_t revision = 0;
  std::string version;
};
Result<EtcdStatus> status(const EtcdUrl& ep, Duration timeout);

struct EtcdMember {
  std::uint64_t id = 0;
  std::string name;  // empty for a member that was added but never started
  std::vector<std::string> peer_urls;
  std::vector<std::string> client_urls;
};
Result<std::vector<EtcdMember>> member_list(const EtcdUrl& ep, Duration timeout);

struct PutResult {
  std::uint64_t revision = 0;
  std::uint64_t raft_term = 0;
  std::uint64_t member_id = 0;  // the member that answered
};
Result<PutResult> put(const EtcdUrl& ep, std::string_view key, std::string_view value, Duration timeout);

struct KeyValue {
  std::string key, value;
  std::uint64_t mod_revision = 0;
};
struct RangeResult {
  std::vector<KeyValue> kvs;
  bool more = false;
  std::uint64_t count = 0;
  std::uint64_t revision = 0;
  std::uint64_t member_id = 0;
};
// [key, range_end) (range_end empty: just key). serializable: answered from the member's local
// state without asking the leader; otherwise linearizable (a read index from the leader, then
// the member's own store once it has applied that far). limit 0: no limit.
Result<RangeResult> range(const EtcdUrl& ep, std::string_view key, std::string_view range_end, bool serializable,
                          std::int64_t limit, Duration timeout);
// Every key in [key, range_end), following "more" page by page (page keys per request).
Result<std::vector<KeyValue>> range_all(const EtcdUrl& ep, std::string_view key, std::string_view range_end,
                                        bool serializable, Duration timeout, std::int64_t page = 1000);
// Returns how many keys were deleted.
Result<std::uint64_t> delete_range(const EtcdUrl& ep, std::string_view key, std::string_view range_end,
                                   Duration timeout);

// "%016x" like etcdctl prints member ids.
std::string member_id_hex(std::uint64_t id);

}  // namespace chaos::etcd
