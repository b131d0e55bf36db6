#include "faults/memory/spec.h"

namespace chaos::memory {

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
  using K = Target::Kind;
  return read_target_block(*node, {K::cgroup, K::unit, K::pid, K::process}, "memory acts on a cgroup");
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
