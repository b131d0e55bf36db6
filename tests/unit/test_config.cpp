// Agent configuration (agent.yaml): defaults, every field, strictness.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/config.h"
#include "faults/gpu/config.h"
#include "faults/network/config.h"
#include "runner/families.h"

namespace chaos {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kTestdata = std::string(CHAOS_SOURCE_DIR) + "/tests/unit/testdata/";

// The agent's: every family's part of agent.yaml registered (runner/families).
ConfigOutcome parse_agent_config(const std::string& text, const std::string& file) {
  return chaos::parse_agent_config(text, file, builtin_families().config_registry());
}
ConfigOutcome load_agent_config(const std::string& path) {
  return chaos::load_agent_config(path, builtin_families().config_registry());
}

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
  EXPECT_FALSE(network::config_of(c).max_delay);
  EXPECT_FALSE(network::config_of(c).max_loss_fraction);
  EXPECT_FALSE(gpu::config_of(c).max_memory_fraction);
  EXPECT_FALSE(c.allow_default_route_interface) << "the default-route interface is refused unless allowed";
  EXPECT_EQ(network::config_of(c).attach, kernel::AttachMode::automatic);
  EXPECT_TRUE(c.protected_cgroups.empty());
  EXPECT_TRUE(c.protected_units.empty());
  EXPECT_THAT(c.protected_ports, ElementsAre(PortRange{22, 22})) << "SSH is protected by default";
  EXPECT_FALSE(c.metrics_listen) << "no /metrics endpoint unless configured";
  EXPECT_EQ(c.api.group, "chaos");
  EXPECT_EQ(c.api.operators_group, "chaos-operators");
  EXPECT_EQ(c.api.max_request_bytes, 1u << 20);
  EXPECT_EQ(c.api.max_connections, 64);
  EXPECT_EQ(c.api.max_concurrent_runs, 8);
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
  EXPECT_EQ(out.diags.items()[0].str(), dir + ":1:1: error: not a regular file: expected a YAML file");
}

TEST(Config, EveryFieldFromAFile) {
  auto out = load_agent_config(kTestdata + "agent-full.yaml");
  ASSERT_TRUE(out.diags.ok()) << out.diags.str();
  const AgentConfig& c = out.config;
  EXPECT_EQ(c.lease, 1500ms);
  EXPECT_EQ(c.tick, 50ms);
  EXPECT_EQ(c.max_run_duration, 30min);
  EXPECT_TRUE(c.allow_default_route_interface);
  EXPECT_EQ(network::config_of(c).max_delay, 2s);
  ASSERT_TRUE(network::config_of(c).max_loss_fraction);
  EXPECT_DOUBLE_EQ(*network::config_of(c).max_loss_fraction, 0.5);
  ASSERT_TRUE(gpu::config_of(c).max_memory_fraction);
  EXPECT_DOUBLE_EQ(*gpu::config_of(c).max_memory_fraction, 0.9);
  EXPECT_THAT(c.protected_cgroups, ElementsAre("/system.slice", "/kubepods/besteffort"));
  EXPECT_THAT(c.protected_units, ElementsAre("kubelet.service", "sshd.service"));
  EXPECT_THAT(c.protected_ports, ElementsAre(PortRange{22, 22}, PortRange{2379, 2380}, PortRange{6443, 6443}));
  EXPECT_EQ(network::config_of(c).attach, kernel::AttachMode::classic);
  EXPECT_EQ(c.metrics_listen, "127.0.0.1:9464");
  EXPECT_EQ(c.api.group, "gpu-oncall");
  EXPECT_EQ(c.api.operators_group, "sre_chaos.ops");
  EXPECT_EQ(c.api.max_request_bytes, 256u << 10);
  EXPECT_EQ(c.api.max_connections, 16);
  EXPECT_EQ(c.api.max_concurrent_runs, 2);
}

TEST(Config, ApiBadValuesWithTheirPlace) {
  EXPECT_THAT(
      errors("api:\n  group: \"\"\n  operatorsGroup: -ops\n  maxRequestBytes: 1KiB\n  maxConnections: 0\n"
             "  maxConcurrentRuns: many\n  maxConections: 3\n"),
      ElementsAre(
          "agent.yaml:2:10: error: api.group: \"\": expected a group name like chaos (letters, digits, '_', '-', '.', "
          "not starting with '-' or a digit; at most 32)",
          "agent.yaml:3:19: error: api.operatorsGroup: \"-ops\": expected a group name like chaos (letters, digits, "
          "'_', '-', '.', not starting with '-' or a digit; at most 32)",
          "agent.yaml:4:20: error: api.maxRequestBytes: \"1KiB\": expected a size from 4KiB to 256MiB",
          "agent.yaml:5:19: error: api.maxConnections: \"0\": out of range, expected 1..4096",
          "agent.yaml:6:22: error: api.maxConcurrentRuns: \"many\": expected an integer",
          "agent.yaml:7:3: error: api.maxConections: unknown field, expected one of: group, maxConcurrentRuns, "
          "maxConnections, maxRequestBytes, operatorsGroup"));
  EXPECT_THAT(errors("api:\n  maxRequestBytes: 1GiB\n"),
              ElementsAre("agent.yaml:2:20: error: api.maxRequestBytes: \"1GiB\": expected a size from 4KiB to 256MiB"));
  EXPECT_THAT(errors("api: chaos\n"), ElementsAre("agent.yaml:1:6: error: api: expected a map of fields"));
  // A failed field keeps its default.
  auto out = parse_agent_config("api: {group: \"9x\", maxConnections: 5000}\n", "agent.yaml");
  EXPECT_EQ(out.config.api.group, "chaos");
  EXPECT_EQ(out.config.api.max_connections, 64);
}

TEST(Config, ApiGroupNames) {
  for (const char* ok : {"chaos", "_svc", "a", "sre-chaos", "ops.team_1", "abcdefghijklmnopqrstuvwxyz012345"})
    EXPECT_TRUE(valid_group_name(ok)) << ok;
  for (const char* bad : {"", "1chaos", "-x", ".x", "a b", "a:b", "a/b", "abcdefghijklmnopqrstuvwxyz0123456"})
    EXPECT_FALSE(valid_group_name(bad)) << bad;
}

TEST(Config, PartialConfigKeepsTheOtherDefaults) {
  auto out = parse_agent_config("lease: 5s\nnetwork: {attach: tcx}\n", "agent.yaml");
  ASSERT_TRUE(out.diags.ok()) << out.diags.str();
  EXPECT_EQ(out.config.lease, 5s);
  EXPECT_EQ(network::config_of(out.config).attach, kernel::AttachMode::tcx);
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

// network.attach is read once, into the enum, with its one name table (kernel/tc_attach.h).
TEST(Config, AttachModes) {
  for (const auto& [mode, name] : kernel::kAttachModeNames.entries()) {
    auto out = parse_agent_config("network:\n  attach: " + std::string(name) + "\n", "agent.yaml");
    EXPECT_TRUE(out.diags.ok()) << out.diags.str();
    EXPECT_EQ(network::config_of(out.config).attach, mode) << name;
  }
}

// Each family reads its own part: without the registry, core knows only the envelope, and a
// family's keys are unknown fields like any other.
TEST(Config, FamiliesPartsComeFromTheRegistry) {
  auto bare = chaos::parse_agent_config("guardrails:\n  maxDelay: 1s\nnetwork: {attach: tcx}\n", "agent.yaml",
                                        ConfigRegistry{});
  std::vector<std::string> lines;
  for (const auto& d : bare.diags.items()) lines.push_back(d.str());
  EXPECT_THAT(lines, ElementsAre("agent.yaml:2:3: error: guardrails.maxDelay: unknown field, expected one of: "
                                 "allowDefaultRouteInterface, protectedCgroups, protectedPorts, protectedUnits",
                                 "agent.yaml:3:1: error: network: unknown field, expected one of: api, guardrails, "
                                 "lease, maxRunDuration, metrics, tick"));
  EXPECT_TRUE(bare.config.families.empty());
  // A config built in code has no parts: each family reads its defaults.
  AgentConfig code;
  EXPECT_EQ(network::config_of(code).attach, kernel::AttachMode::automatic);
  EXPECT_FALSE(gpu::config_of(code).max_memory_fraction);
  network::NetworkConfig n;
  n.max_delay = 5s;
  network::set_config(code, n);
  EXPECT_EQ(network::config_of(code).max_delay, 5s);
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
                          "agent.yaml:1:1: error: leese: unknown field, expected one of: api, guardrails, lease, "
                          "maxRunDuration, metrics, network, tick"));
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

TEST(Config, MetricsListenAddresses) {
  // Port 0: any free port (the agent logs the one it bound; tests use it to never race for one).
  for (const char* addr : {"127.0.0.1:9464", "0.0.0.0:1", "[::1]:9464", "[::]:65535", "127.0.0.1:0"}) {
    SCOPED_TRACE(addr);
    auto out = parse_agent_config(std::string("metrics: {listen: \"") + addr + "\"}\n", "agent.yaml");
    EXPECT_TRUE(out.diags.ok()) << out.diags.str();
    EXPECT_EQ(out.config.metrics_listen, addr);
  }
  // Unquoted works too (YAML reads it as a string).
  auto out = parse_agent_config("metrics:\n  listen: 127.0.0.1:9464\n", "agent.yaml");
  EXPECT_TRUE(out.diags.ok()) << out.diags.str();
  EXPECT_EQ(out.config.metrics_listen, "127.0.0.1:9464");
}

TEST(Config, MetricsBadAddressesAreErrorsWithTheirPlace) {
  const std::string expected = "expected IP:PORT, like 127.0.0.1:9464 or [::1]:9464";
  EXPECT_THAT(errors("metrics:\n  listen: localhost:9464\n"),
              ElementsAre("agent.yaml:2:11: error: metrics.listen: \"localhost:9464\": \"localhost\" is not an IP "
                          "address: " + expected));
  EXPECT_THAT(errors("metrics:\n  listen: \"9464\"\n"),
              ElementsAre("agent.yaml:2:11: error: metrics.listen: \"9464\": " + expected));
  EXPECT_THAT(errors("metrics: {listen: \"127.0.0.1:99999\"}\n"),
              ElementsAre("agent.yaml:1:19: error: metrics.listen: \"127.0.0.1:99999\": port \"99999\": expected a "
                          "port from 0 to 65535"));
  EXPECT_THAT(errors("metrics: {listen: \"127.0.0.1:65536\"}\n"), ElementsAre(HasSubstr("port \"65536\"")));
  EXPECT_THAT(errors("metrics: {listen: \"127.0.0.1:http\"}\n"), ElementsAre(HasSubstr("port \"http\"")));
  EXPECT_THAT(errors("metrics: {listen: \"127.0.0.1:\"}\n"), ElementsAre(HasSubstr("port \"\"")));
  EXPECT_THAT(errors("metrics: {listen: \"::1:9464\"}\n"),
              ElementsAre(HasSubstr("an IPv6 address goes in brackets: " + expected)));
  EXPECT_THAT(errors("metrics: {listen: \"[::1]\"}\n"), ElementsAre(HasSubstr(": " + expected)));
  EXPECT_THAT(errors("metrics: {listen: \"[127.0.0.1]:80\"}\n"),
              ElementsAre(HasSubstr("\"127.0.0.1\" is not an IPv6 address")));
  EXPECT_THAT(errors("metrics:\n  listen: [9464]\n"),
              ElementsAre("agent.yaml:2:11: error: metrics.listen: found a list: expected a string"));
}

TEST(Config, MetricsBlockIsStrict) {
  EXPECT_THAT(errors("metrics: {}\n"), ElementsAre("agent.yaml:1:10: error: metrics.listen: missing required field"));
  EXPECT_THAT(errors("metrics:\n  listen: 127.0.0.1:9464\n  path: /m\n"),
              ElementsAre("agent.yaml:3:3: error: metrics.path: unknown field, expected one of: listen"));
  EXPECT_THAT(errors("metrics: on\n"), ElementsAre("agent.yaml:1:10: error: metrics: expected a map of fields"));
  // Absent means no endpoint, and the rest of the file is unaffected.
  auto out = parse_agent_config("lease: 2s\n", "agent.yaml");
  ASSERT_TRUE(out.diags.ok()) << out.diags.str();
  EXPECT_FALSE(out.config.metrics_listen);
}

TEST(Config, PackagedConfigIsValidAndServesMetricsOnLoopback) {
  auto out = load_agent_config(std::string(CHAOS_SOURCE_DIR) + "/packaging/agent.yaml");
  ASSERT_TRUE(out.diags.ok()) << out.diags.str();
  EXPECT_EQ(out.config.metrics_listen, "127.0.0.1:9464");
  EXPECT_EQ(out.config.api.group, "chaos");
  EXPECT_EQ(out.config.api.operators_group, "chaos-operators");
  EXPECT_EQ(out.config.api.max_request_bytes, 1u << 20);
}

TEST(Config, NotAMapOrNotYaml) {
  EXPECT_THAT(errors("- lease: 3s\n"), ElementsAre("agent.yaml:1:1: error: found a list: expected a map of fields"));
  EXPECT_THAT(errors("guardrails: strict\n"),
              ElementsAre("agent.yaml:1:13: error: guardrails: expected a map of fields"));
  EXPECT_THAT(errors("lease: [3s\n"), ElementsAre(HasSubstr("agent.yaml:2:1: error: not valid YAML: ")));
}

}  // namespace
}  // namespace chaos
