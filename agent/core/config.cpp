#include "core/config.h"

#include <fstream>
#include <sstream>

#include "core/fields.h"

namespace chaos {

ConfigOutcome parse_agent_config(const std::string& text, const std::string& file) {
  ConfigOutcome out;
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    out.diags.error(Location{file, e.mark.line + 1, e.mark.column + 1}, "", "not valid YAML: " + e.msg);
    return out;
  }
  if (!root || root.IsNull()) return out;  // an empty file: the defaults
  AgentConfig& c = out.config;
  YNode top(root, "", file, &out.diags);
  MapReader r(top);
  if (auto v = r.duration("lease")) {
    if (*v < std::chrono::milliseconds(200)) r.child("lease")->error("expected at least 200ms");
    c.lease = *v;
  }
  if (auto v = r.duration("tick")) {
    if (*v < std::chrono::milliseconds(10) || *v > std::chrono::seconds(1))
      r.child("tick")->error("expected a duration from 10ms to 1s");
    c.tick = *v;
  }
  if (auto v = r.duration("maxRunDuration")) c.max_run_duration = *v;
  if (auto g = r.child("guardrails")) {
    MapReader gr(*g);
    if (auto v = gr.boolean("allowDefaultRouteInterface")) c.allow_default_route_interface = *v;
    c.max_delay = gr.duration("maxDelay");
    if (auto v = gr.percent("maxLoss")) c.max_loss_fraction = v->fraction();
    if (auto v = gr.number("maxGpuMemoryFraction", 0.0, 1.0)) c.max_gpu_memory_fraction = *v;
    if (gr.has("protectedCgroups")) c.protected_cgroups = gr.strings("protectedCgroups");
    if (gr.has("protectedUnits")) c.protected_units = gr.strings("protectedUnits");
    if (gr.has("protectedPorts")) c.protected_ports = gr.ports("protectedPorts");
    gr.finish();
  }
  if (auto n = r.child("network")) {
    MapReader nr(*n);
    if (auto v = nr.one_of("attach", {"auto", "tcx", "classic"})) c.network_attach = *v;
    nr.finish();
  }
  r.finish();
  return out;
}

ConfigOutcome load_agent_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    ConfigOutcome out;
    if (errno != ENOENT) out.diags.error(Location{path, 0, 0}, "", "cannot read the file");
    return out;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_agent_config(ss.str(), path);
}

}  // namespace chaos
