#include "import_cmd.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "commands.h"
#include "core/cron.h"
#include "core/fields.h"
#include "core/yaml_load.h"
#include "core/parser.h"
#include "runner/spec_parsers.h"

namespace chaos::cli {

namespace {

constexpr const char* kImportUsageHead =
    "Usage: chaosctl import FILE [options]\n"
    "       chaosctl run FILE --target T [options] [run options]\n"
    "\n"
    "Prints (import) or runs (run) the native experiment for a Chaos Mesh manifest. NetworkChaos\n"
    "(delay, loss, duplicate, corrupt, bandwidth, netem, partition) and PhysicalMachineChaos\n"
    "network-* convert to the network family, StressChaos memory stressors to the memory family,\n"
    "a Schedule of one of those to that experiment plus the `chaosctl schedule add` line for it;\n"
    "kinds that need a Kubernetes controller (PodChaos, StatusCheck, ...) are refused with the reason.\n"
    "\n"
    "Options:\n"
    "  --target T       where the fault acts, instead of the manifest's pod selector:\n";
constexpr const char* kImportUsageTail =
    "  --interface IF   the interface (default: the manifest's device, else eth0; lab hosts: eth0)\n"
    "  --peer CIDR      stands in for spec.target's pod selector (repeatable)\n"
    "  --duration D     how long the fault holds when the manifest has no spec.duration (default 60s)\n"
    "  -h, --help       this help\n"
    "Exit status: 0 converted (or the run's own status), 2 refused or unusable.\n";

std::string scalar(const YNode& n) { return n.present() && n.is_scalar() ? n.scalar() : ""; }
std::string shown(const YNode& n) { return n.present() && n.is_scalar() ? "\"" + n.scalar() + "\"" : n.found(); }

ManifestImport refused(const YNode& at, const std::string& kind, std::string reason) {
  ManifestImport m;
  m.outcome = ManifestImport::Outcome::refused;
  m.kind = kind;
  m.where = at.loc();
  m.reason = std::move(reason);
  return m;
}

ManifestImport invalid(const YNode& at, const std::string& kind, std::string reason) {
  ManifestImport m;
  m.kind = kind;
  m.where = at.loc();
  m.reason = at.path().empty() ? std::move(reason) : at.path() + ": " + reason;
  return m;
}

ManifestImport from_error(const ConvertError& e, const std::string& kind) {
  ManifestImport m;
  m.outcome = e.refused ? ManifestImport::Outcome::refused : ManifestImport::Outcome::invalid;
  m.kind = kind;
  m.where = e.diag.loc;
  m.reason = e.diag.field.empty() ? e.diag.message : e.diag.field + ": " + e.diag.message;
  return m;
}

// Why a kind is not something a node agent converts.
const std::map<std::string, std::string>& refusals() {
  static const std::map<std::string, std::string> r{
      {"PodChaos",
       "PodChaos (pod-kill, pod-failure, container-kill) acts on Kubernetes pods through the API server: it needs "
       "a cluster controller, not a node agent"},
      {"StatusCheck",
       "StatusCheck is a health check run by Chaos Mesh's controller inside its workflows; chaos-agent's equivalent "
       "is an experiment's spec.steadyState probe (http, tcp or prometheus), not a fault"},
      {"Workflow", "Workflow sequences Chaos Mesh objects in its controller; chaos-agent runs one experiment with "
                   "several timed faults instead"},
      {"IOChaos", "IOChaos injects file-system faults through a FUSE sidecar in the pod: chaos-agent has no I/O "
                  "fault family"},
      {"TimeChaos", "TimeChaos shifts a container's clock through vDSO patching: chaos-agent has no clock fault family"},
      {"KernelChaos", "KernelChaos injects kernel function failures via BPF fault injection: not a chaos-agent family"},
      {"DNSChaos", "DNSChaos needs Chaos Mesh's DNS server in the cluster: not a node-agent fault"},
      {"HTTPChaos", "HTTPChaos proxies a pod's HTTP traffic through a sidecar: not a chaos-agent family"},
      {"JVMChaos", "JVMChaos attaches a Java agent to a JVM: not a chaos-agent family"},
      {"AWSChaos", "AWSChaos calls the cloud provider's API: not a node-agent fault"},
      {"GCPChaos", "GCPChaos calls the cloud provider's API: not a node-agent fault"},
      {"AzureChaos", "AzureChaos calls the cloud provider's API: not a node-agent fault"},
      {"BlockChaos", "BlockChaos needs Chaos Mesh's chaos-driver kernel module: not a chaos-agent family"},
  };
  return r;
}

// The object to convert: its kind and name, where they are, and its spec (the manifest's own, or
// a Schedule's embedded one: spec.networkChaos).
using ChaosObject = ChaosMeshObject;

ManifestImport convert_object(const ChaosObject& o, const ImportFlags& flags, bool in_schedule);

// Every family's converter, in the families' order (runner/spec_parsers.h: the fuzz tier builds
// chaosctl's import without the families' runtime).
const std::vector<FaultFamily>& converters() { return builtin_fault_parsers(); }

const FaultFamily* converter_for(const std::string& kind) {
  for (const auto& f : converters())
    for (const auto& k : f.chaos_mesh.kinds)
      if (k == kind) return &f;
  return nullptr;
}

// "a, b or c"
std::string or_list(const std::vector<std::string>& items, const char* last = " or ") {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i == 0 ? "" : i + 1 == items.size() ? last : ", ") + items[i];
  return out;
}

// The --target lines list each family's forms: "network: host | netns:NAME | pid:N | lab:HOST".
std::string import_usage() {
  std::size_t width = 0;
  for (const auto& f : converters())
    if (!f.chaos_mesh.target_forms.empty()) width = std::max(width, f.name.size() + 1);
  std::string out = kImportUsageHead;
  for (const auto& f : converters()) {
    if (f.chaos_mesh.target_forms.empty()) continue;
    std::string label = f.name + ":";
    out += "                   " + label + std::string(width - label.size() + 1, ' ');
    for (std::size_t i = 0; i < f.chaos_mesh.target_forms.size(); ++i)
      out += (i ? " | " : "") + f.chaos_mesh.target_forms[i];
    out += "\n";
  }
  return out + kImportUsageTail;
}

// A Chaos Mesh Schedule: the chaos object it embeds converts like a manifest of its own, and the
// schedule becomes the `chaosctl schedule add` line printed above the experiment.
ManifestImport convert_schedule(const ChaosObject& o, const ImportFlags& flags) {
  const YNode& spec = o.spec;
  if (!spec.is_map()) return invalid(spec, "Schedule", spec.found() + ": expected the Schedule's spec (a map)");
  auto expr_node = spec.get("schedule"), type_node = spec.get("type");
  const std::string expr = scalar(expr_node), type = scalar(type_node);
  if (expr.empty()) return invalid(expr_node, "Schedule", shown(expr_node) + ": expected a cron expression like '5 3 * * *'");
  if (type.empty()) return invalid(type_node, "Schedule", shown(type_node) + ": expected the kind it runs, like NetworkChaos");
  if (auto c = CronSchedule::parse(expr); !c) return invalid(expr_node, "Schedule", "\"" + expr + "\": " + c.error().message);
  if (type == "Workflow") return refused(type_node, "Schedule", "a Schedule of a Workflow: " + refusals().at("Workflow"));
  if (type == "Schedule") return refused(type_node, "Schedule", "a Schedule of a Schedule: expected the chaos kind it runs");
  // The embedded object sits under the type's name in lowerCamelCase (networkChaos, stressChaos).
  std::string key = type;
  key[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(key[0])));
  auto inner = spec.get(key);
  if (!inner.present()) return invalid(inner, "Schedule", "missing: a Schedule of type " + type + " embeds it");
  std::string history;
  if (auto h = spec.get("historyLimit"); h.present()) {
    history = scalar(h);
    if (history.empty() || history.size() > 6 || history.find_first_not_of("0123456789") != std::string::npos ||
        history == "0" || std::stoi(history) > 1000)
      return invalid(h, "Schedule", shown(h) + ": expected how many runs to keep, 1 to 1000");
  }
  std::string name = o.name.empty() ? std::string("scheduled") : o.name;
  ManifestImport r = convert_object({type, type_node, name, inner}, flags, true);
  if (r.outcome != ManifestImport::Outcome::converted) {
    r.kind = "Schedule";
    r.reason = "Schedule of " + type + ": " + r.reason;
    return r;
  }
  std::string policy = scalar(spec.get("concurrencyPolicy"));
  std::string cmd = "chaosctl schedule add " + name + " --at '" + expr + "'";
  if (policy == "Allow") cmd += " --policy allow";
  else if (!policy.empty() && policy != "Forbid")
    r.warnings.push_back("concurrencyPolicy " + policy + " has no equivalent: the schedule forbids overlapping runs");
  if (!history.empty()) cmd += " --history " + history;
  if (spec.get("startingDeadlineSeconds").present())
    r.warnings.push_back("startingDeadlineSeconds is not carried over: a firing missed while the agent was down is "
                         "recorded as missed, never run late");
  cmd += " THIS_FILE";
  r.yaml = "# Chaos Mesh Schedule " + name + " (" + expr + ", UTC): schedule this experiment with\n#   " + cmd +
           "\n" + r.yaml;
  r.warnings.push_back("a Schedule converts to one experiment; schedule it with: " + cmd);
  r.kind = "Schedule";
  return r;
}

ManifestImport convert_object(const ChaosObject& o, const ImportFlags& flags, bool in_schedule) {
  if (o.kind == "Schedule") {
    if (in_schedule) return refused(o.kind_node, "Schedule", "a Schedule of a Schedule: expected the chaos kind it runs");
    return convert_schedule(o, flags);
  }
  const FaultFamily* family = converter_for(o.kind);
  if (!family) {
    if (auto r = refusals().find(o.kind); r != refusals().end()) return refused(o.kind_node, o.kind, r->second);
    std::vector<std::string> converts;
    for (const auto& f : converters())
      if (!f.chaos_mesh.kinds.empty()) converts.push_back(f.chaos_mesh.converts);
    converts.push_back("Schedules of those");
    return refused(o.kind_node, o.kind,
                   "kind " + (o.kind.empty() ? std::string("(none)") : o.kind) + ": chaos-agent converts " +
                       or_list(converts, " and "));
  }
  ChaosMeshFlags cm;
  cm.target = flags.target;
  cm.interface = flags.interface;
  for (const auto& p : flags.peers) cm.peers.push_back(*parse_cidr(p));  // checked by check_import_flags
  cm.duration = flags.duration;
  cm.resolve = flags.resolve;
  auto r = family->chaos_mesh.convert(o, cm);
  if (!r) return from_error(r.error(), o.kind);
  ManifestImport m;
  m.outcome = ManifestImport::Outcome::converted;
  m.kind = o.kind;
  m.yaml = r->yaml;
  m.warnings = r->warnings;
  return m;
}

struct Parsed {
  std::string file;
  ImportFlags flags;
  std::vector<std::string> rest;  // options for `run`
  bool help = false;
  std::string error;
};

// The import options, wherever they are; everything else is kept for `run`.
Parsed parse_args(const std::vector<std::string>& args) {
  Parsed p;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const std::string& flag) -> std::optional<std::string> {
      if (a == flag) {
        if (i + 1 >= args.size()) {
          p.error = flag + " needs a value";
          return std::nullopt;
        }
        return args[++i];
      }
      if (a.rfind(flag + "=", 0) == 0) return a.substr(flag.size() + 1);
      return std::nullopt;
    };
    if (a == "-h" || a == "--help") {
      p.help = true;
    } else if (auto v = value("--target")) {
      p.flags.target = *v;
    } else if (auto v = value("--interface")) {
      p.flags.interface = *v;
    } else if (auto v = value("--peer")) {
      p.flags.peers.push_back(*v);
    } else if (auto v = value("--duration")) {
      auto d = parse_duration(*v);
      if (!d || d->count() == 0) p.error = "--duration \"" + *v + "\": expected a duration like 60s";
      else p.flags.duration = *d;
    } else if (!p.error.empty()) {
      break;
    } else if (p.file.empty() && (a.empty() || a[0] != '-')) {
      p.file = a;
    } else {
      p.rest.push_back(a);
    }
  }
  return p;
}

bool read_text(const std::string& path, std::string& out) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

// The manifest in `p.file`, converted; nullopt (the reason printed) when it cannot be read or
// converted. Notes on what the conversion changed go to stderr.
std::optional<ManifestImport> convert_file(const Parsed& p) {
  std::string text;
  if (!read_text(p.file, text)) {
    std::cerr << Location{p.file, 1, 1}.str() << ": error: cannot read the file: " << std::strerror(errno) << "\n";
    return std::nullopt;
  }
  auto m = import_manifest(text, p.flags, p.file);
  if (m.outcome != ManifestImport::Outcome::converted) {
    std::cerr << m.line() << "\n";
    return std::nullopt;
  }
  for (const auto& w : m.warnings) std::cerr << p.file << ": note: " << w << "\n";
  return m;
}

}  // namespace

bool is_chaos_mesh_manifest(const std::string& text) {
  try {
    auto doc = load_yaml_documents(text).first;
    if (!doc.IsMap()) return false;
    const YAML::Node& map = doc;
    auto api = map["apiVersion"];
    return api && api.IsScalar() && api.Scalar().rfind("chaos-mesh.org/", 0) == 0;
  } catch (const std::exception&) {
    return false;
  }
}

std::string ManifestImport::line() const {
  if (where.file.empty()) return reason;  // about the flags, not the file
  return where.str() + ": " + (outcome == Outcome::refused ? "refused" : "error") + ": " + reason;
}

std::optional<std::string> check_import_flags(const ImportFlags& flags) {
  if (!flags.target.empty() &&
      std::none_of(converters().begin(), converters().end(), [&](const FaultFamily& f) {
        return f.chaos_mesh.takes_target && f.chaos_mesh.takes_target(flags.target);
      })) {
    bool pid = flags.target.rfind("pid:", 0) == 0;
    std::vector<std::string> forms;  // "host, netns:NAME, pid:N or lab:HOST (network faults)", ...
    for (const auto& f : converters())
      if (!f.chaos_mesh.target_forms.empty())
        forms.push_back(or_list(f.chaos_mesh.target_forms) + " (" + f.name + " faults)");
    return "--target \"" + flags.target + "\": " +
           (pid ? std::string("expected pid:N with N a process id from 1 to 2147483647")
                : "expected " + or_list(forms, ", "));
  }
  for (const auto& p : flags.peers)
    if (auto c = parse_cidr(p); !c) return "--peer \"" + p + "\": " + c.error().message;
  ChaosMeshFlags cm;  // what the families check whatever the manifest (network: --interface)
  cm.target = flags.target;
  cm.interface = flags.interface;
  for (const auto& f : converters())
    if (f.chaos_mesh.check_flags)
      if (auto bad = f.chaos_mesh.check_flags(cm)) return bad;
  return std::nullopt;
}

ManifestImport import_manifest(const std::string& text, const ImportFlags& flags, const std::string& file) {
  if (auto bad = check_import_flags(flags)) {
    ManifestImport m;
    m.reason = *bad;
    return m;
  }
  Diagnostics unused;  // the converters return their first problem; nothing is collected
  auto at_start = [&](std::string reason) {
    ManifestImport m;
    m.where = Location{file, 1, 1};
    m.reason = std::move(reason);
    return m;
  };
  YAML::Node doc;
  try {
    auto docs = load_yaml_documents(text);
    if (docs.second) {
      ManifestImport m;
      m.where = Location{file, docs.second->line + 1, docs.second->column + 1};
      m.reason = "a second YAML document: expected one Chaos Mesh object per file (split it, one import each)";
      return m;
    }
    doc = docs.first;
  } catch (const YAML::Exception& e) {
    ManifestImport m;
    m.where = Location{file, e.mark.line + 1, e.mark.column + 1};
    m.reason = "not valid YAML: " + e.msg;
    return m;
  }
  if (!doc || doc.IsNull()) return at_start("the file is empty: expected a Chaos Mesh object (apiVersion: chaos-mesh.org/v1alpha1)");
  YNode root(doc, "", file, &unused);
  if (!root.is_map())
    return invalid(root, "", root.found() + ": expected a Kubernetes object (a YAML map with apiVersion and kind)");
  auto api = root.get("apiVersion");
  if (scalar(api).rfind("chaos-mesh.org/", 0) != 0)
    return invalid(api, scalar(root.get("kind")),
                   shown(api) + ": expected a Chaos Mesh object (chaos-mesh.org/v1alpha1)");
  auto kind = root.get("kind");
  auto name = root.get("metadata").get("name");
  if (name.present() && !valid_experiment_name(scalar(name)))
    return invalid(name, scalar(kind),
                   shown(name) + ": expected a name of lowercase letters, digits, '-' and '.', starting and ending "
                                 "with a letter or digit, at most 63 characters (the experiment keeps it)");
  return convert_object({scalar(kind), kind, scalar(name), root.get("spec")}, flags, false);
}

int cmd_import(const std::vector<std::string>& args) {
  auto p = parse_args(args);
  if (p.help) {
    std::cout << import_usage();
    return 0;
  }
  if (!p.error.empty() || p.file.empty() || !p.rest.empty()) {
    std::cerr << "chaosctl import: "
              << (!p.error.empty()  ? p.error
                  : p.file.empty() ? std::string("expected FILE")
                  : p.rest[0].size() > 1 && p.rest[0][0] == '-' ? "unknown option " + p.rest[0]
                                                                 : "unexpected argument " + p.rest[0])
              << "\n"
              << import_usage();
    return kExitUnusable;
  }
  if (auto bad = check_import_flags(p.flags)) {
    std::cerr << "chaosctl import: " << *bad << "\n";
    return kExitUnusable;
  }
  auto m = convert_file(p);
  if (!m) return kExitUnusable;
  std::cout << m->yaml;
  return 0;
}

bool is_manifest_run(const std::vector<std::string>& args) {
  auto p = parse_args(args);
  if (p.file.empty()) return false;
  std::string text;
  return read_text(p.file, text) && is_chaos_mesh_manifest(text);
}

int cmd_run_manifest(const std::vector<std::string>& args,
                     const std::function<int(const std::vector<std::string>&)>& run) {
  auto p = parse_args(args);
  if (!p.error.empty()) {
    std::cerr << "chaosctl run: " << p.error << "\n";
    return kExitUnusable;
  }
  if (p.flags.target.empty()) {
    // "(host, netns:NAME, pid:N, lab:HOST; memory: cgroup:PATH, unit:NAME, pid:N)": the first
    // family's forms, then each other family's by name.
    std::string forms;
    for (const auto& f : converters()) {
      if (f.chaos_mesh.target_forms.empty()) continue;
      forms += (forms.empty() ? "" : "; " + f.name + ": ") + or_list(f.chaos_mesh.target_forms, ", ");
    }
    std::cerr << "chaosctl run: " << p.file
              << " is a Chaos Mesh manifest: its selector names pods, so say where it acts with --target (" << forms
              << ")\n";
    return kExitUnusable;
  }
  if (auto bad = check_import_flags(p.flags)) {
    std::cerr << "chaosctl run: " << *bad << "\n";
    return kExitUnusable;
  }
  auto m = convert_file(p);
  if (!m) return kExitUnusable;
  // The native experiment goes through the ordinary run path (local validation, streaming, exit
  // status) from a private temporary file.
  char path[] = "/tmp/chaosctl-import-XXXXXX.yaml";
  int fd = mkstemps(path, 5);
  if (fd < 0) {
    std::perror("chaosctl run: temporary file");
    return kExitUnusable;
  }
  bool ok = ::write(fd, m->yaml.data(), m->yaml.size()) == static_cast<ssize_t>(m->yaml.size());
  ::close(fd);
  if (!ok) {
    ::unlink(path);
    std::cerr << "chaosctl run: cannot write " << path << "\n";
    return kExitUnusable;
  }
  std::vector<std::string> run_args{path};
  run_args.insert(run_args.end(), p.rest.begin(), p.rest.end());
  int rc = run(run_args);
  ::unlink(path);
  return rc;
}

}  // namespace chaos::cli
