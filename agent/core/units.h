// Typed values parsed once at the edge. Nothing past the parser handles these as strings.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace chaos {

using Duration = std::chrono::nanoseconds;

// "10ms", "1.5s", "2m", "500us", "100ns", "1h", also "1m30s". Zero is allowed ("0s"); negative is not.
Result<Duration> parse_duration(std::string_view text);
// Canonical short form: 1500ms -> "1.5s", 100ms -> "100ms".
std::string format_duration(Duration d);

// "512MiB", "1GiB", "64KB", "100B", "4096" (bytes). Binary (KiB, MiB, GiB, TiB) and decimal (KB, MB, GB, TB).
Result<std::uint64_t> parse_bytes(std::string_view text);
std::string format_bytes(std::uint64_t bytes);

// Data rates for netem/tbf: "100mbit", "1gbit", "10kbps"(bytes/s), "256MiB/s". Returned in bytes per second.
Result<std::uint64_t> parse_rate(std::string_view text);

// "10%", "0.5%", "100%". Stored as a percentage in [0, 100].
struct Percent {
  double value = 0;  // 0..100
  double fraction() const { return value / 100.0; }
  friend bool operator==(const Percent&, const Percent&) = default;
};
Result<Percent> parse_percent(std::string_view text);

// A number as a user would write it: up to 10 significant digits, no trailing zeros, no
// floating-point noise ("30", "0.5", "12.25", "1e-07"). format_percent(30) -> "30%";
// format_fraction_percent(0.3) -> "30%" (0.3 * 100 is 30.000000000000004).
std::string format_number(double v);
std::string format_percent(const Percent& p);
std::string format_fraction_percent(double fraction);

// IPv4 or IPv6 network in CIDR notation. A bare address means a host route (/32 or /128).
struct Cidr {
  int family = 0;                       // AF_INET or AF_INET6
  std::array<std::uint8_t, 16> addr{};  // network byte order; IPv4 uses the first 4 bytes
  int prefix = 0;                       // 0..32 or 0..128; host bits below the prefix are zero
  friend bool operator==(const Cidr&, const Cidr&) = default;
  bool contains(const Cidr& host) const;  // host is an address (full prefix) of the same family
  std::string str() const;
};
// "198.18.0.0/15", "2001:db8::/32", "198.18.0.2". Host bits set below the prefix are an error
// ("198.18.0.1/24: host bits set, did you mean 198.18.0.0/24?").
Result<Cidr> parse_cidr(std::string_view text);

// 80, "80", "8000-8100".
struct PortRange {
  std::uint16_t lo = 0;
  std::uint16_t hi = 0;
  friend bool operator==(const PortRange&, const PortRange&) = default;
  bool contains(std::uint16_t p) const { return p >= lo && p <= hi; }
};
Result<PortRange> parse_port_range(std::string_view text);

}  // namespace chaos
