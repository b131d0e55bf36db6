// Kernel network counters for the blast radius: the /proc/net/snmp table parser, key naming,
// and a real read of this process's own namespace.
#include <gtest/gtest.h>

#include "kernel/netstat.h"

namespace chaos::kernel {
namespace {

TEST(Netstat, ParsesHeaderValuePairsIntoProtoDotName) {
  const char* text =
      "Ip: Forwarding DefaultTTL InReceives\n"
      "Ip: 2 64 32490\n"
      "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens RetransSegs\n"
      "Tcp: 1 200 120000 -1 17 42\n"
      "Udp: InDatagrams NoPorts\n"
      "Udp: 5 3\n";
  auto c = parse_snmp_table(text);
  EXPECT_EQ(c.at("Ip.InReceives"), 32490u);
  EXPECT_EQ(c.at("Tcp.RetransSegs"), 42u);
  EXPECT_EQ(c.at("Udp.NoPorts"), 3u);
  EXPECT_FALSE(c.count("Tcp.MaxConn")) << "a negative gauge is not a counter";
}

TEST(Netstat, SkipsMalformedPairsAndResynchronizes) {
  const char* text =
      "garbage line\n"
      "Tcp: A B\n"
      "Tcp: 1 2\n"
      "Udp: X Y Z\n"
      "Udp: 1 2\n"  // count mismatch: skipped
      "TcpExt: TCPTimeouts\n"
      "TcpExt: 9\n";
  auto c = parse_snmp_table(text);
  EXPECT_EQ(c.at("Tcp.A"), 1u);
  EXPECT_EQ(c.at("Tcp.B"), 2u);
  EXPECT_FALSE(c.count("Udp.X"));
  EXPECT_EQ(c.at("TcpExt.TCPTimeouts"), 9u);
}

TEST(Netstat, JsonKeys) {
  EXPECT_EQ(counter_json_key("Tcp.RetransSegs"), "tcpRetransSegs");
  EXPECT_EQ(counter_json_key("TcpExt.TCPTimeouts"), "tcpExtTCPTimeouts");
  EXPECT_EQ(counter_json_key("Udp.InErrors"), "udpInErrors");
}

TEST(Netstat, ReadsThisNamespaceAndEveryBlastRadiusCounterExists) {
  auto c = read_net_counters("");
  ASSERT_TRUE(c) << c.error().text();
  for (const auto& k : blast_radius_counters()) EXPECT_TRUE(c->count(k)) << k << " is not in /proc/net/{snmp,netstat}";
  NetCounterDelta d;
  EXPECT_TRUE(d.delta().is_null()) << "no delta before start()";
  d.start();
  auto j = d.delta();
  ASSERT_TRUE(j.is_object()) << j.dump();
  EXPECT_FALSE(j.contains("error")) << j.dump();
  EXPECT_EQ(j.size(), blast_radius_counters().size()) << j.dump();
  d.freeze();
  EXPECT_EQ(d.result(), d.result()) << "frozen";
}

TEST(Netstat, AMissingNamespaceIsAnErrorNotAGuess) {
  auto c = read_net_counters("/run/netns/chaos-no-such-namespace");
  EXPECT_FALSE(c);
  NetCounterDelta d("/run/netns/chaos-no-such-namespace");
  d.start();
  auto j = d.delta();
  ASSERT_TRUE(j.contains("error")) << j.dump();
}

}  // namespace
}  // namespace chaos::kernel
