// The words of a run as the agent writes them: the events it streams to the client that started
// the run (one JSON object each, "event": ...), a fault's states in them, the outcome of a run,
// why a run aborted, and a run's state. The wire format is these names and nothing else:
// chaosctl talks to agents older and newer than itself and reads reports written long ago, so a
// name, once written, is never changed. Code compares the enums.
//
//   {"event":"planned","run":ID,"plan":[...]}                   the run was planned and accepted
//   {"event":"started","name":EXP,"duration":S}                 its timeline began
//   {"event":"fault","fault":NAME,"state":STATE,...}            applying, applied, failed (apply),
//                                                               reverting, reverted, revert-failed
//   {"event":"stop-condition","probe"|"fault":NAME,"reason":R}  an abortWhen tripped
//   {"event":"progress","active":[...],"probes":{...}}          once a second
//   {"event":"aborted","reason":R,"abortCause":CAUSE}           every fault is reverted early
//   {"event":"done","outcome":OUTCOME,"reason":R,...}           the last one, always
#pragma once

#include "core/enum_names.h"

namespace chaos {

enum class RunEvent { planned, started, fault, stop_condition, progress, aborted, done };
inline constexpr auto kRunEventNames = name_table<RunEvent>("run event", {
    {RunEvent::planned, "planned"},
    {RunEvent::started, "started"},
    {RunEvent::fault, "fault"},
    {RunEvent::stop_condition, "stop-condition"},
    {RunEvent::progress, "progress"},
    {RunEvent::aborted, "aborted"},
    {RunEvent::done, "done"},
});
constexpr const auto& names_of(RunEvent) { return kRunEventNames; }

// A fault's state in its "fault" events, in the order they come.
enum class FaultState { applying, applied, failed, reverting, reverted, revert_failed };
inline constexpr auto kFaultStateNames = name_table<FaultState>("fault state", {
    {FaultState::applying, "applying"},
    {FaultState::applied, "applied"},
    {FaultState::failed, "failed"},  // apply() failed; the run reverts what part of it was made
    {FaultState::reverting, "reverting"},
    {FaultState::reverted, "reverted"},
    {FaultState::revert_failed, "revert-failed"},
});
constexpr const auto& names_of(FaultState) { return kFaultStateNames; }

// The outcome of a request to run: the "done" event's "outcome". A run's report carries one of
// the first four (kReportOutcomes); the others end a request before any timeline ran.
enum class RunOutcome {
  held,      // every steady-state hypothesis held
  deviated,  // one did not (or a fault's own aftermath check failed)
  aborted,   // the run stopped early (AbortCause says why); every fault was reverted
  failed,    // a fault could not be applied or reverted, or the run could not start
  planned,   // a dry run: planned, nothing changed
  refused,   // refused at plan time or by the agent (too many runs, stopping)
  invalid,   // the experiment did not parse
};
inline constexpr auto kRunOutcomeNames = name_table<RunOutcome>("run outcome", {
    {RunOutcome::held, "held"},
    {RunOutcome::deviated, "deviated"},
    {RunOutcome::aborted, "aborted"},
    {RunOutcome::failed, "failed"},
    {RunOutcome::planned, "planned"},
    {RunOutcome::refused, "refused"},
    {RunOutcome::invalid, "invalid"},
});
constexpr const auto& names_of(RunOutcome) { return kRunOutcomeNames; }
// The outcomes a run's report (and the /metrics chaos_runs_finished_total) can carry.
inline constexpr RunOutcome kReportOutcomes[] = {RunOutcome::held, RunOutcome::deviated, RunOutcome::aborted,
                                                 RunOutcome::failed};

// Why a run aborted: the "aborted" event's and the report's "abortCause", beside the "reason"
// written for people (which may change wording from one version to the next; this does not).
enum class AbortCause {
  halted,          // chaosctl halt (the reason names who asked)
  shutdown,        // the agent is stopping (SIGTERM, SIGINT)
  lease_lapsed,    // the agent was hung past a fault's lease; the fault stopped by itself
  fault_failed,    // a fault's apply() or its lease renewal failed
  probe_failed,    // a probe could not start
  stop_condition,  // an abortWhen of a probe or of a fault's telemetry tripped
};
inline constexpr auto kAbortCauseNames = name_table<AbortCause>("abort cause", {
    {AbortCause::halted, "halted"},
    {AbortCause::shutdown, "shutdown"},
    {AbortCause::lease_lapsed, "lease-lapsed"},
    {AbortCause::fault_failed, "fault-failed"},
    {AbortCause::probe_failed, "probe-failed"},
    {AbortCause::stop_condition, "stop-condition"},
});
constexpr const auto& names_of(AbortCause) { return kAbortCauseNames; }

// Where a run is: the "state" of `chaosctl status` and of the report.
enum class RunState { planned, running, finished, aborted, failed };
inline constexpr auto kRunStateNames = name_table<RunState>("run state", {
    {RunState::planned, "planned"},
    {RunState::running, "running"},
    {RunState::finished, "finished"},
    {RunState::aborted, "aborted"},
    {RunState::failed, "failed"},
});
constexpr const auto& names_of(RunState) { return kRunStateNames; }

}  // namespace chaos
