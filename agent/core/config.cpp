#include "core/config.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/fields.h"
#include "core/yaml_load.h"

namespace chaos {

Result<std::string> parse_listen_address(const std::string& text) {
  const std::string expected = "expected IP:PORT, like 127.0.0.1:9464 or [::1]:9464";
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') return fail(expected);
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    in6_addr a6{};
    if (inet_pton(AF_INET6, host.c_str(), &a6) != 1) return fail("\"" + host + "\" is not an IPv6 address: " + expected);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) return fail(expected);
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    in_addr a4{};
    if (host.find(':') != std::string::npos) return fail("an IPv6 address goes in brackets: " + expected);
    // Only an address: a name would be resolved once at start-up, and which interface it binds is
    // then a guess.
    if (inet_pton(AF_INET, host.c_str(), &a4) != 1) return fail("\"" + host + "\" is not an IP address: " + expected);
  }
  unsigned long n = 0;
  bool digits = !port.empty() && port.size() <= 5 &&
                std::all_of(port.begin(), port.end(), [](unsigned char ch) { return std::isdigit(ch); });
  if (digits) n = std::stoul(port);
  // 0: any free port (the agent logs the one it bound and `status` reports it).
  if (!digits || n > 65535) return fail("port \"" + port + "\": expected a port from 0 to 65535");
  return text;
}

void ConfigRegistry::add(std::string family, ConfigSection section) {
  sections_.emplace_back(std::move(family), std::move(section));
}

ConfigOutcome parse_agent_config(const std::string& text, const std::string& file, const ConfigRegistry& families) {
  ConfigOutcome out;
  YAML::Node root;
  try {
    auto docs = load_yaml_documents(text);
    if (docs.second) {
      out.diags.error(Location{file, docs.second->line + 1, docs.second->column + 1}, "",
                      "a second YAML document: expected one configuration per file");
      return out;
    }
    root = docs.first;
  } catch (const YAML::Exception& e) {
    out.diags.error(Location{file, e.mark.line + 1, e.mark.column + 1}, "", "not valid YAML: " + e.msg);
    return out;
  }
  AgentConfig& c = out.config;
  // Every family's part, at its defaults until its parser reads it.
  std::vector<std::shared_ptr<FamilyConfig>> parts;
  for (const auto& [family, section] : families.sections()) {
    parts.push_back(section.make());
    c.families[family] = parts.back();
  }
  if (!root || root.IsNull()) return out;  // an empty file: the defaults
  YNode top(root, "", file, &out.diags);
  MapReader r(top);
  auto quoted = [&](const char* key) { return "\"" + r.child(key)->scalar() + "\""; };
  if (auto v = r.duration("lease")) {
    if (*v < std::chrono::milliseconds(200))
      r.child("lease")->error(quoted("lease") + ": too short, expected at least 200ms");
    c.lease = *v;
  }
  if (auto v = r.duration("tick")) {
    if (*v < std::chrono::milliseconds(10) || *v > std::chrono::seconds(1))
      r.child("tick")->error(quoted("tick") + ": expected a duration from 10ms to 1s");
    c.tick = *v;
  }
  if (auto v = r.duration("maxRunDuration")) {
    // Every run has a hard cap; a zero cap would refuse every experiment with a confusing message.
    if (v->count() == 0)
      r.child("maxRunDuration")->error(quoted("maxRunDuration") + ": expected a duration above 0s");
    c.max_run_duration = *v;
  }
  if (auto g = r.child("guardrails")) {
    MapReader gr(*g);
    // In the order docs/operations.md lists them: the interface rule, the families' caps, the
    // protected lists.
    if (auto v = gr.boolean("allowDefaultRouteInterface")) c.allow_default_route_interface = *v;
    for (std::size_t i = 0; i < parts.size(); ++i)
      if (const auto& read = families.sections()[i].second.guardrails) read(gr, *parts[i]);
    // Read even when absent, so they are listed among the expected fields; present replaces the default.
    auto cgroups = gr.strings("protectedCgroups");
    auto units = gr.strings("protectedUnits");
    auto ports = gr.ports("protectedPorts");
    if (gr.has("protectedCgroups")) c.protected_cgroups = std::move(cgroups);
    if (gr.has("protectedUnits")) c.protected_units = std::move(units);
    if (gr.has("protectedPorts")) c.protected_ports = std::move(ports);
    gr.finish();
  }
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& section = families.sections()[i].second;
    if (section.section.empty()) continue;
    if (auto n = r.child(section.section)) {
      MapReader sr(*n);
      if (section.read_section) section.read_section(sr, *parts[i]);
      sr.finish();
    }
  }
  if (auto m = r.child("metrics")) {
    MapReader mr(*m);
    if (auto v = mr.str("listen", true)) {
      if (auto a = parse_listen_address(*v)) c.metrics_listen = *a;
      else mr.child("listen")->error("\"" + *v + "\": " + a.error().message);
    }
    mr.finish();
  }
  if (auto a = r.child("api")) {
    MapReader ar(*a);
    for (auto [key, field] : {std::pair{"group", &c.api.group}, std::pair{"operatorsGroup", &c.api.operators_group}}) {
      if (auto v = ar.str(key)) {
        if (valid_group_name(*v)) *field = *v;
        else ar.child(key)->error("\"" + *v + "\": expected a group name like chaos (letters, digits, '_', '-', '.', "
                                  "not starting with '-' or a digit; at most 32)");
      }
    }
    if (auto v = ar.bytes("maxRequestBytes")) {
      if (*v < (4u << 10) || *v > (256u << 20))
        ar.child("maxRequestBytes")->error("\"" + ar.child("maxRequestBytes")->scalar() +
                                           "\": expected a size from 4KiB to 256MiB");
      else c.api.max_request_bytes = *v;
    }
    if (auto v = ar.integer("maxConnections", 1, 4096)) c.api.max_connections = static_cast<int>(*v);
    if (auto v = ar.integer("maxConcurrentRuns", 1, 256)) c.api.max_concurrent_runs = static_cast<int>(*v);
    ar.finish();
  }
  r.finish();
  return out;
}

bool valid_group_name(std::string_view name) {
  // What shadow-utils' groupadd accepts by default, minus the trailing '$' of machine accounts.
  if (name.empty() || name.size() > 32) return false;
  unsigned char first = static_cast<unsigned char>(name[0]);
  if (!(std::isalpha(first) || first == '_')) return false;
  return std::all_of(name.begin(), name.end(), [](char ch) {
    unsigned char u = static_cast<unsigned char>(ch);
    return std::isalnum(u) || u == '_' || u == '-' || u == '.';
  });
}

ConfigOutcome load_agent_config(const std::string& path, const ConfigRegistry& families) {
  ConfigOutcome out;
  // Only a missing file means "the defaults"; one that exists but cannot be read must not quietly
  // drop the guardrails it sets.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT)
      out.diags.error(Location{path, 1, 1}, "", std::string("cannot read the file: ") + std::strerror(errno));
    return out;
  }
  if (!S_ISREG(st.st_mode)) {
    out.diags.error(Location{path, 1, 1}, "", "not a regular file: expected a YAML file");
    return out;
  }
  std::ifstream in(path);
  std::stringstream ss;
  if (in) ss << in.rdbuf();
  if (!in || in.bad()) {
    out.diags.error(Location{path, 1, 1}, "", std::string("cannot read the file: ") + std::strerror(errno));
    return out;
  }
  return parse_agent_config(ss.str(), path, families);
}

}  // namespace chaos
