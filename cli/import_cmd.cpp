#include "import_cmd.h"

#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "commands.h"
#include "core/cron.h"
#include "core/parser.h"
#include "faults/memory/chaosmesh.h"
#include "runner/families.h"

namespace chaos::cli {

namespace {

constexpr const char* kImportUsage =
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
    "  --target T       where the fault acts, instead of the manifest's pod selector:\n"
    "                   network: host | netns:NAME | pid:N | lab:HOST\n"
    "                   memory:  cgroup:PATH | unit:NAME | pid:N\n"
    "  --interface IF   the interface (default: the manifest's device, else eth0; lab hosts: eth0)\n"
    "  --peer CIDR      stands in for spec.target's pod selector (repeatable)\n"
    "  --duration D     how long the fault holds when the manifest has no spec.duration (default 60s)\n"
    "  -h, --help       this help\n"
    "Exit status: 0 converted (or the run's own status), 2 refused or unusable.\n";

std::string scalar(const YAML::Node& n) { return n && n.IsScalar() ? n.Scalar() : ""; }

ManifestImport refused(const std::string& kind, std::string reason) {
  ManifestImport m;
  m.outcome = ManifestImport::Outcome::refused;
  m.kind = kind;
  m.reason = std::move(reason);
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

ManifestImport convert_stress(const YAML::Node& doc, const ImportFlags& flags) {
  const auto stressors = doc["spec"]["stressors"];
  if (!stressors || !stressors["memory"]) {
    if (stressors && stressors["cpu"])
      return refused("StressChaos", "StressChaos stressors.cpu: chaos-agent has no CPU fault family (only memory "
                                    "stressors convert, to the memory family)");
    return refused("StressChaos", "StressChaos without a memory stressor: only memory stressors convert");
  }
  // The memory family's converter (faults/memory/chaosmesh.h) takes the node-local target.
  memory::MemoryTarget target;
  const std::string& t = flags.target;
  auto colon = t.find(':');
  std::string kind = t.substr(0, colon), value = colon == std::string::npos ? "" : t.substr(colon + 1);
  if (kind == "cgroup" && !value.empty()) {
    target.kind = memory::MemoryTarget::Kind::cgroup;
    target.path = value;
  } else if (kind == "unit" && !value.empty()) {
    target.kind = memory::MemoryTarget::Kind::unit;
    target.unit = value;
  } else if (kind == "pid" && !value.empty() && value.find_first_not_of("0123456789") == std::string::npos) {
    target.kind = memory::MemoryTarget::Kind::pid;
    target.pid = std::stoi(value);
  } else {
    ManifestImport m;
    m.kind = "StressChaos";
    m.reason = "StressChaos memory stressor: give the workload as --target cgroup:PATH, unit:NAME or pid:N (the "
               "manifest's selector names pods, which a node agent cannot resolve)";
    return m;
  }
  auto y = memory::convert_stresschaos_memory(doc, target, flags.duration.value_or(std::chrono::seconds(60)));
  if (!y) {
    // The memory converter refuses what it cannot express (cpu stressors, raw stress-ng options).
    return refused("StressChaos", y.error().message);
  }
  ManifestImport m;
  m.outcome = ManifestImport::Outcome::converted;
  m.kind = "StressChaos";
  m.yaml = *y;
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
    std::cerr << p.file << ": error: cannot read the file\n";
    return std::nullopt;
  }
  auto m = import_manifest(text, p.flags);
  if (m.outcome != ManifestImport::Outcome::converted) {
    std::cerr << p.file << ": " << (m.outcome == ManifestImport::Outcome::refused ? "refused" : "error") << ": "
              << m.reason << "\n";
    return std::nullopt;
  }
  for (const auto& w : m.warnings) std::cerr << p.file << ": note: " << w << "\n";
  return m;
}

}  // namespace

bool is_chaos_mesh_manifest(const std::string& text) {
  try {
    auto doc = YAML::Load(text);
    return doc.IsMap() && scalar(doc["apiVersion"]).rfind("chaos-mesh.org/", 0) == 0;
  } catch (const std::exception&) {
    return false;
  }
}

// A Chaos Mesh Schedule: the chaos object it embeds converts like a manifest of its own, and the
// schedule becomes the `chaosctl schedule add` line printed above the experiment.
ManifestImport convert_schedule(const YAML::Node& doc, const ImportFlags& flags) {
  const YAML::Node spec = doc["spec"];
  const std::string name = scalar(doc["metadata"]["name"]);
  const std::string expr = scalar(spec["schedule"]);
  const std::string type = scalar(spec["type"]);
  ManifestImport m;
  m.kind = "Schedule";
  if (expr.empty() || type.empty()) {
    m.reason = "Schedule: spec.schedule and spec.type are required";
    return m;
  }
  if (auto c = CronSchedule::parse(expr); !c) {
    m.reason = "Schedule spec.schedule \"" + expr + "\": " + c.error().message;
    return m;
  }
  if (type == "Workflow") return refused("Schedule", "a Schedule of a Workflow: " + refusals().at("Workflow"));
  // The embedded object sits under the type's name in lowerCamelCase (networkChaos, stressChaos).
  std::string key = type;
  key[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(key[0])));
  if (!spec[key]) {
    m.reason = "Schedule of type " + type + ": spec." + key + " is missing";
    return m;
  }
  YAML::Node inner;
  inner["apiVersion"] = scalar(doc["apiVersion"]);
  inner["kind"] = type;
  inner["metadata"]["name"] = name.empty() ? std::string("scheduled") : name;
  inner["spec"] = spec[key];
  YAML::Emitter e;
  e << inner;
  ManifestImport r = import_manifest(e.c_str(), flags);
  if (r.outcome != ManifestImport::Outcome::converted) {
    r.kind = "Schedule";
    r.reason = "Schedule of " + type + ": " + r.reason;
    return r;
  }
  std::string policy = scalar(spec["concurrencyPolicy"]);
  std::string cmd = "chaosctl schedule add " + (name.empty() ? std::string("NAME") : name) + " --at '" + expr + "'";
  if (policy == "Allow") cmd += " --policy allow";
  else if (!policy.empty() && policy != "Forbid")
    r.warnings.push_back("concurrencyPolicy " + policy + " has no equivalent: the schedule forbids overlapping runs");
  if (auto h = scalar(spec["historyLimit"]); !h.empty()) cmd += " --history " + h;
  if (spec["startingDeadlineSeconds"])
    r.warnings.push_back("startingDeadlineSeconds is not carried over: a firing missed while the agent was down is "
                         "recorded as missed, never run late");
  cmd += " THIS_FILE";
  r.yaml = "# Chaos Mesh Schedule " + name + " (" + expr + ", UTC): schedule this experiment with\n#   " + cmd +
           "\n" + r.yaml;
  r.warnings.push_back("a Schedule converts to one experiment; schedule it with: " + cmd);
  r.kind = "Schedule";
  return r;
}

ManifestImport import_manifest(const std::string& text, const ImportFlags& flags) {
  ManifestImport m;
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
  } catch (const std::exception& e) {
    m.reason = std::string("not YAML: ") + e.what();
    return m;
  }
  if (!doc.IsMap()) {
    m.reason = "expected a Kubernetes object (a YAML map with apiVersion and kind)";
    return m;
  }
  std::string api = scalar(doc["apiVersion"]);
  m.kind = scalar(doc["kind"]);
  if (api.rfind("chaos-mesh.org/", 0) != 0) {
    m.reason = "apiVersion \"" + api + "\": expected a Chaos Mesh object (chaos-mesh.org/v1alpha1)";
    return m;
  }
  if (m.kind == "StressChaos") return convert_stress(doc, flags);
  if (m.kind == "Schedule") return convert_schedule(doc, flags);
  if (auto r = refusals().find(m.kind); r != refusals().end()) return refused(m.kind, r->second);
  if (m.kind != "NetworkChaos" && m.kind != "PhysicalMachineChaos")
    return refused(m.kind, "kind " + m.kind + ": chaos-agent converts NetworkChaos, PhysicalMachineChaos network "
                                              "actions and StressChaos memory stressors");
  network::ChaosMeshImportOptions opts;
  if (!flags.target.empty()) {
    auto t = network::parse_import_target(flags.target);
    if (!t) {
      m.reason = t.error().message;
      return m;
    }
    opts.target = *t;
  }
  opts.interface = flags.interface;
  for (const auto& p : flags.peers) {
    auto c = parse_cidr(p);
    if (!c) {
      m.reason = "--peer \"" + p + "\": " + c.error().message;
      return m;
    }
    opts.peers.push_back(*c);
  }
  if (flags.duration) opts.default_duration = *flags.duration;
  opts.resolve = flags.resolve;
  auto r = network::convert_network_manifest(doc, opts);
  if (!r) {
    // A PhysicalMachineChaos action that is not a network one is a refusal, not a broken file.
    m.outcome = r.error().code == ENOTSUP ? ManifestImport::Outcome::refused : ManifestImport::Outcome::invalid;
    m.reason = r.error().message;
    return m;
  }
  m.outcome = ManifestImport::Outcome::converted;
  m.yaml = r->yaml;
  m.warnings = r->warnings;
  return m;
}

int cmd_import(const std::vector<std::string>& args) {
  auto p = parse_args(args);
  if (p.help) {
    std::cout << kImportUsage;
    return 0;
  }
  if (!p.error.empty() || p.file.empty() || !p.rest.empty()) {
    std::cerr << "chaosctl import: "
              << (!p.error.empty() ? p.error : p.file.empty() ? "expected FILE" : "unknown option " + p.rest[0])
              << "\n"
              << kImportUsage;
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
    std::cerr << "chaosctl run: " << p.file
              << " is a Chaos Mesh manifest: its selector names pods, so say where it acts with --target "
                 "(host, netns:NAME, pid:N, lab:HOST; memory: cgroup:PATH, unit:NAME, pid:N)\n";
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
