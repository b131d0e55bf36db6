// Every input the fuzz tier (fuzz/) ever crashed, hung or failed a check on, replayed through the
// same target body (fuzz/targets.h) with the checks turned into test failures: a clean error
// (FILE:LINE:COL, the field, what would be right), never a crash. The inputs are
// tests/unit/testdata/fuzz-regressions/TARGET/*, one directory per fuzz target; they also seed
// the fuzzers. The named tests below pin what each class of input now answers.
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

struct FuzzCheckFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};
#define FUZZ_CHECK_FAILED(what) throw FuzzCheckFailed(what)
#include "targets.h"

#include "runner/families.h"

namespace chaos {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

const fs::path kRegressions = fs::path(CHAOS_SOURCE_DIR) / "tests/unit/testdata/fuzz-regressions";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(FuzzRegressions, EveryInputGetsACleanAnswer) {
  const std::map<std::string, std::function<void(std::string_view)>> targets{
      {"experiment", fuzz::one_experiment},         {"chaosmesh_import", fuzz::one_chaosmesh_import},
      {"agent_config", fuzz::one_agent_config},     {"api_request", fuzz::one_api_request},
      {"cron", fuzz::one_cron}};
  int inputs = 0;
  for (const auto& dir : fs::directory_iterator(kRegressions)) {
    auto it = targets.find(dir.path().filename().string());
    ASSERT_NE(it, targets.end()) << dir.path() << ": not a fuzz target's name";
    for (const auto& f : fs::directory_iterator(dir.path())) {
      ++inputs;
      std::string input = slurp(f.path());
      SCOPED_TRACE(f.path().string());
      // The import target picks its flags by the input's length: replay each input with every
      // one of them (a suffix of spaces changes the length, not the YAML).
      int rounds = it->first == "chaosmesh_import" ? 12 : 1;
      for (int i = 0; i < rounds; ++i) {
        try {
          it->second(input);
        } catch (const FuzzCheckFailed& e) {
          ADD_FAILURE() << e.what();
        } catch (const std::exception& e) {
          ADD_FAILURE() << "threw " << e.what();
        }
        input += ' ';
      }
    }
  }
  EXPECT_GE(inputs, 20) << "the regression inputs are missing";
}

cli::ManifestImport import(const std::string& name, const std::string& target) {
  cli::ImportFlags flags;
  flags.target = target;
  flags.resolve = fuzz::fake_resolve;
  return cli::import_manifest(slurp(kRegressions / "chaosmesh_import" / name), flags, name);
}

// Each of these made `chaosctl import` die with YAML::BadSubscript or YAML::InvalidNode
// (exit 134); each is now an error at the field, with what it should be.
TEST(FuzzRegressions, ImportOfAScalarOrMissingBlockIsAnErrorAtTheField) {
  struct Case {
    const char* file;
    const char* target;
    const char* line;
  };
  const Case cases[] = {
      {"stresschaos-spec-is-a-scalar.yaml", "cgroup:/x",
       "stresschaos-spec-is-a-scalar.yaml:4:7: refused: StressChaos without a memory stressor"},
      {"stresschaos-without-spec.yaml", "cgroup:/x",
       "stresschaos-without-spec.yaml:2:7: refused: StressChaos without a memory stressor"},
      {"stresschaos-stressors-is-a-scalar.yaml", "cgroup:/x",
       "stresschaos-stressors-is-a-scalar.yaml:6:14: refused: StressChaos without a memory stressor"},
      {"networkchaos-delay-is-a-scalar.yaml", "netns:x",
       "networkchaos-delay-is-a-scalar.yaml:4:30: error: spec.delay: \"10ms\": expected a map of fields, like "
       "{latency: 10ms, jitter: 1ms}"},
      {"networkchaos-loss-is-a-scalar.yaml", "netns:x",
       "networkchaos-loss-is-a-scalar.yaml:4:28: error: spec.loss: \"10\": expected a map of fields, like {loss: "
       "\"25\"}"},
      {"networkchaos-bandwidth-is-a-scalar.yaml", "netns:x",
       "networkchaos-bandwidth-is-a-scalar.yaml:4:38: error: spec.bandwidth: \"1mbps\": expected a map of fields, "
       "like {rate: 1mbps}"},
      {"networkchaos-reorder-is-a-scalar.yaml", "netns:x",
       "networkchaos-reorder-is-a-scalar.yaml:4:55: error: spec.delay.reorder: \"25\": expected a map of fields, "
       "like {reorder: \"25\", correlation: \"50\", gap: 5}"},
      {"schedule-spec-is-a-scalar.yaml", "netns:x",
       "schedule-spec-is-a-scalar.yaml:4:7: error: spec: \"nightly\": expected the Schedule's spec (a map)"},
      {"schedule-without-spec.yaml", "netns:x",
       "schedule-without-spec.yaml:1:1: error: spec: missing: expected the Schedule's spec (a map)"},
      {"schedule-of-a-schedule.yaml", "netns:x",
       "schedule-of-a-schedule.yaml:4:35: refused: a Schedule of a Schedule: expected the chaos kind it runs"},
      {"networkchaos-device-name-too-long.yaml", "netns:x",
       "networkchaos-device-name-too-long.yaml:4:50: error: spec.device: \"a-device-name-over-15\": expected an "
       "interface name (1-15 characters, no '/', ':' or whitespace)"},
      {"networkchaos-name-not-an-experiment-name.yaml", "netns:x",
       "networkchaos-name-not-an-experiment-name.yaml:3:18: error: metadata.name: \"Web_Delay\": expected a name of "
       "lowercase letters"},
  };
  for (const auto& c : cases) {
    auto m = import(c.file, c.target);
    EXPECT_NE(m.outcome, cli::ManifestImport::Outcome::converted) << c.file;
    EXPECT_THAT(m.line(), ::testing::StartsWith(c.line)) << c.file;
  }
  // The fuzz tier (2026-12-03): a size below a page was converted, and the experiment printed was
  // one the parser refuses (FUZZ_CHECK: "import printed an experiment the parser refuses").
  {
    auto small = import("stresschaos-size-below-a-page.yaml", "unit:etcd.service");
    EXPECT_NE(small.outcome, cli::ManifestImport::Outcome::converted) << small.yaml;
    EXPECT_THAT(small.line(), ::testing::StartsWith("stresschaos-size-below-a-page.yaml:10:13: error: "));
    EXPECT_THAT(small.line(), HasSubstr("\"102B\": too small, expected at least one page (4KiB)"));
  }
  // A missing metadata is fine: the experiment is called "imported".
  auto m = import("networkchaos-without-metadata.yaml", "netns:x");
  EXPECT_EQ(m.outcome, cli::ManifestImport::Outcome::converted) << m.line();
  EXPECT_THAT(m.yaml, HasSubstr("name: imported"));
}

// yaml-cpp 0.7's LoadAll looped forever, growing, on a stream starting with ',': chaosctl
// validate hung and the agent's validate op grew without bound.
TEST(FuzzRegressions, LeadingCommaIsNotValidYamlAtItsPlace) {
  auto out = parse_experiment(",\n", "x.yaml", fuzz::registry());
  EXPECT_THAT(out.diags.str(), ::testing::StrEq("x.yaml:1:1: error: not valid YAML: unexpected ','\n"));
  auto later = parse_experiment("apiVersion: chaos-agent/v1\nkind: Experiment\n,\n", "x.yaml", fuzz::registry());
  EXPECT_THAT(later.diags.str(), HasSubstr("x.yaml:3:1: error: not valid YAML"));
  auto cfg = parse_agent_config(",lease: 3s\n", "agent.yaml", builtin_config_registry());
  EXPECT_THAT(cfg.diags.str(), HasSubstr("agent.yaml:1:1: error: not valid YAML"));
  auto m = cli::import_manifest(",\n", {}, "m.yaml");
  EXPECT_THAT(m.line(), HasSubstr("m.yaml:1:1: error: not valid YAML"));
}

// A duration with 128 or more decimal places made 10^frac wrap to 0 and the division by it end
// chaosctl validate (and the agent's validate and run) with SIGFPE.
TEST(FuzzRegressions, ManyDecimalPlacesAreAValueNotACrash) {
  auto out = parse_experiment(slurp(kRegressions / "experiment" / "duration-many-fraction-digits.yaml"), "x.yaml",
                              fuzz::registry());
  EXPECT_THAT(out.diags.str(), HasSubstr("x.yaml:4:18: error: spec.duration: "));
  EXPECT_THAT(out.diags.str(), HasSubstr("expected a duration above 0s (every run has a hard cap)"));
  // The fuzzer's input: a unit "l" at its end, so an error.
  auto raw = CronSchedule::parse(slurp(kRegressions / "cron" / "every-many-fraction-digits-divides-by-zero.txt"));
  ASSERT_FALSE(raw);
  EXPECT_THAT(raw.error().message, HasSubstr("expected a duration like 10ms"));
  auto c = CronSchedule::parse("@every 1h0." + std::string(140, '0') + "m");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->every(), std::chrono::hours(1));
}

// `{"op":1}` ended the agent (nlohmann's type_error escaping the connection thread); each field an
// op reads is now type-checked, and the answer names it.
TEST(FuzzRegressions, ApiFieldsOfTheWrongTypeAreABadRequest) {
  auto op = parse_api_request(R"({"op":1})");
  ASSERT_FALSE(op);
  EXPECT_THAT(op.error().message, HasSubstr("bad request: op is number: expected one of run, validate"));
  auto dry = parse_api_request(R"({"op":"run","yaml":"x","dryRun":"yes"})");
  ASSERT_FALSE(dry);
  EXPECT_EQ(dry.error().message, "bad request: run field \"dryRun\" is string: expected true or false");
  auto yaml = parse_api_request(R"({"op":"validate","yaml":7})");
  ASSERT_FALSE(yaml);
  EXPECT_EQ(yaml.error().message, "bad request: validate field \"yaml\" is number: expected a string");
  auto history = parse_api_request(R"({"op":"schedule.add","historyLimit":99999999999999})");
  ASSERT_FALSE(history);
  EXPECT_THAT(history.error().message, HasSubstr("\"historyLimit\" 99999999999999: out of range"));
  auto ok = parse_api_request(R"({"op":"run","file":"e.yaml","yaml":"y","dryRun":true,"extra":[1]})");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->op, ApiOp::run);
  EXPECT_TRUE(ok->dry_run);
  EXPECT_EQ(ok->file, "e.yaml");
  EXPECT_FALSE(parse_api_request("[]"));
  EXPECT_FALSE(parse_api_request("{\"op\":\"teleport\"}"));
}

// The fuzz targets read experiments with builtin_spec_registry() (the parsers without the
// families, so no BPF in their build); it must know exactly the kinds the agent knows.
TEST(FuzzSpecRegistry, NamesTheSameKindsAsTheFamilies) {
  auto agent = builtin_families().spec_registry();
  auto fuzz = builtin_spec_registry();
  EXPECT_EQ(fuzz.fault_families(), agent.fault_families());
  EXPECT_EQ(fuzz.probe_kinds(), agent.probe_kinds());
}

// The same for the families' other parts: their parsers() (what the fuzz tier and chaosctl
// import use) are the families' own, part for part, in the same order.
TEST(FuzzSpecRegistry, ParsersAreTheFamiliesParts) {
  const auto& families = builtin_families().faults;
  const auto& parsers = builtin_fault_parsers();
  ASSERT_EQ(parsers.size(), families.size());
  for (std::size_t i = 0; i < families.size(); ++i) {
    SCOPED_TRACE(families[i].name);
    EXPECT_EQ(parsers[i].name, families[i].name);
    EXPECT_TRUE(parsers[i].parse && families[i].make) << "a family parses its block and makes its fault";
    EXPECT_EQ(bool(parsers[i].config.make), bool(families[i].config.make));
    EXPECT_EQ(parsers[i].config.section, families[i].config.section);
    EXPECT_EQ(parsers[i].chaos_mesh.kinds, families[i].chaos_mesh.kinds);
    EXPECT_EQ(parsers[i].chaos_mesh.target_forms, families[i].chaos_mesh.target_forms);
  }
  auto agent = builtin_families().config_registry();
  auto fuzz = builtin_config_registry();
  ASSERT_EQ(fuzz.sections().size(), agent.sections().size());
  for (std::size_t i = 0; i < agent.sections().size(); ++i)
    EXPECT_EQ(fuzz.sections()[i].first, agent.sections()[i].first);
}

}  // namespace
}  // namespace chaos
