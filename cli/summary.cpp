#include "summary.h"

#include <cstdio>

#include "core/run_events.h"

namespace chaos::cli {

namespace {

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string pad(std::string s, std::size_t w) {
  if (s.size() < w) s.append(w - s.size(), ' ');
  return s;
}

std::string lat(const nlohmann::json& ph, const char* key) {
  if (ph.value("requests", 0) - ph.value("errors", 0) <= 0) return "-";
  double v = ph.value(key, 0.0);
  return v >= 1000 ? fmt("%.2fs", v / 1000) : fmt("%.2fms", v);
}

}  // namespace

std::string format_summary(const nlohmann::json& r) {
  std::string out;
  // A report from disk, perhaps by another version: an outcome this chaosctl does not know is
  // shown as written.
  std::string head = "run " + r.value("outcome", std::string("?"));
  if (auto outcome = parse_field<RunOutcome>(r, "outcome")) {
    switch (*outcome) {
      case RunOutcome::held: head = "steady-state hypothesis HELD"; break;
      case RunOutcome::deviated: head = "steady-state hypothesis DEVIATED"; break;
      case RunOutcome::aborted: head = "run ABORTED"; break;
      default: break;
    }
  }
  out += "run " + r.value("run", std::string("?")) + " (" + r.value("experiment", std::string("?")) + "): " + head;
  if (!r.value("reason", std::string()).empty()) out += ": " + r.value("reason", std::string());
  out += "\n";
  if (r.contains("phases")) {
    const auto& p = r["phases"];
    out += "phases: before " + fmt("%.2f", p["before"]["from"].get<double>()) + "-" +
           fmt("%.2fs", p["before"]["to"].get<double>()) + ", during " +
           fmt("%.2f", p["during"]["from"].get<double>()) + "-" + fmt("%.2fs", p["during"]["to"].get<double>()) +
           ", after " + fmt("%.2f", p["after"]["from"].get<double>()) + "-" +
           fmt("%.2fs", p["after"]["to"].get<double>()) + "\n";
  }
  for (const auto& f : r.value("faults", nlohmann::json::array())) {
    out += "fault " + f.value("name", std::string("?")) + " (" + f.value("family", std::string("?")) + ")";
    if (f.contains("appliedAt")) out += ": applied +" + fmt("%.2fs", f["appliedAt"].get<double>());
    if (f.contains("revertedAt")) out += ", reverted +" + fmt("%.2fs", f["revertedAt"].get<double>());
    if (f.contains("error")) out += ", ERROR " + f["error"].get<std::string>();
    out += "\n";
    if (f.contains("observed") && f["observed"].is_object() && !f["observed"].empty())
      out += "  observed: " + f["observed"].dump() + "\n";
    for (const auto& v : f.value("violations", nlohmann::json::array()))  // Fault::verify()
      out += "  VIOLATION: " + v.get<std::string>() + "\n";
  }
  for (const auto& p : r.value("probes", nlohmann::json::array())) {
    out += "probe " + p.value("name", std::string("?")) + " (" + p.value("kind", std::string("?")) + ")\n";
    out += "  " + pad("phase", 8) + pad("requests", 10) + pad("errors", 8) + pad("p50", 10) + pad("p99", 10) + "\n";
    for (const char* ph : {"before", "during", "after"}) {
      const auto& s = p["phases"][ph];
      out += "  " + pad(ph, 8) + pad(std::to_string(s.value("requests", 0)), 10) +
             pad(std::to_string(s.value("errors", 0)), 8) + pad(lat(s, "p50_ms"), 10) + pad(lat(s, "p99_ms"), 10) +
             "\n";
    }
    // What the probe measured besides latency (a prometheus probe's value), per phase.
    std::string values;
    for (const char* ph : {"before", "during", "after"}) {
      const auto& v = p["phases"][ph].value("value", nlohmann::json::object());
      if (v.empty()) continue;
      values += std::string(values.empty() ? "" : ", ") + ph + " " + fmt("%g", v.value("min", 0.0)) + " / " +
                fmt("%g", v.value("mean", 0.0)) + " / " + fmt("%g", v.value("max", 0.0));
    }
    if (!values.empty()) out += "  value (min / mean / max): " + values + "\n";
    if (p.contains("recovery_ms"))
      out += "  recovered " + fmt("%.0fms", p["recovery_ms"].get<double>()) + " after the revert\n";
    if (p.contains("errorWindow"))
      out += "  errors seen from +" + fmt("%.2fs", p["errorWindow"]["first"].get<double>()) + " to +" +
             fmt("%.2fs", p["errorWindow"]["last"].get<double>()) + "\n";
    if (p.contains("verify") && p["verify"].is_object()) {  // Probe::verify(): e.g. the etcd read-back
      nlohmann::json v = p["verify"];
      v.erase("violations");
      out += "  " + v.value("check", std::string("check")) + ": " + v.dump() + "\n";
    }
    for (const auto& h : p.value("hypothesis", nlohmann::json::array())) {
      out += "  hypothesis in " + h.value("phase", std::string("?")) +
             (h.contains("check") ? " (" + h.value("check", std::string()) + ")" : "") + ": " +
             (h.value("held", false) ? "held" : "DEVIATED");
      for (const auto& v : h.value("violations", nlohmann::json::array())) out += "; " + v.get<std::string>();
      out += "\n";
    }
  }
  return out;
}

std::string format_event(const nlohmann::json& ev) {
  // An agent's event stream, read here once into the enums; an event this chaosctl does not know
  // (a newer agent's) is not worth a line.
  auto kind = parse_field<RunEvent>(ev, "event");
  if (!kind) return "";
  const RunEvent e = *kind;
  std::string t = ev.contains("t") ? fmt("+%6.2fs ", ev["t"].get<double>()) : std::string(9, ' ');
  if (e == RunEvent::planned) {
    std::string out = "run " + ev.value("run", std::string()) + " planned:\n";
    for (const auto& l : ev.value("plan", nlohmann::json::array())) out += "  " + l.get<std::string>() + "\n";
    if (!out.empty()) out.pop_back();
    return out;
  }
  if (e == RunEvent::started) return t + "started " + ev.value("name", std::string());
  if (e == RunEvent::fault) {
    std::string s = t + "fault " + ev.value("fault", std::string()) + " " + ev.value("state", std::string());
    if (ev.contains("error")) s += ": " + ev["error"].get<std::string>();
    return s;
  }
  if (e == RunEvent::progress) {
    std::string s = t + "active [";
    bool first = true;
    for (const auto& a : ev.value("active", nlohmann::json::array())) {
      s += (first ? "" : ", ") + a.get<std::string>();
      first = false;
    }
    s += "]";
    const nlohmann::json probes = ev.value("probes", nlohmann::json::object());
    for (const auto& [name, p] : probes.items()) {
      s += "  " + name + " " + std::to_string(p.value("requests", 0)) + " req " + std::to_string(p.value("errors", 0)) + " err";
      if (p.contains("value") && p["value"].is_number()) s += " value " + fmt("%g", p["value"].get<double>());
    }
    return s;
  }
  if (e == RunEvent::stop_condition)
    return t + "stop condition met: " +
           (ev.contains("fault") ? "fault " + ev.value("fault", std::string()) : "probe " + ev.value("probe", std::string())) +
           ": " + ev.value("reason", std::string());
  if (e == RunEvent::aborted) return t + "ABORTED: " + ev.value("reason", std::string());
  return "";
}

}  // namespace chaos::cli
