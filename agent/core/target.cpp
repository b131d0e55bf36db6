#include "core/target.h"

#include <regex.h>

#include <algorithm>
#include <numeric>
#include <random>

namespace chaos {

namespace {

bool has_suffix(const std::string& s, const std::string& suf) {
  return s.size() > suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

// A uniform integer in [0, k), the same on every platform for one seed (std::uniform_int_distribution
// is not specified to be): rejection sampling over the generator's 64-bit output.
std::uint64_t below(std::mt19937_64& gen, std::uint64_t k) {
  const std::uint64_t threshold = (0 - k) % k;
  for (;;) {
    std::uint64_t r = gen();
    if (r >= threshold) return r % k;
  }
}

constexpr std::size_t kMaxRegex = 1024;

// A POSIX extended regex's compile error, or nullopt when it compiles.
std::optional<std::string> regex_error(const std::string& re) {
  regex_t rx;
  int rc = regcomp(&rx, re.c_str(), REG_EXTENDED | REG_NOSUB);
  if (rc == 0) {
    regfree(&rx);
    return std::nullopt;
  }
  char buf[256];
  regerror(rc, &rx, buf, sizeof buf);
  regfree(&rx);
  return std::string(buf);
}

bool valid_user(const std::string& u) {
  if (u.empty() || u.size() > 64) return false;
  return std::all_of(u.begin(), u.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.' || c == '$';
  });
}

// Errors reported so far (finish() reports unknown keys without returning them).
std::size_t errors_in(const YNode& n) { return n.diags() ? n.diags()->items().size() : 0; }

std::optional<ProcessSelector> read_process(const YNode& node) {
  const std::size_t errors_before = errors_in(node);
  MapReader r(node);
  if (!r.valid()) return std::nullopt;
  ProcessSelector p;
  bool ok = true;
  if (auto n = r.str("name")) {
    if (n->empty() || n->size() > 255 || n->find('/') != std::string::npos) {
      r.child("name")->error("\"" + *n + "\": expected a process name like python3 (no '/')");
      ok = false;
    }
    p.name = *n;
  }
  if (auto c = r.str("cmdline")) {
    if (c->empty()) {
      r.child("cmdline")->error("empty pattern: expected a regular expression like \"vllm serve\"");
      ok = false;
    } else if (c->size() > kMaxRegex) {
      r.child("cmdline")->error("a pattern of " + std::to_string(c->size()) + " characters: expected at most " +
                                std::to_string(kMaxRegex));
      ok = false;
    } else if (auto why = regex_error(*c)) {
      r.child("cmdline")->error("\"" + *c + "\": not a POSIX extended regular expression (" + *why + ")");
      ok = false;
    }
    p.cmdline = *c;
  }
  if (auto u = r.child("user")) {
    // A uid may be written as a number; both spellings are kept as text and resolved at plan time.
    std::string s = u->scalar();
    if (!u->is_scalar() || !valid_user(s)) {
      u->error(u->found() + ": expected a user name like svc or a numeric uid");
      ok = false;
    }
    p.user = s;
  }
  if (!r.has("name") && !r.has("cmdline") && !r.has("user") && r.valid()) {
    r.node().error("expected at least one of name, cmdline and user");
    ok = false;
  }
  r.finish();
  if (!ok || errors_in(node) != errors_before) return std::nullopt;
  return p;
}

// mode, value and seed of a workload target.
bool read_selection(MapReader& r, Selection& s) {
  bool ok = true;
  if (auto m = r.one_of<SelectMode>("mode")) s.mode = *m;
  else if (r.has("mode")) ok = false;
  bool needs_value = s.mode == SelectMode::fixed || s.mode == SelectMode::fixed_percent ||
                     s.mode == SelectMode::random_max_percent;
  auto v = r.child("value");
  if (!v) {
    if (needs_value && ok) {
      r.node().error(std::string("mode ") + std::string(name(s.mode)) + ": missing required field value (" +
                     (s.mode == SelectMode::fixed ? "how many, like \"2\")" : "a percentage 1..100, like \"50\")"));
      ok = false;
    }
  } else if (!needs_value) {
    v->error(std::string("mode ") + std::string(name(s.mode)) +
             " takes no value (value is for fixed, fixed-percent and random-max-percent)");
    ok = false;
  } else {
    // Chaos Mesh writes value as a string ("1"); a number is fine too, and the percent modes
    // also take "50%".
    std::string text = v->is_scalar() ? v->scalar() : std::string();
    bool percent = s.mode != SelectMode::fixed;
    if (percent && !text.empty() && text.back() == '%') text.pop_back();
    std::int64_t n = -1;
    bool digits = !text.empty() && text.size() <= 9 &&
                  std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits) n = std::stoll(text);
    if (percent && !(n >= 1 && n <= 100)) {
      v->error(v->found() + ": expected a percentage from 1 to 100, like \"50\"");
      ok = false;
    } else if (!percent && !(n >= 1 && n <= 100000)) {
      v->error(v->found() + ": expected how many matches to take, a whole number from 1, like \"2\"");
      ok = false;
    } else {
      s.value = n;
    }
  }
  if (auto seed = r.integer("seed", 0, INT64_MAX)) s.seed = static_cast<std::uint64_t>(*seed);
  else if (r.has("seed")) ok = false;
  return ok;
}

}  // namespace

const char* target_kind_key(Target::Kind k) {
  switch (k) {
    case Target::Kind::host: return "host";
    case Target::Kind::netns: return "netns";
    case Target::Kind::pid: return "pid";
    case Target::Kind::lab: return "lab";
    case Target::Kind::cgroup: return "cgroup";
    case Target::Kind::unit: return "unit";
    case Target::Kind::process: return "process";
  }
  return "?";
}

std::string Selection::str() const {
  std::string out(name(mode));
  if (mode == SelectMode::fixed) out += " " + std::to_string(value);
  if (mode == SelectMode::fixed_percent || mode == SelectMode::random_max_percent)
    out += " " + std::to_string(value) + "%";
  if (seed) out += " (seed " + std::to_string(*seed) + ")";
  return out;
}

nlohmann::json Selection::to_json() const {
  nlohmann::json j{{"mode", name(mode)}};
  if (value) j["value"] = value;
  if (seed) j["seed"] = *seed;
  return j;
}

std::string ProcessSelector::str() const {
  std::string out;
  auto add = [&](const std::string& s) { out += (out.empty() ? "" : " ") + s; };
  if (!name.empty()) add("name=" + name);
  if (!cmdline.empty()) add("cmdline=/" + cmdline + "/");
  if (!user.empty()) add("user=" + user);
  return out;
}

std::string Target::str() const {
  std::string out;
  switch (kind) {
    case Kind::host: return "host";
    case Kind::netns: return "netns " + name;
    case Kind::pid: return "pid " + std::to_string(pid);
    case Kind::lab: return "lab " + name;
    case Kind::cgroup: out = "cgroup " + path; break;
    case Kind::unit: out = "unit " + unit; break;
    case Kind::process: out = "process " + process.str(); break;
  }
  if (select.mode != SelectMode::one || select.seed) out += ", mode " + select.str();
  return out;
}

nlohmann::json Target::to_json() const {
  nlohmann::json j;
  switch (kind) {
    case Kind::host: j = {{"host", true}}; break;
    case Kind::netns: j = {{"netns", name}}; break;
    case Kind::pid: j = {{"pid", pid}}; break;
    case Kind::lab: j = {{"lab", name}}; break;
    case Kind::cgroup: j = {{"cgroup", path}}; break;
    case Kind::unit: j = {{"unit", unit}}; break;
    case Kind::process: {
      nlohmann::json p = nlohmann::json::object();
      if (!process.name.empty()) p["name"] = process.name;
      if (!process.cmdline.empty()) p["cmdline"] = process.cmdline;
      if (!process.user.empty()) p["user"] = process.user;
      j = {{"process", p}};
      break;
    }
  }
  if (is_workload()) j.update(select.to_json());
  return j;
}

std::optional<Target> read_target_block(const YNode& node, std::initializer_list<Target::Kind> allowed,
                                        const std::string& acts_on) {
  const std::size_t errors_before = errors_in(node);
  MapReader r(node);
  if (!r.valid()) return std::nullopt;
  static constexpr Target::Kind kAll[] = {Target::Kind::host, Target::Kind::lab,  Target::Kind::netns,
                                          Target::Kind::pid,  Target::Kind::cgroup, Target::Kind::unit,
                                          Target::Kind::process};
  auto is_allowed = [&](Target::Kind k) { return std::find(allowed.begin(), allowed.end(), k) != allowed.end(); };
  std::string expected;
  for (auto k : allowed) expected += std::string(expected.empty() ? "" : ", ") + target_kind_key(k);

  Target t;
  t.loc = node.loc();
  bool ok = true;
  std::vector<std::string> found;
  std::optional<Target::Kind> which;
  // Allowed kinds first, in the family's order, so "found a, b" reads like "expected ...".
  std::vector<Target::Kind> order(allowed.begin(), allowed.end());
  for (auto k : kAll)
    if (!is_allowed(k)) order.push_back(k);
  for (auto k : order) {
    if (!r.has(target_kind_key(k))) continue;
    found.push_back(target_kind_key(k));
    if (!is_allowed(k)) {
      r.child(target_kind_key(k))->error(acts_on + ": " + target_kind_key(k) + " is not a target here; expected one of: " +
                                         expected);
      ok = false;
    } else if (!which) {
      which = k;
    }
  }
  // Every allowed kind and the selection keys are known fields (a typo lists them).
  for (auto k : allowed) r.child(target_kind_key(k));
  if (found.empty()) {
    r.node().error("expected exactly one of: " + expected);
    ok = false;
  } else if (found.size() > 1) {
    std::string f;
    for (const auto& x : found) f += (f.empty() ? "" : ", ") + x;
    r.node().error("found " + f + ": expected exactly one of: " + expected);
    ok = false;
  }
  if (ok && which) {
    t.kind = *which;
    auto c = *r.child(target_kind_key(t.kind));
    switch (t.kind) {
      case Target::Kind::host: {
        auto b = c.as_bool();
        if (!b) ok = false;
        else if (!*b) {
          c.error("false names nothing: write host: true, or another target");
          ok = false;
        }
        break;
      }
      case Target::Kind::netns: {
        auto s = c.as_string();
        if (!s) { ok = false; break; }
        if (s->empty() || s->find('/') != std::string::npos || *s == "." || *s == "..") {
          c.error("\"" + *s + "\": expected a network namespace name as in /run/netns");
          ok = false;
        }
        t.name = *s;
        break;
      }
      case Target::Kind::lab: {
        auto s = c.as_string();
        if (!s) { ok = false; break; }
        if (s->empty()) {
          c.error("empty: expected a lab host like client or mylab/client");
          ok = false;
        }
        t.name = *s;
        break;
      }
      case Target::Kind::pid: {
        auto p = c.as_int(1, 4194304);
        if (!p) ok = false;
        else t.pid = static_cast<int>(*p);
        break;
      }
      case Target::Kind::cgroup: {
        auto s = c.as_string();
        if (!s) { ok = false; break; }
        if (s->empty()) {
          c.error("empty path: expected a cgroup path or glob like /system.slice/*.service");
          ok = false;
        } else if (s->find("..") != std::string::npos) {
          c.error("\"" + *s + "\": \"..\" is not allowed in a cgroup path");
          ok = false;
        } else if (s->size() > 4096) {
          c.error("a path of " + std::to_string(s->size()) + " characters: expected at most 4096");
          ok = false;
        }
        t.path = *s;
        break;
      }
      case Target::Kind::unit: {
        auto s = c.as_string();
        if (!s) { ok = false; break; }
        if (s->find('/') != std::string::npos || !(has_suffix(*s, ".service") || has_suffix(*s, ".scope"))) {
          c.error("\"" + *s + "\": expected a systemd unit name like nginx.service");
          ok = false;
        }
        t.unit = *s;
        break;
      }
      case Target::Kind::process: {
        auto p = read_process(c);
        if (!p) ok = false;
        else t.process = *p;
        break;
      }
    }
  }
  if (which && Target{.kind = *which}.is_workload()) {
    if (!read_selection(r, t.select)) ok = false;
  } else {
    for (const char* key : {"mode", "value", "seed"}) {
      if (auto c = r.child(key); c && which && ok) {
        c->error(std::string(key) + " applies to cgroup, unit and process targets; a " + target_kind_key(*which) +
                 " target names exactly one thing");
        ok = false;
      }
    }
  }
  r.finish();
  if (!ok || errors_in(node) != errors_before) return std::nullopt;
  return t;
}

std::uint64_t draw_seed() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

std::string Choice::str(std::size_t n) const {
  std::string out = std::to_string(chosen.size()) + " of " + std::to_string(n);
  if (percent >= 0) out += " (drew " + std::to_string(percent) + "%)";
  out += " (seed " + std::to_string(seed) + ")";
  return out;
}

Result<Choice> choose(std::size_t n, const Selection& s) {
  if (n == 0) return fail("no match to choose from");
  Choice c;
  c.seed = s.seed ? *s.seed : draw_seed();
  std::mt19937_64 gen(c.seed);
  std::size_t k = 0;
  switch (s.mode) {
    case SelectMode::one: k = 1; break;
    case SelectMode::all: k = n; break;
    case SelectMode::fixed: k = std::min<std::size_t>(n, static_cast<std::size_t>(std::max<std::int64_t>(s.value, 0))); break;
    case SelectMode::fixed_percent:
      k = n * static_cast<std::size_t>(std::clamp<std::int64_t>(s.value, 0, 100)) / 100;
      if (k == 0)
        return fail("mode fixed-percent " + std::to_string(s.value) + "% of " + std::to_string(n) +
                    " match" + (n == 1 ? "" : "es") + " is 0 (rounded down, as Chaos Mesh does): raise value or use mode one");
      break;
    case SelectMode::random_max_percent: {
      auto maxp = static_cast<std::uint64_t>(std::clamp<std::int64_t>(s.value, 0, 100));
      c.percent = static_cast<std::int64_t>(below(gen, maxp + 1));
      k = n * static_cast<std::size_t>(c.percent) / 100;
      break;
    }
  }
  std::vector<std::size_t> idx(n);
  std::iota(idx.begin(), idx.end(), std::size_t{0});
  if (k < n) {
    // A partial Fisher-Yates shuffle: the first k are a uniform sample.
    for (std::size_t i = 0; i < k; ++i) std::swap(idx[i], idx[i + below(gen, n - i)]);
    idx.resize(k);
  }
  std::sort(idx.begin(), idx.end());
  c.chosen = std::move(idx);
  return c;
}

}  // namespace chaos
