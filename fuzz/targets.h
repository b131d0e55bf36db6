// The body of each fuzz target, one function per target, shared by the libFuzzer harnesses
// (fuzz_TARGET.cpp) and the unit tier's replay of every crash found so far
// (tests/unit/test_fuzz_regressions.cpp over tests/unit/testdata/fuzz-regressions/TARGET/).
// Besides "no crash, no leak, no hang" (the sanitizers and libFuzzer see to those), each checks
// what must hold for any input; a failed check calls fuzz_check_failed().
#pragma once

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/cron.h"
#include "core/diag.h"
#include "core/parser.h"
#include "import_cmd.h"
#include "runner/spec_parsers.h"
#include "server/api_request.h"

// The harnesses abort (libFuzzer reports it as a crash and saves the input); the unit test
// defines this to throw, so a regression fails one test with the reason.
#ifndef FUZZ_CHECK_FAILED
#define FUZZ_CHECK_FAILED(what)                           \
  do {                                                    \
    std::fprintf(stderr, "FUZZ_CHECK failed: %s\n", (what).c_str()); \
    std::abort();                                         \
  } while (0)
#endif

#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) FUZZ_CHECK_FAILED(std::string(__FILE__) + ":" + std::to_string(__LINE__) + ": " + #cond); \
  } while (0)

namespace chaos::fuzz {

// Is `line` "FILE:LINE:COL: KIND: ..." with LINE and COL positive numbers?
inline bool is_located(const std::string& line, const std::string& file, const std::string& kind = "error") {
  if (line.rfind(file + ":", 0) != 0) return false;
  std::size_t i = file.size() + 1;
  for (int part = 0; part < 2; ++part) {
    std::size_t start = i;
    while (i < line.size() && line[i] >= '0' && line[i] <= '9') ++i;
    if (i == start || line[start] == '0' || i >= line.size() || line[i] != ':') return false;
    ++i;
  }
  return line.compare(i, kind.size() + 2, " " + kind + ":") == 0;
}

// An unnamed text is "<input>" in its diagnostics (core/diag.cpp).
inline void check_diagnostics(const Diagnostics& diags, const std::string& file) {
  const std::string shown = file.empty() ? std::string("<input>") : file;
  for (const auto& d : diags.items())
    if (!is_located(d.str(), shown)) FUZZ_CHECK_FAILED("not a FILE:LINE:COL error line: " + d.str());
}

inline const SpecRegistry& registry() {
  static const SpecRegistry r = builtin_spec_registry();
  return r;
}

// parse_experiment over arbitrary YAML text, every built-in family and probe kind registered: an
// experiment or diagnostics, every diagnostic a FILE:LINE:COL line.
inline void one_experiment(std::string_view input) {
  auto out = parse_experiment(std::string(input), "fuzz.yaml", registry());
  FUZZ_CHECK(out.experiment.has_value() == out.diags.ok());
  check_diagnostics(out.diags, "fuzz.yaml");
  if (out.experiment) {
    for (const auto& f : out.experiment->faults) FUZZ_CHECK(f.spec != nullptr);
    for (const auto& p : out.experiment->probes) FUZZ_CHECK(p.spec != nullptr);
  }
}

// parse_agent_config over arbitrary text: the defaults or diagnostics, every one located.
inline void one_agent_config(std::string_view input) {
  static const ConfigRegistry families = builtin_config_registry();
  auto out = parse_agent_config(std::string(input), "agent.yaml", families);
  check_diagnostics(out.diags, "agent.yaml");
}

// CronSchedule::parse over arbitrary text; for every expression it accepts, the next firings
// from a few fixed instants are later, match the expression, and print and read back as UTC.
inline void one_cron(std::string_view input) {
  using namespace std::chrono;
  auto c = CronSchedule::parse(input);
  (void)parse_utc(input);
  if (!c) {
    FUZZ_CHECK(!c.error().message.empty());
    return;
  }
  using T = system_clock::time_point;
  for (T t : {T{}, T{sys_days{2026y / 11 / 29} + 11h + 58min + 50s + 500ms}, T{sys_days{2099y / 12 / 31} + 23h + 59min + 59s}}) {
    auto next = c->next_after(t);
    FUZZ_CHECK(next > t);
    if (next == T::max()) continue;
    if (c->every() == Duration::zero()) FUZZ_CHECK(c->matches(next));
    if (year_month_day{floor<days>(next)}.year() <= year{9999}) {
      auto back = parse_utc(format_utc(next));
      FUZZ_CHECK(back.has_value());
      FUZZ_CHECK(*back == floor<milliseconds>(next));
    }
  }
}

// No DNS while fuzzing: two names resolve, the rest do not.
inline Result<std::vector<Cidr>> fake_resolve(const std::string& host) {
  if (host == "example.com") return std::vector<Cidr>{*parse_cidr("203.0.113.20")};
  if (host == "www.google.com") return std::vector<Cidr>{*parse_cidr("2001:db8::10")};
  return fail("cannot resolve " + host, ENOENT);
}

// chaosctl import over arbitrary text, every kind it knows (NetworkChaos, PhysicalMachineChaos,
// StressChaos, Schedule of each, the refused kinds): converted, refused or an error, each with a
// FILE:LINE:COL line (unless a flag itself is wrong); what converts, the native parser accepts.
// The --target (and so the converter path) is picked by the input's length, so the seeds' bytes
// stay as they are.
inline void one_chaosmesh_import(std::string_view input) {
  struct Flags {
    const char* target;
    const char* interface;
  };
  static constexpr Flags kFlags[] = {
      {"netns:chaos-test", "eth0"}, {"", ""},          {"host", ""},              {"pid:42", "veth0"},
      {"lab:client", ""},           {"cgroup:/x", ""}, {"unit:etcd.service", ""}, {"pid:99999999999", ""},
      {"pid:-1", ""},               {"netns:a/b", ""}, {"cgroup:", ""},           {"host", "a very long name"},
  };
  const Flags& f = kFlags[input.size() % (sizeof kFlags / sizeof kFlags[0])];
  cli::ImportFlags flags;
  flags.target = f.target;
  flags.interface = f.interface;
  if (input.size() % 3 == 0) flags.peers = {"198.18.0.20/32"};
  flags.resolve = fake_resolve;
  std::string text(input);
  (void)cli::is_chaos_mesh_manifest(text);
  auto m = cli::import_manifest(text, flags, "manifest.yaml");
  using Outcome = cli::ManifestImport::Outcome;
  if (m.outcome != Outcome::converted) {
    FUZZ_CHECK(!m.reason.empty());
    if (cli::check_import_flags(flags)) {
      FUZZ_CHECK(m.where.file.empty());  // a bad flag is said as such, whatever the file holds
    } else if (!is_located(m.line(), "manifest.yaml", m.outcome == Outcome::refused ? "refused" : "error")) {
      FUZZ_CHECK_FAILED("not a FILE:LINE:COL line: " + m.line());
    }
    return;
  }
  auto native = parse_experiment(m.yaml, "imported.yaml", registry());
  if (!native.diags.ok())
    FUZZ_CHECK_FAILED("import printed an experiment the parser refuses:\n" + m.yaml + native.diags.str());
}

// One API request line, as ApiServer::handle takes it short of touching the node:
// parse_api_request (JSON, op, the type of every field the op reads), then what the agent does
// with the experiment of a run, validate or schedule.add before planning (parse_experiment), and
// the cron expression of a schedule.add; the answer is serialized as the server sends it.
inline void one_api_request(std::string_view line) {
  auto req = parse_api_request(line);
  nlohmann::json resp;
  if (!req) {
    FUZZ_CHECK(req.error().message.rfind("bad request: ", 0) == 0);
    resp = {{"ok", false}, {"error", req.error().message}};
  } else {
    bool experiment = req->op == ApiOp::run || req->op == ApiOp::validate ||
                      (req->op == ApiOp::schedule && req->op_name == "schedule.add");
    if (experiment) {
      auto out = parse_experiment(req->yaml, req->file, registry());
      check_diagnostics(out.diags, req->file);
      nlohmann::json errs = nlohmann::json::array();
      for (const auto& d : out.diags.items()) errs.push_back(d.str());
      resp = {{"ok", out.diags.ok()}, {"errors", errs}};
    }
    if (req->op == ApiOp::schedule && req->body.contains("at"))
      (void)CronSchedule::parse(req->body["at"].get<std::string>());
  }
  FUZZ_CHECK(!resp.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).empty());
}

}  // namespace chaos::fuzz
