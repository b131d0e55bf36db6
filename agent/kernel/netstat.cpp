#include "kernel/netstat.h"

#include <cctype>
#include <cerrno>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "kernel/netns.h"

namespace chaos::kernel {

namespace {

std::vector<std::string_view> split_ws(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    std::size_t j = i;
    while (j < line.size() && !std::isspace(static_cast<unsigned char>(line[j]))) ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

Result<std::string> slurp(const std::string& path) {
  std::ifstream in(path);
  if (!in) return fail("read " + path, errno ? errno : ENOENT);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<NetCounters> read_here() {
  NetCounters all;
  // thread-self, not self: /proc/self is the thread group leader, whose namespace may differ.
  for (const char* f : {"/proc/thread-self/net/snmp", "/proc/thread-self/net/netstat"}) {
    auto text = slurp(f);
    if (!text) return std::unexpected(text.error());
    all.merge(parse_snmp_table(*text));
  }
  return all;
}

}  // namespace

NetCounters parse_snmp_table(std::string_view text) {
  NetCounters out;
  std::vector<std::string_view> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  for (std::size_t i = 0; i + 1 < lines.size(); i += 2) {
    auto names = split_ws(lines[i]);
    auto values = split_ws(lines[i + 1]);
    if (names.empty() || values.empty() || names.size() != values.size() || names[0] != values[0] ||
        names[0].back() != ':') {
      // Out of step (a table with an odd line): resynchronize on the next line.
      --i;
      continue;
    }
    std::string proto(names[0].substr(0, names[0].size() - 1));
    for (std::size_t k = 1; k < names.size(); ++k) {
      std::string_view v = values[k];
      bool neg = !v.empty() && v[0] == '-';
      if (neg) continue;  // gauges like Tcp.MaxConn (-1) are not counters
      std::uint64_t x = 0;
      bool ok = !v.empty();
      for (char c : v) {
        if (c < '0' || c > '9') {
          ok = false;
          break;
        }
        x = x * 10 + static_cast<std::uint64_t>(c - '0');
      }
      if (ok) out[proto + "." + std::string(names[k])] = x;
    }
  }
  return out;
}

Result<NetCounters> read_net_counters(const std::string& netns_path) {
  if (netns_path.empty()) return read_here();
  // On a short-lived thread: the caller's own namespace never changes, whatever happens.
  std::optional<Result<NetCounters>> out;
  std::thread t([&] {
    auto g = NetnsGuard::enter(netns_path);
    if (!g) {
      out = std::unexpected(g.error());
      return;
    }
    out = read_here();
  });
  t.join();
  return std::move(*out);
}

const std::vector<std::string>& blast_radius_counters() {
  static const std::vector<std::string> k = {
      "Tcp.RetransSegs",       // segments retransmitted
      "TcpExt.TCPTimeouts",    // RTO expirations
      "TcpExt.TCPSynRetrans",  // SYNs retransmitted (connections that could not open)
      "TcpExt.TCPLossProbes",  // tail loss probes sent
      "Tcp.AttemptFails",      // connection attempts that failed
      "Tcp.EstabResets",       // established connections reset
      "Tcp.OutRsts",           // resets sent
      "TcpExt.ListenDrops",    // SYNs dropped at a full listen queue
      "Tcp.InErrs",            // bad segments received
      "Udp.InErrors",          // UDP datagrams not delivered (buffer full, checksum)
      "Udp.RcvbufErrors",
      "Udp.NoPorts",
  };
  return k;
}

std::string counter_json_key(const std::string& key) {
  auto dot = key.find('.');
  std::string proto = key.substr(0, dot);
  if (!proto.empty()) proto[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(proto[0])));
  return dot == std::string::npos ? proto : proto + key.substr(dot + 1);
}

void NetCounterDelta::start() {
  auto c = read_net_counters(netns_path_);
  started_ = true;
  frozen_ = nullptr;
  if (!c) {
    error_ = c.error().text();
    return;
  }
  error_.clear();
  base_ = std::move(*c);
}

nlohmann::json NetCounterDelta::delta() const {
  if (!started_) return nullptr;
  if (!error_.empty()) return {{"error", error_}};
  auto now = read_net_counters(netns_path_);
  if (!now) return {{"error", now.error().text()}};
  nlohmann::json j = nlohmann::json::object();
  for (const auto& k : blast_radius_counters()) {
    auto a = base_.find(k);
    auto b = now->find(k);
    if (a == base_.end() || b == now->end()) continue;  // this kernel does not count it
    // A counter only goes down when the namespace was replaced: report 0, not a wrap-around.
    j[counter_json_key(k)] = b->second >= a->second ? b->second - a->second : 0;
  }
  return j;
}

void NetCounterDelta::freeze() {
  if (started_ && frozen_.is_null()) frozen_ = delta();
}

nlohmann::json NetCounterDelta::result() const { return frozen_.is_null() ? delta() : frozen_; }

}  // namespace chaos::kernel
