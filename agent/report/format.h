// Pieces the HTML and JUnit renderers share: tolerant reads of the report JSON (a report from an
// older agent, or from a run that aborted half-way, lacks fields), number formatting with units,
// axis ticks.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace chaos::report {

using nlohmann::json;

// j[key] when it is a number (bools are not), else def.
double num_or(const json& j, std::string_view key, double def);
// j[key] when it is a bool, else def.
bool bool_or(const json& j, std::string_view key, bool def);
// j[key] when it is a string, else def.
std::string str_or(const json& j, std::string_view key, std::string_view def = "");
// j[key] when it is an array/object, else an empty one (a static: never null).
const json& array_at(const json& j, std::string_view key);
const json& object_at(const json& j, std::string_view key);

// j.dump() that never throws: invalid UTF-8 (a stray byte from an HTTP error body) becomes U+FFFD.
std::string dump(const json& j, int indent = -1);

// xml_escape() plus tab, LF and CR as character references: an attribute value keeps them.
std::string attr(std::string_view s);

// v with at most `decimals` decimals, trailing zeros dropped: 5, 5.07, 0.25.
std::string num(double v, int decimals = 3);
// A latency in milliseconds with its unit: "0.24 ms", "12 ms", "1.25 s".
std::string latency(double ms);
// Seconds since the start of the run: "5.07 s".
std::string seconds(double s);
// A telemetry value with the unit its key names: *_bytes as KiB/MiB/GiB, *_ms as a latency,
// anything else compact (12.3k, 4.5M).
std::string quantity(double v, std::string_view key);

// Round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten), about `target`
// of them.
std::vector<double> nice_ticks(double lo, double hi, int target);
// A round number at or above v (1, 2, 2.5, 5 or 10 times a power of ten).
double nice_ceil(double v);

}  // namespace chaos::report
