// One name table per enum: the words an enum is written as on the wire (JSON events, reports,
// files), in one place, so that code compares enum values and a misspelt value does not compile.
//
//   enum class FaultState { applying, applied, ... };
//   inline constexpr auto kFaultStateNames =
//       name_table<FaultState>("fault state", {{FaultState::applying, "applying"}, ...});
//   constexpr const auto& names_of(FaultState) { return kFaultStateNames; }   // found by ADL
//
//   name(FaultState::applied)                -> "applied"
//   parse_name<FaultState>("revert-failed")  -> FaultState::revert_failed
//   parse_name<FaultState>("aplied")         -> Error "unknown fault state "aplied": expected ..."
//
// The table lists every value of its enum once, in declaration order (enumerators 0..N-1), each
// with a distinct non-empty name; a table that does not is a compile error (the check runs in a
// consteval constructor). Parsing is done once, where the text comes in (the CLI reading an
// agent's event, a report from disk, the scheduler reading its history); past that, enums.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace chaos {

template <typename E, std::size_t N>
class NameTable {
  static_assert(std::is_enum_v<E>);

 public:
  using Entry = std::pair<E, std::string_view>;

  consteval NameTable(std::string_view what, const Entry (&entries)[N]) : what_(what) {
    for (std::size_t i = 0; i < N; ++i) {
      entries_[i] = entries[i];
      // A throw in a consteval call does not compile: the message is what the compiler shows.
      if (static_cast<std::size_t>(std::to_underlying(entries[i].first)) != i)
        throw "name table: list every value of the enum once, in declaration order";
      if (entries[i].second.empty()) throw "name table: a value without a name";
      for (std::size_t j = 0; j < i; ++j)
        if (entries[j].second == entries[i].second) throw "name table: two values with one name";
    }
  }

  // What the enum is, in words ("fault state"), for error messages.
  constexpr std::string_view what() const { return what_; }
  constexpr std::size_t size() const { return N; }
  constexpr const std::array<Entry, N>& entries() const { return entries_; }

  constexpr std::string_view name(E e) const {
    const auto i = static_cast<std::size_t>(std::to_underlying(e));
    return i < N ? entries_[i].second : std::string_view("?");
  }
  constexpr std::optional<E> find(std::string_view s) const {
    for (const auto& [e, n] : entries_)
      if (n == s) return e;
    return std::nullopt;
  }
  // "a, b or c": what a parse error says would be right.
  std::string expected() const {
    std::string out;
    for (std::size_t i = 0; i < N; ++i)
      out += std::string(i == 0 ? "" : i + 1 == N ? " or " : ", ") + std::string(entries_[i].second);
    return out;
  }
  Result<E> parse(std::string_view s) const {
    if (auto e = find(s)) return *e;
    return fail("unknown " + std::string(what_) + " \"" + std::string(s) + "\": expected " + expected());
  }

 private:
  std::string_view what_;
  std::array<Entry, N> entries_{};
};

// name_table<E>("what", {{E::a, "a"}, {E::b, "b"}}): N is the number of entries.
template <typename E, std::size_t N>
consteval NameTable<E, N> name_table(std::string_view what, const std::pair<E, std::string_view> (&entries)[N]) {
  return NameTable<E, N>(what, entries);
}

// An enum with a table: names_of(E) finds it (declared next to the enum).
template <typename E>
concept Named = std::is_enum_v<E> && requires(E e) { names_of(e).name(e); };

template <Named E>
constexpr std::string_view name(E e) {
  return names_of(e).name(e);
}

template <Named E>
Result<E> parse_name(std::string_view s) {
  return names_of(E{}).parse(s);
}

// The string at j[key], parsed as an E: an error when it is absent, not a string or not a name
// of E (the message says which).
template <Named E>
Result<E> parse_field(const nlohmann::json& j, std::string_view key) {
  const auto& table = names_of(E{});
  if (!j.is_object()) return fail(std::string(key) + ": not in an object");
  auto it = j.find(key);
  if (it == j.end()) return fail(std::string(key) + ": missing (expected " + table.expected() + ")");
  if (!it->is_string()) return fail(std::string(key) + ": " + it->dump() + " is not a " + std::string(table.what()));
  auto e = table.parse(it->template get_ref<const std::string&>());
  if (!e) return wrap(e.error(), std::string(key));
  return *e;
}

}  // namespace chaos
