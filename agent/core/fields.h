// Strict reading of YAML into typed values. Every read records the key as known; finish()
// reports every key nobody asked for. Errors go into Diagnostics with file:line:col and the
// dotted field path, and reading continues so one pass reports every error.
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <initializer_list>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/diag.h"
#include "core/enum_names.h"
#include "core/units.h"

namespace chaos {

// A YAML node together with where it came from.
class YNode {
 public:
  // `at` overrides where the node is said to be: yaml-cpp places an empty value ("key:" with
  // nothing after it) at the next token, often on a later line, so MapReader passes the key's mark.
  YNode(YAML::Node node, std::string path, std::string file, Diagnostics* diags,
        std::optional<YAML::Mark> at = std::nullopt)
      : node_(std::move(node)), path_(std::move(path)), file_(std::move(file)), diags_(diags), at_(at) {}

  const YAML::Node& yaml() const { return node_; }
  const std::string& path() const { return path_; }
  const std::string& file() const { return file_; }
  Diagnostics* diags() const { return diags_; }
  Location loc() const;
  bool is_map() const { return node_.IsMap(); }
  bool is_seq() const { return node_.IsSequence(); }
  bool is_scalar() const { return node_.IsScalar(); }
  bool is_null() const { return !node_ || node_.IsNull(); }
  std::string scalar() const { return node_.IsScalar() ? node_.Scalar() : std::string(); }

  // Reports an error located at this node, about this field.
  void error(const std::string& message) const;

  // Lenient lookup, for foreign manifests (Chaos Mesh) whose unknown fields are ignored: the value
  // under `key` when this is a map that has it; otherwise an absent node (present() false) located
  // here. Never throws and reports nothing: a scalar or a list where a map belongs is simply not
  // a map (callers that need one say so with must_be_map()).
  YNode get(const std::string& key) const;
  // False for a key that is not there.
  bool present() const { return present_; }
  // What this node holds, for "<found>: expected <what>" messages: "\"10 ms\"", "found a map",
  // "found a list", "missing value".
  std::string found() const;

  // Elements of a sequence (an error, and nothing, when this is not a sequence).
  std::vector<YNode> elements() const;

  // Scalar conversions of this node; on failure an error is reported and nullopt returned.
  std::optional<std::string> as_string() const;
  std::optional<Duration> as_duration() const;
  std::optional<std::uint64_t> as_bytes() const;
  std::optional<std::uint64_t> as_rate() const;
  std::optional<Percent> as_percent() const;
  std::optional<std::int64_t> as_int(std::int64_t min, std::int64_t max) const;
  std::optional<double> as_number(double min, double max) const;
  std::optional<bool> as_bool() const;
  std::optional<std::string> as_enum(std::initializer_list<const char*> choices) const;
  // The value of an enum by its name table (core/enum_names.h: names_of(E)); otherwise an error
  // "\"x\": expected one of: a, b, c" (the table's names, in its order).
  template <Named E>
  std::optional<E> as_enum() const {
    const auto& entries = names_of(E{}).entries();
    std::array<std::string_view, std::tuple_size_v<std::remove_cvref_t<decltype(entries)>>> choices;
    for (std::size_t i = 0; i < choices.size(); ++i) choices[i] = entries[i].second;
    auto i = as_choice(choices);
    if (!i) return std::nullopt;
    return entries[*i].first;
  }
  // Which of `choices` this scalar is; otherwise an error "...: expected one of: a, b".
  std::optional<std::size_t> as_choice(std::span<const std::string_view> choices) const;
  std::optional<Cidr> as_cidr() const;
  std::optional<PortRange> as_port_range() const;

 private:
  YAML::Node node_;
  std::string path_;
  std::string file_;
  Diagnostics* diags_;
  std::optional<YAML::Mark> at_;
  bool present_ = true;
};

// The first problem of a conversion that stops there (chaosctl import), located like a
// diagnostic. refused: the input is valid but has no equivalent here (a CPU stressor), as opposed
// to wrong.
struct ConvertError {
  Diagnostic diag;
  bool refused = false;
  // "FILE:LINE:COL: error: FIELD: message" (or "...: refused: ...").
  std::string str() const { return diag.str(refused ? "refused" : "error"); }
};
template <class T>
using Converted = std::expected<T, ConvertError>;

// An error (or refusal) about node `n`: its location and dotted path, and what is wrong.
std::unexpected<ConvertError> fail_at(const YNode& n, std::string message);
std::unexpected<ConvertError> refuse_at(const YNode& n, std::string message);

// Reads the keys of one YAML map strictly.
class MapReader {
 public:
  explicit MapReader(const YNode& node);  // reports an error when node is not a map

  const YNode& node() const { return node_; }
  bool valid() const { return valid_; }
  bool has(const std::string& key) const;

  // The child node (marks the key as known). nullopt when absent; when required, also an error.
  std::optional<YNode> child(const std::string& key, bool required = false);

  std::optional<std::string> str(const std::string& key, bool required = false);
  std::optional<Duration> duration(const std::string& key, bool required = false);
  std::optional<std::uint64_t> bytes(const std::string& key, bool required = false);
  std::optional<std::uint64_t> rate(const std::string& key, bool required = false);
  std::optional<Percent> percent(const std::string& key, bool required = false);
  std::optional<std::int64_t> integer(const std::string& key, std::int64_t min, std::int64_t max,
                                      bool required = false);
  std::optional<double> number(const std::string& key, double min, double max, bool required = false);
  std::optional<bool> boolean(const std::string& key, bool required = false);
  std::optional<std::string> one_of(const std::string& key, std::initializer_list<const char*> choices,
                                    bool required = false);
  // An enum by its name table: one_of<AttachMode>("attach").
  template <Named E>
  std::optional<E> one_of(const std::string& key, bool required = false) {
    auto c = child(key, required);
    if (!c) return std::nullopt;
    return c->template as_enum<E>();
  }
  // A list of CIDRs (a single scalar is accepted as a one-element list).
  std::vector<Cidr> cidrs(const std::string& key, bool required = false);
  // A list of ports or port ranges: [80, "8000-8100"].
  std::vector<PortRange> ports(const std::string& key, bool required = false);
  // A list of strings.
  std::vector<std::string> strings(const std::string& key, bool required = false);
  // Sequence elements under key.
  std::vector<YNode> seq(const std::string& key, bool required = false);

  // Reports "exactly one of a, b, c" unless exactly one of the keys is present; returns it.
  std::optional<std::string> exactly_one(std::initializer_list<const char*> keys, bool required = true);
  // Reports an error about two keys that exclude each other, when both are present.
  void exclusive(const std::string& a, const std::string& b);

  // Reports every key that was never read: "unknown field, expected one of: ...".
  void finish();

 private:
  YNode node_;
  bool valid_ = false;
  std::set<std::string> known_;
};

}  // namespace chaos
