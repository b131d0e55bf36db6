// The HTML report as a reader sees it: rendered by headless Chromium (Debian's `chromium`,
// installed by `scripts/install-deps.sh all`), with a script added to a copy of the page that
// measures, for the text of every table cell, the colour it is drawn in against the background
// actually behind it (the cell's, its row's, the table's... composited over the canvas), its
// size and its place (inside its cell, not covered by anything), and for every chart its size
// and the marks drawn in it. Chromium prints the DOM after the load event (--dump-dom); the
// script's measurements come back in it, and the assertions are made here.
//
// Two pages: the demo's report (a real `make demo` run, kept in testdata/reports/) and a fake-
// clock run that reaches what the demo does not (a deviated verdict, a fault that failed to apply,
// one never reached, a probe value chart, an aborted run's reason). Each page also carries a
// control table, green text on green, that the script must find unreadable: the check can fail.
//
// Without chromium the tests skip and say why. Each takes one browser start (about 2 s here).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "report/render.h"
#include "unit/support/fake_run.h"

namespace chaos {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using namespace fake;
namespace fs = std::filesystem;

// WCAG 2's minimum for body text (AA). The report's own palette is well above it (#57606a on
// white is 6.4, the verdict green 5.1); green on green is 1.0.
constexpr double kMinContrast = 4.5;
// Only bounds a hung browser (it fails the test, not the tier); never a judge of speed: a start
// takes seconds here, many more on a loaded 2-core CI machine.
constexpr auto kBrowserTimeout = 120s;

// Debian's chromium, or $CHAOS_CHROMIUM; "" when there is none to run.
std::string chromium_path() {
  if (const char* p = std::getenv("CHAOS_CHROMIUM"); p && *p) return ::access(p, X_OK) == 0 ? p : "";
  for (const char* p : {"/usr/bin/chromium", "/usr/lib/chromium/chromium"})
    if (::access(p, X_OK) == 0) return p;
  return "";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A table the script must find unreadable: the verdict cells as they were (green on green).
constexpr const char* kControl =
    "<table class=\"chaos-check-control\"><tr style=\"background:#1a7f37\"><td style=\"color:#1a7f37\">"
    "control: green on green</td></tr></table>\n";

// Runs in the page once it is parsed; writes its measurements, URI-encoded (no markup to
// unescape), into <pre id="chaos-check">.
constexpr const char* kCheckScript = R"JS(
<script>
(function () {
  'use strict';
  var errors = [];
  function rgba(s) {
    var m = /^rgba?\(([^)]*)\)$/.exec(s);
    if (!m) { errors.push('colour not understood: ' + s); return null; }
    var p = m[1].split(/[\s,\/]+/).filter(function (x) { return x !== ''; }).map(parseFloat);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  }
  function over(top, below) {
    var a = top[3];
    return [top[0] * a + below[0] * (1 - a), top[1] * a + below[1] * (1 - a), top[2] * a + below[2] * (1 - a), 1];
  }
  // What is painted behind an element's text: its own background and its ancestors', the
  // nearest opaque one and the translucent ones above it, over the white canvas.
  function backdrop(el) {
    var layers = [], images = [];
    for (var e = el; e && e.nodeType === 1; e = e.parentElement) {
      var cs = getComputedStyle(e);
      if (cs.backgroundImage !== 'none') images.push(e.tagName.toLowerCase());
      var c = rgba(cs.backgroundColor);
      if (c && c[3] > 0) layers.push(c);
      if (c && c[3] >= 1) break;
    }
    var bg = [255, 255, 255, 1];
    for (var i = layers.length - 1; i >= 0; --i) bg = over(layers[i], bg);
    return { color: bg, images: images };
  }
  function lum(c) {
    function ch(v) { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }
    return 0.2126 * ch(c[0]) + 0.7152 * ch(c[1]) + 0.0722 * ch(c[2]);
  }
  function contrast(a, b) {
    var x = lum(a), y = lum(b);
    return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
  }
  function opacity(el) {
    var o = 1;
    for (var e = el; e && e.nodeType === 1; e = e.parentElement) o *= parseFloat(getComputedStyle(e).opacity);
    return o;
  }
  function css(c) { return 'rgb(' + c.slice(0, 3).map(Math.round).join(',') + ')'; }
  function box(r) { return [r.left, r.top, r.width, r.height].map(function (v) { return Math.round(v * 10) / 10; }); }

  var cells = [];
  document.querySelectorAll('td, th').forEach(function (cell) {
    var table = cell.closest('table');
    var rec = { table: table ? table.className : '', row: cell.parentElement.rowIndex, col: cell.cellIndex,
                tag: cell.tagName.toLowerCase(), text: cell.textContent.trim(), runs: [] };
    var walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (var n = walker.nextNode(); n; n = walker.nextNode()) {
      if (!n.data.trim()) continue;
      var el = n.parentElement, cs = getComputedStyle(el);
      el.scrollIntoView({ block: 'center', inline: 'nearest' });
      var range = document.createRange();
      range.selectNodeContents(n);
      var lines = range.getClientRects();
      var first = lines.length ? lines[0] : range.getBoundingClientRect();
      var cellBox = cell.getBoundingClientRect();
      var hit = document.elementFromPoint(first.left + first.width / 2, first.top + first.height / 2);
      var bg = backdrop(el), fg = rgba(cs.color);
      var ink = fg ? over([fg[0], fg[1], fg[2], fg[3] * opacity(el)], bg.color) : bg.color;
      rec.runs.push({
        text: n.data.trim().slice(0, 80), color: cs.color, background: css(bg.color),
        contrast: Math.round(contrast(ink, bg.color) * 100) / 100, images: bg.images,
        box: box(first), fontSize: parseFloat(cs.fontSize), visibility: cs.visibility,
        inCell: first.left >= cellBox.left - 1 && first.right <= cellBox.right + 1 &&
                first.top >= cellBox.top - 1 && first.bottom <= cellBox.bottom + 1,
        onTop: !!hit && (hit === el || el.contains(hit) || hit.contains(el)),
        hit: hit ? hit.tagName.toLowerCase() + (hit.className && hit.className.baseVal === undefined ? '.' + hit.className : '') : ''
      });
    }
    cells.push(rec);
  });

  window.scrollTo(0, 0);
  var svgs = [];
  document.querySelectorAll('svg').forEach(function (s) {
    var r = s.getBoundingClientRect();
    var marks = [];
    s.querySelectorAll('path, polyline, circle, rect, line').forEach(function (m) {
      var b = m.getBBox(), cs = getComputedStyle(m);
      var painted = (cs.stroke !== 'none' && parseFloat(cs.strokeWidth) > 0) || cs.fill !== 'none';
      var mr = m.getBoundingClientRect();
      marks.push({ tag: m.tagName.toLowerCase(), cls: m.getAttribute('class') || '', w: b.width, h: b.height,
                   painted: painted && cs.visibility === 'visible' && cs.display !== 'none',
                   inside: mr.right > r.left && mr.left < r.right && mr.bottom > r.top && mr.top < r.bottom });
    });
    var texts = 0;
    s.querySelectorAll('text').forEach(function (t) { if (t.textContent.trim() && t.getBBox().width > 0) ++texts; });
    svgs.push({ cls: s.getAttribute('class') || '', label: s.getAttribute('aria-label') || '',
                box: box(r), marks: marks, texts: texts });
  });

  var out = document.createElement('pre');
  out.id = 'chaos-check';
  out.textContent = encodeURIComponent(JSON.stringify({ errors: errors, cells: cells, svgs: svgs }));
  document.body.appendChild(out);
})();
</script>
)JS";

std::string uri_decode(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct Browser {
  int rc = -1;  // the exit status; -1: killed at the timeout
  std::string dom, log;
};

// Runs chromium on `page` in its own process group, its profile and HOME in a fresh directory
// under `dir`; kills the group at kBrowserTimeout.
Browser render(const std::string& chromium, const fs::path& dir, const fs::path& page) {
  Browser b;
  fs::path profile = dir / "profile", out = dir / "dom.html", err = dir / "chromium.log";
  fs::create_directories(profile);
  std::vector<std::string> args = {chromium,
                                   "--headless",
                                   "--no-sandbox",
                                   "--disable-gpu",
                                   "--disable-background-networking",
                                   "--disable-component-update",
                                   "--disable-sync",
                                   "--no-first-run",
                                   "--disable-dev-shm-usage",
                                   "--window-size=1280,1000",
                                   "--user-data-dir=" + profile.string(),
                                   "--dump-dom",
                                   "file://" + page.string()};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The environment with HOME in the profile, made before the fork: the child only opens, dups
  // and execs.
  std::vector<std::string> env = {"HOME=" + profile.string()};
  for (char** e = environ; *e; ++e)
    if (std::string_view(*e).rfind("HOME=", 0) != 0) env.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int in = ::open("/dev/null", O_RDONLY);
    if (o < 0 || e < 0 || in < 0) ::_exit(126);
    ::dup2(in, 0);
    ::dup2(o, 1);
    ::dup2(e, 2);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  if (pid < 0) {
    b.log = "fork failed";
    return b;
  }
  ::setpgid(pid, pid);  // also from here: no race with the child's own call
  auto deadline = std::chrono::steady_clock::now() + kBrowserTimeout;
  int status = 0;
  bool done = false;
  while (!done) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      done = true;
      b.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    } else if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      done = true;
    } else {
      std::this_thread::sleep_for(20ms);
    }
  }
  ::kill(-pid, SIGKILL);  // helpers of the browser still in its group, if any
  b.dom = slurp(out);
  b.log = slurp(err);
  return b;
}

// The page as the report renders it, with the control table and the script added before </body>.
json measure(const std::string& html, const std::string& name) {
  std::string chromium = chromium_path();
  fs::path dir = fs::temp_directory_path() / ("chaos-browser-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto at = html.rfind("</body>");
  EXPECT_NE(at, std::string::npos) << "the page has no </body>";
  if (at == std::string::npos) return nullptr;
  std::string page = html.substr(0, at) + kControl + kCheckScript + html.substr(at);
  fs::path file = dir / (name + ".html");
  std::ofstream(file, std::ios::binary) << page;
  Browser b = render(chromium, dir, file);
  json result;
  const std::string open = "<pre id=\"chaos-check\">";
  auto from = b.dom.find(open);
  auto to = from == std::string::npos ? from : b.dom.find("</pre>", from);
  if (b.rc != 0 || to == std::string::npos) {
    ADD_FAILURE() << chromium << " on " << file << ": "
                  << (b.rc < 0 ? "did not finish in " + std::to_string(kBrowserTimeout.count()) + " s"
                               : "exit status " + std::to_string(b.rc))
                  << "; the page's measurements " << (to == std::string::npos ? "are missing" : "came back")
                  << "\nits log (last 3000 bytes):\n"
                  << b.log.substr(b.log.size() > 3000 ? b.log.size() - 3000 : 0);
    return nullptr;  // the directory is kept, to look at
  }
  try {
    result = json::parse(uri_decode(b.dom.substr(from + open.size(), to - from - open.size())));
  } catch (const std::exception& e) {
    ADD_FAILURE() << "the measurements are not JSON: " << e.what();
    return nullptr;
  }
  if (!std::getenv("CHAOS_REPORT_DUMP")) fs::remove_all(dir);
  return result;
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

std::string where(const json& cell) {
  return "table." + cell["table"].get<std::string>() + " row " + std::to_string(cell["row"].get<int>()) + " col " +
         std::to_string(cell["col"].get<int>()) + " <" + cell["tag"].get<std::string>() + "> \"" +
         cell["text"].get<std::string>().substr(0, 60) + "\"";
}

// Every cell of the report's tables readable; the control cell not. Returns the cells checked.
std::vector<json> expect_cells_readable(const json& m, const std::string& html) {
  std::vector<json> cells;
  bool control_seen = false;
  for (const auto& c : m["cells"]) {
    if (c["table"] == "chaos-check-control") {
      control_seen = true;
      EXPECT_EQ(c["runs"].size(), 1u) << c.dump();
      for (const auto& r : c["runs"])
        EXPECT_LT(r["contrast"].get<double>(), 1.5)
            << "the control cell (green on green) should measure unreadable: " << c.dump();
      continue;
    }
    cells.push_back(c);
  }
  EXPECT_TRUE(control_seen) << "the control table was not measured";
  // Every cell of the page, counted in the markup the report wrote.
  EXPECT_EQ(cells.size(), count(html, "<td") + count(html, "<th>") + count(html, "<th "));
  std::size_t with_text = 0;
  for (const auto& c : cells) {
    if (!c["runs"].empty()) ++with_text;
    for (const auto& r : c["runs"]) {
      std::string what = where(c) + ": text \"" + r["text"].get<std::string>() + "\" in " +
                         r["color"].get<std::string>() + " on " + r["background"].get<std::string>();
      EXPECT_GE(r["contrast"].get<double>(), kMinContrast) << what << ": contrast " << r["contrast"];
      EXPECT_TRUE(r["images"].empty()) << what << ": a background image under the text: " << r["images"];
      EXPECT_EQ(r["visibility"], "visible") << what;
      EXPECT_GE(r["fontSize"].get<double>(), 9.0) << what;
      EXPECT_GT(r["box"][2].get<double>(), 0.0) << what << ": no width";
      EXPECT_GT(r["box"][3].get<double>(), 0.0) << what << ": no height";
      EXPECT_TRUE(r["inCell"].get<bool>()) << what << ": drawn outside its cell";
      EXPECT_TRUE(r["onTop"].get<bool>()) << what << ": covered by " << r["hit"];
    }
  }
  EXPECT_GT(with_text, 10u);
  return cells;
}

// Every chart laid out at a real size with its data drawn inside it.
void expect_charts_drawn(const json& m, std::size_t latency, std::size_t min_telemetry) {
  std::map<std::string, std::size_t> by_class;
  for (const auto& s : m["svgs"]) {
    std::string cls = s["cls"], label = s["label"];
    ++by_class[cls];
    EXPECT_GE(s["box"][2].get<double>(), 200.0) << label;
    EXPECT_GE(s["box"][3].get<double>(), 80.0) << label;
    EXPECT_GE(s["texts"].get<int>(), 3) << label << ": axis labels";
    // The data marks: the samples of a latency plot, the applied bar of the timeline, a series.
    std::size_t data = 0;
    for (const auto& k : s["marks"]) {
      std::string c = k["cls"];
      bool is_data = (cls == "latency" && (c == "ok" || c == "failed")) ||
                     (cls == "timeline" && c.rfind("applied", 0) == 0) ||
                     (cls == "telemetry" && (c == "series" || k["tag"] == "circle"));
      if (!is_data) continue;
      EXPECT_TRUE(k["painted"].get<bool>()) << label << ": " << k.dump();
      EXPECT_TRUE(k["inside"].get<bool>()) << label << ": drawn outside its chart: " << k.dump();
      EXPECT_GT(k["w"].get<double>() + k["h"].get<double>(), 0.0) << label << ": " << k.dump();
      ++data;
    }
    EXPECT_GE(data, 1u) << label << ": nothing drawn";
  }
  EXPECT_EQ(by_class["timeline"], 1u);
  EXPECT_EQ(by_class["latency"], latency);
  EXPECT_GE(by_class["telemetry"], min_telemetry);
}

#define SKIP_WITHOUT_CHROMIUM()                                                                              \
  if (chromium_path().empty())                                                                               \
  GTEST_SKIP() << "no chromium to run (" << (std::getenv("CHAOS_CHROMIUM") ? "CHAOS_CHROMIUM is not executable"  \
                                                                        : "/usr/bin/chromium not installed") \
               << "; scripts/install-deps.sh all installs Debian's chromium): the HTML report was not checked "  \
                  "in a browser"

TEST(ReportInBrowser, DemoReportEveryCellReadableEveryChartDrawn) {
  SKIP_WITHOUT_CHROMIUM();
  // A real `make demo` run (refresh: cp build/demo-report/lab-partition.json there).
  json r = json::parse(slurp(fs::path(CHAOS_SOURCE_DIR) / "tests/unit/testdata/reports/lab-partition.json"));
  ASSERT_EQ(r["experiment"], "lab-partition");
  std::string html = render_html(r);
  json m = measure(html, "demo");
  ASSERT_TRUE(m.is_object());
  EXPECT_TRUE(m["errors"].empty()) << m["errors"];
  auto cells = expect_cells_readable(m, html);
  // The cells the bug hid: the verdicts of the hypothesis table, read as text.
  std::size_t verdicts = 0;
  for (const auto& c : cells)
    if (c["table"] == "hypothesis" && c["col"] == 1 && c["tag"] == "td") {
      EXPECT_EQ(c["text"], "held") << where(c);
      ++verdicts;
    }
  EXPECT_EQ(verdicts, 2u) << "before and after";
  expect_charts_drawn(m, r["probes"].size(), 1);
}

class ReportInBrowserFake : public FakeRunTest {};

TEST_F(ReportInBrowserFake, AbortedRunWithEveryKindOfCellReadable) {
  SKIP_WITHOUT_CHROMIUM();
  // Fault a holds, b fails to apply (the run aborts), c is never reached; probe api errs while a
  // is in and on after it (a deviated verdict), probe slo measures a value against a bound.
  script_.on_apply = [](const std::string& f) -> Result<void> {
    if (f == "b") return fail("no such device <eth9>", ENODEV);
    return {};
  };
  script_.on_sample = [](const std::string&, int n) -> json {
    return {{"egress", {{"dropped", n * 3}, {"seen", n * 4}}}, {"healthy", n % 4 != 0}};
  };
  for (Duration t{0}; t < D(4s); t += D(100ms)) {
    bool bad = t >= D(1s);
    probes_["api"].samples.push_back(sample(t, !bad, bad ? D(1000ms) : D(2ms), "timeout <after 1s>"));
    auto s = sample(t, true, D(3ms));
    s.value = t >= D(1s) ? 0.9 : 0.2;
    probes_["slo"].samples.push_back(s);
  }
  auto e = experiment("every-cell", 6s, {fault("a", 1s, 4s), fault("b", 3s, 1s), fault("c", 5s, 500ms)},
                      {probe("api"), probe("slo")});
  e.file = "experiments/every-cell.yaml";
  auto run = make_run(std::move(e));
  json r = execute(*run);
  ASSERT_EQ(r["outcome"], "aborted") << r.dump(1);
  for (auto& p : r["probes"])
    if (p["name"] == "slo") p["spec"] = {{"query", "p99 < 0.5"}, {"below", 0.5}};
  std::string html = render_html(r);
  // What this page is for: the cells the demo's report does not have.
  for (const char* want : {"v-deviated\">deviated", "v-deviated\">error", "v-skipped", "reason bad"})
    ASSERT_NE(html.find(want), std::string::npos) << want;
  json m = measure(html, "fake");
  ASSERT_TRUE(m.is_object());
  EXPECT_TRUE(m["errors"].empty()) << m["errors"];
  auto cells = expect_cells_readable(m, html);
  std::size_t deviated = 0;
  for (const auto& c : cells) deviated += c["table"] == "hypothesis" && c["text"] == "deviated";
  EXPECT_GE(deviated, 1u);
  expect_charts_drawn(m, 2, 2);
}

}  // namespace
}  // namespace chaos
