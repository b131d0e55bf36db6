// Agent configuration (agent.yaml): defaults, every field, strictness.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/config.h"

namespace chaos {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kTestdata = std::string(CHAOS_SOURCE_DIR) + "/tests/unit/testdata/";

std::vector<std::string> errors(const std::string& text) {
  auto out = parse_agent_config(text, "agent.yaml");
  std::vector<std::string> lines;
  for (const auto& d : out.diags.items()) lines.push_back(d.str());
  return lines;
}

void expect_defaults(const AgentConfig& c) {
  EXPECT_EQ(c.lease, 3s);
  EXPECT_EQ(c.tick, 100ms);
  EXPECT_EQ(c.max_run_duration, 4h);
  EXPECT_FALSE(c.max_delay);
  EXPECT_FALSE(c.max_loss_fraction);
  EXPECT_FALSE(c.max_gpu_memory_fraction);
  EXPECT_FALSE(c.allow_default_route_interface) << "the default-route interface is refused unless allowed";
  EXPECT_EQ(c.network_attach, "auto");
  EXPECT_TRUE(c.protected_cgroups.empty());
  EXPECT_TRUE(c.protected_units.empty());
  EXPECT_THAT(c.protected_ports, ElementsAre(PortRange{22, 22})) << "SSH is protected by default";
}

TEST(Config, DefaultsFromAnEmptyText) {
  for (const char* empty : {"", "# only a comment\n", "~\n"}) {
    SCOPED_TRACE(empty);
    auto out = parse_agent_config(empty, "agent.yaml");
    EXPECT_TRUE(out.diags.ok()) << out.diags.str();
    expect_defaults(out.config);
  }
}

TEST(Config, DefaultsWhenTheFileIsAbsent) {
  auto out = load_agent_config("/nonexistent-dir-for-chaos-test/agent.yaml");
  EXPECT_TRUE(out.diags.ok()) << out.diags.str();
  expect_defaults(out.config);
}

TEST(Config, DirectoryIsAnErrorNotTheDefaults) {
  char tmpl[] = "/tmp/chaos-config-test-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  auto out = load_agent_config(dir);
  std::filesystem::remove_all(dir);
  ASSERT_EQ(out.diags.items().size(), 1u);
  EXPECT_EQ(out.diags.items()[0].str(), dir + ": error: not a regular file: expected a YAML file");
}

TEST(Config, EveryFieldFromAFile) {
  auto out = load_agent_config(kTestdata + "agent-full.yaml");
  ASSERT_TRUE(out.diags.ok()) << out.diags.str();
  const AgentConfig& c = out.config;
  EXPECT_EQ(c.lease, 1500ms);
  EXPECT_EQ(c.tick, 50ms);
  EXPECT_EQ(c.max_run_duration, 30min);
  EXPECT_TRUE(c.allow_default_route_interface);
  EXPECT_EQ(c.max_delay, 2s);
  ASSERT_TRUE(c.max_loss_fraction);
  EXPECT_DOUBLE_EQ(*c.max_loss_fraction, 0.5);
  ASSERT_TRUE(c.max_gpu_memory_fraction);
  EXPECT_DOUBLE_EQ(*c.max_gpu_memory_fraction, 0.9);
  EXPECT_THAT(c.protected_cgroups, ElementsAre("/system.slice", "/kubepods/besteffort"));
  EXPECT_THAT(c.protected_units, ElementsAre("kubelet.service", "sshd.service"));
  EXPECT_THAT(c.protected_ports, ElementsAre(PortRange{22, 22}, PortRange{2379, 2380}, PortRange{6443, 6443}));
  EXPECT_EQ(c.network_attach, "classic");
}

TEST(Config, PartialConfigKeepsTheOtherDefaults) {
  auto out = parse_agent_config("lease: 5s\nnetwork: {attach: tcx}\n", "agent.yaml");
  ASSERT_TRUE(out.diags.ok()) << out.diags.str();
  EXPECT_EQ(out.config.lease, 5s);
  EXPECT_EQ(out.config.network_attach, "tcx");
  EXPECT_EQ(out.config.tick, 100ms);
  EXPECT_THAT(out.config.protected_ports, ElementsAre(PortRange{22, 22}));
}

TEST(Config, ProtectedPortsReplaceTheDefaultAndMayBeEmpty) {
  auto out = parse_agent_config("guardrails:\n  protectedPorts: []\n", "agent.yaml");
  ASSERT_TRUE(out.diags.ok()) << out.diags.str();
  EXPECT_TRUE(out.config.protected_ports.empty());
  out = parse_agent_config("guardrails:\n  protectedPorts: 8080\n", "agent.yaml");
  ASSERT_TRUE(out.diags.ok()) << out.diags.str();
  EXPECT_THAT(out.config.protected_ports, ElementsAre(PortRange{8080, 8080}));
}

TEST(Config, AttachModes) {
  for (const char* mode : {"auto", "tcx", "classic"}) {
    auto out = parse_agent_config(std::string("network:\n  attach: ") + mode + "\n", "agent.yaml");
    EXPECT_TRUE(out.diags.ok()) << out.diags.str();
    EXPECT_EQ(out.config.network_attach, mode);
  }
}

TEST(Config, LeaseAndTickBounds) {
  EXPECT_TRUE(errors("lease: 200ms\ntick: 10ms\n").empty());
  EXPECT_TRUE(errors("tick: 1s\n").empty());
  EXPECT_THAT(errors("lease: 100ms\ntick: 5ms\n"),
              ElementsAre("agent.yaml:1:8: error: lease: \"100ms\": too short, expected at least 200ms",
                          "agent.yaml:2:7: error: tick: \"5ms\": expected a duration from 10ms to 1s"));
  EXPECT_THAT(errors("tick: 2s\n"), ElementsAre("agent.yaml:1:7: error: tick: \"2s\": expected a duration from 10ms "
                                                "to 1s"));
  EXPECT_THAT(errors("maxRunDuration: 0s\n"),
              ElementsAre("agent.yaml:1:17: error: maxRunDuration: \"0s\": expected a duration above 0s"));
}

TEST(Config, UnknownKeys) {
  EXPECT_THAT(errors("leese: 3s\nguardrails:\n  maxLos: 5%\nnetwork:\n  mode: tcx\n"),
              ElementsAre("agent.yaml:3:3: error: guardrails.maxLos: unknown field, expected one of: "
                          "allowDefaultRouteInterface, maxDelay, maxGpuMemoryFraction, maxLoss, protectedCgroups, "
                          "protectedPorts, protectedUnits",
                          "agent.yaml:5:3: error: network.mode: unknown field, expected one of: attach",
                          "agent.yaml:1:1: error: leese: unknown field, expected one of: guardrails, lease, "
                          "maxRunDuration, network, tick"));
}

TEST(Config, BadValuesAllReportedInOnePass) {
  EXPECT_THAT(
      errors("lease: 3\ntick: fast\nmaxRunDuration: [1h]\nguardrails:\n"
             "  allowDefaultRouteInterface: yes\n  maxDelay: 1 s\n  maxLoss: 50\n  maxGpuMemoryFraction: 1.5\n"
             "  protectedCgroups: {a: b}\n  protectedUnits: [ok, [nested]]\n  protectedPorts: [22, 0, 9-1]\n"
             "network:\n  attach: ebpf\n"),
      ElementsAre(
          "agent.yaml:1:8: error: lease: \"3\": expected a duration like 10ms, 1.5s, 2m (units: ns, us, ms, s, m, h)",
          "agent.yaml:2:7: error: tick: \"fast\": expected a duration like 10ms, 1.5s, 2m (units: ns, us, ms, s, m, "
          "h)",
          "agent.yaml:3:17: error: maxRunDuration: found a list: expected a duration like 10ms, 1.5s, 2m (units: ns, "
          "us, ms, s, m, h)",
          "agent.yaml:5:31: error: guardrails.allowDefaultRouteInterface: \"yes\": expected true or false",
          "agent.yaml:6:13: error: guardrails.maxDelay: \"1 s\": expected a duration like 10ms, 1.5s, 2m (units: "
          "ns, us, ms, s, m, h)",
          "agent.yaml:7:12: error: guardrails.maxLoss: \"50\": expected a percentage like 10% or 0.5%",
          "agent.yaml:8:25: error: guardrails.maxGpuMemoryFraction: \"1.5\": out of range, expected a number from "
          "0.000000 to 1.000000",
          "agent.yaml:9:21: error: guardrails.protectedCgroups: found a map: expected a list",
          "agent.yaml:10:24: error: guardrails.protectedUnits[1]: found a list: expected a string",
          "agent.yaml:11:24: error: guardrails.protectedPorts[1]: \"0\": expected a port like 80 or a range like "
          "8000-8100 (1..65535)",
          "agent.yaml:11:27: error: guardrails.protectedPorts[2]: \"9-1\": range start above its end: expected "
          "LOW-HIGH",
          "agent.yaml:13:11: error: network.attach: \"ebpf\": expected one of: auto, tcx, classic"));
}

TEST(Config, NotAMapOrNotYaml) {
  EXPECT_THAT(errors("- lease: 3s\n"), ElementsAre("agent.yaml:1:1: error: found a list: expected a map of fields"));
  EXPECT_THAT(errors("guardrails: strict\n"),
              ElementsAre("agent.yaml:1:13: error: guardrails: expected a map of fields"));
  EXPECT_THAT(errors("lease: [3s\n"), ElementsAre(HasSubstr("agent.yaml:2:1: error: not valid YAML: ")));
}

}  // namespace
}  // namespace chaos
