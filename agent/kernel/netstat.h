// Kernel network counters of one network namespace, for the blast radius: what TCP and UDP in
// the target namespace went through while a network fault held (retransmits, resets, timeouts,
// drops), as deltas from the moment the fault went in.
//
// The numbers come from the namespace's own /proc/net/snmp and /proc/net/netstat (read through
// /proc/thread-self/net by a thread that has entered the namespace), the same tables `nstat`
// and `netstat -s` print.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace chaos::kernel {

using NetCounters = std::map<std::string, std::uint64_t>;  // "Tcp.RetransSegs" -> value

// Parses the "Proto: Name Name ...\nProto: value value ..." pairs of /proc/net/snmp and
// /proc/net/netstat into "Proto.Name" keys. Malformed pairs are skipped.
NetCounters parse_snmp_table(std::string_view text);

// Both tables of the namespace at netns_path ("" = the calling thread's own namespace).
Result<NetCounters> read_net_counters(const std::string& netns_path);

// The counters that tell how far a network fault's damage spread, in report order.
const std::vector<std::string>& blast_radius_counters();

// The two tables of one namespace, opened once (inside it) and re-read with pread: a
// /proc/net file keeps the namespace it was opened in, so later reads need no thread and no
// setns, whichever namespace the reading thread is in.
class NetCounterReader {
 public:
  static Result<NetCounterReader> open_in(const std::string& netns_path);  // "" = the caller's own
  NetCounterReader() = default;
  NetCounterReader(NetCounterReader&& o) noexcept;
  NetCounterReader& operator=(NetCounterReader&& o) noexcept;
  NetCounterReader(const NetCounterReader&) = delete;
  NetCounterReader& operator=(const NetCounterReader&) = delete;
  ~NetCounterReader();
  Result<NetCounters> read() const;

 private:
  int snmp_ = -1, netstat_ = -1;
};

// One fault's view of the counters: baseline at start() (apply), delta() while it holds (the
// run's series), freeze() at revert, result() for the report. Keys are counter_json_key() of
// blast_radius_counters(). An unreadable namespace (gone, no permission) gives {"error": why},
// never a guess.
class NetCounterDelta {
 public:
  explicit NetCounterDelta(std::string netns_path = "") : netns_path_(std::move(netns_path)) {}
  void start();
  nlohmann::json delta() const;  // null before start()
  void freeze();                  // keeps delta() as of now for result()
  nlohmann::json result() const;  // the frozen delta, else the live one

 private:
  std::string netns_path_;
  NetCounterReader reader_;
  NetCounters base_;
  bool started_ = false;
  std::string error_;
  nlohmann::json frozen_;
};

// "Tcp.RetransSegs" -> "tcpRetransSegs", "TcpExt.TCPTimeouts" -> "tcpExtTCPTimeouts".
std::string counter_json_key(const std::string& key);

}  // namespace chaos::kernel
