#include "server/api_request.h"

#include <initializer_list>

namespace chaos {

namespace {

constexpr const char* kOps = "run, validate, status, halt, recover, report, ping, audit, schedule.*";
constexpr int kMaxNesting = 16;

// Every field any request has (server/api_server.h, server/scheduler.h); others are dropped as the
// line is parsed.
bool known_field(const std::string& k) {
  static const char* const kFields[] = {"op", "file", "yaml",         "dryRun", "run",  "name",
                                        "at", "policy", "historyLimit", "since",  "limit"};
  for (const char* f : kFields)
    if (k == f) return true;
  return false;
}

// Deeper than any request is, found without parsing (strings skipped, escapes honoured): the
// parser's own stacks grow by a few bytes per level, 8 MB for a megabyte of "[[[[".
bool nested_deeper_than(std::string_view line, int max) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

// A request is one object of scalar fields: nothing below a field is stored (a field that is a
// list or an object is kept empty, so that its type is still reported) and unknown keys are
// dropped. A megabyte of {"a":0,"b":0,...} would otherwise be a map of 100 000 entries.
nlohmann::json parse_bounded(std::string_view line) {
  nlohmann::json::parser_callback_t keep = [](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    switch (ev) {
      case E::object_start: return depth <= 1;
      case E::array_start: return depth == 1;
      case E::key: return depth == 1 && parsed.is_string() && known_field(parsed.get_ref<const std::string&>());
      case E::value: return depth <= 1;
      default: return true;
    }
  };
  return nlohmann::json::parse(line, keep, false);
}

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
  if (nested_deeper_than(line, kMaxNesting))
    return fail("bad request: nested deeper than " + std::to_string(kMaxNesting) +
                " levels (a request is one JSON object of plain fields)");
  auto req = parse_bounded(line);
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
  } else if (name == "audit") {
    r.op = ApiOp::audit;
    checked = check_fields(req, name, {{"since", Want::string}, {"limit", Want::integer}});
    if (checked && req.contains("limit")) {
      const auto& l = req["limit"];
      bool fits = l.is_number_unsigned() ? l.get<std::uint64_t>() <= 1'000'000u
                                         : l.get<std::int64_t>() >= 0 && l.get<std::int64_t>() <= 1'000'000;
      if (!fits) checked = fail("bad request: audit field \"limit\" " + l.dump() + ": expected an integer from 0 to 1000000");
      else r.limit = l.get<long long>();
    }
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
  r.since = string_or(req, "since", "");
  auto dry = req.find("dryRun");
  r.dry_run = dry != req.end() && dry->is_boolean() && dry->get<bool>();
  r.body = std::move(req);
  return r;
}

}  // namespace chaos
