// One API request line, read and checked before anything acts on it: the JSON object, its op,
// and the type of every field that op reads. Pure (no socket, no node state), so the fuzz target
// fuzz/fuzz_api_request.cpp drives exactly what ApiServer does with a line short of touching the
// node. A field of the wrong type is an error naming it; unknown fields are ignored (clients
// older or newer than the agent).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace chaos {

enum class ApiOp { run, validate, status, halt, recover, report, ping, schedule };

struct ApiRequest {
  ApiOp op = ApiOp::ping;
  std::string op_name;        // as given: "run", "schedule.add"
  std::string file = "<api>"; // run, validate, schedule.add: where the experiment came from
  std::string yaml;           // run, validate, schedule.add: the experiment's text
  bool dry_run = false;       // run
  std::string run;            // halt ("" = all), report
  nlohmann::json body;        // the whole object: schedule.* ops read their own (checked) fields
};

// Errors read "bad request: ..." and say what was expected.
Result<ApiRequest> parse_api_request(std::string_view line);

}  // namespace chaos
