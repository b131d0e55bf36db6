#include "faults/gpu/spec.h"

#include <set>

#include "faults/gpu/kernel_abi.h"

namespace chaos::gpu {

namespace {

constexpr Duration kMinPeriod = std::chrono::milliseconds(10);
constexpr Duration kMaxPeriod = std::chrono::seconds(10);

std::string qt(const std::string& s) { return "\"" + s + "\""; }

// A fraction in (0, 1]. "90%" gets a hint instead of a bare "expected a number".
std::optional<double> read_fraction(MapReader& r, const std::string& key, const char* of_what) {
  auto c = r.child(key);
  if (!c) return std::nullopt;
  std::string expected = std::string("expected a fraction of ") + of_what + " above 0 and at most 1, like 0.5";
  if (!c->is_scalar()) {
    c->error(expected);
    return std::nullopt;
  }
  std::string s = c->scalar();
  if (!s.empty() && s.back() == '%') {
    c->error(qt(s) + ": " + expected + " (a fraction, not a percentage)");
    return std::nullopt;
  }
  Diagnostics scratch;  // as_number's own message is less helpful here
  YNode probe(c->yaml(), c->path(), c->file(), &scratch);
  auto v = probe.as_number(0, 1);
  if (!v || *v <= 0) {
    c->error(qt(s) + ": " + expected);
    return std::nullopt;
  }
  return v;
}

// A block that is not a map gets an example of one, whatever the value was.
bool expect_map(const YNode& node, const char* example) {
  if (node.is_map()) return true;
  node.error((node.is_scalar() ? qt(node.scalar()) + ": " : std::string()) + "expected a map like " + example);
  return false;
}

std::optional<MemoryRequest> read_memory(const YNode& node) {
  if (!expect_map(node, "{bytes: 64GiB}, {fraction: 0.9} or {leave: 2GiB}")) return std::nullopt;
  MapReader m(node);
  auto which = m.exactly_one({"bytes", "fraction", "leave"});
  MemoryRequest req;
  bool ok = false;
  if (which == "bytes") {
    req.mode = MemoryRequest::Mode::bytes;
    if (auto b = m.bytes("bytes")) {
      if (*b == 0) m.child("bytes")->error("\"0\": expected a size above 0, like 64GiB");
      else req.bytes = *b, ok = true;
    }
  } else if (which == "fraction") {
    req.mode = MemoryRequest::Mode::fraction;
    if (auto f = read_fraction(m, "fraction", "the GPU's total memory")) req.fraction = *f, ok = true;
  } else if (which == "leave") {
    req.mode = MemoryRequest::Mode::leave;
    if (auto b = m.bytes("leave")) req.bytes = *b, ok = true;
  } else {
    // Mark the keys known so finish() does not also call them unknown.
    m.child("bytes"), m.child("fraction"), m.child("leave");
  }
  m.finish();
  if (!ok) return std::nullopt;
  return req;
}

std::optional<SmRequest> read_sm(const YNode& node) {
  if (!expect_map(node, "{count: 66} or {fraction: 0.5}")) return std::nullopt;
  MapReader m(node);
  auto which = m.exactly_one({"count", "fraction"});
  SmRequest req;
  bool ok = false;
  if (which == "count") {
    req.mode = SmRequest::Mode::count;
    if (auto n = m.integer("count", 1, CHAOS_GPU_MAX_SM)) req.count = static_cast<int>(*n), ok = true;
  } else if (which == "fraction") {
    req.mode = SmRequest::Mode::fraction;
    if (auto f = read_fraction(m, "fraction", "the GPU's SMs")) req.fraction = *f, ok = true;
  } else {
    m.child("count"), m.child("fraction");
  }
  m.finish();
  if (!ok) return std::nullopt;
  return req;
}

}  // namespace

nlohmann::json MemoryRequest::to_json() const {
  switch (mode) {
    case Mode::bytes: return {{"bytes", bytes}};
    case Mode::fraction: return {{"fraction", fraction}};
    case Mode::leave: return {{"leave", bytes}};
  }
  return nullptr;
}

std::optional<MemoryRequest> MemoryRequest::from_json(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  MemoryRequest r;
  if (j.contains("bytes")) r.mode = Mode::bytes, r.bytes = j["bytes"].get<std::uint64_t>();
  else if (j.contains("fraction")) r.mode = Mode::fraction, r.fraction = j["fraction"].get<double>();
  else if (j.contains("leave")) r.mode = Mode::leave, r.bytes = j["leave"].get<std::uint64_t>();
  else return std::nullopt;
  return r;
}

nlohmann::json SmRequest::to_json() const {
  if (mode == Mode::count) return {{"count", count}};
  return {{"fraction", fraction}};
}

std::optional<SmRequest> SmRequest::from_json(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  SmRequest r;
  if (j.contains("count")) r.mode = Mode::count, r.count = j["count"].get<int>();
  else if (j.contains("fraction")) r.mode = Mode::fraction, r.fraction = j["fraction"].get<double>();
  else return std::nullopt;
  return r;
}

nlohmann::json GpuSpec::to_json() const {
  nlohmann::json j;
  j["devices"] = all_devices ? nlohmann::json("all") : nlohmann::json(devices);
  if (memory) j["memory"] = memory->to_json();
  if (sm) j["sm"] = sm->to_json();
  if (utilization) j["utilization"] = utilization->value;
  j["tensor"] = tensor;
  if (loads_sms()) j["period"] = format_duration(period);
  return j;
}

std::shared_ptr<const FaultSpec> parse_gpu_spec(MapReader& r) {
  auto spec = std::make_shared<GpuSpec>();
  bool ok = r.valid();
  // Any error reported while reading this block (unknown fields too) makes it unusable.
  Diagnostics* diags = r.node().diags();
  const std::size_t errors_before = diags ? diags->items().size() : 0;

  if (auto d = r.child("devices", true)) {
    static const char* kExpected = "expected a list of GPU ordinals like [0, 1], or all";
    if (d->is_scalar()) {
      if (d->scalar() == "all") spec->all_devices = true;
      else d->error(qt(d->scalar()) + ": " + kExpected), ok = false;
    } else if (d->is_seq()) {
      auto items = d->elements();
      if (items.empty()) d->error(std::string("empty list: ") + kExpected), ok = false;
      std::set<int> seen;
      for (const auto& e : items) {
        auto v = e.as_int(0, 255);
        if (!v) {
          ok = false;
          continue;
        }
        if (!seen.insert(static_cast<int>(*v)).second) {
          e.error("GPU " + std::to_string(*v) + " is listed twice");
          ok = false;
        }
        spec->devices.push_back(static_cast<int>(*v));
      }
    } else {
      d->error(kExpected);
      ok = false;
    }
  } else {
    ok = false;
  }

  if (auto m = r.child("memory")) {
    if (auto mem = read_memory(*m)) spec->memory = *mem;
    else ok = false;
  }
  if (auto s = r.child("sm")) {
    if (auto sm = read_sm(*s)) spec->sm = *sm;
    else ok = false;
  }
  if (auto u = r.child("utilization")) {
    if (auto p = u->as_percent()) {
      if (p->value <= 0) u->error(qt(u->scalar()) + ": expected a duty cycle above 0%, up to 100%"), ok = false;
      else spec->utilization = *p;
    } else {
      ok = false;
    }
  }
  if (auto t = r.boolean("tensor")) spec->tensor = *t;
  else if (r.has("tensor")) ok = false;
  if (auto p = r.child("period")) {
    if (auto d = p->as_duration()) {
      if (*d < kMinPeriod || *d > kMaxPeriod)
        p->error(qt(p->scalar()) + ": expected a period from 10ms to 10s"), ok = false;
      else spec->period = *d;
    } else {
      ok = false;
    }
  }

  if (r.valid() && !r.has("memory") && !r.has("sm") && !r.has("utilization") && !r.has("tensor")) {
    r.node().error("nothing to do: expected at least one of memory, sm, utilization, tensor");
    ok = false;
  }
  if (r.valid() && r.has("period") && !r.has("sm") && !r.has("utilization") && !r.has("tensor")) {
    r.child("period")->error("period shapes the SM duty cycle: expected sm, utilization or tensor beside it");
    ok = false;
  }
  r.finish();
  if (!ok || (diags && diags->items().size() != errors_before)) return nullptr;
  return spec;
}

}  // namespace chaos::gpu
