#include "kernel/netstat.h"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <optional>
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

NetCounterReader::NetCounterReader(NetCounterReader&& o) noexcept : snmp_(o.snmp_), netstat_(o.netstat_) {
  o.snmp_ = o.netstat_ = -1;
}

NetCounterReader& NetCounterReader::operator=(NetCounterReader&& o) noexcept {
  if (this != &o) {
    if (snmp_ >= 0) ::close(snmp_);
    if (netstat_ >= 0) ::close(netstat_);
    snmp_ = o.snmp_;
    netstat_ = o.netstat_;
    o.snmp_ = o.netstat_ = -1;
  }
  return *this;
}

NetCounterReader::~NetCounterReader() {
  if (snmp_ >= 0) ::close(snmp_);
  if (netstat_ >= 0) ::close(netstat_);
}

Result<NetCounterReader> NetCounterReader::open_in(const std::string& netns_path) {
  auto open_here = [](NetCounterReader& r) -> Result<void> {
    // thread-self, not self: /proc/self is the thread group leader, whose namespace may differ.
    r.snmp_ = ::open("/proc/thread-self/net/snmp", O_RDONLY | O_CLOEXEC);
    if (r.snmp_ < 0) return fail_errno("open /proc/thread-self/net/snmp");
    r.netstat_ = ::open("/proc/thread-self/net/netstat", O_RDONLY | O_CLOEXEC);
    if (r.netstat_ < 0) return fail_errno("open /proc/thread-self/net/netstat");
    return {};
  };
  NetCounterReader r;
  Result<void> opened{};
  if (netns_path.empty()) {
    opened = open_here(r);
  } else {
    // On a short-lived thread: the caller's own namespace never changes, whatever happens.
    std::thread t([&] {
      auto g = NetnsGuard::enter(netns_path);
      if (!g) {
        opened = std::unexpected(g.error());
        return;
      }
      opened = open_here(r);
    });
    t.join();
  }
  if (!opened) return std::unexpected(opened.error());
  return r;
}

Result<NetCounters> NetCounterReader::read() const {
  NetCounters all;
  for (int fd : {snmp_, netstat_}) {
    if (fd < 0) return fail("network counters: not open", EBADF);
    std::string text;
    char buf[8192];
    off_t off = 0;
    for (;;) {
      ssize_t n = ::pread(fd, buf, sizeof buf, off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail_errno("read network counters");
      if (n == 0) break;
      text.append(buf, static_cast<std::size_t>(n));
      off += n;
    }
    all.merge(parse_snmp_table(text));
  }
  return all;
}

Result<NetCounters> read_net_counters(const std::string& netns_path) {
  auto r = NetCounterReader::open_in(netns_path);
  if (!r) return std::unexpected(r.error());
  return r->read();
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
  started_ = true;
  frozen_ = nullptr;
  auto r = NetCounterReader::open_in(netns_path_);
  if (!r) {
    error_ = r.error().text();
    return;
  }
  reader_ = std::move(*r);
  auto c = reader_.read();
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
  auto now = reader_.read();
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
