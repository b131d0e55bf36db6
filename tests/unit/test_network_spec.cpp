// The network block and the http probe block, through the real registry (builtin_families),
// exactly as `chaosctl validate` reads them.
#include <filesystem>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/parser.h"
#include "faults/network/spec.h"
#include "observe/http_probe.h"
#include "runner/families.h"
#include "unit/support/spec_text.h"

namespace chaos {
namespace {

using ::testing::HasSubstr;

std::string experiment(const std::string& network_block, const std::string& probes = "") {
  return fake::one_fault_experiment("network", network_block, probes);
}
ParseOutcome parse(const std::string& text) { return fake::parse_builtin(text); }
const network::NetworkSpec& net(const ParseOutcome& o) { return fake::first_fault_spec<network::NetworkSpec>(o); }

TEST(NetworkSpec, PartitionWithEveryMatchField) {
  auto o = parse(experiment("        action: partition\n"
                            "        netns: blue\n"
                            "        interface: veth0\n"
                            "        direction: both\n"
                            "        match:\n"
                            "          cidrs: [198.18.0.0/15, \"2001:db8::/32\", 198.18.0.20]\n"
                            "          protocol: udp\n"
                            "          ports: [53, \"8000-8100\"]\n"));
  ASSERT_TRUE(o.diags.ok()) << o.diags.str();
  const auto& s = net(o);
  EXPECT_EQ(s.action, network::Action::partition);
  EXPECT_EQ(s.target.kind, NetTarget::Kind::netns);
  EXPECT_EQ(s.target.name, "blue");
  EXPECT_EQ(s.interface, "veth0");
  EXPECT_EQ(s.direction, network::Direction::both);
  ASSERT_EQ(s.match.cidrs.size(), 3u);
  EXPECT_EQ(s.match.cidrs[2].prefix, 32);
  EXPECT_EQ(s.match.protocol, network::Protocol::udp);
  ASSERT_EQ(s.match.ports.size(), 2u);
  EXPECT_EQ(s.match.ports[1].lo, 8000);
  EXPECT_EQ(s.match.ports[1].hi, 8100);
}

TEST(NetworkSpec, LabTargetDefaultsInterfaceToEth0) {
  auto o = parse(experiment("        action: partition\n        lab: mylab/client\n"));
  ASSERT_TRUE(o.diags.ok()) << o.diags.str();
  EXPECT_EQ(net(o).target.kind, NetTarget::Kind::lab);
  EXPECT_EQ(net(o).target.name, "mylab/client");
  EXPECT_EQ(net(o).interface, "eth0");
}

TEST(NetworkSpec, MissingInterfaceOnTheHostIsAnErrorElsewhereItIsFoundAtPlanTime) {
  auto o = parse(experiment("        action: partition\n"));
  ASSERT_FALSE(o.diags.ok());
  EXPECT_THAT(o.diags.str(), HasSubstr("exp.yaml:10:9: error: spec.faults[0].network: missing required field interface"));
  // A namespace's interface defaults to the one carrying its default route (target_plan.cpp).
  o = parse(experiment("        action: partition\n        netns: blue\n"));
  EXPECT_TRUE(o.diags.ok()) << o.diags.str();
}

TEST(NetworkSpec, EveryErrorOfTheBlockInOnePass) {
  auto o = parse(experiment("        action: partitoin\n"
                            "        netns: blue\n"
                            "        pid: 12\n"
                            "        interface: eth0\n"
                            "        direction: sideways\n"
                            "        match:\n"
                            "          cidrs: [198.18.0.1/15]\n"
                            "          protocol: sctp\n"
                            "          ports: [0]\n"
                            "          colour: red\n"));
  ASSERT_FALSE(o.diags.ok());
  auto text = o.diags.str();
  EXPECT_THAT(text, HasSubstr("exp.yaml:10:17: error: spec.faults[0].network.action: \"partitoin\": expected one of: partition, delay"));
  EXPECT_THAT(text, HasSubstr("netns, pid and lab exclude each other"));
  EXPECT_THAT(text, HasSubstr("spec.faults[0].network.direction: \"sideways\": expected one of: egress, ingress, both"));
  EXPECT_THAT(text, HasSubstr("spec.faults[0].network.match.cidrs[0]: \"198.18.0.1/15\": host bits set, did you mean 198.18.0.0/15?"));
  EXPECT_THAT(text, HasSubstr("spec.faults[0].network.match.protocol: \"sctp\": expected one of: tcp, udp, icmp, any"));
  EXPECT_THAT(text, HasSubstr("spec.faults[0].network.match.ports[0]: \"0\": expected a port like 80"));
  EXPECT_THAT(text, HasSubstr("spec.faults[0].network.match.colour: unknown field"));
  EXPECT_GE(o.diags.items().size(), 7u);
}

TEST(NetworkSpec, PartitionTakesNoNetemBlocks) {
  auto o = parse(experiment("        action: partition\n        lab: client\n        delay: {latency: 10ms}\n"));
  ASSERT_FALSE(o.diags.ok());
  EXPECT_THAT(o.diags.str(), HasSubstr("action partition takes no delay/loss"));
}

TEST(NetworkSpec, NetemActionsNeedTheirBlock) {
  auto o = parse(experiment("        action: delay\n        lab: client\n"));
  ASSERT_FALSE(o.diags.ok());
  EXPECT_THAT(o.diags.str(), HasSubstr("action delay needs a delay block"));
  auto ok = parse(experiment("        action: delay\n        lab: client\n"
                             "        delay: {latency: 100ms, jitter: 10ms, correlation: 25%, distribution: normal}\n"));
  ASSERT_TRUE(ok.diags.ok()) << ok.diags.str();
  EXPECT_EQ(net(ok).delay->latency, std::chrono::milliseconds(100));
  EXPECT_EQ(net(ok).delay->distribution, kernel::NetemDistribution::normal);
}

// The spec reads delay.distribution with the kernel's name table (kernel/qdisc.h), the one
// netem_distribution_table() takes: every name there parses, anything else is a located error
// that lists them, and no distribution given is netem's uniform without a table.
TEST(NetworkSpec, DelayDistributionsAreTheKernelTable) {
  for (const auto& [value, name] : kernel::kNetemDistributionNames.entries()) {
    auto o = parse(experiment(std::string("        action: delay\n        lab: client\n"
                                          "        delay: {latency: 100ms, jitter: 10ms, distribution: ") +
                              std::string(name) + "}\n"));
    ASSERT_TRUE(o.diags.ok()) << name << ": " << o.diags.str();
    EXPECT_EQ(net(o).delay->distribution, value) << name;
  }
  auto bad = parse(experiment("        action: delay\n        lab: client\n"
                              "        delay: {latency: 100ms, jitter: 10ms, distribution: lognormal}\n"));
  EXPECT_THAT(bad.diags.str(), HasSubstr("delay.distribution: \"lognormal\": expected one of: uniform, normal, "
                                         "pareto, paretonormal"));
  auto none = parse(experiment("        action: delay\n        lab: client\n        delay: {latency: 100ms}\n"));
  ASSERT_TRUE(none.diags.ok()) << none.diags.str();
  EXPECT_FALSE(net(none).delay->distribution);
}

TEST(NetworkSpec, CgroupMatchIsEgressOnly) {
  auto o = parse(experiment("        action: partition\n        lab: client\n        direction: ingress\n"
                            "        match: {cgroup: /job}\n"));
  ASSERT_FALSE(o.diags.ok());
  EXPECT_THAT(o.diags.str(), HasSubstr("match.cgroup works on egress only"));
}

TEST(HttpProbeSpec, ParsesUrlsAndRefusesHostNames) {
  auto o = parse(experiment("        action: partition\n        lab: client\n",
                            "  steadyState:\n"
                            "    - name: a\n"
                            "      http: {url: \"http://[2001:2::20]:8080/health\", lab: client, expectStatus: [200, 204]}\n"
                            "    - name: b\n"
                            "      http: {url: \"http://server.example:80/\"}\n"
                            "    - name: c\n"
                            "      http: {url: \"ftp://198.18.0.20/\"}\n"));
  ASSERT_FALSE(o.diags.ok());
  auto text = o.diags.str();
  EXPECT_THAT(text, HasSubstr("spec.steadyState[1].http.url: \"http://server.example:80/\": expected an address literal"));
  EXPECT_THAT(text, HasSubstr("spec.steadyState[2].http.url: \"ftp://198.18.0.20/\": expected a URL like http://"));
  auto good = parse(experiment("        action: partition\n        lab: client\n",
                               "  steadyState:\n"
                               "    - name: a\n"
                               "      http: {url: \"http://[2001:2::20]:8080/health\", lab: client, expectStatus: [200, 204]}\n"));
  ASSERT_TRUE(good.diags.ok()) << good.diags.str();
  auto spec = std::static_pointer_cast<const HttpProbeSpec>(good.experiment->probes[0].spec);
  EXPECT_EQ(spec->host, "2001:2::20");
  EXPECT_EQ(spec->port, 8080);
  EXPECT_EQ(spec->path, "/health");
  EXPECT_EQ(spec->expect_status, (std::vector<int>{200, 204}));
}

TEST(ShippedExperiments, AllValidate) {
  auto reg = builtin_families().spec_registry();
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::string(CHAOS_SOURCE_DIR) + "/experiments")) {
    if (e.path().extension() != ".yaml") continue;
    ++n;
    auto o = parse_experiment_file(e.path().string(), reg);
    EXPECT_TRUE(o.diags.ok()) << e.path() << ":\n" << o.diags.str();
  }
  EXPECT_GE(n, 9u) << "every example in experiments/, the demo's among them";
}

}  // namespace
}  // namespace chaos
