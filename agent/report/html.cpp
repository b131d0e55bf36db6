// The run report as one self-contained page: inline CSS, inline SVG, no script, no external asset
// (it is attached to tickets and postmortems, opened offline, maybe years later). The markup is
// also well-formed XML, so tests (and anyone's tooling) can parse it with a plain XML parser.
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/run_events.h"
#include "report/format.h"
#include "report/render.h"

namespace chaos {

namespace {

using report::array_at;
using report::attr;
using report::bool_or;
using report::json;
using report::num;
using report::num_or;
using report::object_at;
using report::str_or;

std::string esc(std::string_view s) { return xml_escape(s); }
std::string px(double v) { return num(v, 1); }

std::string shorten(const std::string& s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t cut = max - 1;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 sequence
  return s.substr(0, cut) + "\xE2\x80\xA6";  // …
}

// The outcome names are classes of more than the badge (a hypothesis row is `verdict held`, a
// latency plot's failed samples are `failed`): the badge's fills are scoped to .badge, or a row
// turns solid green under its own green verdict text. tests/unit/test_report_browser.cpp checks
// every cell's contrast in a real browser.
constexpr const char* kCss = R"(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1f2328;max-width:960px;margin:24px auto;padding:0 16px}
h1{font-size:22px;margin:0 0 8px;word-break:break-word}
h2{font-size:17px;border-bottom:1px solid #d0d7de;padding-bottom:4px;margin:28px 0 8px}
h3{font-size:15px;margin:20px 0 6px;word-break:break-word}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600;font-size:13px;letter-spacing:.04em;vertical-align:middle}
.badge.held{background:#1a7f37}.badge.deviated{background:#cf222e}.badge.aborted{background:#bc4c00}.badge.failed{background:#82071e}.badge.unknown{background:#6e7781}
.reason{margin:8px 0;padding:8px 12px;border-left:4px solid #d0d7de;background:#f6f8fa;white-space:pre-wrap;word-break:break-word}
.reason.bad{border-left-color:#cf222e}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.meta th{width:110px}
.v-held{color:#1a7f37;font-weight:600}.v-deviated{color:#cf222e;font-weight:600}.v-skipped{color:#6e7781}
ul.violations{margin:0;padding-left:18px}
pre{background:#f6f8fa;padding:8px 10px;overflow-x:auto;font-size:12px;margin:4px 0 10px}
details summary{cursor:pointer;color:#0969da;font-size:13px}
.legend{font-size:12px;color:#57606a;margin:2px 0 8px}
.sw{display:inline-block;width:12px;height:10px;margin:0 4px 0 10px;vertical-align:baseline;border:1px solid #8c959f}
.charts{display:flex;flex-wrap:wrap;gap:6px 10px}
svg{display:block;max-width:100%;height:auto}
svg text{font-family:system-ui,Helvetica,Arial,sans-serif;font-size:11px;fill:#57606a}
footer{margin:32px 0 8px;font-size:12px;color:#6e7781}
)";

// Fill colours of the phase bands, one set for the page.
const char* phase_fill(const std::string& ph) {
  if (ph == "before") return "#eef1f4";
  if (ph == "during") return "#ffe4e1";
  return "#e3f6e8";
}

struct PhaseRange {
  std::string name;
  double from = 0, to = 0;
};

std::vector<PhaseRange> phase_ranges(const json& r) {
  std::vector<PhaseRange> v;
  const json& ph = object_at(r, "phases");
  for (const char* n : {"before", "during", "after"}) {
    const json& p = object_at(ph, n);
    if (p.empty()) continue;
    v.push_back({n, num_or(p, "from", 0), num_or(p, "to", 0)});
  }
  return v;
}

// The time axis every plot shares: the run's whole length.
double run_end(const json& r) {
  double t = num_or(object_at(object_at(r, "phases"), "after"), "to", 0);
  for (const auto& p : array_at(r, "probes"))
    for (const auto& s : array_at(p, "samples"))
      if (s.is_array() && !s.empty() && s[0].is_number()) t = std::max(t, s[0].get<double>());
  for (const auto& s : array_at(r, "series")) t = std::max(t, num_or(s, "t", 0));
  for (const auto& f : array_at(r, "faults")) {
    t = std::max(t, num_or(f, "revertedAt", 0));
    const json& rq = object_at(f, "requested");
    t = std::max(t, num_or(rq, "start", 0) + num_or(rq, "duration", 0));
  }
  return t > 0 ? t : 1;
}

struct Linear {
  double d0, d1, r0, r1;
  double operator()(double v) const { return d1 == d0 ? r0 : r0 + (v - d0) / (d1 - d0) * (r1 - r0); }
};

struct Frame {
  double w, h, left, right, top, bottom;
  double x0() const { return left; }
  double x1() const { return w - right; }
  double y0() const { return h - bottom; }  // the plot area's bottom edge
  double y1() const { return top; }
};

std::string svg_open(const Frame& f, const std::string& cls, const std::string& label) {
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"" + cls + "\" width=\"" + px(f.w) + "\" height=\"" +
         px(f.h) + "\" viewBox=\"0 0 " + px(f.w) + " " + px(f.h) + "\" role=\"img\" aria-label=\"" + attr(label) +
         "\"><title>" + esc(label) + "</title>\n";
}

std::string phase_bands(const std::vector<PhaseRange>& phases, const Linear& x, double ytop, double ybottom,
                        bool labels) {
  std::string s;
  for (const auto& p : phases) {
    double a = std::clamp(x(p.from), x.r0, x.r1), b = std::clamp(x(p.to), x.r0, x.r1);
    if (b <= a) continue;
    s += "<rect class=\"phase " + p.name + "\" x=\"" + px(a) + "\" y=\"" + px(ytop) + "\" width=\"" + px(b - a) +
         "\" height=\"" + px(ybottom - ytop) + "\" fill=\"" + phase_fill(p.name) + "\"><title>" + p.name + " " +
         num(p.from, 2) + "\xE2\x80\x93" + num(p.to, 2) + " s</title></rect>\n";
    if (labels && b - a > 46)
      s += "<text x=\"" + px((a + b) / 2) + "\" y=\"" + px(ytop + 12) + "\" text-anchor=\"middle\">" + p.name +
           "</text>\n";
  }
  return s;
}

// Ticks and labels along the bottom edge; the time axis of every plot.
std::string time_axis(const Linear& x, double y, double T, int target, bool title) {
  std::string s = "<line x1=\"" + px(x.r0) + "\" y1=\"" + px(y) + "\" x2=\"" + px(x.r1) + "\" y2=\"" + px(y) +
                  "\" stroke=\"#8c959f\"/>\n";
  for (double t : report::nice_ticks(0, T, target)) {
    double xx = x(t);
    // The last label would stick out of the frame if centred on its tick.
    const char* anchor = xx > x.r1 - 14 ? "end" : "middle";
    s += "<line x1=\"" + px(xx) + "\" y1=\"" + px(y) + "\" x2=\"" + px(xx) + "\" y2=\"" + px(y + 4) +
         "\" stroke=\"#8c959f\"/><text x=\"" + px(xx) + "\" y=\"" + px(y + 15) + "\" text-anchor=\"" + anchor + "\">" +
         num(t, 2) + " s</text>\n";
  }
  if (title)
    s += "<text x=\"" + px(x.r1) + "\" y=\"" + px(y + 28) + "\" text-anchor=\"end\">time since the run started</text>\n";
  return s;
}

// The badge's class: the outcome's name for the four a report carries, else "unknown" (a report
// from disk with no outcome, or one this version does not know).
std::string outcome_class(std::optional<RunOutcome> o) {
  if (!o) return "unknown";
  switch (*o) {
    case RunOutcome::held:
    case RunOutcome::deviated:
    case RunOutcome::aborted:
    case RunOutcome::failed: return std::string(name(*o));
    default: return "unknown";
  }
}

std::string outcome_headline(std::optional<RunOutcome> o) {
  if (!o) return "outcome unknown";
  switch (*o) {
    case RunOutcome::held: return "steady-state hypothesis held";
    case RunOutcome::deviated: return "steady-state hypothesis deviated";
    case RunOutcome::aborted: return "run aborted: every fault reverted early";
    case RunOutcome::failed: return "run failed";
    default: return "outcome unknown";
  }
}

// ---- the fault timeline ----

std::string fault_timeline(const json& r, const std::vector<PhaseRange>& phases, double T) {
  const json& faults = array_at(r, "faults");
  if (faults.empty()) return "<p>No faults.</p>\n";
  const double row = 24;
  Frame f{900, 0, 180, 20, 20, 40};
  f.h = f.top + row * static_cast<double>(faults.size()) + f.bottom;
  Linear x{0, T, f.x0(), f.x1()};
  std::string s = svg_open(f, "timeline", "fault timeline: requested windows and what was applied");
  s += phase_bands(phases, x, f.y1() - 16, f.y0(), false);
  for (const auto& p : phases) {
    double a = std::clamp(x(p.from), x.r0, x.r1), b = std::clamp(x(p.to), x.r0, x.r1);
    if (b - a > 46)
      s += "<text x=\"" + px((a + b) / 2) + "\" y=\"" + px(f.y1() - 4) + "\" text-anchor=\"middle\">" + p.name +
           "</text>\n";
  }
  double y = f.top;
  for (const auto& fa : faults) {
    const std::string name = str_or(fa, "name", "?");
    const json& rq = object_at(fa, "requested");
    double rs = num_or(rq, "start", 0), rd = num_or(rq, "duration", 0);
    s += "<text x=\"" + px(f.x0() - 8) + "\" y=\"" + px(y + 16) + "\" text-anchor=\"end\" fill=\"#1f2328\">" +
         esc(shorten(name, 26)) + "</text>\n";
    s += "<rect class=\"requested\" x=\"" + px(x(rs)) + "\" y=\"" + px(y + 3) + "\" width=\"" +
         px(std::max(1.0, x(rs + rd) - x(rs))) + "\" height=\"18\" fill=\"none\" stroke=\"#57606a\" "
         "stroke-dasharray=\"4 3\"><title>" + esc(name) + " requested +" + num(rs, 2) + " s for " + num(rd, 2) +
         " s</title></rect>\n";
    if (fa.contains("appliedAt")) {
      double a = num_or(fa, "appliedAt", 0);
      bool reverted = fa.contains("revertedAt");
      double b = reverted ? num_or(fa, "revertedAt", a) : T;
      bool err = !str_or(fa, "error").empty();
      std::string tip = name + " applied +" + num(a, 2) + " s" +
                        (reverted ? ", reverted +" + num(b, 2) + " s" : ", never reverted by the run") +
                        (err ? "; " + str_or(fa, "error") : "");
      s += "<rect class=\"applied" + std::string(err ? " error" : "") + "\" x=\"" + px(x(a)) + "\" y=\"" +
           px(y + 7) + "\" width=\"" + px(std::max(2.0, x(b) - x(a))) + "\" height=\"10\" fill=\"" +
           (err ? "#cf222e" : "#8250df") + "\"><title>" + esc(tip) + "</title></rect>\n";
    }
    y += row;
  }
  s += time_axis(x, f.y0(), T, 10, true);
  s += "</svg>\n";
  return s;
}

std::string fault_table(const json& r) {
  const json& faults = array_at(r, "faults");
  if (faults.empty()) return "";
  std::string s =
      "<table class=\"faults\"><tr><th>fault</th><th>family</th><th>requested</th><th>applied</th><th>reverted</th>"
      "<th>plan</th><th>apply</th><th>revert</th><th>result</th></tr>\n";
  for (const auto& f : faults) {
    const json& rq = object_at(f, "requested");
    auto opt_s = [&](const char* k) { return f.contains(k) ? "+" + report::seconds(num_or(f, k, 0)) : "-"; };
    auto opt_ms = [&](const char* k) { return f.contains(k) ? report::latency(num_or(f, k, 0)) : "-"; };
    std::string result;
    const json& viol = array_at(f, "violations");
    if (!str_or(f, "error").empty()) {
      result = "<span class=\"v-deviated\">error</span>: " + esc(str_or(f, "error"));
    } else if (!viol.empty()) {
      result = "<span class=\"v-deviated\">violations</span><ul class=\"violations\">";
      for (const auto& v : viol) result += "<li>" + esc(v.is_string() ? v.get<std::string>() : report::dump(v)) + "</li>";
      result += "</ul>";
    } else if (!f.contains("appliedAt")) {
      result = "<span class=\"v-skipped\">not applied</span>";
    } else {
      result = "<span class=\"v-held\">ok</span>";
    }
    s += "<tr><td>" + esc(str_or(f, "name", "?")) + "</td><td>" + esc(str_or(f, "family", "?")) + "</td><td class=\"n\">+" +
         report::seconds(num_or(rq, "start", 0)) + " for " + report::seconds(num_or(rq, "duration", 0)) +
         "</td><td class=\"n\">" + opt_s("appliedAt") + "</td><td class=\"n\">" + opt_s("revertedAt") +
         "</td><td class=\"n\">" + opt_ms("plan_ms") + "</td><td class=\"n\">" + opt_ms("apply_ms") +
         "</td><td class=\"n\">" + opt_ms("revert_ms") + "</td><td>" + result + "</td></tr>\n";
  }
  s += "</table>\n";
  for (const auto& f : faults) {
    const json& obs = object_at(f, "observed");
    const json& plan = array_at(f, "plan");
    if (obs.empty() && plan.empty()) continue;
    s += "<details><summary>" + esc(str_or(f, "name", "?")) + ": what it touched and observed</summary>\n<pre>";
    for (const auto& l : plan) s += esc(l.is_string() ? l.get<std::string>() : report::dump(l)) + "\n";
    if (!obs.empty()) s += (plan.empty() ? "" : "\n") + esc(report::dump(obs, 2));
    s += "</pre></details>\n";
  }
  return s;
}

// ---- probes ----

struct YScale {
  bool log = false;
  double lo = 0, hi = 1;
  double py_bottom = 0, py_top = 0;
  double operator()(double v) const {
    double f;
    if (log) {
      v = std::max(v, lo);
      f = (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
    } else {
      f = hi == lo ? 0 : (v - lo) / (hi - lo);
    }
    f = std::clamp(f, 0.0, 1.0);
    return py_bottom - f * (py_bottom - py_top);
  }
  std::vector<double> ticks() const {
    if (!log) return report::nice_ticks(lo, hi, 5);
    std::vector<double> t;
    int decades = static_cast<int>(std::lround(std::log10(hi / lo)));
    for (double v = lo; v <= hi * 1.0001; v *= 10) {
      t.push_back(v);
      if (decades <= 2) {  // few decades: 2 and 5 as well, so the axis is not bare
        if (v * 2 <= hi * 1.0001) t.push_back(v * 2);
        if (v * 5 <= hi * 1.0001) t.push_back(v * 5);
      }
    }
    std::sort(t.begin(), t.end());
    return t;
  }
};

// Latency spans orders of magnitude when a fault bites (0.2 ms answers, 1 s timeouts): a log axis
// then, so neither end is flattened into a line.
YScale latency_scale(const json& samples, double bottom, double top) {
  double mx = 0, mn_pos = 0;
  for (const auto& s : samples) {
    if (!s.is_array() || s.size() < 3 || !s[2].is_number()) continue;
    double l = s[2].get<double>();
    if (!std::isfinite(l) || l < 0) continue;
    mx = std::max(mx, l);
    if (l > 0 && (mn_pos == 0 || l < mn_pos)) mn_pos = l;
  }
  YScale y;
  y.py_bottom = bottom;
  y.py_top = top;
  if (mn_pos > 0 && mx / mn_pos >= 50) {
    y.log = true;
    y.lo = std::pow(10.0, std::floor(std::log10(mn_pos)));
    y.hi = std::pow(10.0, std::ceil(std::log10(mx)));
    if (y.hi <= y.lo) y.hi = y.lo * 10;
  } else {
    y.lo = 0;
    y.hi = report::nice_ceil(mx > 0 ? mx * 1.05 : 1);
  }
  return y;
}

std::string latency_plot(const json& p, const std::vector<PhaseRange>& phases, double T, const json& stop) {
  const std::string name = str_or(p, "name", "?");
  const json& samples = array_at(p, "samples");
  Frame f{900, 250, 66, 20, 8, 40};
  Linear x{0, T, f.x0(), f.x1()};
  YScale y = latency_scale(samples, f.y0(), f.y1());
  std::string s = svg_open(f, "latency", "probe " + name + ": latency of each sample over time");
  s += phase_bands(phases, x, f.y1(), f.y0(), true);
  for (double t : y.ticks()) {
    double yy = y(t);
    s += "<line x1=\"" + px(f.x0()) + "\" y1=\"" + px(yy) + "\" x2=\"" + px(f.x1()) + "\" y2=\"" + px(yy) +
         "\" stroke=\"#d0d7de\" stroke-width=\"0.6\"/><text x=\"" + px(f.x0() - 6) + "\" y=\"" + px(yy + 4) +
         "\" text-anchor=\"end\">" + report::latency(t) + "</text>\n";
  }
  s += "<line x1=\"" + px(f.x0()) + "\" y1=\"" + px(f.y1()) + "\" x2=\"" + px(f.x0()) + "\" y2=\"" + px(f.y0()) +
       "\" stroke=\"#8c959f\"/>\n";
  s += "<text transform=\"translate(12 " + px((f.y0() + f.y1()) / 2) + ") rotate(-90)\" text-anchor=\"middle\">" +
       std::string(y.log ? "latency (log scale)" : "latency") + "</text>\n";
  // Successful samples as dots, failed ones as crosses; one path each, with points that land on
  // the same half-pixel drawn once, so an hour at 10 samples a second stays a small file.
  std::string ok_d, bad_d;
  std::set<std::pair<long, long>> seen_ok, seen_bad;
  std::size_t n_ok = 0, n_bad = 0;
  for (const auto& smp : samples) {
    if (!smp.is_array() || smp.size() < 3 || !smp[0].is_number() || !smp[2].is_number()) continue;
    bool ok = smp[1].is_boolean() && smp[1].get<bool>();
    double xx = x(smp[0].get<double>()), yy = y(smp[2].get<double>());
    std::pair<long, long> key{std::lround(xx * 2), std::lround(yy * 2)};
    if (ok) {
      ++n_ok;
      if (!seen_ok.insert(key).second) continue;
      ok_d += "M" + px(xx) + " " + px(yy) + "h0";
    } else {
      ++n_bad;
      if (!seen_bad.insert(key).second) continue;
      bad_d += "M" + px(xx - 3) + " " + px(yy - 3) + "l6 6m0 -6l-6 6";
    }
  }
  if (!ok_d.empty())
    s += "<path class=\"ok\" d=\"" + ok_d + "\" stroke=\"#0969da\" stroke-width=\"3\" stroke-linecap=\"round\" "
         "fill=\"none\"><title>" + std::to_string(n_ok) + " successful samples</title></path>\n";
  if (!bad_d.empty())
    s += "<path class=\"failed\" d=\"" + bad_d + "\" stroke=\"#cf222e\" stroke-width=\"1.6\" fill=\"none\"><title>" +
         std::to_string(n_bad) + " failed samples</title></path>\n";
  if (n_ok + n_bad == 0)
    s += "<text x=\"" + px((f.x0() + f.x1()) / 2) + "\" y=\"" + px((f.y0() + f.y1()) / 2) +
         "\" text-anchor=\"middle\">no samples</text>\n";
  // The stop condition this probe tripped: where the run was cut short.
  if (str_or(stop, "probe") == name && stop.contains("t")) {
    double xs = x(num_or(stop, "t", 0));
    s += "<line class=\"stop\" x1=\"" + px(xs) + "\" y1=\"" + px(f.y1()) + "\" x2=\"" + px(xs) + "\" y2=\"" +
         px(f.y0()) + "\" stroke=\"#bc4c00\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\"><title>stop condition at +" +
         num(num_or(stop, "t", 0), 2) + " s: " + esc(str_or(stop, "reason")) + "</title></line>\n";
  }
  s += time_axis(x, f.y0(), T, 10, true);
  s += "</svg>\n";
  s += "<p class=\"legend\"><span class=\"sw\" style=\"background:#0969da\"></span>successful sample "
       "<span class=\"sw\" style=\"background:#cf222e\"></span>failed sample (\xC3\x97, at the time it took to fail)"
       "<span class=\"sw\" style=\"background:#eef1f4\"></span>before"
       "<span class=\"sw\" style=\"background:#ffe4e1\"></span>during the faults"
       "<span class=\"sw\" style=\"background:#e3f6e8\"></span>after</p>\n";
  return s;
}

std::string phase_table(const json& p, const std::vector<PhaseRange>& phases) {
  const json& pp = object_at(p, "phases");
  std::string s = "<table class=\"phases\"><tr><th>phase</th><th>window</th><th>requests</th><th>errors</th>"
                  "<th>error rate</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>\n";
  for (const char* ph : {"before", "during", "after"}) {
    if (!pp.contains(ph)) continue;
    const json& st = object_at(pp, ph);
    double req = num_or(st, "requests", 0), err = num_or(st, "errors", 0);
    bool any_ok = req - err > 0;
    auto lat = [&](const char* k) { return any_ok ? report::latency(num_or(st, k, 0)) : std::string("-"); };
    std::string window = "-";
    for (const auto& r : phases)
      if (r.name == ph) window = num(r.from, 2) + "\xE2\x80\x93" + num(r.to, 2) + " s";
    s += "<tr><td>" + std::string(ph) + "</td><td class=\"n\">" + window + "</td><td class=\"n\">" + num(req, 0) +
         "</td><td class=\"n\">" + num(err, 0) + "</td><td class=\"n\">" + num(num_or(st, "errorRate", 0) * 100, 1) +
         "%</td><td class=\"n\">" + lat("p50_ms") + "</td><td class=\"n\">" + lat("p90_ms") + "</td><td class=\"n\">" +
         lat("p99_ms") + "</td><td class=\"n\">" + lat("max_ms") + "</td></tr>\n";
  }
  s += "</table>\n";
  return s;
}

std::string hypothesis_table(const json& p) {
  const json& hyp = array_at(p, "hypothesis");
  if (hyp.empty()) return "<p>No hypothesis is checked on this probe.</p>\n";
  std::string s = "<table class=\"hypothesis\"><tr><th>check</th><th>verdict</th><th>violations</th></tr>\n";
  for (const auto& h : hyp) {
    bool held = bool_or(h, "held", false);
    std::string what = h.contains("check") ? str_or(h, "check", "verify") + " (after the run)"
                                           : "hypothesis in " + str_or(h, "phase", "?");
    s += "<tr class=\"verdict " + std::string(held ? "held" : "deviated") + "\"><td>" + esc(what) +
         "</td><td class=\"" + (held ? "v-held\">held" : "v-deviated\">deviated") + "</td><td>";
    const json& viol = array_at(h, "violations");
    if (!viol.empty()) {
      s += "<ul class=\"violations\">";
      for (const auto& v : viol) s += "<li>" + esc(v.is_string() ? v.get<std::string>() : report::dump(v)) + "</li>";
      s += "</ul>";
    }
    s += "</td></tr>\n";
  }
  s += "</table>\n";
  return s;
}

// The probe's own measurements over the run (a prometheus probe's query value), with its bounds;
// "" when it measured none. Defined with the telemetry charts below.
std::string value_chart(const json& p, const std::vector<PhaseRange>& phases, double T);

std::string probe_section(const json& p, const std::vector<PhaseRange>& phases, double T, const json& stop) {
  std::string s = "<section class=\"probe\">\n<h3>probe " + esc(str_or(p, "name", "?")) + " <small>(" +
                  esc(str_or(p, "kind", "?")) + ")</small></h3>\n";
  s += latency_plot(p, phases, T, stop);
  s += value_chart(p, phases, T);
  std::vector<std::string> notes;
  if (p.contains("recovery_ms"))
    notes.push_back("recovered " + report::latency(num_or(p, "recovery_ms", 0)) + " after the last revert");
  const json& ew = object_at(p, "errorWindow");
  if (!ew.empty())
    notes.push_back("errors seen from +" + report::seconds(num_or(ew, "first", 0)) + " to +" +
                    report::seconds(num_or(ew, "last", 0)));
  if (!notes.empty()) {
    s += "<p>";
    for (std::size_t i = 0; i < notes.size(); ++i) s += (i ? "; " : "") + esc(notes[i]);
    s += "</p>\n";
  }
  s += phase_table(p, phases);
  s += hypothesis_table(p);
  const json& verify = object_at(p, "verify");
  if (!verify.empty())
    s += "<details><summary>" + esc(str_or(verify, "check", "verify")) + ": the check's data</summary><pre>" +
         esc(report::dump(verify, 2)) + "</pre></details>\n";
  s += "</section>\n";
  return s;
}

// ---- fault telemetry ----

struct Series {
  std::string key;
  bool boolean = true;  // every value so far was a bool
  std::vector<std::pair<double, double>> pts;
};

// Numbers (and bools, as 0/1) under their dotted path: {"egress":{"dropped":3}} -> egress.dropped;
// arrays by index: gpus.0.duty.
void flatten(const json& v, const std::string& path, std::vector<std::pair<std::string, json>>& out) {
  if (v.is_object()) {
    for (const auto& [k, x] : v.items()) flatten(x, path.empty() ? k : path + "." + k, out);
  } else if (v.is_array()) {
    for (std::size_t i = 0; i < v.size(); ++i) flatten(v[i], path + "." + std::to_string(i), out);
  } else if (v.is_number() || v.is_boolean()) {
    out.emplace_back(path, v);
  }
}

// At most four points per pixel column (first, min, max, last): the shape survives, the size does not grow
// with the run's length.
std::vector<std::pair<double, double>> decimate(const std::vector<std::pair<double, double>>& pts, const Linear& x) {
  if (pts.size() < 600) return pts;
  std::vector<std::pair<double, double>> out;
  std::size_t i = 0;
  while (i < pts.size()) {
    long col = std::lround(x(pts[i].first));
    std::size_t j = i, lo = i, hi = i;
    while (j < pts.size() && std::lround(x(pts[j].first)) == col) {
      if (pts[j].second < pts[lo].second) lo = j;
      if (pts[j].second > pts[hi].second) hi = j;
      ++j;
    }
    std::vector<std::size_t> keep{i, lo, hi, j - 1};
    std::sort(keep.begin(), keep.end());
    keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
    for (auto k : keep) out.push_back(pts[k]);
    i = j;
  }
  return out;
}

// `marks`: horizontal reference lines (a probe's bounds), drawn dashed and kept inside the range.
std::string telemetry_chart(const std::string& fault, const Series& se, const std::vector<PhaseRange>& phases,
                            double T, const std::vector<std::pair<std::string, double>>& marks = {}) {
  Frame f{296, 124, 58, 12, 22, 26};
  Linear x{0, T, f.x0(), f.x1()};
  double mn = se.pts.front().second, mx = mn;
  for (const auto& [t, v] : se.pts) {
    mn = std::min(mn, v);
    mx = std::max(mx, v);
  }
  double data_max = mx;
  for (const auto& [name, v] : marks) {
    mn = std::min(mn, v);
    mx = std::max(mx, v);
  }
  std::vector<double> ticks;
  double lo, hi;
  if (se.boolean) {
    lo = 0;
    hi = 1;
    ticks = {0, 1};
  } else {
    lo = std::min(0.0, mn);
    hi = mx > lo ? mx : lo + 1;
    // Byte counts tick at round KiB/MiB/GiB, not at round numbers of bytes.
    double unit = 1;
    if (report::quantity(1, se.key).ends_with(" B"))
      while (unit < 1099511627776.0 && std::max(std::fabs(lo), std::fabs(hi)) / unit >= 1024) unit *= 1024;
    ticks = report::nice_ticks(lo / unit, hi / unit, 3);
    if (ticks.size() >= 2 && ticks.back() < hi / unit - 1e-12) ticks.push_back(ticks.back() + (ticks[1] - ticks[0]));
    for (auto& t : ticks) t *= unit;
    if (!ticks.empty()) hi = std::max(hi, ticks.back());
  }
  Linear y{lo, hi, f.y0(), f.y1()};
  std::string label = fault + ": " + se.key;
  std::string s = svg_open(f, "telemetry", label);
  std::vector<PhaseRange> during;
  for (const auto& p : phases)
    if (p.name == "during") during.push_back(p);
  s += phase_bands(during, x, f.y1(), f.y0(), false);
  std::string caption = se.key + (se.boolean ? "" : " \xC2\xB7 max " + report::quantity(data_max, se.key));
  s += "<text x=\"2\" y=\"13\" fill=\"#1f2328\">" + esc(shorten(caption, 48)) + "</text>\n";
  for (double t : ticks) {
    double yy = y(t);
    s += "<line x1=\"" + px(f.x0()) + "\" y1=\"" + px(yy) + "\" x2=\"" + px(f.x1()) + "\" y2=\"" + px(yy) +
         "\" stroke=\"#d0d7de\" stroke-width=\"0.6\"/><text x=\"" + px(f.x0() - 4) + "\" y=\"" + px(yy + 4) +
         "\" text-anchor=\"end\">" + (se.boolean ? std::string(t > 0 ? "true" : "false") : report::quantity(t, se.key)) +
         "</text>\n";
  }
  for (const auto& [name, v] : marks)
    s += "<line class=\"bound\" x1=\"" + px(f.x0()) + "\" y1=\"" + px(y(v)) + "\" x2=\"" + px(f.x1()) + "\" y2=\"" +
         px(y(v)) + "\" stroke=\"#cf222e\" stroke-width=\"1\" stroke-dasharray=\"4 3\"><title>" + esc(name) + " " +
         num(v, 6) + "</title></line>\n";
  auto pts = decimate(se.pts, x);
  if (pts.size() == 1) {
    s += "<circle cx=\"" + px(x(pts[0].first)) + "\" cy=\"" + px(y(pts[0].second)) + "\" r=\"2.5\" fill=\"#0969da\"/>\n";
  } else {
    s += "<polyline class=\"series\" fill=\"none\" stroke=\"#0969da\" stroke-width=\"1.5\" points=\"";
    for (std::size_t i = 0; i < pts.size(); ++i)
      s += (i ? " " : "") + px(x(pts[i].first)) + "," + px(y(pts[i].second));
    s += "\"/>\n";
  }
  s += time_axis(x, f.y0(), T, 4, false);
  s += "</svg>\n";
  return s;
}

std::string value_chart(const json& p, const std::vector<PhaseRange>& phases, double T) {
  Series se{"value", false, {}};
  for (const auto& v : array_at(p, "values"))
    if (v.is_array() && v.size() == 2 && v[0].is_number() && v[1].is_number())
      se.pts.emplace_back(v[0].get<double>(), v[1].get<double>());
  if (se.pts.empty()) return "";
  std::vector<std::pair<std::string, double>> marks;
  const json& spec = object_at(p, "spec");
  for (const char* b : {"below", "above"})
    if (spec.contains(b) && spec[b].is_number()) marks.emplace_back(b, spec[b].get<double>());
  std::string query = str_or(spec, "query", "");
  return "<p class=\"legend\">What the probe measured" + (query.empty() ? std::string() : ": <code>" + esc(query) + "</code>") +
         (marks.empty() ? std::string() : "; dashed: its bounds") + ".</p>\n<div class=\"charts\">\n" +
         telemetry_chart(str_or(p, "name", "?"), se, phases, T, marks) + "</div>\n";
}

std::string telemetry_section(const json& r, const std::vector<PhaseRange>& phases, double T) {
  constexpr std::size_t kMaxCharts = 36;  // per fault; a page, not a metrics store
  // fault -> its series, in the order keys first appeared.
  std::vector<std::string> fault_order;
  std::map<std::string, std::vector<Series>> by_fault;
  std::map<std::string, std::map<std::string, std::size_t>> index;
  for (const auto& e : array_at(r, "series")) {
    if (!e.is_object() || !e.contains("sample")) continue;
    const std::string fault = str_or(e, "fault", "?");
    double t = num_or(e, "t", 0);
    std::vector<std::pair<std::string, json>> flat;
    flatten(e["sample"], "", flat);
    if (!by_fault.count(fault)) fault_order.push_back(fault);
    auto& list = by_fault[fault];
    auto& idx = index[fault];
    for (auto& [k, v] : flat) {
      if (k == "t" || k == "t_ms") continue;  // a family's own clock, already the x axis
      auto [it, fresh] = idx.try_emplace(k, list.size());
      if (fresh) list.push_back(Series{k});
      Series& se = list[it->second];
      if (v.is_boolean()) {
        se.pts.emplace_back(t, v.get<bool>() ? 1.0 : 0.0);
      } else {
        double d = v.get<double>();
        if (!std::isfinite(d)) continue;
        se.boolean = false;
        se.pts.emplace_back(t, d);
      }
    }
  }
  if (fault_order.empty()) return "";
  std::string s = "<h2>Fault telemetry</h2>\n<p class=\"legend\">What each fault measured on every tick while it "
                  "was applied; the shaded band is the during phase.</p>\n";
  for (const auto& fault : fault_order) {
    auto& list = by_fault[fault];
    std::erase_if(list, [](const Series& se) { return se.pts.empty(); });
    if (list.empty()) continue;
    // A series that never moved says so in one line instead of a flat chart (most kernel
    // counters stay at 0 through a fault that does not touch them).
    std::vector<std::string> flat;
    std::erase_if(list, [&](const Series& se) {
      for (const auto& p : se.pts)
        if (p.second != se.pts.front().second) return false;
      flat.push_back(se.key + " = " + num(se.pts.front().second, 6));
      return true;
    });
    s += "<h3>fault " + esc(fault) + "</h3>\n";
    if (!flat.empty()) {
      s += "<p class=\"legend\">constant throughout: ";
      for (std::size_t i = 0; i < flat.size(); ++i) s += (i ? ", " : "") + esc(flat[i]);
      s += "</p>\n";
    }
    if (list.empty()) continue;
    s += "<div class=\"charts\">\n";
    std::size_t n = 0;
    for (const auto& se : list) {
      if (n++ == kMaxCharts) break;
      s += telemetry_chart(fault, se, phases, T);
    }
    s += "</div>\n";
    if (list.size() > kMaxCharts) {
      s += "<p class=\"legend\">" + std::to_string(list.size() - kMaxCharts) + " more series not drawn: ";
      for (std::size_t i = kMaxCharts; i < list.size(); ++i) s += (i > kMaxCharts ? ", " : "") + esc(list[i].key);
      s += " (all are in run.json)</p>\n";
    }
  }
  return s;
}

}  // namespace

std::string render_html(const json& r) {
  const std::string exp = str_or(r, "experiment", "?");
  const std::string run = str_or(r, "run", "?");
  const std::string outcome = str_or(r, "outcome", "unknown");  // as written, for the page
  // Read once: nullopt for a report without one, or with one this version does not know.
  const auto parsed = parse_field<RunOutcome>(r, "outcome");
  const std::optional<RunOutcome> known = parsed ? std::optional(*parsed) : std::nullopt;
  const std::string reason = str_or(r, "reason");
  const auto phases = phase_ranges(r);
  const double T = run_end(r);

  std::string h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<title>" +
                  esc(exp) + " \xE2\x80\x94 " + esc(outcome) + " \xE2\x80\x94 chaos-agent run " + esc(run) +
                  "</title>\n<style>" + kCss + "</style>\n</head>\n<body>\n";

  h += "<header>\n<h1>" + esc(exp) + " <span class=\"badge " + outcome_class(known) + "\">" + esc(outcome) +
       "</span></h1>\n<p>" + esc(outcome_headline(known)) + "</p>\n";
  if (!reason.empty())
    h += "<p class=\"reason" + std::string(known == RunOutcome::held ? "" : " bad") + "\">" + esc(reason) + "</p>\n";
  std::size_t verdicts = 0, held = 0;
  for (const auto& p : array_at(r, "probes"))
    for (const auto& v : array_at(p, "hypothesis")) {
      ++verdicts;
      held += bool_or(v, "held", false);
    }
  h += "<table class=\"meta\">\n";
  auto row = [&](const std::string& k, const std::string& v) { h += "<tr><th>" + k + "</th><td>" + esc(v) + "</td></tr>\n"; };
  row("run", run);
  if (!str_or(r, "file").empty()) row("file", str_or(r, "file"));
  row("started", str_or(r, "startedAt", "-"));
  row("ended", str_or(r, "endedAt", "-"));
  row("state", str_or(r, "state", "-"));
  if (!phases.empty()) {
    std::string ps;
    for (const auto& p : phases)
      ps += (ps.empty() ? "" : ", ") + p.name + " " + num(p.from, 2) + "\xE2\x80\x93" + num(p.to, 2) + " s";
    row("phases", ps);
  }
  if (const json& stop = object_at(r, "stopCondition"); !stop.empty())
    row("stop condition", (stop.contains("fault") ? "fault " + str_or(stop, "fault", "?")
                                                    : "probe " + str_or(stop, "probe", "?")) +
                              " at +" + report::seconds(num_or(stop, "t", 0)) + ": " + str_or(stop, "reason"));
  row("verdicts", std::to_string(held) + " of " + std::to_string(verdicts) + " held");
  h += "</table>\n</header>\n";

  h += "<h2>Fault timeline</h2>\n";
  h += fault_timeline(r, phases, T);
  h += "<p class=\"legend\"><span class=\"sw\" style=\"border-style:dashed;background:#fff\"></span>requested window"
       "<span class=\"sw\" style=\"background:#8250df\"></span>applied \xE2\x86\x92 reverted (measured)"
       "<span class=\"sw\" style=\"background:#cf222e\"></span>failed</p>\n";
  h += fault_table(r);

  h += "<h2>Probes</h2>\n";
  const json& probes = array_at(r, "probes");
  if (probes.empty()) h += "<p>No probes: nothing measured the blast radius.</p>\n";
  for (const auto& p : probes) h += probe_section(p, phases, T, object_at(r, "stopCondition"));

  h += telemetry_section(r, phases, T);

  const json& plan = array_at(r, "plan");
  if (!plan.empty()) {
    h += "<h2>Plan</h2>\n<pre class=\"plan\">";
    for (const auto& l : plan) h += esc(l.is_string() ? l.get<std::string>() : report::dump(l)) + "\n";
    h += "</pre>\n";
  }
  h += "<footer>chaos-agent run report \xC2\xB7 run " + esc(run) + " \xC2\xB7 the full data is in run.json (chaosctl report " +
       esc(run) + " -o json)</footer>\n</body>\n</html>\n";
  return h;
}

}  // namespace chaos
