// One API request line, read and checked before anything acts on it: the JSON object, its op,
// and the type of every field that op reads. Pure (no socket, no node state), so the fuzz target
// fuzz/fuzz_api_request.cpp drives exactly what ApiServer does with a line short of touching the
// node. A field of the wrong type is an error naming it; unknown fields are ignored (clients
// older or newer than the agent). A line within the size cap (api.maxRequestBytes) cannot make the
// agent hold much more than the line: nothing nested deeper than 16 levels is parsed, unknown
// keys are dropped as the line is parsed, nothing below a field is kept.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace chaos {

enum class ApiOp { run, validate, status, halt, recover, report, ping, audit, schedule };

struct ApiRequest {
  ApiOp op = ApiOp::ping;
  std::string op_name;        // as given: "run", "schedule.add"
  std::string file = "<api>"; // run, validate, schedule.add: where the experiment came from
  std::string yaml;           // run, validate, schedule.add: the experiment's text
  bool dry_run = false;       // run
  std::string run;            // halt ("" = all), report
  std::string since;          // audit ("" = from the start)
  long long limit = 1000;     // audit: at most this many records (0 .. 1 000 000)
  nlohmann::json body;        // the whole object: schedule.* ops read their own (checked) fields
};

// Errors read "bad request: ..." and say what was expected.
Result<ApiRequest> parse_api_request(std::string_view line);

}  // namespace chaos
