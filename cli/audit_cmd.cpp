// chaosctl audit: the agent's audit log, STATE/audit.jsonl (agent/server/audit.h).
#include "audit_cmd.h"

#include <algorithm>
#include <iostream>

#include <boost/program_options.hpp>

#include "client.h"
#include "commands.h"
#include "core/cron.h"
#include "core/units.h"

namespace po = boost::program_options;
using nlohmann::json;

namespace chaos::cli {

namespace {

std::string field(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return "";
  if (j[key].is_string()) return j[key].get<std::string>();
  return j[key].dump();
}

}  // namespace

Result<std::chrono::system_clock::time_point> parse_since(const std::string& text,
                                                          std::chrono::system_clock::time_point now) {
  if (auto t = parse_utc(text)) return *t;
  if (text.size() == 10) {
    if (auto t = parse_utc(text + "T00:00:00Z")) return *t;
  }
  if (auto d = parse_duration(text)) return now - std::chrono::duration_cast<std::chrono::system_clock::duration>(*d);
  return fail("--since \"" + text +
              "\": expected a UTC time (2026-12-02T10:00:00Z), a date (2026-12-02) or a duration back from now (90m, 24h)");
}

std::string format_audit_table(const json& records) {
  std::vector<std::vector<std::string>> rows{{"TIME", "CALLER", "EXE", "OP", "WHAT", "RUN", "OUTCOME"}};
  for (const auto& r : records) {
    std::string caller = field(r, "user");
    std::string uid = field(r, "uid");
    caller = caller.empty() ? "uid " + uid : caller + "(" + uid + ")";
    caller += " pid " + field(r, "pid");
    std::string what = field(r, "experiment");
    if (std::string sha = field(r, "sha256"); !sha.empty())
      what += (what.empty() ? "" : " ") + std::string("sha256:") + sha.substr(0, 12);
    if (std::string target = field(r, "target"); !target.empty()) what = target + (what.empty() ? "" : " " + what);
    if (std::string via = field(r, "via"); !via.empty()) what += (what.empty() ? "" : " ") + ("(" + via + ")");
    std::string outcome = field(r, "outcome");
    if (std::string reason = field(r, "reason"); !reason.empty()) outcome += ": " + reason;
    auto dash = [](std::string s) { return s.empty() ? std::string("-") : s; };
    rows.push_back({dash(field(r, "time")), caller, dash(field(r, "exe")), dash(field(r, "op")), dash(what),
                    dash(field(r, "run")), dash(outcome)});
  }
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

int cmd_audit(const std::string& socket, const std::vector<std::string>& args) {
  po::options_description desc(
      "Usage: chaosctl audit [--since T] [--limit N] [-o text|json]\n\n"
      "The agent's audit log: every request that changed the node (run, halt, recover, schedule\n"
      "changes), runs its schedules started, and every refusal, oldest first.\n\nOptions");
  std::string since, output = "text";
  long long limit = 1000;
  desc.add_options()("help,h", "this help")(
      "since", po::value(&since),
      "only records from T on: 2026-12-02T10:00:00Z, 2026-12-02 (UTC), or a duration back from now (90m, 24h)")(
      "limit", po::value(&limit)->default_value(1000), "at most the last N records (0: all)")(
      "output,o", po::value(&output)->default_value("text"), "text (a table) or json (the records)");
  po::variables_map vm;
  if (auto rc = parse_command("chaosctl audit", args, desc, {}, vm)) return *rc;
  if (output != "text" && output != "json") {
    std::cerr << "chaosctl audit: -o " << output << ": expected text or json\n" << desc;
    return kExitUnusable;
  }
  if (limit < 0 || limit > 1'000'000) {
    std::cerr << "chaosctl audit: --limit " << limit << ": expected 0 to 1000000\n";
    return kExitUnusable;
  }
  json req{{"op", "audit"}, {"limit", limit}};
  if (!since.empty()) {
    auto t = parse_since(since, std::chrono::system_clock::now());
    if (!t) {
      std::cerr << "chaosctl audit: " << t.error().message << "\n";
      return kExitUnusable;
    }
    req["since"] = format_utc(*t);
  }
  auto res = call_agent(socket, req);
  if (!res) {
    std::cerr << "chaosctl audit: " << res.error().text() << "\n";
    return kExitUnusable;
  }
  if (!res->value("ok", false)) {
    std::cerr << "chaosctl audit: " << field(*res, "error") << "\n";
    return 1;
  }
  const json records = res->contains("records") && (*res)["records"].is_array() ? (*res)["records"] : json::array();
  if (output == "json") {
    std::cout << records.dump(2) << "\n";
    return 0;
  }
  if (records.empty()) {
    std::cout << "no audit records" << (since.empty() ? "" : " since " + req["since"].get<std::string>()) << "\n";
    return 0;
  }
  std::cout << format_audit_table(records);
  return 0;
}

}  // namespace chaos::cli
