#include "commands.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <boost/program_options.hpp>

#include "audit_cmd.h"
#include "client.h"
#include "core/diag.h"
#include "core/log.h"
#include "core/parser.h"
#include "core/run_events.h"
#include "import_cmd.h"
#include "lab_cmd.h"
#include "schedule_cmd.h"
#include "report/render.h"
#include "runner/families.h"
#include "summary.h"

namespace po = boost::program_options;

namespace chaos::cli {

namespace {

constexpr const char* kUsage =
    "Usage: chaosctl [--socket PATH] COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  validate FILE...            check experiment files; exit 0 when all are valid, 1 otherwise\n"
    "  run FILE [--dry-run]        run an experiment on the agent, streaming progress; exit 0 when the\n"
    "                              steady-state hypothesis held, 1 when it deviated or the run aborted,\n"
    "                              2 for unusable input (invalid file, refused at plan, no agent)\n"
    "    --report-out FILE         also write the report to FILE, as .json, .html or .xml (JUnit)\n"
    "  status [-o json]            runs the agent knows of, and outstanding journal entries\n"
    "  halt RUN | --all            revert a run's faults now and stop it\n"
    "  recover                     revert everything the journal lists that no live run owns\n"
    "  report RUN [-o text|json|html|junit] [--out FILE]\n"
    "                              a finished run's report: text summary, full JSON, an HTML page with\n"
    "                              plots, JUnit XML for CI; --out writes it to FILE (format by extension)\n"
    "  audit [--since T] [--limit N] [-o json]\n"
    "                              the agent's audit log: who changed the node (run, halt, recover,\n"
    "                              schedules) and every refusal; T: 2026-12-02T10:00:00Z or 24h ago\n"
    "  schedule add NAME --at EXPR [--policy forbid|allow] [--history N] FILE\n"
    "                              run FILE on a schedule, in UTC (@every 30m, @daily, \"0 3 * * mon-fri\")\n"
    "  schedule list | show NAME | rm NAME | pause NAME | resume NAME | trigger NAME [-o json]\n"
    "  lab up|down|status [--name N]  the sandbox: client and server namespaces on a bridge\n"
    "  import FILE [--target T] [--interface IF]  print the native experiment for a Chaos Mesh manifest\n"
    "  run MANIFEST --target T [--interface IF]   run a Chaos Mesh manifest directly (import --help)\n"
    "\n"
    "Global options:\n"
    "  --socket PATH               the agent's API socket (default /run/chaos-agent/agent.sock,\n"
    "                              or $CHAOS_AGENT_SOCKET)\n"
    "  -h, --help                  this help; COMMAND --help for a command's options\n";

std::string read_file(const std::string& path, bool& ok) {
  std::ifstream in(path);
  ok = static_cast<bool>(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int cmd_validate(const std::vector<std::string>& args) {
  constexpr const char* kValidateUsage =
      "Usage: chaosctl validate FILE...\n"
      "Checks experiment files with the agent's own parser: FILE:LINE:COL errors, exit 0 when every file is\n"
      "valid, 1 otherwise.\n";
  if (args.size() == 1 && (args[0] == "-h" || args[0] == "--help")) {
    std::cout << kValidateUsage;
    return 0;
  }
  if (args.empty()) {
    std::cerr << "chaosctl validate: expected one or more FILE arguments\n" << kValidateUsage;
    return kExitUnusable;
  }
  // "--" ends the options, for a file whose name starts with '-'.
  std::vector<std::string> files;
  bool options = true;
  for (const auto& a : args) {
    if (options && a == "--") {
      options = false;
    } else if (options && a.size() > 1 && a[0] == '-') {
      std::cerr << "chaosctl validate: unknown option " << a << " (validate takes only FILE...)\n" << kValidateUsage;
      return kExitUnusable;
    } else {
      files.push_back(a);
    }
  }
  auto reg = builtin_families().spec_registry();
  int bad = 0;
  for (const auto& f : files) {
    auto out = parse_experiment_file(f, reg);
    if (out.diags.ok()) {
      std::cout << f << ": ok (" << out.experiment->name << ", " << out.experiment->faults.size() << " fault(s), "
                << out.experiment->probes.size() << " probe(s), " << format_duration(out.experiment->duration)
                << ")\n";
    } else {
      std::cerr << out.diags.str();
      ++bad;
    }
  }
  return bad ? 1 : 0;
}

// Each path in the format its extension names (checked beforehand); says where each went, on
// stderr so that -o json stays pure JSON. False when one could not be written.
bool write_reports(const nlohmann::json& report, const std::vector<std::string>& paths, const char* who) {
  bool all = true;
  for (const auto& path : paths) {
    auto w = write_report_file(path, render_report(report, *report_format_for_path(path)));
    if (w) std::cerr << "report written to " << path << "\n";
    else std::cerr << who << ": " << w.error().text() << "\n";
    all = all && w.has_value();
  }
  return all;
}

}  // namespace

std::optional<int> parse_command(const std::string& what, const std::vector<std::string>& args,
                                 const po::options_description& desc,
                                 std::vector<std::pair<const char*, po::value_semantic*>> positionals,
                                 po::variables_map& vm) {
  po::options_description hidden;
  po::positional_options_description pos;
  for (auto& [name, value] : positionals) {
    hidden.add_options()(name, value);
    pos.add(name, 1);
  }
  po::options_description all;
  all.add(desc).add(hidden);
  try {
    po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << what << ": " << e.what() << "\n" << desc;
    return kExitUnusable;
  }
  if (vm.count("help")) {
    std::cout << desc;
    return 0;
  }
  return std::nullopt;
}

namespace {

std::atomic<bool> g_interrupted{false};
void on_sigint(int) { g_interrupted = true; }

int cmd_run(const std::string& socket, std::vector<std::string> args) {
  po::options_description desc("chaosctl run FILE [options]");
  bool dry = false;
  std::string output = "text";
  desc.add_options()("help,h", "this help")("dry-run", po::bool_switch(&dry), "plan only: print what would be touched")(
      "output,o", po::value(&output)->default_value("text"), "text or json (the full report)");
  std::vector<std::string> report_out;
  desc.add_options()("report-out", po::value(&report_out)->composing(),
                     "also write the report to FILE: .json, .html (a page with plots) or .xml (JUnit); repeatable");
  std::string file;
  po::variables_map vm;
  if (auto rc = parse_command("chaosctl run", args, desc, {{"file", po::value(&file)}}, vm)) return *rc;
  if (file.empty()) {
    std::cerr << "chaosctl run: expected FILE\n" << desc;
    return kExitUnusable;
  }
  if (output != "text" && output != "json") {
    std::cerr << "chaosctl run: -o \"" << output << "\": expected text or json (for html or junit: --report-out "
              << "FILE.html or FILE.xml, or chaosctl report RUN -o html|junit)\n";
    return kExitUnusable;
  }
  // Before anything runs: a report that could not be written would be a run wasted.
  for (const auto& path : report_out)
    if (!report_format_for_path(path)) {
      std::cerr << "chaosctl run: --report-out " << path << ": expected a .json, .html or .xml file\n";
      return kExitUnusable;
    }
  bool ok = false;
  std::string yaml = read_file(file, ok);
  if (!ok) {
    std::cerr << Location{file, 1, 1}.str() << ": error: cannot read the file: " << std::strerror(errno) << "\n";
    return kExitUnusable;
  }
  // Validate locally first: a bad file never reaches the agent, and the errors point at the file.
  auto parsed = parse_experiment(yaml, file, builtin_families().spec_registry());
  if (!parsed.diags.ok()) {
    std::cerr << parsed.diags.str();
    return kExitUnusable;
  }
  std::string run_id;
  std::atomic<bool> halt_sent{false};
  struct sigaction sa{};
  sa.sa_handler = on_sigint;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::mutex id_mu;
  // Ctrl-C halts the run on the agent (which reverts) and keeps streaming to the end.
  std::thread watcher([&] {
    while (!halt_sent) {
      if (g_interrupted) {
        std::string id;
        {
          std::lock_guard lk(id_mu);
          id = run_id;
        }
        if (!id.empty()) {
          std::cerr << "interrupted: halting run " << id << "\n";
          call_agent(socket, {{"op", "halt"}, {"run", id}});
          halt_sent = true;
          break;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  auto res = call_agent(socket, {{"op", "run"}, {"file", file}, {"yaml", yaml}, {"dryRun", dry}},
                        [&](const nlohmann::json& ev) {
                          if (ev.contains("run")) {
                            std::lock_guard lk(id_mu);
                            run_id = ev["run"].get<std::string>();
                          }
                          if (output == "text" && ev.value("event", "") != name(RunEvent::done)) {
                            auto line = format_event(ev);
                            if (!line.empty()) std::cout << line << std::endl;
                          }
                        });
  halt_sent = true;
  watcher.join();
  if (!res) {
    std::cerr << "chaosctl run: " << res.error().text() << "\n";
    return kExitUnusable;
  }
  const auto& done = *res;
  // The agent's last word, read once: an outcome this chaosctl does not know (a newer agent's)
  // is an answer it cannot judge.
  auto answer = parse_field<RunOutcome>(done, "outcome");
  if (!answer) {
    std::cerr << "chaosctl run: the agent's answer: " << answer.error().text() << "\n";
    return kExitUnusable;
  }
  const RunOutcome outcome = *answer;
  if (outcome == RunOutcome::invalid) {
    for (const auto& e : done.value("errors", nlohmann::json::array())) std::cerr << e.get<std::string>() << "\n";
    return kExitUnusable;
  }
  if (outcome == RunOutcome::refused) {
    // FILE:LINE:COL first, like every validation error, so editors and CI annotators parse it.
    const std::string at = done.value("location", std::string());
    std::cerr << (at.empty() ? std::string("chaosctl run") : at + ": error")
              << ": refused at plan: " << done.value("reason", std::string()) << "\n";
    return kExitUnusable;
  }
  if (outcome == RunOutcome::planned) {
    if (output == "json") {
      std::cout << done.dump(2) << "\n";
    } else {
      std::cout << "dry run " << done.value("run", std::string()) << ": nothing was changed; the run would touch:\n";
      for (const auto& l : done.value("plan", nlohmann::json::array())) std::cout << "  " << l.get<std::string>() << "\n";
    }
    return kExitHeld;
  }
  if (output == "json") std::cout << done["report"].dump(2) << "\n";
  else std::cout << "\n" << format_summary(done["report"]);
  if (!write_reports(done["report"], report_out, "chaosctl run")) return kExitUnusable;
  return outcome == RunOutcome::held ? kExitHeld : kExitDeviated;
}

// For the commands that take no positional argument, or one: -o text|json where it applies, -h,
// and nothing else (an unknown option or an extra argument is an error, never ignored).
struct SimpleArgs {
  std::vector<std::string> positionals;
  std::string output = "text";
  bool help = false;
};

std::optional<SimpleArgs> simple_args(const char* what, const std::vector<std::string>& args, bool takes_output,
                                      std::size_t max_positionals, const char* usage) {
  SimpleArgs out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      out.help = true;
    } else if (takes_output && (a == "-o" || a == "--output")) {
      if (i + 1 >= args.size()) {
        std::cerr << what << ": " << a << " needs a value: text or json\n" << usage;
        return std::nullopt;
      }
      out.output = args[++i];
    } else if (takes_output && a.rfind("--output=", 0) == 0) {
      out.output = a.substr(9);
    } else if (a.size() > 1 && a[0] == '-' && !(max_positionals > 0 && a == "--all")) {
      std::cerr << what << ": unknown option " << a << "\n" << usage;
      return std::nullopt;
    } else if (out.positionals.size() < max_positionals) {
      out.positionals.push_back(a);
    } else {
      std::cerr << what << ": unexpected argument " << a << "\n" << usage;
      return std::nullopt;
    }
  }
  if (takes_output && out.output != "text" && out.output != "json") {
    std::cerr << what << ": -o \"" << out.output << "\": expected text or json\n" << usage;
    return std::nullopt;
  }
  return out;
}

int cmd_status(const std::string& socket, const std::vector<std::string>& args) {
  constexpr const char* kStatusUsage = "Usage: chaosctl status [-o text|json]\n";
  auto parsed = simple_args("chaosctl status", args, true, 0, kStatusUsage);
  if (!parsed) return kExitUnusable;
  if (parsed->help) {
    std::cout << kStatusUsage;
    return 0;
  }
  bool json = parsed->output == "json";
  auto res = call_agent(socket, {{"op", "status"}});
  if (!res) {
    std::cerr << "chaosctl status: " << res.error().text() << "\n";
    return kExitUnusable;
  }
  if (json) {
    std::cout << res->dump(2) << "\n";
    return 0;
  }
  const auto& runs = (*res)["runs"];
  std::cout << "agent state " << res->value("stateDir", std::string()) << ", journal entries outstanding: "
            << res->value("journalOutstanding", 0) << "\n";
  if (runs.empty()) std::cout << "no runs\n";
  for (const auto& r : runs) {
    std::cout << r.value("run", std::string()) << "  " << r.value("state", std::string());
    if (r.contains("outcome")) std::cout << " (" << r["outcome"].get<std::string>() << ")";
    if (r.contains("elapsed")) std::cout << "  " << r["elapsed"].get<double>() << "s of " << r.value("duration", 0.0) << "s";
    if (!r["activeFaults"].empty()) std::cout << "  active: " << r["activeFaults"].dump();
    std::cout << "\n";
  }
  return 0;
}

int cmd_halt(const std::string& socket, const std::vector<std::string>& args) {
  constexpr const char* kHaltUsage = "Usage: chaosctl halt RUN | --all\n";
  auto parsed = simple_args("chaosctl halt", args, false, 1, kHaltUsage);
  if (!parsed) return kExitUnusable;
  if (parsed->help) {
    std::cout << kHaltUsage;
    return 0;
  }
  if (parsed->positionals.size() != 1) {
    std::cerr << "chaosctl halt: expected RUN or --all\n" << kHaltUsage;
    return kExitUnusable;
  }
  std::string run = parsed->positionals[0] == "--all" ? "" : parsed->positionals[0];
  auto res = call_agent(socket, {{"op", "halt"}, {"run", run}});
  if (!res) {
    std::cerr << "chaosctl halt: " << res.error().text() << "\n";
    return kExitUnusable;
  }
  if (!res->value("ok", false)) {
    std::cerr << "chaosctl halt: " << res->value("error", std::string()) << "\n";
    return 1;
  }
  for (const auto& id : (*res)["halted"]) std::cout << "halted " << id.get<std::string>() << "\n";
  if ((*res)["halted"].empty()) std::cout << "nothing to halt\n";
  return 0;
}

int cmd_recover(const std::string& socket, const std::vector<std::string>& args) {
  constexpr const char* kRecoverUsage = "Usage: chaosctl recover\n";
  auto parsed = simple_args("chaosctl recover", args, false, 0, kRecoverUsage);
  if (!parsed) return kExitUnusable;
  if (parsed->help) {
    std::cout << kRecoverUsage;
    return 0;
  }
  auto res = call_agent(socket, {{"op", "recover"}});
  if (!res) {
    std::cerr << "chaosctl recover: " << res.error().text() << "\n";
    return kExitUnusable;
  }
  for (const auto& l : res->value("lines", nlohmann::json::array())) std::cout << l.get<std::string>() << "\n";
  std::cout << "reverted " << res->value("reverted", 0) << ", failed " << res->value("failed", 0) << "\n";
  return res->value("ok", false) ? 0 : 1;
}

int cmd_report(const std::string& socket, const std::vector<std::string>& args) {
  constexpr const char* kReportUsage =
      "chaosctl report: expected RUN [-o text|json|html|junit] [--out FILE]\n"
      "  -o, --output FORMAT  text (the summary, default), json (run.json), html (one page with plots),\n"
      "                       junit (JUnit XML for CI); --format is the same\n"
      "  --out FILE           write to FILE instead of stdout; without -o the format follows the\n"
      "                       extension (.json, .html, .xml; anything else: text)\n";
  std::string run, format, out;
  bool bad = false;
  std::string why;  // what was wrong, said before the usage
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string_view flag) -> std::optional<std::string> {
      if (a == flag) {
        if (i + 1 < args.size()) return args[++i];
        bad = true;
        why = a + " needs a value";
        return std::nullopt;
      }
      if (a.size() > flag.size() + 1 && a.compare(0, flag.size(), flag) == 0 && a[flag.size()] == '=')
        return a.substr(flag.size() + 1);
      return std::nullopt;
    };
    if (a == "-h" || a == "--help") {
      std::cout << kReportUsage;
      return 0;
    }
    if (auto v = value("-o"); v) format = *v;
    else if (auto v = value("--output"); v) format = *v;
    else if (auto v = value("--format"); v) format = *v;
    else if (auto v = value("--out"); v) out = *v;
    else if (!bad && !a.empty() && a[0] != '-' && run.empty()) run = a;
    else {
      if (why.empty()) why = (!a.empty() && a[0] == '-' ? "unknown option " : "unexpected argument ") + a;
      bad = true;
    }
  }
  if (format.empty()) {
    auto by_ext = out.empty() ? std::nullopt : report_format_for_path(out);
    format = by_ext == ReportFormat::json ? "json" : by_ext == ReportFormat::html ? "html" :
             by_ext == ReportFormat::junit ? "junit" : "text";
  }
  if (!bad && run.empty()) why = "expected RUN";
  if (!bad && !run.empty() && format != "text" && !parse_report_format(format))
    why = "-o \"" + format + "\": expected text, json, html or junit";
  if (!why.empty()) {
    std::cerr << "chaosctl report: " << why << "\n" << kReportUsage;
    return kExitUnusable;
  }
  auto res = call_agent(socket, {{"op", "report"}, {"run", run}});
  if (!res) {
    std::cerr << "chaosctl report: " << res.error().text() << "\n";
    return kExitUnusable;
  }
  if (!res->value("ok", false)) {
    std::cerr << "chaosctl report: " << res->value("error", std::string()) << "\n";
    return 1;
  }
  const auto& report = (*res)["report"];
  std::string text = format == "text" ? format_summary(report) : render_report(report, *parse_report_format(format));
  if (out.empty()) {
    std::cout << text;
    return 0;
  }
  if (auto w = write_report_file(out, text); !w) {
    std::cerr << "chaosctl report: " << w.error().text() << "\n";
    return 1;
  }
  std::cerr << "report written to " << out << "\n";
  return 0;
}

}  // namespace

int chaosctl_main(int argc, char** argv) {
  chaos::set_log_level(getenv("CHAOS_LOG_LEVEL") ? getenv("CHAOS_LOG_LEVEL") : "warn");
  std::string socket = getenv("CHAOS_AGENT_SOCKET") ? getenv("CHAOS_AGENT_SOCKET") : kDefaultSocket;
  std::vector<std::string> args(argv + 1, argv + argc);
  while (!args.empty() && args[0].rfind("--socket", 0) == 0) {
    if (args[0] == "--socket" && args.size() >= 2) {
      socket = args[1];
      args.erase(args.begin(), args.begin() + 2);
    } else if (args[0].rfind("--socket=", 0) == 0) {
      socket = args[0].substr(9);
      args.erase(args.begin());
    } else {
      std::cerr << "chaosctl: --socket needs a PATH\n";
      return kExitUnusable;
    }
  }
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? kExitUnusable : 0;
  }
  std::string cmd = args[0];
  args.erase(args.begin());
  if (cmd == "validate") return cmd_validate(args);
  if (cmd == "import") return cmd_import(args);
  if (cmd == "run" && is_manifest_run(args))
    return cmd_run_manifest(args, [&](const std::vector<std::string>& a) { return cmd_run(socket, a); });
  if (cmd == "run") return cmd_run(socket, args);
  if (cmd == "status") return cmd_status(socket, args);
  if (cmd == "halt") return cmd_halt(socket, args);
  if (cmd == "recover") return cmd_recover(socket, args);
  if (cmd == "report") return cmd_report(socket, args);
  if (cmd == "lab") return cmd_lab(args);
  if (cmd == "schedule") return cmd_schedule(socket, args);
  if (cmd == "audit") return cmd_audit(socket, args);
  std::cerr << "chaosctl: unknown command " << cmd << "\n" << kUsage;
  return kExitUnusable;
}

}  // namespace chaos::cli
