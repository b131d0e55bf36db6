#include "core/units.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <utility>

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

// A non-negative decimal read exactly: value = digits / 10^frac. Doubles cannot hold 1.1 or 0.3,
// so "1.1KB" would not come out as a whole 1100 bytes, and "0.3mbit" would truncate to 37499 B/s.
using u128 = unsigned __int128;
struct Decimal {
  u128 digits = 0;
  int frac = 0;       // digits after the point
  bool huge = false;  // more significant digits than we keep: treated as too large by callers
};
constexpr int kMaxDigits = 36;  // 10^36 < 2^128 / 10

u128 pow10(int n) {
  u128 p = 1;
  while (n-- > 0) p *= 10;
  return p;
}

bool take_decimal(std::string_view& s, Decimal& d) {
  std::size_t i = 0;
  bool any = false;
  int significant = 0;
  auto digit = [&](char c, bool fraction) {
    if (d.digits == 0 && c == '0' && !fraction) return;  // leading zeros carry nothing
    // Past 36 decimal places a digit is below 10^-36 of the unit: dropped. Counting them made
    // 10^frac wrap to 0 in 128 bits and the division by it crash (SIGFPE): "0.(140 zeros)m"
    // (found by fuzz/fuzz_cron through @every; every duration, size and rate field reads this).
    if (fraction && d.frac >= kMaxDigits) return;
    if (significant >= kMaxDigits) {
      // A 37th significant digit: in the integer part the value is too large to keep; in the
      // fraction it is below the last kept one and is dropped ("1.000...0s" is 1s, not too long).
      if (!fraction) d.huge = true;
      return;
    }
    d.digits = d.digits * 10 + static_cast<unsigned>(c - '0');
    if (d.digits != 0) ++significant;
    if (fraction) ++d.frac;
  };
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) digit(s[i++], false), any = true;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) digit(s[i++], true), any = true;
  }
  if (!any) return false;
  // Trailing zeros of the fraction change nothing but would make digits * scale overflow.
  while (d.frac > 0 && d.digits % 10 == 0) {
    d.digits /= 10;
    --d.frac;
  }
  s.remove_prefix(i);
  return true;
}

// digits * scale / (den * 10^frac), exactly: false when it does not fit in 128 bits.
bool scaled(const Decimal& d, u128 scale, u128 den, u128& quot, u128& rem) {
  if (d.huge) return false;
  if (scale != 0 && d.digits > ~u128(0) / scale) return false;
  u128 div = pow10(d.frac) * den;
  quot = d.digits * scale / div;
  rem = d.digits * scale % div;
  return true;
}

// Rounds half up: a duration or rate between two whole units lands on the nearest.
bool scaled_rounded(const Decimal& d, u128 scale, u128 den, u128& out) {
  u128 q = 0, r = 0;
  if (!scaled(d, scale, den, q, r)) return false;
  u128 div = pow10(d.frac) * den;
  out = q + (r >= div - r ? 1 : 0);
  return true;
}

std::string_view take_unit(std::string_view& s) {
  std::size_t i = 0;
  // Bytes >= 0x80 belong to UTF-8 sequences: "µs".
  while (i < s.size() && (std::isalpha(static_cast<unsigned char>(s[i])) || s[i] == '/' ||
                          static_cast<unsigned char>(s[i]) >= 0x80))
    ++i;
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
  static constexpr const char* kTooLong = "too long: expected at most 277777h";
  constexpr u128 kMaxNs = 1'000'000'000'000'000'000;  // fits int64 nanoseconds with room to spare
  std::string_view s = trim(text);
  if (s.empty()) return fail(kExpected);
  u128 total_ns = 0;
  bool too_long = false;
  while (!s.empty()) {
    Decimal v;
    if (!take_decimal(s, v)) return fail(kExpected);
    auto unit = take_unit(s);
    u128 scale;
    if (unit == "ns") scale = 1;
    else if (unit == "us" || unit == "\u00b5s" || unit == "\u03bcs") scale = 1'000;
    else if (unit == "ms") scale = 1'000'000;
    else if (unit == "s") scale = 1'000'000'000;
    else if (unit == "m") scale = 60'000'000'000;
    else if (unit == "h") scale = 3'600'000'000'000;
    else if (unit.empty() && v.digits == 0 && !v.huge && s.empty()) scale = 0;  // a bare 0
    else return fail(kExpected);
    u128 ns = 0;
    if (!scaled_rounded(v, scale, 1, ns) || ns > kMaxNs) {
      too_long = true;  // keep going: a malformed rest is reported as malformed, not as too long
      continue;
    }
    total_ns += ns;
    if (total_ns > kMaxNs) too_long = true;
  }
  if (too_long) return fail(kTooLong);
  return Duration(static_cast<std::int64_t>(total_ns));
}

std::string format_duration(Duration d) {
  // The largest unit that shows the value exactly with at most three decimals, so what the
  // dry-run and the report print parses back to the same nanosecond.
  auto ns = d.count();
  if (ns == 0) return "0s";
  if (ns % 3'600'000'000'000 == 0) return std::to_string(ns / 3'600'000'000'000) + "h";
  if (ns % 60'000'000'000 == 0) return std::to_string(ns / 60'000'000'000) + "m";
  auto with_decimals = [](std::int64_t v, std::int64_t unit, const char* suffix) {
    std::string out = std::to_string(v / unit);
    std::int64_t rest = v % unit;
    if (rest != 0) {
      std::string frac = std::to_string(rest * 1000 / unit + 1000).substr(1);  // 3 digits, zero padded
      while (frac.back() == '0') frac.pop_back();
      out += "." + frac;
    }
    return out + suffix;
  };
  if (ns >= 1'000'000'000 && ns % 1'000'000 == 0) return with_decimals(ns, 1'000'000'000, "s");
  if (ns >= 1'000'000 && ns % 1'000 == 0) return with_decimals(ns, 1'000'000, "ms");
  if (ns >= 1'000) return with_decimals(ns, 1'000, "us");
  return std::to_string(ns) + "ns";
}

namespace {
bool byte_scale(std::string_view unit, u128& scale) {
  if (unit.empty() || unit == "B") scale = 1;
  else if (unit == "KiB" || unit == "Ki") scale = u128(1) << 10;
  else if (unit == "MiB" || unit == "Mi") scale = u128(1) << 20;
  else if (unit == "GiB" || unit == "Gi") scale = u128(1) << 30;
  else if (unit == "TiB" || unit == "Ti") scale = u128(1) << 40;
  else if (unit == "KB" || unit == "kB" || unit == "K" || unit == "k") scale = 1'000;
  else if (unit == "MB" || unit == "M") scale = 1'000'000;
  else if (unit == "GB" || unit == "G") scale = 1'000'000'000;
  else if (unit == "TB" || unit == "T") scale = 1'000'000'000'000;
  else return false;
  return true;
}
}  // namespace

Result<std::uint64_t> parse_bytes(std::string_view text) {
  static constexpr const char* kExpected =
      "expected a size like 512MiB, 1GiB or 64KB (units: B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)";
  static constexpr const char* kTooLarge = "too large: expected at most 18446744073709551615 bytes";
  std::string_view s = trim(text);
  Decimal v;
  if (!take_decimal(s, v)) return fail(kExpected);
  s = trim(s);
  auto unit = take_unit(s);
  u128 scale = 0;
  if (!s.empty() || !byte_scale(unit, scale)) return fail(kExpected);
  u128 q = 0, r = 0;
  if (!scaled(v, scale, 1, q, r) || q > std::numeric_limits<std::uint64_t>::max()) return fail(kTooLarge);
  if (r != 0) return fail("not a whole number of bytes: expected a size in whole bytes");
  return static_cast<std::uint64_t>(q);
}

std::string format_number(double v) {
  // Round away floating-point noise (10 significant digits), then print the shortest fixed
  // notation that reads back as that value: 30, 0.5, 0.000001 (never 1e-06 or 30.000000).
  char b[32];
  std::snprintf(b, sizeof b, "%.10g", v);
  double rounded = std::strtod(b, nullptr);
  if (!std::isfinite(rounded) || std::fabs(rounded) >= 1e15) return b;
  char out[400];
  auto r = std::to_chars(out, out + sizeof out, rounded, std::chars_format::fixed);
  return r.ec == std::errc() ? std::string(out, r.ptr) : std::string(b);
}

std::string format_percent(const Percent& p) { return format_number(p.value) + "%"; }

std::string format_fraction_percent(double fraction) { return format_number(fraction * 100.0) + "%"; }

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
  Decimal v;
  if (!take_decimal(s, v)) return fail(kExpected);
  s = trim(s);
  std::string unit(take_unit(s));
  if (!s.empty()) return fail(kExpected);
  // tc's units, case-insensitive as in tc: "bit" suffixes count bits, "bps" suffixes bytes.
  std::string lower;
  for (char c : unit) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::pair<const char*, std::uint64_t> kBits[] = {
      {"bit", 1},           {"kbit", 1'000},          {"mbit", 1'000'000},
      {"gbit", 1'000'000'000}, {"tbit", 1'000'000'000'000}, {"kibit", 1ull << 10},
      {"mibit", 1ull << 20},   {"gibit", 1ull << 30},        {"tibit", 1ull << 40}};
  static const std::pair<const char*, std::uint64_t> kBytes[] = {
      {"bps", 1},           {"kbps", 1'000},          {"mbps", 1'000'000},
      {"gbps", 1'000'000'000}, {"tbps", 1'000'000'000'000}, {"kibps", 1ull << 10},
      {"mibps", 1ull << 20},   {"gibps", 1ull << 30},        {"tibps", 1ull << 40}};
  u128 scale = 0, den = 0;  // bytes per second = value * scale / den
  for (const auto& [name, sc] : kBits)
    if (lower == name) scale = sc, den = 8;
  for (const auto& [name, sc] : kBytes)
    if (lower == name) scale = sc, den = 1;
  if (den == 0) {
    if (unit.size() > 2 && unit.substr(unit.size() - 2) == "/s" &&
        byte_scale(std::string_view(unit).substr(0, unit.size() - 2), scale))
      den = 1;
    else
      return fail(kExpected);
  }
  constexpr u128 kMax = 125'000'000'000'000;  // 1000tbit: far above any NIC, far below overflow
  static constexpr const char* kTooLarge = "too large: expected at most 1000tbit";
  u128 q = 0, r = 0;
  if (!scaled(v, scale, den, q, r) || q > kMax) return fail(kTooLarge);
  if (q == 0) return fail("too small: expected at least 8bit");
  u128 bps = 0;
  scaled_rounded(v, scale, den, bps);
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
      return fail("prefix length \"" + prefix_part + "\": expected 0.." + std::to_string(max));
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
