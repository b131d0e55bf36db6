// The report renderers on real reports: each test runs a Run on a FakeClock with fake faults
// (scripted apply failures, verify violations, nested telemetry) and fake probes (scripted
// samples), exactly as the agent would, and renders what build_report() made. The HTML and the
// JUnit XML are then parsed back with a real XML parser (python3's expat, through minidom), so
// escaping, structure and counts are checked on the parsed documents, not by string search.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "report/format.h"
#include "report/render.h"
#include "runner/run.h"
#include "unit/support/fake_run.h"

namespace chaos {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using namespace fake;

const std::string kHostile = "<script>&\"";  // as an experiment, probe or fault name
const std::string kHostileExperiment = "game-day <script>alert('x')</script> & \"quotes\"";

// 10 samples a second over [0, until); failing (slow) where bad(t) says so.
std::vector<ProbeSample> samples(Duration until, const std::function<bool(Duration)>& bad) {
  std::vector<ProbeSample> v;
  for (Duration t{0}; t < until; t += D(100ms)) {
    bool b = bad(t);
    v.push_back(sample(t, !b, b ? D(1000ms) : D(std::chrono::microseconds(200 + (t.count() / 1000000) % 300)),
                       "timeout <after 1s>"));
  }
  return v;
}

struct Parsed {
  int rc = -1;
  json doc;
  std::string err;
};

// CHAOS_REPORT_DUMP=DIR keeps what a test rendered, to look at (DIR/<test>.html, .xml, .json).
void keep(const json& r, const std::string& html, const std::string& xml) {
  const char* dir = std::getenv("CHAOS_REPORT_DUMP");
  if (!dir) return;
  std::string base = std::string(dir) + "/" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::ofstream(base + ".html") << html;
  std::ofstream(base + ".xml") << xml;
  std::ofstream(base + ".json") << r.dump(1);
}

bool have_python() { return std::system("command -v python3 >/dev/null 2>&1") == 0; }

// Parses `text` as XML with python3's expat (xml.dom.minidom) and runs `script` on the document
// `d`; the script prints JSON. A document that is not well-formed fails the parse.
Parsed parse_xml(const std::string& text, const std::string& script) {
  Parsed out;
  auto dir = std::filesystem::temp_directory_path() / ("chaos-report-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto doc = dir / "doc.xml";
  auto py = dir / "check.py";
  auto res = dir / "out.json";
  std::ofstream(doc, std::ios::binary) << text;
  std::ofstream(py) << "import sys, json, xml.dom.minidom as m\n"
                       "d = m.parse(sys.argv[1])\n"
                       "def attrs(e): return {k: v for k, v in e.attributes.items()}\n"
                       "def kids(e, *names): return [c for c in e.childNodes if c.nodeType == 1 and (not names or c.tagName in names)]\n"
                       "def text(e): return ''.join(t.data for t in e.childNodes if t.nodeType in (3, 4))\n"
                    << script;
  std::string cmd = "python3 " + py.string() + " " + doc.string() + " >" + res.string() + " 2>&1";
  out.rc = std::system(cmd.c_str());
  std::ifstream in(res);
  std::stringstream ss;
  ss << in.rdbuf();
  if (out.rc == 0) {
    try {
      out.doc = json::parse(ss.str());
    } catch (const std::exception& e) {
      out.rc = -1;
      out.err = std::string("not JSON: ") + e.what() + ": " + ss.str();
    }
  } else {
    out.err = ss.str();
  }
  std::filesystem::remove_all(dir);
  return out;
}

const char* kJunitScript = R"(
root = d.documentElement
suites = []
for s in d.getElementsByTagName('testsuite'):
    cases = []
    for c in kids(s, 'testcase'):
        marks = kids(c, 'failure', 'error', 'skipped')
        cases.append({'classname': c.getAttribute('classname'), 'name': c.getAttribute('name'),
                      'time': float(c.getAttribute('time')), 'marks': [x.tagName for x in marks],
                      'messages': [x.getAttribute('message') for x in marks], 'bodies': [text(x) for x in marks]})
    props = {p.getAttribute('name'): p.getAttribute('value') for p in s.getElementsByTagName('property')}
    suites.append({'attrs': attrs(s), 'props': props, 'cases': cases})
print(json.dumps({'root': root.tagName, 'attrs': attrs(root), 'suites': suites}))
)";

const char* kHtmlScript = R"(
tags = sorted({e.tagName for e in d.getElementsByTagName('*')})
handlers = [a for e in d.getElementsByTagName('*') for a in e.attributes.keys() if a.lower().startswith('on') or a.lower() in ('src', 'href')]
svgs = []
for s in d.getElementsByTagName('svg'):
    svgs.append({'class': s.getAttribute('class'), 'label': s.getAttribute('aria-label'),
                 'rects': [r.getAttribute('class') for r in s.getElementsByTagName('rect')],
                 'paths': {p.getAttribute('class'): p.getAttribute('d').count('M') for p in s.getElementsByTagName('path')},
                 'polylines': [len(p.getAttribute('points').split()) for p in s.getElementsByTagName('polyline')],
                 'texts': [text(t) for t in s.getElementsByTagName('text')]})
h3 = [''.join(text(x) if x.nodeType == 1 else x.data for x in h.childNodes) for h in d.getElementsByTagName('h3')]
badge = [e for e in d.getElementsByTagName('span') if 'badge' in e.getAttribute('class').split()]
verdicts = [r.getAttribute('class') for r in d.getElementsByTagName('tr') if r.getAttribute('class').startswith('verdict')]
print(json.dumps({'tags': tags, 'handlers': handlers, 'svgs': svgs, 'h1': text(d.getElementsByTagName('h1')[0]),
                  'title': text(d.getElementsByTagName('title')[0]), 'h3': h3,
                  'badge': [b.getAttribute('class') + '|' + text(b) for b in badge], 'verdicts': verdicts,
                  'plan': [text(p) for p in d.getElementsByTagName('pre') if p.getAttribute('class') == 'plan'],
                  'reason': [text(p) for p in d.getElementsByTagName('p') if 'reason' in p.getAttribute('class').split()]}))
)";

// Faults plan one hostile line and report telemetry like the families': nested objects, an array
// of objects, a bool, a string (not drawn) and the family's own clock (not drawn either).
class ReportRender : public FakeRunTest {
 protected:
  void SetUp() override {
    FakeRunTest::SetUp();
    script_.on_plan = [](const std::string&) { return std::vector<std::string>{"drop <all> & \"everything\""}; };
    // n as 64 bits: hog_bytes passes 2^31 in a long run.
    script_.on_sample = [](const std::string&, std::int64_t n) -> json {
      return {{"t_ms", n * 100},
              {"egress", {{"dropped", n * 3}, {"seen", n * 4}}},
              {"healthy", n % 10 != 0},
              {"leader", "m1"},
              {"gpus", json::array({{{"duty", 0.5 + 0.01 * (n % 5)}}})},
              {"hog_bytes", n * 1048576},
              {"kernel", {{"tcpRetransSegs", 0}}}};
    };
    script_.on_observe = [](const std::string&, int) -> json {
      return {{"action", "fake"}, {"note", "<b>observed</b> & done"}};
    };
  }

  // A real report: plan and execute a Run on the fake clock. Every probe plans one GET.
  json report(std::string name, Duration duration, std::vector<FaultEntry> faults, std::vector<ProbeEntry> probes) {
    for (const auto& p : probes) probes_[p.name].plan = {"GET http://198.18.0.20/"};
    auto file = "experiments/" + name;
    auto e = experiment(std::move(name), duration, std::move(faults), std::move(probes));
    e.file = file + ".yaml";
    auto run = make_run(std::move(e), "run-" + std::to_string(++runs_));
    return execute(*run);
  }

  int runs_ = 0;
};

// What the JUnit file must say, from the report itself.
struct Expected {
  std::size_t tests = 0, failures = 0, errors = 0, skipped = 0;
};
Expected expected_junit(const json& r) {
  Expected e;
  e.tests = 1;  // the run
  std::string outcome = r["outcome"];
  if (outcome == "aborted" || outcome == "failed") ++e.errors;
  for (const auto& p : r["probes"])
    for (const auto& h : p["hypothesis"]) {
      ++e.tests;
      if (!h["held"].get<bool>()) ++e.failures;
    }
  for (const auto& f : r["faults"]) {
    ++e.tests;
    if (f.contains("error")) ++e.errors;
    else if (f.contains("violations")) ++e.failures;
    else if (!f.contains("appliedAt")) ++e.skipped;
  }
  return e;
}

void expect_junit_matches(const json& r, const Parsed& x) {
  ASSERT_EQ(x.rc, 0) << "the JUnit XML is not well-formed: " << x.err;
  const json& doc = x.doc;
  EXPECT_EQ(doc["root"], "testsuites");
  ASSERT_EQ(doc["suites"].size(), 1u);
  const json& s = doc["suites"][0];
  Expected want = expected_junit(r);
  EXPECT_EQ(s["attrs"]["name"], r["experiment"]) << "the experiment's name, exactly, after unescaping";
  EXPECT_EQ(s["cases"].size(), want.tests);
  EXPECT_EQ(s["attrs"]["tests"], std::to_string(want.tests));
  EXPECT_EQ(s["attrs"]["failures"], std::to_string(want.failures));
  EXPECT_EQ(s["attrs"]["errors"], std::to_string(want.errors));
  EXPECT_EQ(s["attrs"]["skipped"], std::to_string(want.skipped));
  EXPECT_EQ(doc["attrs"]["tests"], std::to_string(want.tests));
  EXPECT_EQ(doc["attrs"]["failures"], std::to_string(want.failures));
  std::size_t failures = 0, errors = 0, skipped = 0;
  for (const auto& c : s["cases"]) {
    EXPECT_LE(c["marks"].size(), 1u) << c.dump();
    for (const auto& m : c["marks"]) {
      failures += m == "failure";
      errors += m == "error";
      skipped += m == "skipped";
    }
    EXPECT_GE(c["time"].get<double>(), 0.0);
  }
  EXPECT_EQ(failures, want.failures);
  EXPECT_EQ(errors, want.errors);
  EXPECT_EQ(skipped, want.skipped);
  EXPECT_EQ(s["props"]["run"], r["run"]);
  EXPECT_EQ(s["props"]["outcome"], r["outcome"]);
  EXPECT_EQ(s["attrs"].contains("timestamp"), !r["startedAt"].get<std::string>().empty());
  EXPECT_TRUE(s["attrs"].contains("time"));
}

TEST_F(ReportRender, HeldRunHtmlEscapesEverythingAndDrawsOnePlotPerProbe) {
  if (!have_python()) GTEST_SKIP() << "python3 is needed to parse the HTML back (scripts/install-deps.sh installs it)";
  // Errors only inside the fault window: the hypothesis holds in before and after.
  probes_[kHostile].samples = samples(D(6s), [](Duration t) { return t >= D(2s) && t < D(4s); });
  probes_["api"].samples = samples(D(6s), [](Duration) { return false; });
  json r = report(kHostileExperiment, 6s, {fault(kHostile, 2s, 2s)}, {probe(kHostile), probe("api")});
  ASSERT_EQ(r["outcome"], "held") << r.dump(1);
  keep(r, render_html(r), render_junit(r));

  std::string html = render_html(r);
  // No script, ever, and nothing fetched from anywhere.
  EXPECT_EQ(html.find("<script"), std::string::npos);
  for (const char* ext : {"<link", "<img", "<iframe", "@import", "url(", "src=", "href="})
    EXPECT_EQ(html.find(ext), std::string::npos) << ext;
  EXPECT_NE(html.find("&lt;script&gt;&amp;&quot;"), std::string::npos);

  auto x = parse_xml(html, kHtmlScript);
  ASSERT_EQ(x.rc, 0) << "the page is not well-formed: " << x.err;
  const json& d = x.doc;
  EXPECT_TRUE(d["handlers"].empty()) << d["handlers"].dump();
  for (const auto& t : d["tags"]) EXPECT_NE(t, "script");
  // The hostile names come back exactly, as text.
  EXPECT_NE(d["h1"].get<std::string>().find(kHostileExperiment), std::string::npos) << d["h1"];
  EXPECT_NE(d["title"].get<std::string>().find(kHostileExperiment), std::string::npos);
  EXPECT_EQ(d["badge"], json::array({"badge held|held"}));
  bool probe_heading = false;
  for (const auto& h : d["h3"]) probe_heading |= h.get<std::string>().find("probe " + kHostile) == 0;
  EXPECT_TRUE(probe_heading) << d["h3"].dump();

  std::vector<json> latency, timeline, telemetry;
  for (const auto& s : d["svgs"]) {
    if (s["class"] == "latency") latency.push_back(s);
    if (s["class"] == "timeline") timeline.push_back(s);
    if (s["class"] == "telemetry") telemetry.push_back(s);
  }
  ASSERT_EQ(latency.size(), 2u) << "one latency plot per probe";
  EXPECT_EQ(latency[0]["label"], "probe " + kHostile + ": latency of each sample over time");
  for (const auto& s : latency) {
    std::set<std::string> rects(s["rects"].begin(), s["rects"].end());
    EXPECT_TRUE(rects.count("phase before") && rects.count("phase during") && rects.count("phase after"))
        << s["rects"].dump();
    // Axis ticks carry their units.
    bool ms = false, sec = false;
    for (const auto& t : s["texts"]) {
      std::string v = t;
      ms |= v.size() > 3 && v.substr(v.size() - 3) == " ms";
      sec |= v.size() > 2 && v.substr(v.size() - 2) == " s";
    }
    EXPECT_TRUE(ms && sec) << s["texts"].dump();
  }
  // The hostile probe: 20 failed samples marked apart from the 40 good ones; the other none.
  EXPECT_EQ(latency[0]["paths"]["failed"], 20);
  EXPECT_EQ(latency[0]["paths"]["ok"], 40);
  EXPECT_FALSE(latency[1]["paths"].contains("failed"));
  EXPECT_EQ(latency[1]["paths"]["ok"], 60);

  ASSERT_EQ(timeline.size(), 1u);
  std::multiset<std::string> tl(timeline[0]["rects"].begin(), timeline[0]["rects"].end());
  EXPECT_EQ(tl.count("requested"), 1u);
  EXPECT_EQ(tl.count("applied"), 1u);

  // One chart per numeric (or bool) key, nested keys dotted; strings and the family's clock left out.
  std::set<std::string> keys;
  for (const auto& s : telemetry) {
    std::string label = s["label"];
    ASSERT_EQ(label.rfind(kHostile + ": ", 0), 0u) << label;
    keys.insert(label.substr(kHostile.size() + 2));
  }
  EXPECT_EQ(keys, (std::set<std::string>{"egress.dropped", "egress.seen", "healthy", "gpus.0.duty", "hog_bytes"}));
  // A series that never moved is one line, not a flat chart.
  EXPECT_NE(html.find("constant throughout: kernel.tcpRetransSegs = 0"), std::string::npos);
  for (const auto& s : telemetry) {
    ASSERT_EQ(s["polylines"].size(), 1u);
    EXPECT_GE(s["polylines"][0].get<int>(), 15);  // a point per tick of the 2s the fault held
  }
  ASSERT_EQ(d["plan"].size(), 1u);
  EXPECT_NE(d["plan"][0].get<std::string>().find("drop <all> & \"everything\""), std::string::npos);
  EXPECT_EQ(d["verdicts"], json::array({"verdict held", "verdict held", "verdict held", "verdict held"}));

  expect_junit_matches(r, parse_xml(render_junit(r), kJunitScript));
}

TEST_F(ReportRender, ProbeValuesAreChartedWithTheirBounds) {
  if (!have_python()) GTEST_SKIP() << "python3 is needed to parse the HTML back (scripts/install-deps.sh installs it)";
  // A prometheus-like probe: its value is 0.2 while the steady state holds, 0.9 (out of bounds)
  // while the fault is in.
  auto ss = samples(D(6s), [](Duration t) { return t >= D(2s) && t < D(4s); });
  for (auto& s : ss) s.value = s.ok ? 0.2 : 0.9;
  probes_["slo"].samples = ss;
  json r = report("values", 6s, {fault("cut", 2s, 2s)}, {probe("slo")});
  ASSERT_TRUE(r["probes"][0].contains("values")) << r["probes"][0].dump();
  r["probes"][0]["spec"] = {{"query", "histogram_quantile(0.99, x) < 1"}, {"below", 0.5}};
  std::string html = render_html(r);
  auto x = parse_xml(html, kHtmlScript);
  ASSERT_EQ(x.rc, 0) << "the page is not well-formed: " << x.err;
  std::vector<json> charts;
  for (const auto& s : x.doc["svgs"])
    if (s["label"] == "slo: value") charts.push_back(s);
  ASSERT_EQ(charts.size(), 1u) << "one value chart for the probe";
  ASSERT_EQ(charts[0]["polylines"].size(), 1u);
  EXPECT_EQ(charts[0]["polylines"][0], 60) << "a point per sample";
  EXPECT_NE(html.find("<title>below 0.5</title>"), std::string::npos) << "the bound, drawn";
  EXPECT_NE(html.find("<code>histogram_quantile(0.99, x) &lt; 1</code>"), std::string::npos) << "the query, escaped";
}

TEST_F(ReportRender, DeviatedRunFailsExactlyTheVerdictsThatDidNotHold) {
  if (!have_python()) GTEST_SKIP() << "python3 is needed to parse the XML back";
  // The node took 500ms to heal: errors leak into the after phase of one probe.
  probes_[kHostile].samples = samples(D(6s), [](Duration t) { return t >= D(2s) && t < D(4500ms); });
  probes_["api"].samples = samples(D(6s), [](Duration) { return false; });
  // And the etcd-like aftermath check of the fault fails; the probe's own verify check holds.
  script_.on_verify = [](const std::string& f) {
    return f == "cut" ? std::vector<std::string>{"cluster not healthy again: <no leader> & \"m2\" unreachable"}
                      : std::vector<std::string>{};
  };
  probes_["api"].check = {{"check", "readback"}, {"acknowledged", 40}, {"violations", json::array()}};
  json r = report("deviating", 6s, {fault("cut", 2s, 2s)}, {probe(kHostile), probe("api")});
  ASSERT_EQ(r["outcome"], "deviated") << r.dump(1);
  keep(r, render_html(r), render_junit(r));

  auto x = parse_xml(render_junit(r), kJunitScript);
  expect_junit_matches(r, x);
  ASSERT_EQ(x.rc, 0);
  const json& cases = x.doc["suites"][0]["cases"];
  // run + 2 probes x 2 phases + the verify check + 1 fault
  ASSERT_EQ(cases.size(), 7u);
  std::map<std::string, json> by_name;
  for (const auto& c : cases) by_name[c["name"]] = c;
  const json& after = by_name[kHostile + " hypothesis in after"];
  ASSERT_EQ(after["marks"], json::array({"failure"})) << after.dump();
  EXPECT_EQ(after["classname"], "deviating.probe." + kHostile);
  EXPECT_NE(after["messages"][0].get<std::string>().find("error rate 25.0% (5/20)"), std::string::npos);
  EXPECT_DOUBLE_EQ(after["time"].get<double>(), 2.0);  // the after phase: 4s..6s
  EXPECT_TRUE(by_name[kHostile + " hypothesis in before"]["marks"].empty());
  EXPECT_TRUE(by_name["api readback"]["marks"].empty());
  const json& f = by_name["cut (fake)"];
  ASSERT_EQ(f["marks"], json::array({"failure"}));
  EXPECT_EQ(f["messages"][0], "cluster not healthy again: <no leader> & \"m2\" unreachable");
  EXPECT_TRUE(by_name["run run-1"]["marks"].empty()) << "a deviated run completed its timeline";

  if (!have_python()) return;
  auto h = parse_xml(render_html(r), kHtmlScript);
  ASSERT_EQ(h.rc, 0) << h.err;
  EXPECT_EQ(h.doc["badge"], json::array({"badge deviated|deviated"}));
  std::multiset<std::string> v(h.doc["verdicts"].begin(), h.doc["verdicts"].end());
  EXPECT_EQ(v.count("verdict deviated"), 1u);
  EXPECT_EQ(v.count("verdict held"), 4u);
}

TEST_F(ReportRender, AbortedRunYieldsAnErrorAndSkipsFaultsNeverReached) {
  if (!have_python()) GTEST_SKIP() << "python3 is needed to parse the XML back";
  script_.on_apply = [](const std::string& f) -> Result<void> {
    if (f == "b") return fail("no such device <eth9>", ENODEV);
    return {};
  };
  probes_["api"].samples = samples(D(2s), [](Duration) { return false; });
  json r = report("aborting", 6s, {fault("a", 1s, 4s), fault("b", 2s, 1s), fault("c", 3s, 1s)}, {probe("api")});
  ASSERT_EQ(r["outcome"], "aborted") << r.dump(1);
  keep(r, render_html(r), render_junit(r));

  auto x = parse_xml(render_junit(r), kJunitScript);
  expect_junit_matches(r, x);
  ASSERT_EQ(x.rc, 0);
  std::map<std::string, json> by_name;
  for (const auto& c : x.doc["suites"][0]["cases"]) by_name[c["name"]] = c;
  const json& run = by_name["run run-1"];
  ASSERT_EQ(run["marks"], json::array({"error"})) << run.dump();
  EXPECT_NE(run["messages"][0].get<std::string>().find("no such device <eth9>"), std::string::npos);
  EXPECT_EQ(by_name["b (fake)"]["marks"], json::array({"error"}));
  EXPECT_EQ(by_name["c (fake)"]["marks"], json::array({"skipped"}));
  EXPECT_TRUE(by_name["a (fake)"]["marks"].empty());
  EXPECT_EQ(x.doc["suites"][0]["props"]["reason"], r["reason"]);

  auto h = parse_xml(render_html(r), kHtmlScript);
  ASSERT_EQ(h.rc, 0) << h.err;
  EXPECT_EQ(h.doc["badge"], json::array({"badge aborted|aborted"}));
  ASSERT_EQ(h.doc["reason"].size(), 1u);
  EXPECT_EQ(h.doc["reason"][0], r["reason"]);
  for (const auto& s : h.doc["svgs"])
    if (s["class"] == "timeline") {
      std::multiset<std::string> tl(s["rects"].begin(), s["rects"].end());
      EXPECT_EQ(tl.count("requested"), 3u);
      EXPECT_EQ(tl.count("applied"), 1u);
      EXPECT_EQ(tl.count("applied error"), 1u) << "b failed to apply";
    }
}

TEST_F(ReportRender, LongRunStaysASmallPage) {
  if (!have_python()) GTEST_SKIP() << "python3 is needed to parse the HTML back";
  // Ten minutes at 10 samples a second and a telemetry sample every tick for nine of them.
  probes_["api"].samples = samples(D(600s), [](Duration t) { return t >= D(60s) && t < D(70s); });
  json r = report("long", 600s, {fault("a", 30s, 540s)}, {probe("api")});
  ASSERT_EQ(r["probes"][0]["samples"].size(), 6000u);
  ASSERT_GE(r["series"].size(), 5000u);
  keep(r, render_html(r), render_junit(r));
  std::string html = render_html(r);
  EXPECT_LT(html.size(), 400u * 1024) << "the page grows with what it draws, not with the run's length";
  auto h = parse_xml(html, kHtmlScript);
  ASSERT_EQ(h.rc, 0) << h.err;
  for (const auto& s : h.doc["svgs"]) {
    if (s["class"] == "latency") {
      EXPECT_GT(s["paths"]["failed"].get<int>(), 0);
    }
    if (s["class"] == "telemetry") {
      ASSERT_EQ(s["polylines"].size(), 1u);
      EXPECT_LE(s["polylines"][0].get<int>(), 4 * 240);
      EXPECT_GE(s["polylines"][0].get<int>(), 200);
    }
  }
}

TEST_F(ReportRender, ReportOfARunThatNeverStartedStillRenders) {
  if (!have_python()) GTEST_SKIP() << "python3 is needed to parse the XML back";
  Experiment e;
  e.name = kHostile;
  e.duration = 5s;
  e.faults = {fault("a", 1s, 2s)};
  chaos::Run run("run-x", std::move(e), config_, *journal_, families_, clock_);
  json r = run.execute({});  // without plan(): outcome failed, no faults, no probes
  ASSERT_EQ(r["outcome"], "failed");
  auto h = parse_xml(render_html(r), kHtmlScript);
  ASSERT_EQ(h.rc, 0) << h.err;
  EXPECT_EQ(h.doc["badge"], json::array({"badge failed|failed"}));
  auto x = parse_xml(render_junit(r), kJunitScript);
  expect_junit_matches(r, x);
  // A report from some other tool, or truncated: no crash, still well-formed.
  for (const json& odd : {json::object(), json{{"probes", 3}, {"faults", {{{"name", 1}}}}, {"phases", "x"}}}) {
    EXPECT_EQ(parse_xml(render_html(odd), "print('{}')").rc, 0);
    EXPECT_EQ(parse_xml(render_junit(odd), "print('{}')").rc, 0);
  }
}

TEST(ReportOutcome, ReadOnceFromTheReportAnUnknownOneIsShownAsWrittenWithNoColour) {
  const json aborted{{"experiment", "e"}, {"run", "r"}, {"outcome", "aborted"}, {"reason", "halted: by bob"}};
  std::string html = render_html(aborted);
  EXPECT_NE(html.find("<span class=\"badge aborted\">aborted</span>"), std::string::npos) << html.substr(0, 2000);
  EXPECT_NE(html.find("run aborted: every fault reverted early"), std::string::npos);
  EXPECT_NE(render_junit(aborted).find("type=\"aborted\""), std::string::npos) << render_junit(aborted);
  const json odd{{"experiment", "e"}, {"run", "r"}, {"outcome", "inconclusive"}, {"reason", "?"}};
  html = render_html(odd);
  EXPECT_NE(html.find("<span class=\"badge unknown\">inconclusive</span>"), std::string::npos) << html.substr(0, 2000);
  EXPECT_NE(html.find("outcome unknown"), std::string::npos);
  EXPECT_EQ(render_junit(odd).find("<error "), std::string::npos) << render_junit(odd);
}

TEST(JunitTimes, RunWallTimePhaseLengthsAndFaultApplyPlusRevert) {
  if (!have_python()) GTEST_SKIP() << "python3 is needed to parse the XML back";
  // A report as an agent stored it (trimmed): the run was halted 15.25s in.
  json r = json::parse(R"({
    "run": "r1", "experiment": "e", "outcome": "aborted", "reason": "halted: operator", "state": "aborted",
    "startedAt": "2026-11-29T23:59:50.100Z", "endedAt": "2026-11-30T00:00:05.350Z",
    "phases": {"before": {"from": 0, "to": 5}, "during": {"from": 5, "to": 15.2}, "after": {"from": 15.2, "to": 60}},
    "faults": [{"name": "f", "family": "network", "requested": {"start": 5, "duration": 30},
                "appliedAt": 5.0, "revertedAt": 15.2, "apply_ms": 30, "revert_ms": 12}],
    "probes": [{"name": "p", "kind": "http", "phases": {"before": {"requests": 50, "errors": 0}},
                "hypothesis": [{"phase": "before", "held": true, "violations": []}]}]})");
  auto x = parse_xml(render_junit(r), kJunitScript);
  expect_junit_matches(r, x);
  ASSERT_EQ(x.rc, 0);
  const json& s = x.doc["suites"][0];
  EXPECT_EQ(s["attrs"]["time"], "15.25") << "the wall time from startedAt to endedAt, across midnight";
  EXPECT_EQ(s["attrs"]["timestamp"], "2026-11-29T23:59:50");
  std::map<std::string, double> t;
  for (const auto& c : s["cases"]) t[c["name"]] = c["time"];
  EXPECT_DOUBLE_EQ(t["run r1"], 15.25);
  EXPECT_DOUBLE_EQ(t["p hypothesis in before"], 5.0);
  EXPECT_DOUBLE_EQ(t["f (network)"], 0.042);
}

TEST(XmlEscape, EntitiesControlCharactersAndBrokenUtf8) {
  EXPECT_EQ(xml_escape("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(xml_escape("tab\tnl\ncr\r"), "tab\tnl\ncr\r");
  EXPECT_EQ(xml_escape(std::string("a\x01" "b\x1b", 4)), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD");
  EXPECT_EQ(xml_escape("caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x94\xA5"), "caf\xC3\xA9 \xE2\x9C\x93 \xF0\x9F\x94\xA5");
  EXPECT_EQ(xml_escape("bad \xC3 byte"), "bad \xEF\xBF\xBD byte");
  EXPECT_EQ(xml_escape("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD") << "a UTF-16 surrogate is not UTF-8";
  EXPECT_EQ(report::attr("two\nlines"), "two&#10;lines");
}

TEST(ReportFormats, ByNameAndByExtension) {
  EXPECT_EQ(parse_report_format("html"), ReportFormat::html);
  EXPECT_EQ(parse_report_format("junit"), ReportFormat::junit);
  EXPECT_EQ(parse_report_format("xml"), ReportFormat::junit);
  EXPECT_EQ(parse_report_format("json"), ReportFormat::json);
  EXPECT_FALSE(parse_report_format("text"));
  EXPECT_EQ(report_format_for_path("out/run.json"), ReportFormat::json);
  EXPECT_EQ(report_format_for_path("REPORT.HTML"), ReportFormat::html);
  EXPECT_EQ(report_format_for_path("a.b/junit.xml"), ReportFormat::junit);
  EXPECT_FALSE(report_format_for_path("a.b/report"));
  EXPECT_FALSE(report_format_for_path("report.txt"));
}

TEST(WriteReportFile, ReplacesTheFileWholeAndReportsErrors) {
  auto dir = std::filesystem::temp_directory_path() / ("chaos-report-write-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::string path = (dir / "r.html").string();
  ASSERT_TRUE(write_report_file(path, "old"));
  std::string big(3 << 20, 'x');
  ASSERT_TRUE(write_report_file(path, big));
  EXPECT_EQ(std::filesystem::file_size(path), big.size());
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator{}), 1)
      << "no temporary file left behind";
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::others_read,
            std::filesystem::perms::others_read);
  auto bad = write_report_file((dir / "missing" / "r.xml").string(), "x");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().text().find("missing"), std::string::npos) << bad.error().text();
  std::filesystem::remove_all(dir);
}

TEST(NiceTicks, RoundStepsCoverTheRange) {
  EXPECT_EQ(report::nice_ticks(0, 10, 5), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(report::nice_ticks(0, 15, 10), (std::vector<double>{0, 2, 4, 6, 8, 10, 12, 14}));
  EXPECT_EQ(report::nice_ticks(0, 1, 4), (std::vector<double>{0, 0.5, 1}));
  auto t = report::nice_ticks(0.05, 0.72, 7);  // step 0.1, from the first multiple at or above lo
  ASSERT_EQ(t.size(), 7u);
  EXPECT_DOUBLE_EQ(t.front(), 0.1);
  EXPECT_DOUBLE_EQ(t.back(), 0.7);
  EXPECT_DOUBLE_EQ(report::nice_ceil(7.3), 10);
  EXPECT_DOUBLE_EQ(report::nice_ceil(1.9), 2);
  EXPECT_DOUBLE_EQ(report::nice_ceil(0.021), 0.025);
  EXPECT_EQ(report::latency(0.2449), "0.24 ms");
  EXPECT_EQ(report::latency(1250), "1.25 s");
  EXPECT_EQ(report::quantity(3.5 * 1024 * 1024, "hog_bytes"), "3.5 MiB");
  EXPECT_EQ(report::quantity(12345, "dropped"), "12.3k");
}

}  // namespace
}  // namespace chaos
