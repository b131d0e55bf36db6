// chaosctl's commands, callable from tests. Each returns the process exit code.
#pragma once

#include <string>
#include <vector>

namespace chaos::cli {

// Exit codes of `chaosctl run`: the hypothesis held; it deviated or the run aborted; the input
// (file, flags) was unusable or the agent refused it.
inline constexpr int kExitHeld = 0;
inline constexpr int kExitDeviated = 1;
inline constexpr int kExitUnusable = 2;

int chaosctl_main(int argc, char** argv);

}  // namespace chaos::cli
