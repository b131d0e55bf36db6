// chaosctl's text summary of a report: the probe table, and what a probe measured per phase.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "summary.h"

namespace chaos::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using nlohmann::json;

json phase(int requests, int errors, json value = nullptr) {
  json p{{"requests", requests}, {"errors", errors}, {"p50_ms", 1.5}, {"p99_ms", 2.5}};
  if (!value.is_null()) p["value"] = value;
  return p;
}

TEST(Summary, ProbeValuesPerPhaseWhenTheProbeMeasuresSome) {
  json r{{"run", "r1"},
         {"experiment", "slo"},
         {"outcome", "aborted"},
         {"reason", "stop condition: probe p99"},
         {"probes",
          {{{"name", "p99"},
            {"kind", "prometheus"},
            {"phases",
             {{"before", phase(10, 0, {{"samples", 10}, {"min", 0.12}, {"mean", 0.15}, {"max", 0.2}})},
              {"during", phase(4, 3, {{"samples", 4}, {"min", 0.3}, {"mean", 0.75}, {"max", 1.25}})},
              {"after", phase(0, 0)}}}}}}};
  std::string s = format_summary(r);
  EXPECT_THAT(s, HasSubstr("run r1 (slo): run ABORTED: stop condition: probe p99\n"));
  EXPECT_THAT(s, HasSubstr("probe p99 (prometheus)\n"));
  EXPECT_THAT(s, HasSubstr("  value (min / mean / max): before 0.12 / 0.15 / 0.2, during 0.3 / 0.75 / 1.25\n"));

  r["probes"][0]["kind"] = "http";
  for (auto& [k, p] : r["probes"][0]["phases"].items()) p.erase("value");
  EXPECT_THAT(format_summary(r), Not(HasSubstr("value (min")));
}

TEST(Summary, ProgressLinesShowAProbesLatestValue) {
  json ev{{"event", "progress"},
          {"t", 12.5},
          {"active", {"slow-answers"}},
          {"probes", {{"p99", {{"requests", 3}, {"errors", 1}, {"value", 0.4125}}}, {"port", {{"requests", 25}, {"errors", 0}}}}}};
  EXPECT_EQ(format_event(ev), "+ 12.50s active [slow-answers]  p99 3 req 1 err value 0.4125  port 25 req 0 err");
}

TEST(Summary, EventsAreReadByTheirNamesAndAnUnknownOneIsNoLine) {
  EXPECT_EQ(format_event({{"event", "fault"}, {"t", 1.0}, {"fault", "cut"}, {"state", "revert-failed"}, {"error", "busy"}}),
            "+  1.00s fault cut revert-failed: busy");
  EXPECT_EQ(format_event({{"event", "aborted"}, {"t", 2.0}, {"reason", "halted: by bob"}, {"abortCause", "halted"}}),
            "+  2.00s ABORTED: halted: by bob");
  // A newer agent's event, a misspelt one, none at all: nothing to print, nothing thrown.
  EXPECT_EQ(format_event({{"event", "rebalanced"}, {"t", 3.0}}), "");
  EXPECT_EQ(format_event({{"event", "Aborted"}, {"t", 3.0}, {"reason", "x"}}), "");
  EXPECT_EQ(format_event({{"t", 3.0}}), "");
}

TEST(Summary, AnOutcomeThisVersionDoesNotKnowIsShownAsWritten) {
  EXPECT_THAT(format_summary({{"run", "r"}, {"experiment", "e"}, {"outcome", "deviated"}}),
              HasSubstr("run r (e): steady-state hypothesis DEVIATED\n"));
  EXPECT_THAT(format_summary({{"run", "r"}, {"experiment", "e"}, {"outcome", "inconclusive"}}),
              HasSubstr("run r (e): run inconclusive\n"));
  EXPECT_THAT(format_summary({{"run", "r"}, {"experiment", "e"}, {"outcome", "failed"}}), HasSubstr("run r (e): run failed\n"));
}

}  // namespace
}  // namespace chaos::cli
