// Chaos Mesh import: every manifest in the shared conformance directory either converts to a
// native experiment that the native parser accepts, or is refused with a specific reason; and the
// conversion of each network field, checked on the parsed result.
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/parser.h"
#include "faults/network/chaosmesh.h"
#include "faults/network/spec.h"
#include "import_cmd.h"
#include "runner/families.h"
#include "runner/spec_parsers.h"

namespace chaos {
namespace {

using namespace std::chrono_literals;
using cli::ImportFlags;
using cli::ManifestImport;
using ::testing::HasSubstr;
using Outcome = ManifestImport::Outcome;

const std::filesystem::path kConformance = std::filesystem::path(CHAOS_SHARED_DIR) / "conformance";

// The conformance manifests live beside the repository (../shared); without them the tests that
// read them say so and skip.
#define REQUIRE_CONFORMANCE()                                                                    \
  do {                                                                                           \
    if (!std::filesystem::is_directory(kConformance))                                            \
      GTEST_SKIP() << "conformance manifests not found at " << kConformance.string();            \
  } while (0)

// Host names resolve to documentation addresses: no DNS in unit tests.
Result<std::vector<Cidr>> fake_resolve(const std::string& host) {
  if (host == "www.google.com") return std::vector<Cidr>{*parse_cidr("203.0.113.10"), *parse_cidr("2001:db8::10")};
  if (host == "example.com") return std::vector<Cidr>{*parse_cidr("203.0.113.20")};
  return fail("cannot resolve " + host, ENOENT);
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ImportFlags flags(std::string target = "netns:chaos-test", std::string iface = "eth0") {
  ImportFlags f;
  f.target = std::move(target);
  f.interface = std::move(iface);
  f.resolve = fake_resolve;
  return f;
}

struct Native {
  std::optional<Experiment> exp;
  std::string diags;
  const network::NetworkSpec& net(std::size_t i) const {
    return *std::static_pointer_cast<const network::NetworkSpec>(exp->faults.at(i).spec);
  }
};

Native parse_native(const std::string& yaml) {
  auto out = parse_experiment(yaml, "imported.yaml", builtin_families().spec_registry());
  return {out.experiment, out.diags.str()};
}

ManifestImport import_file(const std::string& rel, const ImportFlags& f = flags()) {
  return cli::import_manifest(slurp(kConformance / rel), f);
}

// What each conformance manifest must become. A file not listed here must still convert or be
// refused (never "invalid"), so new files are covered the day they appear.
const std::map<std::string, Outcome> kExpected{
    {"chaos-mesh/burn-cpu.yaml", Outcome::refused},
    {"chaos-mesh/cause-pod-oom.yaml", Outcome::converted},  // memory stressor, with a cgroup target
    {"chaos-mesh/network-bandwidth-example.yaml", Outcome::converted},
    {"chaos-mesh/network-corrupt-example.yaml", Outcome::converted},
    {"chaos-mesh/network-delay-example.yaml", Outcome::converted},
    {"chaos-mesh/network-delay-physicalmachinechaos-example.yaml", Outcome::converted},
    {"chaos-mesh/network-delay-with-external-target-example.yaml", Outcome::converted},
    {"chaos-mesh/network-delay-with-target-example.yaml", Outcome::converted},
    {"chaos-mesh/network-duplicate-example.yaml", Outcome::converted},
    {"chaos-mesh/network-loss-example.yaml", Outcome::converted},
    {"chaos-mesh/network-netem-example.yaml", Outcome::converted},
    {"chaos-mesh/network-netem-with-target-example.yaml", Outcome::converted},
    {"chaos-mesh/network-partition-example.yaml", Outcome::converted},
    {"chaos-mesh/network-partition-with-external-targets-example.yaml", Outcome::converted},
    {"chaos-mesh/statuscheck-example.yaml", Outcome::refused},
    {"seed/network-delay-500ms.yaml", Outcome::converted},
};

TEST(ChaosMeshConformance, EveryManifestConvertsOrIsRefusedWithAReason) {
  REQUIRE_CONFORMANCE();
  int files = 0, converted = 0, refused = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(kConformance)) {
    if (!e.is_regular_file() || (e.path().extension() != ".yaml" && e.path().extension() != ".yml")) continue;
    ++files;
    auto rel = std::filesystem::relative(e.path(), kConformance).string();
    std::string text = slurp(e.path());
    // Memory stressors act on a workload's cgroup; everything else in a network namespace.
    bool stress = text.find("kind: StressChaos") != std::string::npos;
    auto m = cli::import_manifest(text, stress ? flags("cgroup:/chaos-test", "") : flags());
    SCOPED_TRACE(rel + ": " + m.reason);
    EXPECT_NE(m.outcome, Outcome::invalid) << "neither converted nor refused with a reason";
    if (auto it = kExpected.find(rel); it != kExpected.end()) {
      EXPECT_EQ(m.outcome, it->second);
    }
    if (m.outcome == Outcome::refused) {
      ++refused;
      EXPECT_GT(m.reason.size(), 20u) << "a refusal says why";
      continue;
    }
    if (m.outcome != Outcome::converted) continue;
    ++converted;
    EXPECT_THAT(m.yaml, HasSubstr("apiVersion: chaos-agent/v1"));
    // The native parser must accept what import prints (when this build has the family).
    auto reg = builtin_families().spec_registry();
    bool network = text.find("kind: NetworkChaos") != std::string::npos ||
                   text.find("kind: PhysicalMachineChaos") != std::string::npos;
    if (network || builtin_families().fault("memory")) {
      auto n = parse_native(m.yaml);
      EXPECT_TRUE(n.exp) << n.diags << "\n" << m.yaml;
    }
  }
  EXPECT_EQ(files, static_cast<int>(kExpected.size())) << "a new conformance file: add it to kExpected";
  EXPECT_GE(converted, 13);
  EXPECT_GE(refused, 2);
}

TEST(ChaosMeshConformance, RefusalReasonsAreSpecific) {
  REQUIRE_CONFORMANCE();
  auto cpu = import_file("chaos-mesh/burn-cpu.yaml", flags("cgroup:/x", ""));
  EXPECT_EQ(cpu.outcome, Outcome::refused);
  EXPECT_THAT(cpu.reason, HasSubstr("cpu"));
  auto sc = import_file("chaos-mesh/statuscheck-example.yaml");
  EXPECT_EQ(sc.outcome, Outcome::refused);
  EXPECT_THAT(sc.reason, HasSubstr("controller"));
  auto pod = cli::import_manifest(
      "apiVersion: chaos-mesh.org/v1alpha1\nkind: PodChaos\nmetadata: {name: p}\nspec: {action: pod-kill, mode: one}\n",
      flags());
  EXPECT_EQ(pod.outcome, Outcome::refused);
  EXPECT_THAT(pod.reason, HasSubstr("cluster controller"));
  // A memory stressor needs a workload target, not a namespace.
  auto oom = import_file("chaos-mesh/cause-pod-oom.yaml", flags("netns:x"));
  EXPECT_EQ(oom.outcome, Outcome::invalid);
  EXPECT_THAT(oom.reason, HasSubstr("cgroup:PATH"));
  auto native = cli::import_manifest("apiVersion: chaos-agent/v1\nkind: Experiment\n", flags());
  EXPECT_EQ(native.outcome, Outcome::invalid);
  EXPECT_THAT(native.reason, HasSubstr("chaos-mesh.org"));
}

TEST(ChaosMeshNetwork, Delay) {
  REQUIRE_CONFORMANCE();
  auto m = import_file("chaos-mesh/network-delay-example.yaml");
  ASSERT_EQ(m.outcome, Outcome::converted) << m.reason;
  auto n = parse_native(m.yaml);
  ASSERT_TRUE(n.exp) << n.diags;
  ASSERT_EQ(n.exp->faults.size(), 1u);
  EXPECT_EQ(n.exp->faults[0].duration, 10s);
  EXPECT_GE(n.exp->duration, 10s);
  const auto& s = n.net(0);
  EXPECT_EQ(s.action, network::Action::delay);
  EXPECT_EQ(s.target.kind, NetTarget::Kind::netns);
  EXPECT_EQ(s.target.name, "chaos-test");
  EXPECT_EQ(s.interface, "eth0");
  EXPECT_EQ(s.direction, network::Direction::egress) << "Chaos Mesh's default direction is to";
  ASSERT_TRUE(s.delay);
  EXPECT_EQ(s.delay->latency, 90ms);
  EXPECT_EQ(s.delay->jitter, 90ms);
  EXPECT_DOUBLE_EQ(s.delay->correlation.value, 25);
  EXPECT_TRUE(s.match.empty()) << "no targets: every peer";
}

TEST(ChaosMeshNetwork, SeedManifest) {
  REQUIRE_CONFORMANCE();
  auto m = import_file("seed/network-delay-500ms.yaml");
  ASSERT_EQ(m.outcome, Outcome::converted) << m.reason;
  auto n = parse_native(m.yaml);
  ASSERT_TRUE(n.exp) << n.diags;
  const auto& s = n.net(0);
  EXPECT_EQ(s.delay->latency, 500ms);
  EXPECT_EQ(s.delay->jitter, 100ms);
  EXPECT_DOUBLE_EQ(s.delay->correlation.value, 100);
  EXPECT_EQ(n.exp->faults[0].duration, 60s) << "no spec.duration: the import's default";
  bool said_duration = false, said_correlation = false;
  for (const auto& w : m.warnings) {
    said_duration |= w.find("spec.duration") != std::string::npos;
    said_correlation |= w.find("correlation 100%") != std::string::npos;
  }
  EXPECT_TRUE(said_duration);
  EXPECT_TRUE(said_correlation);
  EXPECT_THAT(m.yaml, HasSubstr("# note: ")) << "warnings are in the printed experiment too";
  auto f = flags();
  f.duration = 20s;
  auto m2 = import_file("seed/network-delay-500ms.yaml", f);
  auto n2 = parse_native(m2.yaml);
  ASSERT_TRUE(n2.exp);
  EXPECT_EQ(n2.exp->faults[0].duration, 20s);
}

TEST(ChaosMeshNetwork, ExternalTargetsGroupedByPort) {
  REQUIRE_CONFORMANCE();
  auto m = import_file("chaos-mesh/network-delay-with-external-target-example.yaml");
  ASSERT_EQ(m.outcome, Outcome::converted) << m.reason;
  auto n = parse_native(m.yaml);
  ASSERT_TRUE(n.exp) << n.diags << m.yaml;
  // 8.8.8.8, www.google.com, 8.8.0.0/16 (any port); 1.1.1.1:80; example.com:443; 10.0.0.0/8:22.
  ASSERT_EQ(n.exp->faults.size(), 4u) << m.yaml;
  std::map<std::string, std::vector<std::string>> by_port;
  for (std::size_t i = 0; i < n.exp->faults.size(); ++i) {
    const auto& s = n.net(i);
    EXPECT_EQ(s.direction, network::Direction::egress);
    std::string port = s.match.ports.empty() ? "any" : std::to_string(s.match.ports.at(0).lo);
    for (const auto& c : s.match.cidrs) by_port[port].push_back(c.str());
  }
  EXPECT_THAT(by_port["any"], ::testing::UnorderedElementsAre("8.8.8.8/32", "203.0.113.10/32", "2001:db8::10/128",
                                                                "8.8.0.0/16"));
  EXPECT_THAT(by_port["80"], ::testing::ElementsAre("1.1.1.1/32"));
  EXPECT_THAT(by_port["443"], ::testing::ElementsAre("203.0.113.20/32"));
  EXPECT_THAT(by_port["22"], ::testing::ElementsAre("10.0.0.0/8"));
}

TEST(ChaosMeshNetwork, UnresolvableHostNameIsAnError) {
  REQUIRE_CONFORMANCE();
  auto f = flags();
  f.resolve = [](const std::string& h) -> Result<std::vector<Cidr>> { return fail("cannot resolve " + h, ENOENT); };
  auto m = import_file("chaos-mesh/network-delay-with-external-target-example.yaml", f);
  EXPECT_EQ(m.outcome, Outcome::invalid);
  EXPECT_THAT(m.reason, HasSubstr("externalTargets[1]"));
  EXPECT_THAT(m.reason, HasSubstr("www.google.com"));
}

TEST(ChaosMeshNetwork, BandwidthBecomesNetemRate) {
  REQUIRE_CONFORMANCE();
  auto m = import_file("chaos-mesh/network-bandwidth-example.yaml");
  ASSERT_EQ(m.outcome, Outcome::converted) << m.reason;
  auto n = parse_native(m.yaml);
  ASSERT_TRUE(n.exp) << n.diags;
  const auto& s = n.net(0);
  EXPECT_EQ(s.action, network::Action::rate);
  ASSERT_TRUE(s.rate);
  EXPECT_EQ(s.rate->bytes_per_second, 100'000u) << "tc units: kbps is kilobytes per second";
  ASSERT_EQ(m.warnings.size() >= 1, true);
  bool dropped = false;
  for (const auto& w : m.warnings) dropped |= w.find("buffer=10000") != std::string::npos;
  EXPECT_TRUE(dropped) << "tbf parameters without a netem equivalent are reported";
}

TEST(ChaosMeshNetwork, NetemLossDuplicateCorrupt) {
  REQUIRE_CONFORMANCE();
  auto netem = parse_native(import_file("chaos-mesh/network-netem-example.yaml").yaml);
  ASSERT_TRUE(netem.exp) << netem.diags;
  const auto& s = netem.net(0);
  EXPECT_EQ(s.action, network::Action::netem);
  ASSERT_TRUE(s.delay && s.loss);
  EXPECT_DOUBLE_EQ(s.loss->loss.value, 25);
  EXPECT_DOUBLE_EQ(s.loss->correlation.value, 25);
  auto dup = parse_native(import_file("chaos-mesh/network-duplicate-example.yaml").yaml);
  ASSERT_TRUE(dup.exp);
  EXPECT_DOUBLE_EQ(dup.net(0).duplicate->value.value, 40);
  auto cor = parse_native(import_file("chaos-mesh/network-corrupt-example.yaml").yaml);
  ASSERT_TRUE(cor.exp);
  EXPECT_DOUBLE_EQ(cor.net(0).corrupt->value.value, 40);
  EXPECT_DOUBLE_EQ(cor.net(0).corrupt->correlation.value, 25);
}

TEST(ChaosMeshNetwork, PartitionTargetSelectorAndPeers) {
  REQUIRE_CONFORMANCE();
  auto m = import_file("chaos-mesh/network-partition-example.yaml");
  ASSERT_EQ(m.outcome, Outcome::converted);
  bool warned = false;
  for (const auto& w : m.warnings) warned |= w.find("--peer") != std::string::npos;
  EXPECT_TRUE(warned) << "a pod selector for the other side cannot be resolved on a node";
  auto f = flags();
  f.peers = {"198.18.0.20/32"};
  auto p = import_file("chaos-mesh/network-partition-example.yaml", f);
  auto n = parse_native(p.yaml);
  ASSERT_TRUE(n.exp) << n.diags;
  EXPECT_EQ(n.net(0).action, network::Action::partition);
  ASSERT_EQ(n.net(0).match.cidrs.size(), 1u);
  EXPECT_EQ(n.net(0).match.cidrs[0].str(), "198.18.0.20/32");
}

TEST(ChaosMeshNetwork, Directions) {
  std::string base =
      "apiVersion: chaos-mesh.org/v1alpha1\nkind: NetworkChaos\nmetadata: {name: d}\n"
      "spec: {action: loss, mode: one, loss: {loss: '10'}, duration: 5s, direction: ";
  for (auto [dir, want] : {std::pair{"from", network::Direction::ingress}, std::pair{"both", network::Direction::both},
                           std::pair{"to", network::Direction::egress}}) {
    auto m = cli::import_manifest(base + dir + "}\n", flags());
    ASSERT_EQ(m.outcome, Outcome::converted) << m.reason;
    auto n = parse_native(m.yaml);
    ASSERT_TRUE(n.exp) << n.diags;
    EXPECT_EQ(n.net(0).direction, want) << dir;
  }
  auto bad = cli::import_manifest(base + "sideways}\n", flags());
  EXPECT_EQ(bad.outcome, Outcome::invalid);
  EXPECT_THAT(bad.reason, HasSubstr("spec.direction"));
}

TEST(ChaosMeshNetwork, FieldErrorsNameTheField) {
  auto m = cli::import_manifest(
      "apiVersion: chaos-mesh.org/v1alpha1\nkind: NetworkChaos\nmetadata: {name: d}\n"
      "spec: {action: delay, delay: {latency: soon}}\n",
      flags());
  EXPECT_EQ(m.outcome, Outcome::invalid);
  EXPECT_THAT(m.reason, HasSubstr("spec.delay.latency"));
  m = cli::import_manifest(
      "apiVersion: chaos-mesh.org/v1alpha1\nkind: NetworkChaos\nmetadata: {name: d}\n"
      "spec: {action: loss, loss: {loss: '150'}}\n",
      flags());
  EXPECT_EQ(m.outcome, Outcome::invalid);
  EXPECT_THAT(m.reason, HasSubstr("spec.loss.loss"));
  m = cli::import_manifest(
      "apiVersion: chaos-mesh.org/v1alpha1\nkind: NetworkChaos\nmetadata: {name: d}\nspec: {action: delay}\n", flags());
  EXPECT_EQ(m.outcome, Outcome::invalid);
  EXPECT_THAT(m.reason, HasSubstr("spec.delay"));
  m = cli::import_manifest(
      "apiVersion: chaos-mesh.org/v1alpha1\nkind: NetworkChaos\nmetadata: {name: d}\nspec: {action: teleport}\n",
      flags());
  EXPECT_EQ(m.outcome, Outcome::invalid);
  EXPECT_THAT(m.reason, HasSubstr("spec.action"));
}

TEST(ChaosMeshNetwork, DelayWithReorderIsNetem) {
  auto m = cli::import_manifest(
      "apiVersion: chaos-mesh.org/v1alpha1\nkind: NetworkChaos\nmetadata: {name: r}\n"
      "spec: {action: delay, duration: 5s, delay: {latency: 10ms, reorder: {reorder: '25', correlation: '50', gap: 5}}}\n",
      flags());
  ASSERT_EQ(m.outcome, Outcome::converted) << m.reason;
  auto n = parse_native(m.yaml);
  ASSERT_TRUE(n.exp) << n.diags << m.yaml;
  const auto& s = n.net(0);
  EXPECT_EQ(s.action, network::Action::netem);
  ASSERT_TRUE(s.reorder);
  EXPECT_DOUBLE_EQ(s.reorder->reorder.value, 25);
  EXPECT_EQ(s.reorder->gap, 5u);
}

TEST(ChaosMeshNetwork, PhysicalMachineDelay) {
  REQUIRE_CONFORMANCE();
  auto m = import_file("chaos-mesh/network-delay-physicalmachinechaos-example.yaml", flags("host", ""));
  ASSERT_EQ(m.outcome, Outcome::converted) << m.reason;
  auto n = parse_native(m.yaml);
  ASSERT_TRUE(n.exp) << n.diags;
  const auto& s = n.net(0);
  EXPECT_EQ(s.target.kind, NetTarget::Kind::host);
  EXPECT_EQ(s.interface, "ens33") << "the manifest's device";
  EXPECT_EQ(s.delay->latency, 1000ms);
  ASSERT_EQ(s.match.cidrs.size(), 1u);
  EXPECT_EQ(s.match.cidrs[0].str(), "140.82.112.3/32");
  EXPECT_EQ(n.exp->faults[0].duration, 10min);
  auto other = cli::import_manifest(
      "apiVersion: chaos-mesh.org/v1alpha1\nkind: PhysicalMachineChaos\nmetadata: {name: s}\n"
      "spec: {action: stress-cpu, stress-cpu: {load: 10}}\n",
      flags("host"));
  EXPECT_EQ(other.outcome, Outcome::refused);
  EXPECT_THAT(other.reason, HasSubstr("stress-cpu"));
}

TEST(ChaosMeshNetwork, LabTargetKeepsTheLabInterface) {
  REQUIRE_CONFORMANCE();
  auto m = import_file("chaos-mesh/network-loss-example.yaml", flags("lab:client", ""));
  ASSERT_EQ(m.outcome, Outcome::converted) << m.reason;
  auto n = parse_native(m.yaml);
  ASSERT_TRUE(n.exp) << n.diags;
  EXPECT_EQ(n.net(0).target.kind, NetTarget::Kind::lab);
  EXPECT_EQ(n.net(0).interface, "eth0");
}

TEST(ChaosMeshImportTarget, Forms) {
  EXPECT_EQ(network::parse_import_target("host")->kind, NetTarget::Kind::host);
  auto t = network::parse_import_target("netns:blue");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->kind, NetTarget::Kind::netns);
  EXPECT_EQ(t->name, "blue");
  t = network::parse_import_target("pid:42");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->pid, 42);
  t = network::parse_import_target("lab:mylab/client");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->name, "mylab/client");
  for (const char* bad : {"", "netns:", "pid:x", "pid:-1", "cgroup:/x", "netns:a/b"})
    EXPECT_FALSE(network::parse_import_target(bad)) << bad;
}

TEST(ChaosMeshImportCommand, ExitCodes) {
  auto dir = std::filesystem::temp_directory_path() / ("chaos-import-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto refuse = dir / "pod.yaml";
  std::ofstream(refuse) << "apiVersion: chaos-mesh.org/v1alpha1\nkind: PodChaos\nmetadata: {name: p}\nspec: {}\n";
  EXPECT_EQ(cli::cmd_import({refuse.string(), "--target", "netns:x"}), 2);
  auto ok = dir / "loss.yaml";
  std::ofstream(ok) << "apiVersion: chaos-mesh.org/v1alpha1\nkind: NetworkChaos\nmetadata: {name: l}\n"
                       "spec: {action: loss, loss: {loss: '10'}, duration: 5s}\n";
  testing::internal::CaptureStdout();
  int rc = cli::cmd_import({ok.string(), "--target", "netns:x", "--interface", "veth0"});
  auto out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(rc, 0);
  EXPECT_THAT(out, HasSubstr("interface: veth0"));
  EXPECT_TRUE(cli::is_manifest_run({ok.string(), "--target", "netns:x"}));
  EXPECT_EQ(cli::cmd_import({ok.string(), "--bogus"}), 2);
  EXPECT_EQ(cli::cmd_run_manifest({ok.string()}, [](auto&) { return 0; }), 2) << "run needs --target";
  std::vector<std::string> seen;
  EXPECT_EQ(cli::cmd_run_manifest({ok.string(), "--target", "netns:x", "--dry-run"},
                                  [&](const std::vector<std::string>& a) {
                                    seen = a;
                                    return 7;
                                  }),
            7);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1], "--dry-run") << "run options pass through";
  std::filesystem::remove_all(dir);
}

// A Chaos Mesh Schedule converts to the experiment it embeds, with the schedule as the
// `chaosctl schedule add` line (validated as cron here: a bad expression is refused).
TEST(ChaosMeshSchedule, EmbeddedNetworkChaosAndTheScheduleLine) {
  const std::string sched =
      "apiVersion: chaos-mesh.org/v1alpha1\nkind: Schedule\nmetadata: {name: nightly-delay}\nspec:\n"
      "  schedule: '5 3 * * *'\n  historyLimit: 5\n  concurrencyPolicy: Allow\n  startingDeadlineSeconds: 60\n"
      "  type: NetworkChaos\n  networkChaos:\n    action: delay\n    mode: one\n"
      "    selector: {namespaces: [default], labelSelectors: {app: web}}\n"
      "    delay: {latency: 10ms}\n    duration: 30s\n";
  auto m = cli::import_manifest(sched, flags());
  ASSERT_EQ(m.outcome, Outcome::converted) << m.reason;
  EXPECT_EQ(m.kind, "Schedule");
  EXPECT_THAT(m.yaml, HasSubstr("chaosctl schedule add nightly-delay --at '5 3 * * *' --policy allow --history 5"));
  EXPECT_THAT(m.warnings, Contains(HasSubstr("startingDeadlineSeconds")));
  auto n = parse_native(m.yaml);
  ASSERT_TRUE(n.exp) << n.diags << m.yaml;
  ASSERT_EQ(n.exp->faults.size(), 1u);
  ASSERT_TRUE(n.net(0).delay);
  EXPECT_EQ(n.net(0).delay->latency, std::chrono::milliseconds(10));
}

TEST(ChaosMeshSchedule, BadCronMissingObjectAndUnconvertibleTypes) {
  const std::string head = "apiVersion: chaos-mesh.org/v1alpha1\nkind: Schedule\nmetadata: {name: s}\nspec:\n";
  auto bad = cli::import_manifest(head + "  schedule: '61 * * * *'\n  type: NetworkChaos\n  networkChaos: {}\n", flags());
  EXPECT_EQ(bad.outcome, Outcome::invalid);
  EXPECT_THAT(bad.reason, HasSubstr("minute \"61\""));
  auto missing = cli::import_manifest(head + "  schedule: '@every 1h'\n  type: NetworkChaos\n", flags());
  EXPECT_EQ(missing.outcome, Outcome::invalid);
  EXPECT_THAT(missing.reason, HasSubstr("spec.networkChaos: missing"));
  auto pod = cli::import_manifest(
      head + "  schedule: '@hourly'\n  type: PodChaos\n  podChaos: {action: pod-kill, mode: one}\n", flags());
  EXPECT_EQ(pod.outcome, Outcome::refused);
  EXPECT_THAT(pod.reason, HasSubstr("cluster controller"));
}

// chaosctl import knows no family: a kind goes to the converter its family registered
// (FaultFamily::chaos_mesh), and the messages that list what converts are made of the
// registrations, in the families' order.
TEST(ChaosMeshImport, KindsAndTargetsComeFromTheFamiliesConverters) {
  int kinds = 0;
  for (const auto& family : builtin_fault_parsers()) {
    for (const auto& kind : family.chaos_mesh.kinds) {
      SCOPED_TRACE(family.name + " " + kind);
      ++kinds;
      auto m = cli::import_manifest("apiVersion: chaos-mesh.org/v1alpha1\nkind: " + kind + "\n", flags(), "m.yaml");
      EXPECT_EQ(m.kind, kind);
      EXPECT_THAT(m.reason, ::testing::Not(HasSubstr("chaos-agent converts"))) << "reached the family's converter";
    }
    for (const auto& form : family.chaos_mesh.target_forms) {
      if (form.find(':') == std::string::npos) {
        EXPECT_TRUE(family.chaos_mesh.takes_target(form)) << form;
        continue;
      }
      std::string t = form.substr(0, form.find(':') + 1) + (form.rfind("pid:", 0) == 0 ? "42" : "x");
      EXPECT_TRUE(family.chaos_mesh.takes_target(t)) << family.name << " " << t;
    }
  }
  EXPECT_GE(kinds, 3) << "NetworkChaos, PhysicalMachineChaos, StressChaos at least";
  auto other = cli::import_manifest("apiVersion: chaos-mesh.org/v1alpha1\nkind: FooChaos\n", flags(), "m.yaml");
  EXPECT_EQ(other.outcome, Outcome::refused);
  EXPECT_EQ(other.line(), "m.yaml:2:7: refused: kind FooChaos: chaos-agent converts NetworkChaos, PhysicalMachineChaos "
                          "network actions, StressChaos memory stressors and Schedules of those");
  EXPECT_EQ(cli::check_import_flags(flags("bogus")),
            "--target \"bogus\": expected host, netns:NAME, pid:N or lab:HOST (network faults), cgroup:PATH, "
            "unit:NAME or pid:N (memory faults)");
}

}  // namespace
}  // namespace chaos
