#include "core/parser.h"

#include "core/yaml_load.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace chaos {

namespace {

constexpr const char* kApiVersion = "chaos-agent/v1";

bool valid_name(const std::string& s) { return valid_experiment_name(s); }

// The value of a key already read, quoted for a message: "0s".
std::string quoted_value(MapReader& r, const std::string& key) {
  auto n = r.child(key);
  return "\"" + (n ? n->scalar() : std::string()) + "\"";
}

void check_name(MapReader& r, const std::string& key, std::optional<std::string>& out) {
  auto node = r.child(key, true);
  if (!node) return;
  auto s = node->as_string();
  if (!s) return;
  if (!valid_name(*s)) {
    node->error("\"" + *s + "\": expected a name of lowercase letters, digits, '-' and '.', "
                "starting and ending with a letter or digit (at most 63 characters)");
    return;
  }
  out = s;
}

// The family (or probe kind) block of an entry: exactly one key naming a registered kind.
// Returns its key and a reader over it.
std::optional<std::pair<std::string, YNode>> find_block(MapReader& r, const std::vector<std::string>& kinds,
                                                        const char* what) {
  std::vector<std::string> present;
  for (const auto& k : kinds)
    if (r.has(k)) present.push_back(k);
  std::string all;
  for (const auto& k : kinds) all += (all.empty() ? "" : ", ") + k;
  // Every kind is a legitimate key: a typo ("netwrok:") then lists them among the expected fields.
  for (const auto& k : kinds)
    if (!r.has(k)) r.child(k);
  if (present.size() != 1) {
    if (r.valid()) {
      if (present.empty())
        r.node().error(std::string("missing the ") + what + " block: expected exactly one of: " + all);
      else
        r.node().error(std::string("more than one ") + what + " block: expected exactly one of: " + all);
    }
    for (const auto& k : present) r.child(k);  // mark known; the error is already reported
    return std::nullopt;
  }
  auto node = r.child(present.front());
  return std::make_pair(present.front(), *node);
}

std::optional<Phase> parse_phase(const YNode& n) {
  auto s = n.as_enum({"before", "during", "after"});
  if (!s) return std::nullopt;
  if (*s == "before") return Phase::before;
  if (*s == "during") return Phase::during;
  return Phase::after;
}

void parse_tolerance(MapReader& r, Tolerance& t) {
  if (auto v = r.percent("maxErrorRate")) t.max_error_rate = v->fraction();
  t.p50 = r.duration("p50");
  t.p90 = r.duration("p90");
  t.p99 = r.duration("p99");
  t.max = r.duration("max");
  r.finish();
}

void parse_abort_when(MapReader& r, AbortWhen& a) {
  if (auto v = r.percent("errorRate")) {
    if (v->fraction() <= 0) r.child("errorRate")->error(quoted_value(r, "errorRate") + ": expected a rate above 0%");
    a.error_rate = v->fraction();
  }
  a.p50 = r.duration("p50");
  a.p99 = r.duration("p99");
  if (auto w = r.duration("window")) {
    if (*w < std::chrono::milliseconds(100))
      r.child("window")->error(quoted_value(r, "window") + ": too short, expected at least 100ms");
    a.window = *w;
  }
  if (auto m = r.integer("minSamples", 1, 1000000)) a.min_samples = static_cast<std::size_t>(*m);
  if (r.valid() && !a.any())
    r.node().error("empty stop condition: expected at least one of errorRate, p50, p99");
  r.finish();
}

void parse_telemetry_abort(const YNode& n, const std::set<std::string>& faults, Experiment& exp) {
  MapReader r(n);
  TelemetryAbort a;
  a.loc = n.loc();
  auto fault = r.str("fault", true);
  if (fault && !faults.count(*fault)) {
    std::string known;
    for (const auto& f : faults) known += (known.empty() ? "" : ", ") + f;
    r.child("fault")->error("\"" + *fault + "\": no such fault, expected one of spec.faults: " +
                            (known.empty() ? "(none)" : known));
    fault.reset();
  }
  auto key = r.str("key", true);
  if (key && (key->empty() || key->front() == '.' || key->back() == '.' || key->find("..") != std::string::npos)) {
    r.child("key")->error(quoted_value(r, "key") + ": expected a telemetry key like gpus.0.temperatureC or "
                                                    "kernel.tcpRetransSegs (nested keys joined with '.')");
    key.reset();
  }
  a.above = r.number("above", -1e18, 1e18);
  a.below = r.number("below", -1e18, 1e18);
  if (r.valid() && !a.above && !a.below) r.node().error("expected above:, below: or both");
  if (a.above && a.below && *a.below >= *a.above)
    r.node().error("below " + format_number(*a.below) + " is not under above " + format_number(*a.above) +
                   ": the condition would always hold");
  r.finish();
  if (!fault || !key || (!a.above && !a.below)) return;
  a.fault = *fault;
  a.key = *key;
  exp.abort_when.push_back(std::move(a));
}

void parse_fault(const YNode& n, const SpecRegistry& reg, Experiment& exp, std::set<std::string>& names) {
  MapReader r(n);
  FaultEntry f;
  f.loc = n.loc();
  std::optional<std::string> name;
  check_name(r, "name", name);
  if (name) {
    if (!names.insert(*name).second) r.child("name")->error("\"" + *name + "\": duplicate fault name, expected a name unique in spec.faults");
    f.name = *name;
  }
  if (auto s = r.duration("start")) f.start = *s;
  auto d = r.duration("duration", true);
  if (d) {
    if (d->count() == 0) r.child("duration")->error(quoted_value(r, "duration") + ": expected a duration above 0s");
    f.duration = *d;
    // Checked here, where the fault's own index and position are known (spec.duration is read first).
    if (exp.duration.count() > 0 && f.end() > exp.duration)
      r.child("duration")->error("ends at " + format_duration(f.end()) + " (start " + format_duration(f.start) +
                                 " + duration " + format_duration(f.duration) + "), after spec.duration " +
                                 format_duration(exp.duration) +
                                 ": expected every fault to end within spec.duration");
  }
  std::shared_ptr<const FaultSpec> spec;
  auto block = find_block(r, reg.fault_families(), "fault family");
  if (block) {
    MapReader br(block->second);
    if (br.valid()) spec = (*reg.fault_parser(block->first))(br);
  }
  r.finish();
  if (!name || !d || !spec) return;
  f.family = block->first;
  f.spec = std::move(spec);
  exp.faults.push_back(std::move(f));
}

void parse_probe(const YNode& n, const SpecRegistry& reg, Experiment& exp, std::set<std::string>& names) {
  MapReader r(n);
  ProbeEntry p;
  p.loc = n.loc();
  std::optional<std::string> name;
  check_name(r, "name", name);
  if (name) {
    if (!names.insert(*name).second) r.child("name")->error("\"" + *name + "\": duplicate probe name, expected a name unique in spec.steadyState");
    p.name = *name;
  }
  if (auto v = r.duration("interval")) {
    if (*v < std::chrono::milliseconds(10))
      r.child("interval")->error(quoted_value(r, "interval") + ": too short, expected at least 10ms");
    p.interval = *v;
  }
  if (auto v = r.duration("timeout")) {
    if (v->count() == 0) r.child("timeout")->error(quoted_value(r, "timeout") + ": expected a duration above 0s");
    p.timeout = *v;
  }
  if (auto c = r.child("checkIn")) {
    p.check_in.clear();
    for (const auto& e : c->elements())
      if (auto ph = parse_phase(e)) p.check_in.push_back(*ph);
  }
  if (auto t = r.child("tolerance")) {
    MapReader tr(*t);
    parse_tolerance(tr, p.tolerance);
  }
  if (auto a = r.child("abortWhen")) {
    MapReader ar(*a);
    AbortWhen aw;
    parse_abort_when(ar, aw);
    p.abort_when = aw;
  }
  std::shared_ptr<const ProbeSpec> spec;
  auto block = find_block(r, reg.probe_kinds(), "probe");
  if (block) {
    MapReader br(block->second);
    if (br.valid()) spec = (*reg.probe_parser(block->first))(br);
  }
  r.finish();
  if (!name || !spec) return;
  p.kind = block->first;
  p.spec = std::move(spec);
  exp.probes.push_back(std::move(p));
}

}  // namespace

bool valid_experiment_name(const std::string& s) {
  static const std::regex re("[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?");
  return s.size() <= 63 && std::regex_match(s, re);
}

ParseOutcome parse_experiment(const std::string& text, const std::string& file,
                              const SpecRegistry& registry) {
  ParseOutcome out;
  YAML::Node root;
  try {
    auto docs = load_yaml_documents(text);
    if (docs.second) {
      // Loading only the first would silently drop every experiment after it.
      out.diags.error(Location{file, docs.second->line + 1, docs.second->column + 1}, "",
                      "a second YAML document: expected one experiment per file");
      return out;
    }
    root = docs.first;
  } catch (const YAML::Exception& e) {
    out.diags.error(Location{file, e.mark.line + 1, e.mark.column + 1}, "",
                    "not valid YAML: " + e.msg);
    return out;
  }
  if (!root || root.IsNull()) {
    out.diags.error(Location{file, 1, 1}, "",
                    std::string("the file is empty: expected an experiment (apiVersion: ") + kApiVersion +
                        ", kind: Experiment)");
    return out;
  }
  Experiment exp;
  exp.file = file;
  YNode top(root, "", file, &out.diags);
  MapReader r(top);
  if (!r.valid()) return out;

  auto api = r.child("apiVersion", true);
  if (api) {
    auto s = api->as_string();
    if (s && *s != kApiVersion) {
      if (s->find("chaos-mesh.org") != std::string::npos)
        api->error("\"" + *s + "\": a Chaos Mesh manifest; run it with `chaosctl run FILE --target ...` "
                   "or convert it with `chaosctl import FILE`, expected " + kApiVersion);
      else
        api->error("\"" + *s + "\": expected " + kApiVersion);
    }
    if (s) exp.api_version = *s;
  }
  if (auto kind = r.child("kind", true)) {
    auto s = kind->as_string();
    if (s && *s != "Experiment") kind->error("\"" + *s + "\": expected Experiment");
  }
  if (auto meta = r.child("metadata", true)) {
    MapReader m(*meta);
    std::optional<std::string> name;
    check_name(m, "name", name);
    if (name) exp.name = *name;
    if (auto labels = m.child("labels")) {
      MapReader lr(*labels);
      if (lr.valid()) {
        for (const auto& kv : labels->yaml()) {
          auto key = kv.first.Scalar();
          YNode v(kv.second, labels->path() + "." + key, file, &out.diags);
          if (auto s = v.as_string()) exp.labels[key] = *s;
          lr.child(key);
        }
        lr.finish();  // reports a label given twice
      }
    }
    m.child("description");  // free text, accepted and ignored
    m.finish();
  }
  if (auto spec = r.child("spec", true)) {
    MapReader s(*spec);
    if (auto d = s.duration("duration", true)) {
      if (d->count() == 0)
        s.child("duration")->error(quoted_value(s, "duration") +
                                   ": expected a duration above 0s (every run has a hard cap)");
      exp.duration = *d;
      exp.duration_loc = s.child("duration")->loc();
    }
    std::set<std::string> fault_names;
    for (const auto& f : s.seq("faults")) parse_fault(f, registry, exp, fault_names);
    std::set<std::string> probe_names;
    for (const auto& p : s.seq("steadyState")) parse_probe(p, registry, exp, probe_names);
    for (const auto& a : s.seq("abortWhen")) parse_telemetry_abort(a, fault_names, exp);
    s.finish();
  }
  r.finish();
  if (out.diags.ok()) out.experiment = std::move(exp);
  return out;
}

ParseOutcome parse_experiment_file(const std::string& path, const SpecRegistry& registry) {
  std::ifstream in(path);
  if (!in) {
    ParseOutcome out;
    out.diags.error(Location{path, 1, 1}, "", std::string("cannot read the file: ") + std::strerror(errno));
    return out;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_experiment(ss.str(), path, registry);
}

}  // namespace chaos
