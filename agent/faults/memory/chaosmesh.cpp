#include "faults/memory/chaosmesh.h"

#include <cctype>
#include <cmath>
#include <sstream>

namespace chaos::memory {

namespace {

std::string scalar_or(const YAML::Node& n, const std::string& dflt = "") {
  return n && n.IsScalar() ? n.Scalar() : dflt;
}

// Chaos Mesh parses sizes with go-humanize: case-insensitive units, "MB" decimal, "MiB" binary.
Result<std::uint64_t> parse_cm_bytes(const std::string& text) {
  if (auto b = parse_bytes(text)) return b;
  std::string s = text;
  std::size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.' || s[i] == ' ')) ++i;
  std::string num = s.substr(0, i), unit = s.substr(i);
  std::string u;
  for (char c : unit) u += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  // "MIB" -> "MiB"
  if (u.size() == 3 && u[1] == 'I' && u[2] == 'B') u = std::string(1, u[0]) + "iB";
  if (u == "K" || u == "M" || u == "G" || u == "T") u += "B";
  return parse_bytes(num + u);
}

}  // namespace

Result<std::string> convert_stresschaos_memory(const YAML::Node& manifest, const MemoryTarget& target,
                                               std::optional<Duration> default_duration) {
  if (!manifest || !manifest.IsMap()) return fail("StressChaos: expected a YAML map", EINVAL);
  std::string api = scalar_or(manifest["apiVersion"]);
  if (api.rfind("chaos-mesh.org/", 0) != 0)
    return fail("apiVersion \"" + api + "\": expected chaos-mesh.org/v1alpha1", EINVAL);
  std::string kind = scalar_or(manifest["kind"]);
  if (kind != "StressChaos")
    return fail("kind \"" + kind + "\": only StressChaos converts to a memory fault", EINVAL);
  std::string name = scalar_or(manifest["metadata"]["name"], "stresschaos");
  const YAML::Node spec = manifest["spec"];
  if (!spec || !spec.IsMap()) return fail("spec: missing", EINVAL);
  if (spec["stressngStressors"])
    return fail("spec.stressngStressors: raw stress-ng options cannot be converted; use stressors.memory", EINVAL);
  const YAML::Node stressors = spec["stressors"];
  if (!stressors || !stressors.IsMap()) return fail("spec.stressors: missing", EINVAL);
  if (stressors["cpu"])
    return fail("spec.stressors.cpu: CPU stressors are not supported (chaos-agent has no CPU fault family); "
                "remove the cpu stressor, only memory stressors convert",
                ENOTSUP);
  for (const auto& kv : stressors) {
    std::string k = kv.first.Scalar();
    if (k != "memory") return fail("spec.stressors." + k + ": unknown stressor, only memory converts", ENOTSUP);
  }
  const YAML::Node mem = stressors["memory"];
  if (!mem || !mem.IsMap()) return fail("spec.stressors.memory: missing", EINVAL);
  if (mem["options"] && mem["options"].IsSequence() && mem["options"].size() > 0)
    return fail("spec.stressors.memory.options: raw stress-ng flags cannot be converted", ENOTSUP);

  int workers = 1;
  if (mem["workers"]) {
    try {
      workers = mem["workers"].as<int>();
    } catch (...) {
      return fail("spec.stressors.memory.workers \"" + scalar_or(mem["workers"]) + "\": expected an integer", EINVAL);
    }
    if (workers < 1) return fail("spec.stressors.memory.workers: expected at least 1", EINVAL);
  }

  std::string size_text = scalar_or(mem["size"]);
  if (size_text.empty()) return fail("spec.stressors.memory.size: missing (like 256MB or 25%)", EINVAL);
  std::optional<std::uint64_t> size;
  std::optional<double> fraction;
  if (size_text.back() == '%') {
    auto pc = parse_percent(size_text);
    if (!pc || pc->value <= 0)
      return fail("spec.stressors.memory.size \"" + size_text + "\": expected a percentage above 0% and at most 100%", EINVAL);
    fraction = pc->fraction();
  } else {
    auto b = parse_cm_bytes(size_text);
    if (!b) return fail("spec.stressors.memory.size \"" + size_text + "\": " + b.error().message, EINVAL);
    size = *b;
  }

  int adj = 0;
  if (mem["oomScoreAdj"]) {
    try {
      adj = mem["oomScoreAdj"].as<int>();
    } catch (...) {
      return fail("spec.stressors.memory.oomScoreAdj \"" + scalar_or(mem["oomScoreAdj"]) + "\": expected an integer", EINVAL);
    }
    if (adj < -1000 || adj > 1000) return fail("spec.stressors.memory.oomScoreAdj: expected -1000..1000", EINVAL);
  }
  Mode mode = adj < 0 ? Mode::oom : Mode::pressure;
  Victim victim = adj < 0 ? Victim::workload : Victim::hog;

  std::optional<std::uint64_t> rate;
  if (mem["time"]) {
    auto t = parse_duration(scalar_or(mem["time"]));
    if (!t || t->count() <= 0)
      return fail("spec.stressors.memory.time \"" + scalar_or(mem["time"]) + "\": expected a duration above 0 like 30s", EINVAL);
    if (!size)
      return fail("spec.stressors.memory.time with size \"" + size_text +
                      "\": a rate needs an absolute size (chaos-agent's rate is bytes per second)",
                  EINVAL);
    rate = static_cast<std::uint64_t>(std::ceil(static_cast<long double>(*size) * 1e9L / t->count()));
  }

  Duration duration{};
  if (spec["duration"]) {
    auto d = parse_duration(scalar_or(spec["duration"]));
    if (!d || d->count() == 0)
      return fail("spec.duration \"" + scalar_or(spec["duration"]) + "\": expected a duration like 30s", EINVAL);
    duration = *d;
  } else if (default_duration) {
    duration = *default_duration;
  } else {
    return fail("spec.duration: missing; chaos-agent runs always end, give a duration", EINVAL);
  }
  // The run's hard cap: the fault plus a margin for the after-phase.
  Duration cap = duration + std::chrono::seconds(10);

  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "apiVersion" << YAML::Value << "chaos-agent/v1";
  out << YAML::Key << "kind" << YAML::Value << "Experiment";
  out << YAML::Key << "metadata" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << name;
  std::ostringstream desc;
  desc << "Converted from Chaos Mesh StressChaos " << name << " (memory stressor";
  if (workers > 1) desc << ", " << workers << " workers folded into one hog";
  desc << "; selector replaced by target " << target.str() << ")";
  out << YAML::Key << "description" << YAML::Value << desc.str();
  out << YAML::EndMap;
  out << YAML::Key << "spec" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "duration" << YAML::Value << format_duration(cap);
  out << YAML::Key << "faults" << YAML::Value << YAML::BeginSeq << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << "memory";
  out << YAML::Key << "start" << YAML::Value << "0s";
  out << YAML::Key << "duration" << YAML::Value << format_duration(duration);
  out << YAML::Key << "memory" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "target" << YAML::Value << YAML::Flow << YAML::BeginMap;
  switch (target.kind) {
    case MemoryTarget::Kind::cgroup: out << YAML::Key << "cgroup" << YAML::Value << target.path; break;
    case MemoryTarget::Kind::unit: out << YAML::Key << "unit" << YAML::Value << target.unit; break;
    case MemoryTarget::Kind::pid: out << YAML::Key << "pid" << YAML::Value << target.pid; break;
  }
  out << YAML::EndMap;
  // Keep the manifest's spelling when the native parser reads it the same way.
  if (size) out << YAML::Key << "size" << YAML::Value << (parse_bytes(size_text) ? size_text : std::to_string(*size) + "B");
  if (fraction) out << YAML::Key << "fraction" << YAML::Value << *fraction;
  if (rate) out << YAML::Key << "rate" << YAML::Value << std::to_string(*rate) + "B/s";
  out << YAML::Key << "mode" << YAML::Value << mode_name(mode);
  out << YAML::Key << "victim" << YAML::Value << victim_name(victim);
  out << YAML::EndMap;  // memory
  out << YAML::EndMap << YAML::EndSeq;
  out << YAML::EndMap;  // spec
  out << YAML::EndMap;
  if (!out.good()) return fail(std::string("emit YAML: ") + out.GetLastError(), EINVAL);
  return std::string(out.c_str()) + "\n";
}

}  // namespace chaos::memory
