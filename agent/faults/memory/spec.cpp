#include "faults/memory/spec.h"

namespace chaos::memory {

std::string MemoryTarget::str() const {
  switch (kind) {
    case Kind::cgroup: return "cgroup " + path;
    case Kind::unit: return "unit " + unit;
    case Kind::pid: return "pid " + std::to_string(pid);
  }
  return "?";
}

nlohmann::json MemoryTarget::to_json() const {
  switch (kind) {
    case Kind::cgroup: return {{"cgroup", path}};
    case Kind::unit: return {{"unit", unit}};
    case Kind::pid: return {{"pid", pid}};
  }
  return nullptr;
}

const char* mode_name(Mode m) { return m == Mode::pressure ? "pressure" : "oom"; }
const char* victim_name(Victim v) { return v == Victim::workload ? "workload" : "hog"; }
int victim_oom_score_adj(Victim v) { return v == Victim::workload ? -1000 : 1000; }

nlohmann::json MemorySpec::to_json() const {
  nlohmann::json j{{"target", target.to_json()}, {"mode", mode_name(mode)}, {"victim", victim_name(victim)}};
  if (size) j["size"] = *size;
  if (fraction) j["fraction"] = *fraction;
  if (rate) j["rate"] = *rate;
  return j;
}

namespace {

std::optional<MemoryTarget> parse_target(MapReader& parent) {
  auto node = parent.child("target", true);
  if (!node) return std::nullopt;
  MapReader r(*node);
  if (!r.valid()) return std::nullopt;
  MemoryTarget t;
  bool ok = true;
  auto which = r.exactly_one({"cgroup", "unit", "pid"});
  if (which == std::string("cgroup")) {
    t.kind = MemoryTarget::Kind::cgroup;
    auto c = r.child("cgroup");
    if (auto s = c->as_string()) {
      if (s->empty()) {
        c->error("empty path: expected a cgroup path like /kubepods/pod1 or chaos-test");
        ok = false;
      } else if (s->find("..") != std::string::npos) {
        c->error("\"" + *s + "\": \"..\" is not allowed in a cgroup path");
        ok = false;
      }
      t.path = *s;
    } else {
      ok = false;
    }
  } else if (which == std::string("unit")) {
    t.kind = MemoryTarget::Kind::unit;
    auto c = r.child("unit");
    if (auto s = c->as_string()) {
      auto ends = [&](const std::string& suf) {
        return s->size() > suf.size() && s->compare(s->size() - suf.size(), suf.size(), suf) == 0;
      };
      if (s->find('/') != std::string::npos || !(ends(".service") || ends(".scope"))) {
        c->error("\"" + *s + "\": expected a systemd unit name like nginx.service");
        ok = false;
      }
      t.unit = *s;
    } else {
      ok = false;
    }
  } else if (which == std::string("pid")) {
    t.kind = MemoryTarget::Kind::pid;
    if (auto p = r.integer("pid", 1, 4194304)) t.pid = static_cast<int>(*p);
    else ok = false;
  } else {
    ok = false;
  }
  // All three are known keys: finish() then lists them and never calls a second one "unknown".
  r.child("cgroup");
  r.child("unit");
  r.child("pid");
  r.finish();
  if (!ok) return std::nullopt;
  return t;
}

}  // namespace

std::shared_ptr<const FaultSpec> parse_memory_spec(MapReader& r) {
  auto spec = std::make_shared<MemorySpec>();
  bool ok = r.valid();
  if (!ok) return nullptr;

  auto target = parse_target(r);
  if (target) spec->target = *target;
  else ok = false;

  if (r.has("mode")) {
    if (auto m = r.one_of("mode", {"pressure", "oom"})) spec->mode = *m == "oom" ? Mode::oom : Mode::pressure;
    else ok = false;
  } else {
    r.child("mode");
  }
  spec->victim = spec->mode == Mode::oom ? Victim::workload : Victim::hog;
  if (r.has("victim")) {
    if (auto v = r.one_of("victim", {"workload", "hog"})) spec->victim = *v == "workload" ? Victim::workload : Victim::hog;
    else ok = false;
  } else {
    r.child("victim");
  }

  // How much: pressure mode needs one of size/fraction; oom mode may cap the hog with either.
  bool need_amount = spec->mode == Mode::pressure;
  bool has_size = r.has("size"), has_fraction = r.has("fraction");
  if (has_size && has_fraction) {
    r.exactly_one({"size", "fraction"});
    ok = false;
  } else if (!has_size && !has_fraction && need_amount) {
    r.node().error("mode pressure: expected one of size (like 512MiB) or fraction (like 0.9 of the target's limit)");
    ok = false;
  }
  if (auto c = r.child("size")) {
    if (auto b = c->as_bytes()) {
      if (*b < kMinHogBytes) {
        c->error("\"" + c->scalar() + "\": too small, expected at least one page (4KiB)");
        ok = false;
      } else {
        spec->size = *b;
      }
    } else {
      ok = false;
    }
  }
  if (auto c = r.child("fraction")) {
    // The range is checked here rather than by as_number(), for a message in the user's words.
    if (auto f = c->as_number(-1e300, 1e300)) {
      if (!(*f > 0 && *f <= 1)) {
        c->error("\"" + c->scalar() + "\": expected a fraction above 0 and at most 1, like 0.9");
        ok = false;
      } else {
        spec->fraction = *f;
      }
    } else {
      ok = false;
    }
  }
  if (auto c = r.child("rate")) {
    if (auto v = c->as_rate()) spec->rate = *v;
    else ok = false;
  }
  r.finish();
  if (!ok) return nullptr;
  return spec;
}

}  // namespace chaos::memory
