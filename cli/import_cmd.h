// chaosctl import FILE, and chaosctl run FILE for Chaos Mesh manifests: which kinds convert to a
// native experiment and which are refused, with the reason.
//
//   a kind a family's converter takes (FaultFamily::chaos_mesh: NetworkChaos and
//   PhysicalMachineChaos network-* -> network, StressChaos memory stressors -> memory)
//                                                    -> that family's native experiment
//   Schedule of one of those                         -> that experiment + its `schedule add` line
//   PodChaos, StatusCheck, Workflow, IOChaos, TimeChaos, ... -> refused, with why
// This file knows no family: it hands the object to the converter registered for its kind.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/diag.h"
#include "core/units.h"
#include "core/fields.h"
#include "core/result.h"

namespace chaos::cli {

struct ManifestImport {
  enum class Outcome { converted, refused, invalid } outcome = Outcome::invalid;
  std::string kind;                   // the manifest's kind
  std::string yaml;                   // converted: the native experiment
  std::string reason;                 // refused / invalid: why ("spec.delay.latency: \"soon\": expected ...")
  Location where;                     // refused / invalid: where in the file (no file: a flag is wrong)
  std::vector<std::string> warnings;  // converted: what did not carry over exactly
  // "FILE:LINE:COL: error: REASON" ("refused" for a refusal); just the reason for a bad flag.
  std::string line() const;
};

struct ImportFlags {
  std::string target;     // --target as given ("" = none)
  std::string interface;  // --interface
  std::vector<std::string> peers;  // --peer CIDR...
  std::optional<Duration> duration;  // --duration (when the manifest has none)
  // Host names in externalTargets; tests inject a fake (default: getaddrinfo).
  std::function<Result<std::vector<Cidr>>(const std::string&)> resolve;
};

// Is this text a Chaos Mesh object (apiVersion chaos-mesh.org/...)?
bool is_chaos_mesh_manifest(const std::string& text);

// Never throws, whatever the text: every outcome but converted has a reason, located in `file`
// unless a flag itself is wrong (check_import_flags).
ManifestImport import_manifest(const std::string& text, const ImportFlags& flags,
                               const std::string& file = "<input>");

// What is wrong with the flags whatever the manifest: a --target that no family takes (pid:N out
// of range, cgroup: without a path), a --peer that is not a CIDR. nullopt when they are usable.
std::optional<std::string> check_import_flags(const ImportFlags& flags);

// chaosctl import FILE [--target T] [--interface IF] [--peer CIDR]... [--duration D]
int cmd_import(const std::vector<std::string>& args);

// Does `chaosctl run ARGS` name a Chaos Mesh manifest (rather than a native experiment)?
bool is_manifest_run(const std::vector<std::string>& args);
// chaosctl run MANIFEST --target T [--interface IF] [--peer CIDR]... [--duration D] [run options]:
// converts, then hands the native experiment to `run` (the native command) with the run options.
int cmd_run_manifest(const std::vector<std::string>& args,
                     const std::function<int(const std::vector<std::string>&)>& run);

}  // namespace chaos::cli
