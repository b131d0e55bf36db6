// What a fault or probe acts on: the one `target:` block every family reads, and the choice of
// how many of its matches to take (Chaos Mesh's modes, with their names and meaning).
//
//   target:
//     # exactly one of:
//     host: true
//     lab: client                  # a lab host (chaosctl lab up)
//     netns: NAME                  # a named network namespace (/run/netns/NAME)
//     pid: 4242                    # one process
//     cgroup: /system.slice/*.service     # a cgroup path or a glob (fnmatch, per path segment)
//     unit: vllm.service           # a systemd unit: its cgroup
//     process: {name: python3, cmdline: "vllm serve", user: svc}   # cmdline: a POSIX extended regex
//     # how many of the matches (cgroup, unit and process targets):
//     mode: one | all | fixed | fixed-percent | random-max-percent  # default one
//     value: "2"                   # fixed: a count; the percent modes: 1..100
//     seed: 42                     # optional; the seed used is recorded either way
//
// This is the model and the parser only (core knows no kernel): kernel/workload.h finds what a
// cgroup, unit or process target matches on this node, and choose() below picks among them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/enum_names.h"
#include "core/fields.h"
#include "core/result.h"

namespace chaos {

// How many of a target's matches a fault takes (Chaos Mesh's selector modes).
enum class SelectMode { one, all, fixed, fixed_percent, random_max_percent };
inline constexpr auto kSelectModeNames = name_table<SelectMode>("selection mode", {
    {SelectMode::one, "one"},                                  // one, at random
    {SelectMode::all, "all"},                                  // every match
    {SelectMode::fixed, "fixed"},                              // value matches, at random
    {SelectMode::fixed_percent, "fixed-percent"},              // floor(value% of the matches)
    {SelectMode::random_max_percent, "random-max-percent"},    // floor(p% of them), p drawn in [0, value]
});
constexpr const auto& names_of(SelectMode) { return kSelectModeNames; }

struct Selection {
  SelectMode mode = SelectMode::one;
  std::int64_t value = 0;              // fixed: a count >= 1; the percent modes: 1..100; else 0
  std::optional<std::uint64_t> seed;  // none: drawn at plan time (and recorded)
  std::string str() const;            // "one", "fixed 2", "fixed-percent 50%"
  nlohmann::json to_json() const;
};

// Processes by what they run. Every field given must match; at least one is given.
struct ProcessSelector {
  std::string name;     // the process name: /proc/PID/comm or the base name of argv[0], exactly
  std::string cmdline;  // a POSIX extended regex searched in the command line (arguments joined by spaces)
  std::string user;     // the real user: a name or a numeric uid
  std::string str() const;  // "name=python3 cmdline=/vllm serve/ user=svc"
};

struct Target {
  enum class Kind { host, netns, pid, lab, cgroup, unit, process } kind = Kind::host;
  std::string name;   // netns: its name; lab: the host ("client", "mylab/client")
  int pid = 0;        // pid
  std::string path;   // cgroup: a path or glob, relative to the hierarchy root or under its mount
  std::string unit;   // unit: NAME.service or NAME.scope
  ProcessSelector process;
  Selection select;   // cgroup, unit and process targets; the others name exactly one thing
  Location loc;       // where the block was written (plan-time errors point here); unknown for short forms

  // cgroup, unit and process: the kinds that can match many things on a node.
  bool is_workload() const { return kind == Kind::cgroup || kind == Kind::unit || kind == Kind::process; }
  // "host", "netns chaoslab-client", "pid 1234", "lab client", "cgroup /a/*", "unit x.service",
  // "process name=python3"; a workload's selection is added when it is not the default (one).
  std::string str() const;
  nlohmann::json to_json() const;
};

// The key of a target kind in the block: "host", "netns", ...
const char* target_kind_key(Target::Kind k);

// Reads a `target:` block strictly. `allowed` lists the kinds the family can act on; `acts_on`
// says why the others are refused ("memory acts on a cgroup"). nullopt after reporting errors.
std::optional<Target> read_target_block(const YNode& node, std::initializer_list<Target::Kind> allowed,
                                        const std::string& acts_on);

// Which of n matches (already in a stable order) a selection takes, in ascending order.
struct Choice {
  std::vector<std::size_t> chosen;
  std::uint64_t seed = 0;     // the seed used (given or drawn)
  std::int64_t percent = -1;  // random-max-percent: the percentage drawn; else -1
  std::string str(std::size_t n) const;  // "2 of 5 (seed 42)"
};
// Errors: no match at all is the caller's (it knows what exists); here, a selection that takes
// none of n >= 1 matches by construction (fixed-percent 10 of 3 rounds down to 0). A
// random-max-percent draw of 0% is not an error: it is a legitimate draw and is reported as such.
Result<Choice> choose(std::size_t n, const Selection& s);
// The seed a selection without one uses: from std::random_device.
std::uint64_t draw_seed();

}  // namespace chaos
