// chaosctl's commands, callable from tests. Each returns the process exit code.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/program_options.hpp>

namespace chaos::cli {

// Exit codes of `chaosctl run`: the hypothesis held; it deviated or the run aborted; the input
// (file, flags) was unusable or the agent refused it.
inline constexpr int kExitHeld = 0;
inline constexpr int kExitDeviated = 1;
inline constexpr int kExitUnusable = 2;

int chaosctl_main(int argc, char** argv);

// Parses one command's arguments: the options in `desc` plus positionals, each bound in order to
// a hidden option (name, value). Returns nullopt to go on; otherwise the exit code, after
// printing: 0 for --help (the usage), kExitUnusable for a bad argument (`what: error` + usage).
std::optional<int> parse_command(const std::string& what, const std::vector<std::string>& args,
                                 const boost::program_options::options_description& desc,
                                 std::vector<std::pair<const char*, boost::program_options::value_semantic*>> positionals,
                                 boost::program_options::variables_map& vm);

}  // namespace chaos::cli
