// Strict YAML reading: MapReader/YNode report every error with file:line:col and the dotted path.
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/diag.h"
#include "core/fields.h"

namespace chaos {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// One YAML document and the diagnostics reading it produced.
struct Doc {
  explicit Doc(const std::string& text) : root(YAML::Load(text)) {}
  YNode top(const std::string& path = "") { return YNode(root, path, "f.yaml", &diags); }
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    for (const auto& d : diags.items()) out.push_back(d.str());
    return out;
  }
  YAML::Node root;
  Diagnostics diags;
};

// ---------------------------------------------------------------------------------------------
// Diagnostics formatting

TEST(Diagnostics, FormatIsFileLineColErrorFieldMessage) {
  Diagnostic d{Location{"exp.yaml", 14, 12}, "spec.faults[0].duration", "\"10 ms\": expected a duration"};
  EXPECT_EQ(d.str(), "exp.yaml:14:12: error: spec.faults[0].duration: \"10 ms\": expected a duration");
}

TEST(Diagnostics, FormatWithoutPositionOrField) {
  EXPECT_EQ((Diagnostic{Location{"exp.yaml", 0, 0}, "", "cannot read the file"}).str(),
            "exp.yaml:1:1: error: cannot read the file")
      << "a whole-file problem is at 1:1, so every error line parses the same way";
  EXPECT_EQ((Diagnostic{Location{"", 3, 1}, "kind", "bad"}).str(), "<input>:3:1: error: kind: bad");
}

TEST(Diagnostics, CollectsInOrderAndMerges) {
  Diagnostics a, b;
  EXPECT_TRUE(a.ok());
  a.error(Location{"a.yaml", 1, 1}, "x", "one");
  b.error(Location{"b.yaml", 2, 3}, "y", "two");
  b.error(Location{"b.yaml", 4, 5}, "z", "three");
  a.merge(b);
  EXPECT_FALSE(a.ok());
  ASSERT_EQ(a.items().size(), 3u);
  EXPECT_EQ(a.str(),
            "a.yaml:1:1: error: x: one\n"
            "b.yaml:2:3: error: y: two\n"
            "b.yaml:4:5: error: z: three\n");
}

// ---------------------------------------------------------------------------------------------
// Values that read well

TEST(MapReader, ReadsEveryKindOfValue) {
  Doc doc(R"(s: hello
d: 1.5s
b: 512MiB
r: 100mbit
p: 10%
i: -42
n: 0.25
t: true
f: false
e: egress
c: [198.18.0.0/15, "2001:db8::1"]
ports: [80, "8000-8100", 443]
names: [a, b]
list: [1, 2, 3]
)");
  MapReader r(doc.top());
  ASSERT_TRUE(r.valid());
  EXPECT_EQ(r.str("s").value(), "hello");
  EXPECT_EQ(r.duration("d").value(), 1500ms);
  EXPECT_EQ(r.bytes("b").value(), 512ull << 20);
  EXPECT_EQ(r.rate("r").value(), 12'500'000u);
  EXPECT_EQ(r.percent("p").value().value, 10.0);
  EXPECT_EQ(r.integer("i", -100, 100).value(), -42);
  EXPECT_EQ(r.number("n", 0, 1).value(), 0.25);
  EXPECT_EQ(r.boolean("t").value(), true);
  EXPECT_EQ(r.boolean("f").value(), false);
  EXPECT_EQ(r.one_of("e", {"ingress", "egress", "both"}).value(), "egress");
  auto cidrs = r.cidrs("c");
  ASSERT_EQ(cidrs.size(), 2u);
  EXPECT_EQ(cidrs[0].str(), "198.18.0.0/15");
  EXPECT_EQ(cidrs[1].str(), "2001:db8::1/128");
  EXPECT_THAT(r.ports("ports"), ElementsAre(PortRange{80, 80}, PortRange{8000, 8100}, PortRange{443, 443}));
  EXPECT_THAT(r.strings("names"), ElementsAre("a", "b"));
  EXPECT_EQ(r.seq("list").size(), 3u);
  r.finish();
  EXPECT_TRUE(doc.diags.ok()) << doc.diags.str();
}

TEST(MapReader, AbsentOptionalKeysAreNulloptWithoutErrors) {
  Doc doc("a: 1\n");
  MapReader r(doc.top());
  EXPECT_FALSE(r.has("x"));
  EXPECT_TRUE(r.has("a"));
  EXPECT_FALSE(r.str("x"));
  EXPECT_FALSE(r.duration("x"));
  EXPECT_FALSE(r.child("x"));
  EXPECT_TRUE(r.cidrs("x").empty());
  EXPECT_TRUE(r.ports("x").empty());
  EXPECT_TRUE(r.seq("x").empty());
  EXPECT_FALSE(r.exactly_one({"x", "y"}, /*required=*/false));
  r.integer("a", 0, 10);
  r.finish();
  EXPECT_TRUE(doc.diags.ok()) << doc.diags.str();
}

TEST(MapReader, SingleScalarIsAOneElementList) {
  Doc doc("c: 198.18.0.0/15\np: 8080\nn: only\n");
  MapReader r(doc.top());
  EXPECT_EQ(r.cidrs("c").size(), 1u);
  EXPECT_THAT(r.ports("p"), ElementsAre(PortRange{8080, 8080}));
  EXPECT_THAT(r.strings("n"), ElementsAre("only"));
  r.finish();
  EXPECT_TRUE(doc.diags.ok()) << doc.diags.str();
}

// ---------------------------------------------------------------------------------------------
// Unknown keys

TEST(MapReader, UnknownKeysListTheExpectedOnesAtTheKeyPosition) {
  Doc doc("name: x\nduraton: 10s\nstart: 1s\nextra: 1\n");
  MapReader r(doc.top("spec"));
  r.str("name");
  r.duration("start");
  r.duration("duration");
  r.finish();
  EXPECT_THAT(doc.lines(),
              ElementsAre("f.yaml:2:1: error: spec.duraton: unknown field, expected one of: duration, name, start",
                          "f.yaml:4:1: error: spec.extra: unknown field, expected one of: duration, name, start"));
}

TEST(MapReader, UnknownKeyAtTopLevelHasNoLeadingDot) {
  Doc doc("a: 1\nb: 2\n");
  MapReader r(doc.top());
  r.integer("a", 0, 9);
  r.finish();
  EXPECT_THAT(doc.lines(), ElementsAre("f.yaml:2:1: error: b: unknown field, expected one of: a"));
}

TEST(MapReader, UnknownNestedKeyPositionIsOneBased) {
  Doc doc("spec:\n  faults:\n    - name: a\n      bogus: 1\n");
  MapReader top(doc.top());
  MapReader spec(*top.child("spec"));
  auto faults = spec.seq("faults");
  ASSERT_EQ(faults.size(), 1u);
  MapReader f(faults[0]);
  f.str("name");
  f.finish();
  spec.finish();
  top.finish();
  EXPECT_THAT(doc.lines(),
              ElementsAre("f.yaml:4:7: error: spec.faults[0].bogus: unknown field, expected one of: name"));
}

// ---------------------------------------------------------------------------------------------
// Wrong types

TEST(MapReader, WrongTypesSayWhatWasFoundAndWhatIsExpected) {
  Doc doc(R"(s: {a: 1}
d: [1s]
b: {x: 1}
r: [1]
p: 10
i: 1.5
n: abc
t: yes
e: sideways
c: {a: b}
m: [1, 2]
l: scalar
)");
  MapReader r(doc.top("x"));
  EXPECT_FALSE(r.str("s"));
  EXPECT_FALSE(r.duration("d"));
  EXPECT_FALSE(r.bytes("b"));
  EXPECT_FALSE(r.rate("r"));
  EXPECT_FALSE(r.percent("p"));
  EXPECT_FALSE(r.integer("i", 0, 10));
  EXPECT_FALSE(r.number("n", 0, 10));
  EXPECT_FALSE(r.boolean("t"));
  EXPECT_FALSE(r.one_of("e", {"ingress", "egress"}));
  EXPECT_TRUE(r.cidrs("c").empty());
  MapReader m(*r.child("m"));
  EXPECT_FALSE(m.valid());
  EXPECT_TRUE(r.seq("l").empty());
  r.finish();
  EXPECT_THAT(
      doc.lines(),
      ElementsAre(
          "f.yaml:1:4: error: x.s: found a map: expected a string",
          "f.yaml:2:4: error: x.d: found a list: expected a duration like 10ms, 1.5s, 2m (units: ns, us, ms, s, m, h)",
          "f.yaml:3:4: error: x.b: found a map: expected a size like 512MiB, 1GiB or 64KB (units: B, KiB, MiB, GiB, "
          "TiB, KB, MB, GB, TB)",
          "f.yaml:4:4: error: x.r: found a list: expected a rate like 100mbit, 1gbit, 512kbit, or bytes per second "
          "like 256MiB/s",
          "f.yaml:5:4: error: x.p: \"10\": expected a percentage like 10% or 0.5%",
          "f.yaml:6:4: error: x.i: \"1.5\": expected an integer",
          "f.yaml:7:4: error: x.n: \"abc\": expected a number",
          "f.yaml:8:4: error: x.t: \"yes\": expected true or false",
          "f.yaml:9:4: error: x.e: \"sideways\": expected one of: ingress, egress",
          "f.yaml:10:4: error: x.c: found a map: expected a list",
          "f.yaml:11:4: error: x.m: found a list: expected a map of fields",
          "f.yaml:12:4: error: x.l: \"scalar\": expected a list"));
}

TEST(MapReader, EmptyValueIsMissingValue) {
  Doc doc("d:\nname:\nsub:\n");
  MapReader r(doc.top("x"));
  EXPECT_FALSE(r.duration("d"));
  EXPECT_FALSE(r.str("name"));
  MapReader sub(*r.child("sub"));
  EXPECT_FALSE(sub.valid());
  r.finish();
  auto lines = doc.lines();
  ASSERT_EQ(lines.size(), 3u) << doc.diags.str();
  EXPECT_THAT(lines[0], HasSubstr("error: x.d: missing value: expected a duration like 10ms"));
  EXPECT_THAT(lines[1], HasSubstr("error: x.name: missing value: expected a string"));
  EXPECT_THAT(lines[2], HasSubstr("error: x.sub: missing value: expected a map of fields"));
  // Each points at the line of its own key, not at the top of the file.
  EXPECT_THAT(lines[0], ::testing::StartsWith("f.yaml:1:"));
  EXPECT_THAT(lines[1], ::testing::StartsWith("f.yaml:2:"));
  EXPECT_THAT(lines[2], ::testing::StartsWith("f.yaml:3:"));
}

TEST(MapReader, BadValueMessagesQuoteTheValueAndCarryTheUnitsMessage) {
  Doc doc("delay: 10 ms\nmem: 1.5\ncidr: 198.18.0.1/24\nport: 70000\n");
  MapReader r(doc.top("network"));
  r.duration("delay");
  r.bytes("mem");
  r.cidrs("cidr");
  r.ports("port");
  r.finish();
  EXPECT_THAT(doc.lines(),
              ElementsAre("f.yaml:1:8: error: network.delay: \"10 ms\": expected a duration like 10ms, 1.5s, 2m "
                          "(units: ns, us, ms, s, m, h)",
                          "f.yaml:2:6: error: network.mem: \"1.5\": not a whole number of bytes: expected a size in "
                          "whole bytes",
                          "f.yaml:3:7: error: network.cidr: \"198.18.0.1/24\": host bits set, did you mean "
                          "198.18.0.0/24?",
                          "f.yaml:4:7: error: network.port: \"70000\": expected a port like 80 or a range like "
                          "8000-8100 (1..65535)"));
}

TEST(MapReader, IntegerAndNumberRanges) {
  Doc doc("a: 11\nb: -1\nc: 1.5\nd: nan\ne: inf\nf: 0x10\ng: \" 5\"\nh: 7\n");
  MapReader r(doc.top());
  EXPECT_FALSE(r.integer("a", 0, 10));
  EXPECT_FALSE(r.integer("b", 0, 10));
  EXPECT_FALSE(r.number("c", 0, 1));
  EXPECT_FALSE(r.number("d", 0, 1)) << "NaN compares false with every bound and must not slip through";
  EXPECT_FALSE(r.number("e", 0, 1e308));
  EXPECT_FALSE(r.integer("f", 0, 100));
  EXPECT_FALSE(r.integer("g", 0, 100));
  EXPECT_EQ(r.number("h", 0, 10).value(), 7.0);
  r.finish();
  EXPECT_THAT(doc.lines(),
              ElementsAre("f.yaml:1:4: error: a: \"11\": out of range, expected 0..10",
                          "f.yaml:2:4: error: b: \"-1\": out of range, expected 0..10",
                          HasSubstr("c: \"1.5\": out of range, expected a number from 0"),
                          "f.yaml:4:4: error: d: \"nan\": expected a number",
                          "f.yaml:5:4: error: e: \"inf\": expected a number",
                          "f.yaml:6:4: error: f: \"0x10\": expected an integer",
                          "f.yaml:7:4: error: g: \" 5\": expected an integer"));
}

// ---------------------------------------------------------------------------------------------
// Required fields

TEST(MapReader, RequiredMissingIsReportedAtTheParentMap) {
  Doc doc("outer:\n  inner:\n    a: 1\n");
  MapReader top(doc.top());
  MapReader outer(*top.child("outer"));
  MapReader inner(*outer.child("inner"));
  inner.integer("a", 0, 9);
  EXPECT_FALSE(inner.duration("duration", /*required=*/true));
  EXPECT_FALSE(inner.str("name", true));
  EXPECT_TRUE(inner.seq("items", true).empty());
  EXPECT_TRUE(inner.cidrs("cidrs", true).empty());
  inner.finish();
  EXPECT_THAT(doc.lines(), ElementsAre("f.yaml:3:5: error: outer.inner.duration: missing required field",
                                       "f.yaml:3:5: error: outer.inner.name: missing required field",
                                       "f.yaml:3:5: error: outer.inner.items: missing required field",
                                       "f.yaml:3:5: error: outer.inner.cidrs: missing required field"));
}

TEST(MapReader, NotAMap) {
  Doc doc("- a\n- b\n");
  MapReader r(doc.top("spec"));
  EXPECT_FALSE(r.valid());
  EXPECT_FALSE(r.has("a"));
  EXPECT_FALSE(r.str("a", true)) << "no second error for the fields of something that is not a map";
  r.finish();
  EXPECT_THAT(doc.lines(), ElementsAre("f.yaml:1:1: error: spec: found a list: expected a map of fields"));
}

TEST(MapReader, ScalarIsNotAMap) {
  Doc doc("just text\n");
  MapReader r(doc.top("metadata"));
  EXPECT_FALSE(r.valid());
  EXPECT_THAT(doc.lines(), ElementsAre("f.yaml:1:1: error: metadata: expected a map of fields"));
}

// ---------------------------------------------------------------------------------------------
// exactly_one / exclusive

TEST(MapReader, ExactlyOneFindsTheOnePresent) {
  Doc doc("gpu: {}\n");
  MapReader r(doc.top("f"));
  EXPECT_EQ(r.exactly_one({"network", "gpu", "memory"}).value(), "gpu");
  r.finish();
  EXPECT_TRUE(doc.diags.ok()) << doc.diags.str();
}

TEST(MapReader, ExactlyOneNonePresent) {
  Doc doc("name: x\n");
  MapReader r(doc.top("f"));
  r.str("name");
  EXPECT_FALSE(r.exactly_one({"network", "gpu"}));
  r.finish();
  EXPECT_THAT(doc.lines(), ElementsAre("f.yaml:1:1: error: f: expected exactly one of: network, gpu"));
}

TEST(MapReader, ExactlyOneNotRequired) {
  Doc doc("name: x\n");
  MapReader r(doc.top("f"));
  r.str("name");
  EXPECT_FALSE(r.exactly_one({"netns", "pid"}, /*required=*/false));
  r.finish();
  EXPECT_TRUE(doc.diags.ok()) << doc.diags.str();
}

TEST(MapReader, ExactlyOneTwoPresentIsOneErrorNotThree) {
  Doc doc("network: {}\ngpu: {}\n");
  MapReader r(doc.top("f"));
  EXPECT_FALSE(r.exactly_one({"network", "gpu", "memory"}));
  r.finish();
  // The two keys are legitimate field names, so finish() must not call them unknown as well.
  EXPECT_THAT(doc.lines(),
              ElementsAre("f.yaml:1:1: error: f: found network, gpu: expected exactly one of: network, gpu, memory"));
}

TEST(MapReader, ExactlyOneKeysAreListedAsExpectedForATypo) {
  Doc doc("name: x\nnetwrok: {}\n");
  MapReader r(doc.top("f"));
  r.str("name");
  r.exactly_one({"network", "gpu"});
  r.finish();
  EXPECT_THAT(doc.lines(), ElementsAre("f.yaml:1:1: error: f: expected exactly one of: network, gpu",
                                       "f.yaml:2:1: error: f.netwrok: unknown field, expected one of: gpu, name, "
                                       "network"));
}

TEST(MapReader, Exclusive) {
  Doc doc("netns: a\npid: 1\n");
  MapReader r(doc.top("t"));
  r.exclusive("netns", "pid");
  r.str("netns");
  r.integer("pid", 1, 1 << 22);
  r.finish();
  EXPECT_THAT(doc.lines(), ElementsAre("f.yaml:1:1: error: t: netns and pid exclude each other: give only one"));

  Doc one("netns: a\n");
  MapReader r1(one.top("t"));
  r1.exclusive("netns", "pid");
  r1.str("netns");
  r1.finish();
  EXPECT_TRUE(one.diags.ok()) << one.diags.str();
}

// ---------------------------------------------------------------------------------------------
// Paths and positions through sequences

TEST(MapReader, SequencePathsAndPositions) {
  Doc doc(R"(spec:
  faults:
    - name: a
      duration: 10s
    - name: b
      duration: ten seconds
      match:
        cidrs: [198.18.0.0/15, 198.18.0.1/24]
        ports: [80, 0]
)");
  MapReader top(doc.top());
  MapReader spec(*top.child("spec"));
  for (const auto& f : spec.seq("faults")) {
    MapReader fr(f);
    fr.str("name");
    fr.duration("duration");
    if (auto m = fr.child("match")) {
      MapReader mr(*m);
      mr.cidrs("cidrs");
      mr.ports("ports");
      mr.finish();
    }
    fr.finish();
  }
  spec.finish();
  top.finish();
  EXPECT_THAT(doc.lines(),
              ElementsAre("f.yaml:6:17: error: spec.faults[1].duration: \"ten seconds\": expected a duration like "
                          "10ms, 1.5s, 2m (units: ns, us, ms, s, m, h)",
                          "f.yaml:8:32: error: spec.faults[1].match.cidrs[1]: \"198.18.0.1/24\": host bits set, did "
                          "you mean 198.18.0.0/24?",
                          "f.yaml:9:21: error: spec.faults[1].match.ports[1]: \"0\": expected a port like 80 or a "
                          "range like 8000-8100 (1..65535)"));
}

TEST(MapReader, OnePassReportsEveryError) {
  Doc doc(R"(a: x
b: y
c: z
d: 1
unknown1: 1
unknown2: 2
)");
  MapReader r(doc.top());
  r.duration("a");
  r.bytes("b");
  r.percent("c");
  r.integer("d", 5, 9);
  r.str("required", true);
  r.finish();
  auto lines = doc.lines();
  ASSERT_EQ(lines.size(), 7u) << doc.diags.str();
  EXPECT_THAT(lines[0], ::testing::StartsWith("f.yaml:1:4: error: a: \"x\": expected a duration"));
  EXPECT_THAT(lines[1], ::testing::StartsWith("f.yaml:2:4: error: b: \"y\": expected a size"));
  EXPECT_THAT(lines[2], ::testing::StartsWith("f.yaml:3:4: error: c: \"z\": expected a percentage"));
  EXPECT_EQ(lines[3], "f.yaml:4:4: error: d: \"1\": out of range, expected 5..9");
  EXPECT_EQ(lines[4], "f.yaml:1:1: error: required: missing required field");
  EXPECT_THAT(lines[5], ::testing::StartsWith("f.yaml:5:1: error: unknown1: unknown field"));
  EXPECT_THAT(lines[6], ::testing::StartsWith("f.yaml:6:1: error: unknown2: unknown field"));
}

TEST(YNode, ElementsOfANonList) {
  Doc doc("k: {a: 1}\n");
  YNode k(doc.root["k"], "k", "f.yaml", &doc.diags);
  EXPECT_TRUE(k.elements().empty());
  EXPECT_THAT(doc.lines(), ElementsAre("f.yaml:1:4: error: k: found a map: expected a list"));
}

TEST(YNode, EnumAndBoolOnNonScalars) {
  Doc doc("e: [a]\nb: {x: 1}\n");
  YNode e(doc.root["e"], "e", "f.yaml", &doc.diags);
  YNode b(doc.root["b"], "b", "f.yaml", &doc.diags);
  EXPECT_FALSE(e.as_enum({"a", "b"}));
  EXPECT_FALSE(b.as_bool());
  EXPECT_FALSE(e.as_int(0, 1));
  EXPECT_FALSE(b.as_number(0, 1));
  EXPECT_THAT(doc.lines(), ElementsAre("f.yaml:1:4: error: e: found a list: expected one of: a, b",
                                       "f.yaml:2:4: error: b: found a map: expected true or false",
                                       "f.yaml:1:4: error: e: found a list: expected an integer",
                                       "f.yaml:2:4: error: b: found a map: expected a number"));
}

}  // namespace
}  // namespace chaos
