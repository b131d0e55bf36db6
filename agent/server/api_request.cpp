#include "server/api_request.h"

#include <initializer_list>

namespace chaos {

namespace {

constexpr const char* kOps = "run, validate, status, halt, recover, report, ping, schedule.*";

const char* type_name(const nlohmann::json& j) {
  // nlohmann's own names: "null", "boolean", "number", "string", "array", "object".
  return j.type_name();
}

// Every field `op` reads, with the JSON type it must have.
enum class Want { string, boolean, integer };

struct Field {
  const char* name;
  Want want;
};

Result<void> check_fields(const nlohmann::json& req, const std::string& op, std::initializer_list<Field> fields) {
  for (const auto& f : fields) {
    auto it = req.find(f.name);
    if (it == req.end()) continue;
    bool ok = f.want == Want::string    ? it->is_string()
              : f.want == Want::boolean ? it->is_boolean()
                                        : it->is_number_integer();
    if (!ok) {
      const char* want = f.want == Want::string ? "a string" : f.want == Want::boolean ? "true or false" : "an integer";
      return fail("bad request: " + op + " field \"" + f.name + "\" is " + type_name(*it) + ": expected " + want);
    }
  }
  return {};
}

std::string string_or(const nlohmann::json& req, const char* key, std::string dflt) {
  auto it = req.find(key);
  return it != req.end() && it->is_string() ? it->get<std::string>() : dflt;
}

}  // namespace

Result<ApiRequest> parse_api_request(std::string_view line) {
  auto req = nlohmann::json::parse(line, nullptr, false);
  if (req.is_discarded() || !req.is_object()) return fail("bad request: expected a JSON object with an op");
  auto op = req.find("op");
  if (op == req.end()) return fail("bad request: expected a JSON object with an op");
  if (!op->is_string()) return fail(std::string("bad request: op is ") + type_name(*op) + ": expected one of " + kOps);
  ApiRequest r;
  r.op_name = op->get<std::string>();
  const std::string& name = r.op_name;
  Result<void> checked;
  if (name == "run") {
    r.op = ApiOp::run;
    checked = check_fields(req, name, {{"file", Want::string}, {"yaml", Want::string}, {"dryRun", Want::boolean}});
  } else if (name == "validate") {
    r.op = ApiOp::validate;
    checked = check_fields(req, name, {{"file", Want::string}, {"yaml", Want::string}});
  } else if (name == "status") {
    r.op = ApiOp::status;
  } else if (name == "halt") {
    r.op = ApiOp::halt;
    checked = check_fields(req, name, {{"run", Want::string}});
  } else if (name == "recover") {
    r.op = ApiOp::recover;
  } else if (name == "report") {
    r.op = ApiOp::report;
    checked = check_fields(req, name, {{"run", Want::string}});
  } else if (name == "ping") {
    r.op = ApiOp::ping;
  } else if (name.rfind("schedule.", 0) == 0) {
    r.op = ApiOp::schedule;
    checked = check_fields(req, name,
                           {{"name", Want::string},
                            {"at", Want::string},
                            {"file", Want::string},
                            {"yaml", Want::string},
                            {"policy", Want::string},
                            {"historyLimit", Want::integer}});
    if (checked && req.contains("historyLimit")) {
      // The scheduler reads it as an int: a value past int's range is refused here, not wrapped.
      const auto& h = req["historyLimit"];
      bool fits = h.is_number_unsigned() ? h.get<std::uint64_t>() <= 1'000'000u
                                         : h.get<std::int64_t>() >= -1'000'000 && h.get<std::int64_t>() <= 1'000'000;
      if (!fits) checked = fail("bad request: " + name + " field \"historyLimit\" " + h.dump() + ": out of range");
    }
  } else {
    return fail("bad request: unknown op " + name + ": expected one of " + kOps);
  }
  if (!checked) return std::unexpected(checked.error());
  r.file = string_or(req, "file", "<api>");
  r.yaml = string_or(req, "yaml", "");
  r.run = string_or(req, "run", "");
  auto dry = req.find("dryRun");
  r.dry_run = dry != req.end() && dry->is_boolean() && dry->get<bool>();
  r.body = std::move(req);
  return r;
}

}  // namespace chaos
