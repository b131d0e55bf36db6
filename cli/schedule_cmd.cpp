// chaosctl schedule: scheduled game days on the agent (agent/server/scheduler.h).
#include "schedule_cmd.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include <boost/program_options.hpp>

#include "client.h"
#include "commands.h"
#include "core/cron.h"
#include "core/diag.h"
#include "core/parser.h"
#include "runner/families.h"

namespace po = boost::program_options;
using nlohmann::json;

namespace chaos::cli {

namespace {

constexpr const char* kScheduleUsage =
    "Usage: chaosctl schedule COMMAND [ARGS]\n"
    "\n"
    "Experiments the agent runs by itself, on a schedule evaluated in UTC (docs/schedule.md).\n"
    "\n"
    "  add NAME --at EXPR [--policy forbid|allow] [--history N] FILE\n"
    "                  validate FILE and keep a copy of it on the agent, run on EXPR:\n"
    "                  @every 30m, @hourly, @daily, @weekly, or 5-field cron \"0 3 * * mon-fri\"\n"
    "                  --policy forbid (default) skips a firing while another run is active\n"
    "                  --history N keeps the last N firings (default 10)\n"
    "  list            every schedule: expression, next run (UTC), last outcome, suspended\n"
    "  show NAME       one schedule and its history\n"
    "  rm NAME         remove it (a run in progress goes on; chaosctl halt RUN stops it)\n"
    "  pause NAME      stop firing until resume\n"
    "  resume NAME     fire again from the next time the expression gives\n"
    "  trigger NAME    run it now (the policy still applies)\n"
    "\n"
    "  -o json         machine-readable output (add, list, show, trigger)\n";

std::string str(const json& j, const char* key, const std::string& dflt = "-") {
  if (!j.contains(key) || j[key].is_null()) return dflt;
  if (j[key].is_string()) return j[key].get<std::string>();
  return j[key].dump();
}

// Columns padded to the widest cell; the last column is not padded.
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << "\n";
  }
}

// Sends a request; prints the agent's error and returns nullopt when it refused.
std::optional<json> call(const std::string& socket, const std::string& what, const json& req, int& code) {
  auto res = call_agent(socket, req);
  if (!res) {
    std::cerr << "chaosctl schedule " << what << ": " << res.error().text() << "\n";
    code = kExitUnusable;
    return std::nullopt;
  }
  if (!res->value("ok", false)) {
    std::cerr << "chaosctl schedule " << what << ": " << res->value("error", std::string("refused")) << "\n";
    for (const auto& e : res->value("errors", json::array())) std::cerr << e.get<std::string>() << "\n";
    code = 1;
    return std::nullopt;
  }
  code = 0;
  return *res;
}

void print_added(const json& s) {
  std::cout << "schedule " << str(s, "name") << " added: " << str(s, "expr") << " (UTC), experiment "
            << str(s, "experiment") << ", policy " << str(s, "policy") << "\n"
            << "next run " << str(s, "nextRun") << "\n";
}

int cmd_add(const std::string& socket, const std::vector<std::string>& args) {
  po::options_description desc("chaosctl schedule add NAME --at EXPR [options] FILE");
  std::string at, policy = "forbid", output = "text", name, file;
  int history = 10;
  desc.add_options()("help,h", "this help")(
      "at", po::value(&at), "when, in UTC: @every 30m, @hourly, @daily, @weekly, or cron \"0 3 * * mon-fri\"")(
      "policy", po::value(&policy)->default_value("forbid"),
      "forbid: skip a firing while a run of this schedule or any other run is active; allow: run regardless")(
      "history", po::value(&history)->default_value(10), "how many past firings to keep")(
      "output,o", po::value(&output)->default_value("text"), "text or json");
  po::variables_map vm;
  if (auto rc = parse_command("chaosctl schedule add", args, desc,
                              {{"name", po::value(&name)}, {"file", po::value(&file)}}, vm))
    return *rc;
  if (name.empty() || file.empty() || at.empty()) {
    std::cerr << "chaosctl schedule add: expected NAME, --at EXPR and FILE\n" << desc;
    return kExitUnusable;
  }
  if (policy != "forbid" && policy != "allow") {
    std::cerr << "chaosctl schedule add: --policy \"" << policy << "\": expected forbid or allow\n";
    return kExitUnusable;
  }
  if (output != "text" && output != "json") {
    std::cerr << "chaosctl schedule add: -o \"" << output << "\": expected text or json\n";
    return kExitUnusable;
  }
  if (auto c = CronSchedule::parse(at); !c) {
    std::cerr << "chaosctl schedule add: --at \"" << at << "\": " << c.error().message << "\n";
    return kExitUnusable;
  }
  std::ifstream in(file);
  if (!in) {
    std::cerr << Location{file, 1, 1}.str() << ": error: cannot read the file: " << std::strerror(errno) << "\n";
    return kExitUnusable;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string yaml = ss.str();
  // Validate here first, like `chaosctl run`: errors point at the file (file:line:col).
  auto parsed = parse_experiment(yaml, file, builtin_families().spec_registry());
  if (!parsed.diags.ok()) {
    std::cerr << parsed.diags.str();
    return kExitUnusable;
  }
  std::error_code ec;
  auto abs = std::filesystem::absolute(file, ec);
  int code = 0;
  auto res = call(socket, "add",
                  {{"op", "schedule.add"},
                   {"name", name},
                   {"at", at},
                   {"policy", policy},
                   {"historyLimit", history},
                   {"file", ec ? file : abs.lexically_normal().string()},
                   {"yaml", yaml}},
                  code);
  if (!res) return code;
  if (output == "json") std::cout << (*res)["schedule"].dump(2) << "\n";
  else print_added((*res)["schedule"]);
  return 0;
}

int cmd_list(const std::string& socket, bool as_json) {
  int code = 0;
  auto res = call(socket, "list", {{"op", "schedule.list"}}, code);
  if (!res) return code;
  const auto& all = (*res)["schedules"];
  if (as_json) {
    std::cout << all.dump(2) << "\n";
    return 0;
  }
  if (all.empty()) {
    std::cout << "no schedules (chaosctl schedule add NAME --at EXPR FILE)\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"NAME", "SCHEDULE", "NEXT RUN (UTC)", "LAST", "SUSPENDED"}};
  for (const auto& s : all) {
    std::string last = str(s, "lastOutcome");
    if (!s.value("activeRuns", json::array()).empty()) last = "running";
    rows.push_back({str(s, "name"), str(s, "expr"), s.value("suspended", false) ? "-" : str(s, "nextRun"), last,
                    s.value("suspended", false) ? "yes" : "no"});
  }
  print_table(rows);
  return 0;
}

int cmd_show(const std::string& socket, const std::string& name, bool as_json) {
  int code = 0;
  auto res = call(socket, "show", {{"op", "schedule.show"}, {"name", name}}, code);
  if (!res) return code;
  const auto& s = (*res)["schedule"];
  if (as_json) {
    std::cout << s.dump(2) << "\n";
    return 0;
  }
  std::cout << "schedule " << str(s, "name") << "\n"
            << "  when:        " << str(s, "expr") << " (UTC)\n"
            << "  experiment:  " << str(s, "experiment") << ", copied from " << str(s, "file") << " at "
            << str(s, "createdAt") << "\n"
            << "  policy:      " << str(s, "policy") << "\n"
            << "  suspended:   " << (s.value("suspended", false) ? "yes" : "no") << "\n"
            << "  next run:    " << str(s, "nextRun") << "\n";
  auto active = s.value("activeRuns", json::array());
  if (!active.empty()) std::cout << "  running now: " << active.dump() << "\n";
  const auto& h = s["history"];
  std::cout << "  history:     " << h.size() << " of the last " << s.value("historyLimit", 0)
            << " firings kept, oldest first\n";
  if (h.empty()) return 0;
  std::vector<std::vector<std::string>> rows{{"SCHEDULED FOR (UTC)", "STARTED (UTC)", "RUN", "OUTCOME", "REASON"}};
  for (const auto& f : h) {
    std::string outcome = str(f, "outcome");
    if (f.value("manual", false)) outcome += " (trigger)";
    rows.push_back({str(f, "scheduledFor"), str(f, "startedAt"), str(f, "runId"), outcome, str(f, "reason", "")});
  }
  print_table(rows);
  return 0;
}

}  // namespace

int cmd_schedule(const std::string& socket, const std::vector<std::string>& args_in) {
  if (args_in.empty() || args_in[0] == "-h" || args_in[0] == "--help" || args_in[0] == "help") {
    std::cout << kScheduleUsage;
    return args_in.empty() ? kExitUnusable : 0;
  }
  std::string sub = args_in[0];
  std::vector<std::string> args(args_in.begin() + 1, args_in.end());
  if (sub == "add") return cmd_add(socket, args);

  // The rest take at most NAME and -o json.
  std::string name, output = "text";
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if ((a == "-o" || a == "--output") && i + 1 >= args.size()) {
      std::cerr << "chaosctl schedule " << sub << ": " << a << " needs a value: text or json\n";
      return kExitUnusable;
    } else if (a == "-o" || a == "--output") output = args[++i];
    else if (a.rfind("--output=", 0) == 0) output = a.substr(9);
    else if (a == "-h" || a == "--help") {
      std::cout << kScheduleUsage;
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      std::cerr << "chaosctl schedule " << sub << ": unknown option " << a << "\n";
      return kExitUnusable;
    } else if (name.empty()) name = a;
    else {
      std::cerr << "chaosctl schedule " << sub << ": unexpected argument " << a << "\n";
      return kExitUnusable;
    }
  }
  if (output != "text" && output != "json") {
    std::cerr << "chaosctl schedule " << sub << ": -o \"" << output << "\": expected text or json\n";
    return kExitUnusable;
  }
  bool as_json = output == "json";
  if (sub == "list" || sub == "ls") {
    if (!name.empty()) {
      std::cerr << "chaosctl schedule list: unexpected argument " << name << "\n";
      return kExitUnusable;
    }
    return cmd_list(socket, as_json);
  }
  static const std::vector<std::pair<std::string, std::string>> kOps = {
      {"show", "schedule.show"},     {"rm", "schedule.remove"},       {"remove", "schedule.remove"},
      {"pause", "schedule.pause"},   {"resume", "schedule.resume"},   {"trigger", "schedule.trigger"}};
  auto op = std::find_if(kOps.begin(), kOps.end(), [&](const auto& p) { return p.first == sub; });
  if (op == kOps.end()) {
    std::cerr << "chaosctl schedule: unknown command " << sub << "\n" << kScheduleUsage;
    return kExitUnusable;
  }
  if (name.empty()) {
    std::cerr << "chaosctl schedule " << sub << ": expected NAME\n";
    return kExitUnusable;
  }
  if (sub == "show") return cmd_show(socket, name, as_json);
  int code = 0;
  auto res = call(socket, sub, {{"op", op->second}, {"name", name}}, code);
  if (!res) return code;
  if (as_json) {
    std::cout << res->dump(2) << "\n";
    return 0;
  }
  const auto& s = res->value("schedule", json::object());
  if (sub == "trigger") {
    std::cout << "schedule " << name << ": started run " << str(*res, "run", "(starting)")
              << " (chaosctl status; chaosctl report RUN once it ends)\n";
  } else if (sub == "rm" || sub == "remove") {
    std::cout << "schedule " << name << " removed\n";
    for (const auto& r : s.value("activeRuns", json::array()))
      std::cout << "run " << r.get<std::string>() << " goes on (chaosctl halt " << r.get<std::string>()
                << " stops it)\n";
  } else if (sub == "pause") {
    std::cout << "schedule " << name << " paused\n";
  } else {
    std::cout << "schedule " << name << " resumed; next run " << str(s, "nextRun") << "\n";
  }
  return 0;
}

}  // namespace chaos::cli
