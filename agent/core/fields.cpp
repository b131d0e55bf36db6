#include "core/fields.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace chaos {

namespace {

std::string join(const std::set<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

// What a node holds, for "<found>: expected <what>" messages.
std::string found_in(const YAML::Node& n) {
  if (!n || n.IsNull()) return "missing value";
  if (n.IsMap()) return "found a map";
  if (n.IsSequence()) return "found a list";
  return quoted(n.Scalar());
}


}  // namespace

Location YNode::loc() const {
  Location l;
  l.file = file_;
  if (node_ || at_) {
    auto m = at_ ? *at_ : node_.Mark();
    if (m.line >= 0) {
      l.line = m.line + 1;
      l.col = m.column + 1;
    }
  }
  return l;
}

void YNode::error(const std::string& message) const { diags_->error(loc(), path_, message); }

YNode YNode::get(const std::string& key) const {
  std::string path = path_.empty() ? key : path_ + "." + key;
  if (present_ && node_.IsMap()) {
    // Const lookup on a map never throws (on a scalar it would: YAML::BadSubscript).
    const YAML::Node& self = node_;
    YAML::Node n = self[key];
    if (n) {
      std::optional<YAML::Mark> at;
      if (n.IsNull())  // "key:" with nothing after it: yaml-cpp places the value at the next token
        for (const auto& kv : self)
          if (kv.first.IsScalar() && kv.first.Scalar() == key) at = kv.first.Mark();
      return YNode(n, path, file_, diags_, at);
    }
  }
  YNode missing(YAML::Node(), path, file_, diags_, at_ ? at_ : std::optional<YAML::Mark>(node_.Mark()));
  missing.present_ = false;
  return missing;
}

std::string YNode::found() const { return present_ ? chaos::found_in(node_) : "missing"; }

std::unexpected<ConvertError> fail_at(const YNode& n, std::string message) {
  return std::unexpected(ConvertError{Diagnostic{n.loc(), n.path(), std::move(message)}, false});
}

std::unexpected<ConvertError> refuse_at(const YNode& n, std::string message) {
  return std::unexpected(ConvertError{Diagnostic{n.loc(), n.path(), std::move(message)}, true});
}

std::vector<YNode> YNode::elements() const {
  std::vector<YNode> out;
  if (!node_.IsSequence()) {
    error(found_in(node_) + ": expected a list");
    return out;
  }
  for (std::size_t i = 0; i < node_.size(); ++i)
    out.emplace_back(node_[i], path_ + "[" + std::to_string(i) + "]", file_, diags_);
  return out;
}

std::optional<std::string> YNode::as_string() const {
  if (!node_.IsScalar()) {
    error(found_in(node_) + ": expected a string");
    return std::nullopt;
  }
  return node_.Scalar();
}

#define CHAOS_SCALAR_CONVERSION(method, type, parser)                    \
  std::optional<type> YNode::method() const {                            \
    if (!node_.IsScalar()) {                                             \
      error(found_in(node_) + ": " + parser("").error().message);           \
      return std::nullopt;                                               \
    }                                                                    \
    auto r = parser(node_.Scalar());                                     \
    if (!r) {                                                            \
      error(quoted(node_.Scalar()) + ": " + r.error().message);          \
      return std::nullopt;                                               \
    }                                                                    \
    return *r;                                                           \
  }

CHAOS_SCALAR_CONVERSION(as_duration, Duration, parse_duration)
CHAOS_SCALAR_CONVERSION(as_bytes, std::uint64_t, parse_bytes)
CHAOS_SCALAR_CONVERSION(as_rate, std::uint64_t, parse_rate)
CHAOS_SCALAR_CONVERSION(as_percent, Percent, parse_percent)
CHAOS_SCALAR_CONVERSION(as_cidr, Cidr, parse_cidr)
CHAOS_SCALAR_CONVERSION(as_port_range, PortRange, parse_port_range)
#undef CHAOS_SCALAR_CONVERSION

std::optional<std::int64_t> YNode::as_int(std::int64_t min, std::int64_t max) const {
  if (!node_.IsScalar()) {
    error(found_in(node_) + ": expected an integer");
    return std::nullopt;
  }
  const std::string& s = node_.Scalar();
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) {
    error(quoted(s) + ": expected an integer");
    return std::nullopt;
  }
  if (v < min || v > max) {
    error(quoted(s) + ": out of range, expected " + std::to_string(min) + ".." + std::to_string(max));
    return std::nullopt;
  }
  return v;
}

std::optional<double> YNode::as_number(double min, double max) const {
  if (!node_.IsScalar()) {
    error(found_in(node_) + ": expected a number");
    return std::nullopt;
  }
  const std::string& s = node_.Scalar();
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  // from_chars accepts "nan" and "inf"; NaN would pass every range check below.
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) {
    error(quoted(s) + ": expected a number");
    return std::nullopt;
  }
  if (v < min || v > max) {
    error(quoted(s) + ": out of range, expected a number from " + std::to_string(min) + " to " +
          std::to_string(max));
    return std::nullopt;
  }
  return v;
}

std::optional<bool> YNode::as_bool() const {
  if (node_.IsScalar()) {
    const std::string& s = node_.Scalar();
    if (s == "true") return true;
    if (s == "false") return false;
  }
  error(found_in(node_) + ": expected true or false");
  return std::nullopt;
}

std::optional<std::size_t> YNode::as_choice(std::span<const std::string_view> choices) const {
  std::string all;
  for (std::string_view c : choices) {
    if (!all.empty()) all += ", ";
    all += c;
  }
  if (!node_.IsScalar()) {
    error(found_in(node_) + ": expected one of: " + all);
    return std::nullopt;
  }
  const std::string& s = node_.Scalar();
  for (std::size_t i = 0; i < choices.size(); ++i)
    if (s == choices[i]) return i;
  error(quoted(s) + ": expected one of: " + all);
  return std::nullopt;
}

std::optional<std::string> YNode::as_enum(std::initializer_list<const char*> choices) const {
  std::vector<std::string_view> names(choices.begin(), choices.end());
  auto i = as_choice(names);
  if (!i) return std::nullopt;
  return std::string(names[*i]);
}

MapReader::MapReader(const YNode& node) : node_(node) {
  if (node.is_scalar()) {
    // Worded as before (test_gpu_spec pins it); "\"64GiB\": expected a map of fields" would be clearer.
    node.error("expected a map of fields");
  } else if (!node.is_map()) {
    node.error(found_in(node.yaml()) + ": expected a map of fields");
  } else {
    valid_ = true;
  }
}

bool MapReader::has(const std::string& key) const { return valid_ && node_.yaml()[key]; }

std::optional<YNode> MapReader::child(const std::string& key, bool required) {
  known_.insert(key);
  if (!valid_) return std::nullopt;
  YAML::Node n = node_.yaml()[key];
  std::string path = node_.path().empty() ? key : node_.path() + "." + key;
  if (!n) {
    if (required) node_.diags()->error(node_.loc(), path, "missing required field");
    return std::nullopt;
  }
  std::optional<YAML::Mark> at;
  if (n.IsNull()) {
    for (const auto& kv : node_.yaml())
      if (kv.first.IsScalar() && kv.first.Scalar() == key) at = kv.first.Mark();
  }
  return YNode(n, path, node_.file(), node_.diags(), at);
}

#define CHAOS_MAP_GETTER(method, type, conv)                                           \
  std::optional<type> MapReader::method(const std::string& key, bool required) {       \
    auto c = child(key, required);                                                     \
    if (!c) return std::nullopt;                                                       \
    return c->conv();                                                                  \
  }

CHAOS_MAP_GETTER(str, std::string, as_string)
CHAOS_MAP_GETTER(duration, Duration, as_duration)
CHAOS_MAP_GETTER(bytes, std::uint64_t, as_bytes)
CHAOS_MAP_GETTER(rate, std::uint64_t, as_rate)
CHAOS_MAP_GETTER(percent, Percent, as_percent)
CHAOS_MAP_GETTER(boolean, bool, as_bool)
#undef CHAOS_MAP_GETTER

std::optional<std::int64_t> MapReader::integer(const std::string& key, std::int64_t min,
                                               std::int64_t max, bool required) {
  auto c = child(key, required);
  if (!c) return std::nullopt;
  return c->as_int(min, max);
}

std::optional<double> MapReader::number(const std::string& key, double min, double max,
                                        bool required) {
  auto c = child(key, required);
  if (!c) return std::nullopt;
  return c->as_number(min, max);
}

std::optional<std::string> MapReader::one_of(const std::string& key,
                                             std::initializer_list<const char*> choices,
                                             bool required) {
  auto c = child(key, required);
  if (!c) return std::nullopt;
  return c->as_enum(choices);
}

namespace {
template <class T, class F>
std::vector<T> list_of(std::optional<YNode> c, F conv) {
  std::vector<T> out;
  if (!c) return out;
  if (c->is_scalar()) {
    if (auto v = conv(*c)) out.push_back(*v);
    return out;
  }
  for (const auto& e : c->elements())
    if (auto v = conv(e)) out.push_back(*v);
  return out;
}
}  // namespace

std::vector<Cidr> MapReader::cidrs(const std::string& key, bool required) {
  return list_of<Cidr>(child(key, required), [](const YNode& n) { return n.as_cidr(); });
}

std::vector<PortRange> MapReader::ports(const std::string& key, bool required) {
  return list_of<PortRange>(child(key, required), [](const YNode& n) { return n.as_port_range(); });
}

std::vector<std::string> MapReader::strings(const std::string& key, bool required) {
  return list_of<std::string>(child(key, required), [](const YNode& n) { return n.as_string(); });
}

std::vector<YNode> MapReader::seq(const std::string& key, bool required) {
  auto c = child(key, required);
  if (!c) return {};
  return c->elements();
}

std::optional<std::string> MapReader::exactly_one(std::initializer_list<const char*> keys,
                                                  bool required) {
  std::vector<std::string> present;
  std::string all;
  for (const char* k : keys) {
    if (!all.empty()) all += ", ";
    all += k;
    if (has(k)) present.push_back(k);
    known_.insert(k);  // legitimate field names: listed as expected, never reported unknown
  }
  if (!valid_) return std::nullopt;
  if (present.size() == 1) return present.front();
  if (present.empty()) {
    if (required) node_.error("expected exactly one of: " + all);
    return std::nullopt;
  }
  std::string found;
  for (const auto& p : present) found += (found.empty() ? "" : ", ") + p;
  node_.error("found " + found + ": expected exactly one of: " + all);
  return std::nullopt;
}

void MapReader::exclusive(const std::string& a, const std::string& b) {
  known_.insert(a);
  known_.insert(b);
  if (has(a) && has(b)) node_.error(a + " and " + b + " exclude each other: give only one");
}

void MapReader::finish() {
  if (!valid_) return;
  std::set<std::string> seen;
  for (const auto& kv : node_.yaml()) {
    std::string key = kv.first.IsScalar() ? kv.first.Scalar() : std::string("<complex key>");
    std::string path = node_.path().empty() ? key : node_.path() + "." + key;
    YNode k(kv.first, path, node_.file(), node_.diags());
    // yaml-cpp keeps both copies of a repeated key and lookups see only the first: the second
    // value would be silently ignored.
    if (!seen.insert(key).second) {
      k.error("given twice: expected each field once");
      continue;
    }
    if (known_.count(key)) continue;
    k.error("unknown field, expected one of: " + join(known_));
  }
}

}  // namespace chaos
