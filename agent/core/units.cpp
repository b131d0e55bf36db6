#include "core/units.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace chaos {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Reads a non-negative decimal number at the front of s; advances s past it.
bool take_number(std::string_view& s, double& out) {
  std::size_t i = 0;
  bool digits = false;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, digits = true;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i, digits = true;
  }
  if (!digits) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + i, out);
  if (ec != std::errc()) return false;
  s.remove_prefix(i);
  return true;
}

std::string_view take_unit(std::string_view& s) {
  std::size_t i = 0;
  while (i < s.size() && (std::isalpha(static_cast<unsigned char>(s[i])) || s[i] == '/')) ++i;
  auto u = s.substr(0, i);
  s.remove_prefix(i);
  return u;
}

std::string trim_number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  std::string s = buf;
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

Result<Duration> parse_duration(std::string_view text) {
  static constexpr const char* kExpected = "expected a duration like 10ms, 1.5s, 2m (units: ns, us, ms, s, m, h)";
  std::string_view s = trim(text);
  if (s.empty()) return fail(kExpected);
  long double total_ns = 0;
  while (!s.empty()) {
    double v = 0;
    if (!take_number(s, v)) return fail(kExpected);
    auto unit = take_unit(s);
    long double scale;
    if (unit == "ns") scale = 1;
    else if (unit == "us" || unit == "µs") scale = 1e3;
    else if (unit == "ms") scale = 1e6;
    else if (unit == "s") scale = 1e9;
    else if (unit == "m") scale = 60e9;
    else if (unit == "h") scale = 3600e9;
    else if (unit.empty() && v == 0 && s.empty()) scale = 0;  // a bare 0
    else return fail(kExpected);
    total_ns += v * scale;
  }
  if (total_ns > 1e18) return fail("too long: expected at most 277777h");
  return Duration(static_cast<std::int64_t>(std::llround(static_cast<double>(total_ns))));
}

std::string format_duration(Duration d) {
  auto ns = d.count();
  if (ns == 0) return "0s";
  if (ns % 3'600'000'000'000 == 0) return std::to_string(ns / 3'600'000'000'000) + "h";
  if (ns % 60'000'000'000 == 0 && ns >= 60'000'000'000) return std::to_string(ns / 60'000'000'000) + "m";
  if (ns >= 1'000'000'000) return trim_number(ns / 1e9) + "s";
  if (ns >= 1'000'000) return trim_number(ns / 1e6) + "ms";
  if (ns >= 1'000) return trim_number(ns / 1e3) + "us";
  return std::to_string(ns) + "ns";
}

namespace {
bool byte_scale(std::string_view unit, long double& scale) {
  if (unit.empty() || unit == "B") scale = 1;
  else if (unit == "KiB" || unit == "Ki") scale = 1024.0L;
  else if (unit == "MiB" || unit == "Mi") scale = 1024.0L * 1024;
  else if (unit == "GiB" || unit == "Gi") scale = 1024.0L * 1024 * 1024;
  else if (unit == "TiB" || unit == "Ti") scale = 1024.0L * 1024 * 1024 * 1024;
  else if (unit == "KB" || unit == "kB" || unit == "K" || unit == "k") scale = 1e3L;
  else if (unit == "MB" || unit == "M") scale = 1e6L;
  else if (unit == "GB" || unit == "G") scale = 1e9L;
  else if (unit == "TB" || unit == "T") scale = 1e12L;
  else return false;
  return true;
}
}  // namespace

Result<std::uint64_t> parse_bytes(std::string_view text) {
  static constexpr const char* kExpected =
      "expected a size like 512MiB, 1GiB or 64KB (units: B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)";
  std::string_view s = trim(text);
  double v = 0;
  if (!take_number(s, v)) return fail(kExpected);
  s = trim(s);
  auto unit = take_unit(s);
  long double scale = 0;
  if (!s.empty() || !byte_scale(unit, scale)) return fail(kExpected);
  long double b = v * scale;
  if (b > 1.8e19L) return fail("too large");
  if (b != std::floor(b)) return fail("not a whole number of bytes");
  return static_cast<std::uint64_t>(b);
}

std::string format_bytes(std::uint64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  return trim_number(v) + units[u];
}

Result<std::uint64_t> parse_rate(std::string_view text) {
  static constexpr const char* kExpected =
      "expected a rate like 100mbit, 1gbit, 512kbit, or bytes per second like 256MiB/s";
  std::string_view s = trim(text);
  double v = 0;
  if (!take_number(s, v)) return fail(kExpected);
  s = trim(s);
  std::string unit(take_unit(s));
  if (!s.empty()) return fail(kExpected);
  long double bps;  // bytes per second
  std::string lower;
  for (char c : unit) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "bit" || lower == "bps") bps = v / 8.0L;
  else if (lower == "kbit") bps = v * 1e3L / 8;
  else if (lower == "mbit") bps = v * 1e6L / 8;
  else if (lower == "gbit") bps = v * 1e9L / 8;
  else if (lower == "tbit") bps = v * 1e12L / 8;
  else if (unit.size() > 2 && unit.substr(unit.size() - 2) == "/s") {
    long double scale = 0;
    if (!byte_scale(std::string_view(unit).substr(0, unit.size() - 2), scale)) return fail(kExpected);
    bps = v * scale;
  } else {
    return fail(kExpected);
  }
  if (bps < 1) return fail("too small: expected at least 8bit");
  return static_cast<std::uint64_t>(bps);
}

Result<Percent> parse_percent(std::string_view text) {
  static constexpr const char* kExpected = "expected a percentage like 10% or 0.5%";
  std::string_view s = trim(text);
  double v = 0;
  if (!take_number(s, v)) return fail(kExpected);
  s = trim(s);
  if (s != "%") return fail(kExpected);
  if (v > 100) return fail("above 100%: expected a percentage from 0% to 100%");
  return Percent{v};
}

bool Cidr::contains(const Cidr& host) const {
  if (host.family != family) return false;
  int full = prefix / 8, rem = prefix % 8;
  for (int i = 0; i < full; ++i)
    if (addr[i] != host.addr[i]) return false;
  if (rem) {
    std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - rem));
    if ((addr[full] & mask) != (host.addr[full] & mask)) return false;
  }
  return true;
}

std::string Cidr::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, addr.data(), buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(prefix);
}

Result<Cidr> parse_cidr(std::string_view text) {
  static constexpr const char* kExpected =
      "expected an address or CIDR like 198.18.0.0/15, 198.18.0.2 or 2001:db8::/32";
  std::string s(trim(text));
  std::string addr_part = s, prefix_part;
  if (auto slash = s.find('/'); slash != std::string::npos) {
    addr_part = s.substr(0, slash);
    prefix_part = s.substr(slash + 1);
    if (prefix_part.empty()) return fail(kExpected);
  }
  Cidr c;
  if (inet_pton(AF_INET, addr_part.c_str(), c.addr.data()) == 1) {
    c.family = AF_INET;
  } else if (inet_pton(AF_INET6, addr_part.c_str(), c.addr.data()) == 1) {
    c.family = AF_INET6;
  } else {
    return fail(kExpected);
  }
  int max = c.family == AF_INET ? 32 : 128;
  c.prefix = max;
  if (!prefix_part.empty()) {
    int p = -1;
    auto [ptr, ec] = std::from_chars(prefix_part.data(), prefix_part.data() + prefix_part.size(), p);
    if (ec != std::errc() || ptr != prefix_part.data() + prefix_part.size() || p < 0 || p > max)
      return fail("prefix length must be 0.." + std::to_string(max));
    c.prefix = p;
  }
  Cidr net = c;
  int bytes = max / 8;
  for (int bit = c.prefix; bit < bytes * 8; ++bit)
    net.addr[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
  if (net.addr != c.addr)
    return fail("host bits set, did you mean " + net.str() + "?");
  return c;
}

Result<PortRange> parse_port_range(std::string_view text) {
  static constexpr const char* kExpected = "expected a port like 80 or a range like 8000-8100 (1..65535)";
  std::string_view s = trim(text);
  auto parse_one = [](std::string_view p, std::uint16_t& out) {
    unsigned v = 0;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (ec != std::errc() || ptr != p.data() + p.size() || v < 1 || v > 65535) return false;
    out = static_cast<std::uint16_t>(v);
    return true;
  };
  PortRange r;
  auto dash = s.find('-');
  if (dash == std::string_view::npos) {
    if (!parse_one(s, r.lo)) return fail(kExpected);
    r.hi = r.lo;
    return r;
  }
  if (!parse_one(trim(s.substr(0, dash)), r.lo) || !parse_one(trim(s.substr(dash + 1)), r.hi))
    return fail(kExpected);
  if (r.lo > r.hi) return fail("range start above its end: expected LOW-HIGH");
  return r;
}

}  // namespace chaos
