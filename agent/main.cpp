// chaos-agent: the privileged node daemon. Replays the journal (reverting whatever a dead agent
// left behind) before it accepts work, serves the API on a unix socket, and reverts everything
// on SIGTERM/SIGINT before exiting.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <thread>

#include <boost/program_options.hpp>

#include "core/log.h"
#include "runner/families.h"
#include "server/api_server.h"
#include "server/metrics.h"
#include "server/scheduler.h"
#include "server/service.h"
#include "server/systemd.h"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  std::string socket_path, state_dir, config_path, log_level;
  po::options_description desc(
      "Usage: chaos-agent --socket PATH --state-dir DIR [--config FILE]\n\n"
      "The chaos-agent daemon: injects faults described by experiment files, watches the blast\n"
      "radius, and always puts the node back. It replays its journal at start-up and reverts\n"
      "anything a previous agent left behind before accepting work.\n\nOptions");
  desc.add_options()
      ("help,h", "print this help and exit")
      ("socket", po::value(&socket_path)->default_value("/run/chaos-agent/agent.sock"),
       "unix socket the API is served on (root:api.group, mode 0660; 0600 without the group)")
      ("state-dir", po::value(&state_dir)->default_value("/var/lib/chaos-agent"),
       "directory for the journal and run reports")
      ("config", po::value(&config_path)->default_value("/etc/chaos-agent/agent.yaml"),
       "agent configuration: guardrails, lease, attach mode, metrics endpoint, API groups and limits (absent file: defaults)")
      ("log-level", po::value(&log_level)->default_value("info"), "trace, debug, info, warn, error")
      ("recover-only", "replay the journal, revert what it lists, and exit (for ExecStopPost)");
  po::variables_map vm;
  try {
    // No positional arguments: a stray word (a mistyped option) must not start an agent.
    po::positional_options_description none;
    po::store(po::command_line_parser(argc, argv).options(desc).positional(none).run(), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "chaos-agent: " << e.what() << "\n\n" << desc << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  chaos::set_log_level(log_level);
  auto log = chaos::logger("agent");

  auto cfg = chaos::load_agent_config(config_path, chaos::builtin_families().config_registry());
  if (!cfg.diags.ok()) {
    std::cerr << cfg.diags.str();
    return 2;
  }

  // Signals go to one thread, which asks everything to revert and stop.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Declared before the service so that it outlives every run that feeds it.
  std::unique_ptr<chaos::Metrics> metrics;
  chaos::AgentService service(cfg.config, state_dir, chaos::builtin_families());
  auto rec = service.start();
  if (!rec) {
    log->critical("cannot start: {}", rec.error().text());
    return 1;
  }
  if (rec->reverted || rec->failed)
    log->warn("journal replay: reverted {} change(s) a previous agent left behind, {} failed", rec->reverted,
              rec->failed);
  for (const auto& l : rec->lines) log->info("journal replay: {}", l);
  if (rec->failed) {
    log->critical("refusing to accept work: {} change(s) could not be reverted (see above)", rec->failed);
    return 1;
  }
  if (vm.count("recover-only")) return 0;

  if (cfg.config.metrics_listen) {
    metrics = std::make_unique<chaos::Metrics>();
    metrics->recovered(*rec);
    if (auto r = metrics->listen(*cfg.config.metrics_listen); !r) {
      log->critical("cannot start: {}", r.error().text());
      return 1;
    }
    service.set_metrics(metrics.get());
    // The bound port, not the configured one: with port 0 the kernel picked it.
    log->info("metrics: {}", metrics->url());
  }

  chaos::ApiServer server(service, socket_path);
  if (auto r = server.listen(); !r) {
    log->critical("{}", r.error().text());
    return 1;
  }
  // Scheduled game days start only once this agent owns the socket (a second agent on the same
  // state dir must not fire them) and after the journal replay.
  chaos::Scheduler scheduler(service, state_dir);
  if (auto r = scheduler.load(); !r) log->error("schedules: {}", r.error().text());
  scheduler.start();
  server.set_scheduler(&scheduler);
  std::thread sig_thread([&] {
    int sig = 0;
    sigwait(&sigs, &sig);
    log->info("signal {}: reverting every active fault and stopping", strsignal(sig));
    server.stop();
  });
  log->info("ready: pid {}, socket {}, state {}, lease {}", getpid(), socket_path, state_dir,
            chaos::format_duration(cfg.config.lease));
  chaos::SystemdNotifier systemd;
  systemd.ready("serving " + socket_path);
  // A run's loop turns every tick; one that has not turned for this long is stuck.
  const auto stall_limit = std::max<std::chrono::nanoseconds>(std::chrono::seconds(30), cfg.config.lease * 10);
  if (auto every = systemd.start_watchdog([&] { return service.stalled_runs(stall_limit); }); every.count())
    log->info("systemd watchdog: {} ms; pinged while no run's timeline is stuck for {}", every.count() / 1000,
              chaos::format_duration(std::chrono::duration_cast<chaos::Duration>(stall_limit)));
  server.serve();
  systemd.stopping();
  systemd.stop_watchdog();
  scheduler.stop();  // no firing after this; the halts below then catch every scheduled run
  service.shutdown("agent stopping");
  scheduler.join();
  server.join_connections();
  if (sig_thread.joinable()) {
    // serve() can also return on its own (fatal poll error); wake the signal thread then.
    pthread_kill(sig_thread.native_handle(), SIGTERM);
    sig_thread.join();
  }
  log->info("stopped cleanly");
  return 0;
}
