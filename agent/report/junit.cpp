// JUnit XML in the shape Jenkins' junit step and GitLab's artifacts:reports:junit read: one
// testsuite per run; testcases carry classname, name and time; <failure> for a hypothesis that did
// not hold, <error> for the tool's own trouble (a fault that failed to apply or revert, a run that
// aborted), <skipped> for a fault the run never reached.
#include <time.h>

#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "core/run_events.h"
#include "report/format.h"
#include "report/render.h"

namespace chaos {

namespace {

using report::array_at;
using report::attr;
using report::json;
using report::num;
using report::num_or;
using report::object_at;
using report::str_or;

struct Case {
  std::string classname, name;
  double time = 0;
  enum class Kind { pass, failure, error, skipped } kind = Kind::pass;
  std::string type, message, body, out;
};

std::string join(const json& arr, std::string_view sep) {
  std::string s;
  for (const auto& v : arr) {
    if (!s.empty()) s += sep;
    s += v.is_string() ? v.get<std::string>() : report::dump(v);
  }
  return s;
}

std::string phase_line(const std::string& phase, const json& st) {
  const double req = num_or(st, "requests", 0), err = num_or(st, "errors", 0);
  std::string s = phase + ": " + num(req, 0) + " requests, " + num(err, 0) + " errors";
  if (req - err > 0)  // latency percentiles are over the successful samples only
    s += ", p50 " + report::latency(num_or(st, "p50_ms", 0)) + ", p99 " + report::latency(num_or(st, "p99_ms", 0)) +
         ", max " + report::latency(num_or(st, "max_ms", 0));
  return s;
}

// "2026-11-29T11:58:50.123Z" (what the runner writes) as seconds since the epoch.
std::optional<double> parse_iso(const std::string& iso) {
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(iso.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &ms) != 7)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<double>(::timegm(&tm)) + ms / 1000.0;
}

// JUnit's timestamp has no zone and no fraction (the XSD says xs:dateTime without them).
std::string junit_timestamp(const std::string& iso) {
  if (iso.size() < 19) return {};
  return iso.substr(0, 19);
}

std::string text(std::string_view s) { return xml_escape(s); }

}  // namespace

std::string render_junit(const json& r) {
  const std::string exp = str_or(r, "experiment", "experiment");
  const std::string run = str_or(r, "run", "");
  const std::string outcome = str_or(r, "outcome", "unknown");
  const std::string reason = str_or(r, "reason", "");
  const json& phases = object_at(r, "phases");
  // The run's wall time (an aborted run ends early); the planned length when the times are missing.
  double run_time = num_or(object_at(phases, "after"), "to", 0);
  auto t0 = parse_iso(str_or(r, "startedAt")), t1 = parse_iso(str_or(r, "endedAt"));
  if (t0 && t1 && *t1 >= *t0) run_time = *t1 - *t0;

  std::vector<Case> cases;

  // The run itself: its timeline ran to the end, or it aborted (everything reverted early).
  {
    Case c{exp + ".run", "run " + (run.empty() ? exp : run), run_time};
    // A report from disk: its outcome read once (an unknown word is no error case of its own).
    const auto parsed = parse_field<RunOutcome>(r, "outcome");
    if (parsed && (*parsed == RunOutcome::aborted || *parsed == RunOutcome::failed)) {
      c.kind = Case::Kind::error;
      c.type = outcome;
      c.message = reason.empty() ? "the run " + outcome : reason;
      c.body = "run " + run + " " + outcome + (reason.empty() ? "" : ": " + reason) +
               "\nEvery fault was reverted when the run stopped; the verdicts below cover the samples taken until then.";
    }
    c.out = "outcome " + outcome + ", state " + str_or(r, "state", "?") + ", started " + str_or(r, "startedAt", "?") +
            ", ended " + str_or(r, "endedAt", "?");
    cases.push_back(std::move(c));
  }

  // One testcase per hypothesis verdict: probe x phase it is checked in, and each verify check.
  for (const auto& p : array_at(r, "probes")) {
    const std::string pname = str_or(p, "name", "?");
    const json& pph = object_at(p, "phases");
    for (const auto& h : array_at(p, "hypothesis")) {
      const std::string phase = str_or(h, "phase", "?");
      Case c;
      c.classname = exp + ".probe." + pname;
      if (h.contains("check")) {
        c.name = pname + " " + str_or(h, "check", "verify");
        c.time = 0;
      } else {
        c.name = pname + " hypothesis in " + phase;
        const json& rg = object_at(phases, phase);
        c.time = std::max(0.0, num_or(rg, "to", 0) - num_or(rg, "from", 0));
      }
      const json& st = object_at(pph, phase);
      std::string stats = h.contains("check") ? report::dump(object_at(p, "verify")) : phase_line(phase, st);
      const json& viol = array_at(h, "violations");
      bool held = report::bool_or(h, "held", false);
      if (!held) {
        c.kind = Case::Kind::failure;
        c.type = h.contains("check") ? "verify" : "hypothesis";
        c.message = viol.empty() ? "did not hold" : join(viol, "; ");
        c.body = "probe " + pname + (h.contains("check") ? " check " + str_or(h, "check") : " in phase " + phase) +
                 " did not hold:\n";
        for (const auto& v : viol) c.body += "  - " + (v.is_string() ? v.get<std::string>() : report::dump(v)) + "\n";
        c.body += stats;
      } else {
        c.out = stats;
      }
      cases.push_back(std::move(c));
    }
  }

  // One per fault: it applied and reverted cleanly, and its own aftermath checks passed.
  for (const auto& f : array_at(r, "faults")) {
    const std::string fname = str_or(f, "name", "?");
    Case c;
    c.classname = exp + ".fault." + fname;
    c.name = fname + " (" + str_or(f, "family", "?") + ")";
    c.time = (num_or(f, "apply_ms", 0) + num_or(f, "revert_ms", 0)) / 1000.0;
    std::string timing;
    if (f.contains("appliedAt")) timing += "applied +" + report::seconds(num_or(f, "appliedAt", 0));
    if (f.contains("revertedAt")) timing += ", reverted +" + report::seconds(num_or(f, "revertedAt", 0));
    if (f.contains("apply_ms")) timing += "; apply took " + report::latency(num_or(f, "apply_ms", 0));
    if (f.contains("revert_ms")) timing += ", revert took " + report::latency(num_or(f, "revert_ms", 0));
    const json& viol = array_at(f, "violations");
    std::string err = str_or(f, "error", "");
    if (!err.empty()) {
      c.kind = Case::Kind::error;
      c.type = err.rfind("revert", 0) == 0 ? "revert" : "apply";
      c.message = err;
      c.body = "fault " + fname + ": " + err + "\n" + timing;
    } else if (!viol.empty()) {
      c.kind = Case::Kind::failure;
      c.type = "verify";
      c.message = join(viol, "; ");
      c.body = "fault " + fname + " left the system unhealthy:\n";
      for (const auto& v : viol) c.body += "  - " + (v.is_string() ? v.get<std::string>() : report::dump(v)) + "\n";
      c.body += timing;
    } else if (!f.contains("appliedAt")) {
      c.kind = Case::Kind::skipped;
      c.message = "not applied: the run ended before its start at +" +
                  report::seconds(num_or(object_at(f, "requested"), "start", 0));
    }
    c.out = timing;
    const json& obs = object_at(f, "observed");
    if (!obs.empty()) c.out += (c.out.empty() ? "" : "\n") + std::string("observed: ") + report::dump(obs);
    cases.push_back(std::move(c));
  }

  std::size_t failures = 0, errors = 0, skipped = 0;
  for (const auto& c : cases) {
    failures += c.kind == Case::Kind::failure;
    errors += c.kind == Case::Kind::error;
    skipped += c.kind == Case::Kind::skipped;
  }
  const std::string counts = " tests=\"" + std::to_string(cases.size()) + "\" failures=\"" + std::to_string(failures) +
                             "\" errors=\"" + std::to_string(errors) + "\" skipped=\"" + std::to_string(skipped) +
                             "\" time=\"" + num(run_time, 3) + "\"";

  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  x += "<testsuites name=\"chaos-agent\"" + counts + ">\n";
  x += "  <testsuite name=\"" + attr(exp) + "\"" + counts;
  if (auto ts = junit_timestamp(str_or(r, "startedAt")); !ts.empty()) x += " timestamp=\"" + attr(ts) + "\"";
  x += " package=\"chaos-agent\">\n";
  x += "    <properties>\n";
  auto prop = [&](const std::string& k, const std::string& v) {
    x += "      <property name=\"" + attr(k) + "\" value=\"" + attr(v) + "\"/>\n";
  };
  prop("run", run);
  prop("outcome", outcome);
  if (!reason.empty()) prop("reason", reason);
  prop("state", str_or(r, "state"));
  prop("file", str_or(r, "file"));
  prop("startedAt", str_or(r, "startedAt"));
  prop("endedAt", str_or(r, "endedAt"));
  x += "    </properties>\n";
  for (const auto& c : cases) {
    x += "    <testcase classname=\"" + attr(c.classname) + "\" name=\"" + attr(c.name) + "\" time=\"" +
         num(c.time, 3) + "\"";
    if (c.kind == Case::Kind::pass && c.out.empty()) {
      x += "/>\n";
      continue;
    }
    x += ">\n";
    switch (c.kind) {
      case Case::Kind::failure:
      case Case::Kind::error: {
        const char* tag = c.kind == Case::Kind::failure ? "failure" : "error";
        x += std::string("      <") + tag + " message=\"" + attr(c.message) + "\" type=\"" + attr(c.type) + "\">" +
             text(c.body) + "</" + tag + ">\n";
        break;
      }
      case Case::Kind::skipped: x += "      <skipped message=\"" + attr(c.message) + "\"/>\n"; break;
      case Case::Kind::pass: break;
    }
    if (!c.out.empty()) x += "      <system-out>" + text(c.out) + "</system-out>\n";
    x += "    </testcase>\n";
  }
  std::string plan;
  for (const auto& l : array_at(r, "plan")) plan += (l.is_string() ? l.get<std::string>() : report::dump(l)) + "\n";
  if (!plan.empty()) x += "    <system-out>plan:\n" + text(plan) + "</system-out>\n";
  x += "  </testsuite>\n";
  x += "</testsuites>\n";
  return x;
}

}  // namespace chaos
