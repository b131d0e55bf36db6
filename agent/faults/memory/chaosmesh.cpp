#include "faults/memory/chaosmesh.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <sstream>

namespace chaos::memory {

namespace {

std::string scalar_or(const YNode& n, const std::string& dflt = "") {
  return n.present() && n.is_scalar() ? n.scalar() : dflt;
}

std::string in_quotes(const std::string& s) { return "\"" + s + "\""; }
std::string shown(const YNode& n) { return n.present() && n.is_scalar() ? in_quotes(n.scalar()) : n.found(); }

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

// An integer field (workers, oomScoreAdj): digits with an optional sign, within [lo, hi].
Converted<int> int_field(const YNode& n, int lo, int hi) {
  std::string t = scalar_or(n);
  long long v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (t.empty() || ec != std::errc() || end != t.data() + t.size())
    return fail_at(n, shown(n) + ": expected an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
  if (v < lo || v > hi)
    return fail_at(n, shown(n) + ": out of range, expected " + std::to_string(lo) + ".." + std::to_string(hi));
  return static_cast<int>(v);
}

}  // namespace

Result<MemoryTarget> parse_memory_target(const std::string& text) {
  auto colon = text.find(':');
  std::string kind = text.substr(0, colon), value = colon == std::string::npos ? "" : text.substr(colon + 1);
  MemoryTarget t;
  if (kind == "cgroup" && !value.empty()) {
    t.kind = MemoryTarget::Kind::cgroup;
    t.path = value;
    return t;
  }
  if (kind == "unit" && !value.empty()) {
    t.kind = MemoryTarget::Kind::unit;
    t.unit = value;
    return t;
  }
  if (kind == "pid") {
    int pid = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), pid);
    if (!value.empty() && ec == std::errc() && end == value.data() + value.size() && pid > 0) {
      t.kind = MemoryTarget::Kind::pid;
      t.pid = pid;
      return t;
    }
    return fail("--target \"" + text + "\": expected pid:N with N a process id from 1 to 2147483647", EINVAL);
  }
  return fail("--target \"" + text + "\": expected cgroup:PATH, unit:NAME or pid:N", EINVAL);
}

Converted<std::string> convert_stresschaos_memory(const YNode& manifest, const MemoryTarget& target,
                                                  std::optional<Duration> default_duration) {
  if (!manifest.is_map()) return fail_at(manifest, manifest.found() + ": expected a StressChaos object (a YAML map)");
  auto api_node = manifest.get("apiVersion");
  std::string api = scalar_or(api_node);
  if (api.rfind("chaos-mesh.org/", 0) != 0) return fail_at(api_node, shown(api_node) + ": expected chaos-mesh.org/v1alpha1");
  auto kind_node = manifest.get("kind");
  if (scalar_or(kind_node) != "StressChaos")
    return fail_at(kind_node, shown(kind_node) + ": only StressChaos converts to a memory fault");
  return convert_stresschaos_spec(scalar_or(manifest.get("metadata").get("name")), manifest.get("spec"), target,
                                  default_duration);
}

Converted<std::string> convert_stresschaos_spec(const std::string& manifest_name, const YNode& spec,
                                                const MemoryTarget& target, std::optional<Duration> default_duration) {
  std::string name = manifest_name.empty() ? "stresschaos" : manifest_name;
  if (!spec.present() || !spec.is_map()) return fail_at(spec, spec.found() + ": expected the StressChaos spec (a map)");
  if (auto n = spec.get("stressngStressors"); n.present())
    return refuse_at(n, "raw stress-ng options cannot be converted; use stressors.memory");
  const YNode stressors = spec.get("stressors");
  if (!stressors.present()) return fail_at(stressors, "missing: expected stressors.memory");
  if (!stressors.is_map()) return fail_at(stressors, stressors.found() + ": expected a map with a memory stressor");
  if (auto n = stressors.get("cpu"); n.present())
    return refuse_at(n, "CPU stressors are not supported (chaos-agent has no CPU fault family); remove the cpu "
                        "stressor, only memory stressors convert");
  for (const auto& kv : stressors.yaml()) {
    std::string k = kv.first.IsScalar() ? kv.first.Scalar() : std::string("<complex key>");
    if (k != "memory") return refuse_at(stressors.get(k), "unknown stressor, only memory converts");
  }
  const YNode mem = stressors.get("memory");
  if (!mem.present()) return fail_at(mem, "missing: expected a memory stressor");
  if (!mem.is_map()) return fail_at(mem, mem.found() + ": expected a map like {size: 256MB}");
  if (auto o = mem.get("options"); o.present() && !(o.is_seq() && o.yaml().size() == 0) && !o.is_null())
    return refuse_at(o, "raw stress-ng flags cannot be converted");

  int workers = 1;
  if (auto n = mem.get("workers"); n.present()) {
    auto w = int_field(n, 1, 8192);
    if (!w) return std::unexpected(w.error());
    workers = *w;
  }

  auto size_node = mem.get("size");
  std::string size_text = scalar_or(size_node);
  if (size_text.empty()) return fail_at(size_node, shown(size_node) + ": expected a size like 256MB or 25%");
  std::optional<std::uint64_t> size;
  std::optional<double> fraction;
  if (size_text.back() == '%') {
    auto pc = parse_percent(size_text);
    if (!pc || pc->value <= 0)
      return fail_at(size_node, in_quotes(size_text) + ": expected a percentage above 0% and at most 100%");
    fraction = pc->fraction();
  } else {
    auto b = parse_cm_bytes(size_text);
    if (!b) return fail_at(size_node, in_quotes(size_text) + ": " + b.error().message);
    if (*b < kMinHogBytes)
      return fail_at(size_node, in_quotes(size_text) + ": too small, expected at least one page (4KiB)");
    size = *b;
  }

  int adj = 0;
  if (auto n = mem.get("oomScoreAdj"); n.present()) {
    auto a = int_field(n, -1000, 1000);
    if (!a) return std::unexpected(a.error());
    adj = *a;
  }
  Mode mode = adj < 0 ? Mode::oom : Mode::pressure;
  Victim victim = adj < 0 ? Victim::workload : Victim::hog;

  std::optional<std::uint64_t> rate;
  if (auto n = mem.get("time"); n.present()) {
    auto t = parse_duration(scalar_or(n));
    if (!t || t->count() <= 0) return fail_at(n, shown(n) + ": expected a duration above 0 like 30s");
    if (!size)
      return fail_at(n, "with size " + in_quotes(size_text) +
                            ": a rate needs an absolute size (chaos-agent's rate is bytes per second)");
    long double r = std::ceil(static_cast<long double>(*size) * 1e9L / static_cast<long double>(t->count()));
    // A size reached in a nanosecond is "as fast as the kernel allows": no rate at all.
    if (r < 18e18L) rate = static_cast<std::uint64_t>(r);
  }

  Duration duration{};
  if (auto n = spec.get("duration"); n.present()) {
    auto d = parse_duration(scalar_or(n));
    if (!d || d->count() == 0) return fail_at(n, shown(n) + ": expected a duration above 0 like 30s");
    duration = *d;
  } else if (default_duration) {
    duration = *default_duration;
  } else {
    return fail_at(n, "missing; chaos-agent runs always end, give a duration");
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
    default: break;  // --target makes only the three kinds above (parse_memory_target)
  }
  out << YAML::EndMap;
  // Keep the manifest's spelling when the native parser reads it as the same number of bytes.
  if (size) {
    auto native = parse_bytes(size_text);
    out << YAML::Key << "size" << YAML::Value << (native && *native == *size ? size_text : std::to_string(*size) + "B");
  }
  if (fraction) out << YAML::Key << "fraction" << YAML::Value << *fraction;
  if (rate) out << YAML::Key << "rate" << YAML::Value << std::to_string(*rate) + "B/s";
  out << YAML::Key << "mode" << YAML::Value << mode_name(mode);
  out << YAML::Key << "victim" << YAML::Value << victim_name(victim);
  out << YAML::EndMap;  // memory
  out << YAML::EndMap << YAML::EndSeq;
  out << YAML::EndMap;  // spec
  out << YAML::EndMap;
  if (!out.good()) return fail_at(spec, std::string("cannot write the experiment as YAML: ") + out.GetLastError());
  return std::string(out.c_str()) + "\n";
}

namespace {

// A refusal worded as a whole sentence, without the field's path in front.
std::unexpected<ConvertError> refused_here(const YNode& at, std::string reason) {
  return std::unexpected(ConvertError{Diagnostic{at.loc(), "", std::move(reason)}, true});
}

}  // namespace

ChaosMeshConverter chaos_mesh_converter() {
  ChaosMeshConverter c;
  c.kinds = {"StressChaos"};
  c.converts = "StressChaos memory stressors";
  c.target_forms = {"cgroup:PATH", "unit:NAME", "pid:N"};
  c.takes_target = [](const std::string& t) { return parse_memory_target(t).has_value(); };
  c.convert = [](const ChaosMeshObject& o, const ChaosMeshFlags& flags) -> Converted<ChaosMeshImport> {
    const auto stressors = o.spec.get("stressors");
    if (!stressors.get("memory").present()) {
      if (stressors.get("cpu").present())
        return refused_here(stressors.get("cpu"),
                            "StressChaos stressors.cpu: chaos-agent has no CPU fault family (only memory stressors "
                            "convert, to the memory family)");
      return refused_here(stressors.present() ? stressors : o.spec.present() ? o.spec : o.kind_node,
                          "StressChaos without a memory stressor: only memory stressors convert");
    }
    auto target = parse_memory_target(flags.target);
    if (!target)
      return fail_at(stressors.get("memory"),
                     "a memory stressor acts on a workload: give it as --target cgroup:PATH, unit:NAME or pid:N (the "
                     "manifest's selector names pods, which a node agent cannot resolve)");
    auto y = convert_stresschaos_spec(o.name, o.spec, *target, flags.duration.value_or(std::chrono::seconds(60)));
    if (!y) return std::unexpected(y.error());
    return ChaosMeshImport{std::move(*y), {}};
  };
  return c;
}

}  // namespace chaos::memory
