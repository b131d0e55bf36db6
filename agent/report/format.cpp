#include "report/format.h"

#include <cmath>
#include <cstdio>

#include "report/render.h"

namespace chaos::report {

double num_or(const json& j, std::string_view key, double def) {
  if (!j.is_object()) return def;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return def;
  double v = it->get<double>();
  return std::isfinite(v) ? v : def;
}

bool bool_or(const json& j, std::string_view key, bool def) {
  if (!j.is_object()) return def;
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : def;
}

std::string str_or(const json& j, std::string_view key, std::string_view def) {
  if (!j.is_object()) return std::string(def);
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::string(def);
  return it->get<std::string>();
}

const json& array_at(const json& j, std::string_view key) {
  static const json empty = json::array();
  if (!j.is_object()) return empty;
  auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : empty;
}

const json& object_at(const json& j, std::string_view key) {
  static const json empty = json::object();
  if (!j.is_object()) return empty;
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : empty;
}

std::string dump(const json& j, int indent) { return j.dump(indent, ' ', false, json::error_handler_t::replace); }

std::string attr(std::string_view s) {
  std::string e = xml_escape(s);
  std::string out;
  out.reserve(e.size());
  for (char c : e) {
    if (c == '\n') out += "&#10;";
    else if (c == '\r') out += "&#13;";
    else if (c == '\t') out += "&#9;";
    else out += c;
  }
  return out;
}

std::string num(double v, int decimals) {
  if (!std::isfinite(v)) return "-";
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", decimals, v);
  std::string s = b;
  if (s.find('.') != std::string::npos) {
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

std::string latency(double ms) {
  if (!std::isfinite(ms)) return "-";
  if (ms >= 1000) return num(ms / 1000, 2) + " s";
  if (ms >= 100) return num(ms, 0) + " ms";
  if (ms >= 10) return num(ms, 1) + " ms";
  return num(ms, 2) + " ms";
}

std::string seconds(double s) { return num(s, 2) + " s"; }

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

std::string quantity(double v, std::string_view key) {
  if (!std::isfinite(v)) return "-";
  if (ends_with(key, "bytes") || ends_with(key, "_bytes")) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double a = std::fabs(v);
    int u = 0;
    while (a >= 1024 && u < 4) {
      a /= 1024;
      v /= 1024;
      ++u;
    }
    return num(v, u == 0 ? 0 : (a >= 100 ? 0 : 1)) + " " + units[u];
  }
  if (ends_with(key, "_ms")) return latency(v);
  double a = std::fabs(v);
  if (a >= 1e9) return num(v / 1e9, 1) + "G";
  if (a >= 1e6) return num(v / 1e6, 1) + "M";
  if (a >= 1e4) return num(v / 1e3, 1) + "k";
  if (a >= 100) return num(v, 0);
  return num(v, a >= 10 ? 1 : 3);
}

double nice_ceil(double v) {
  if (!(v > 0) || !std::isfinite(v)) return 1;
  double p = std::pow(10.0, std::floor(std::log10(v)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * p >= v * (1 - 1e-12)) return m * p;
  return 10 * p;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  std::vector<double> out;
  if (!std::isfinite(lo) || !std::isfinite(hi)) return out;
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) {
    out.push_back(lo);
    return out;
  }
  double raw = (hi - lo) / std::max(1, target);
  double p = std::pow(10.0, std::floor(std::log10(raw)));
  double step = p;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * p;
    if (step >= raw) break;
  }
  double first = std::ceil(lo / step - 1e-9) * step;
  for (int i = 0; i <= 100; ++i) {
    // Rounded to the step's decimals: 0.1 * 3 is 0.30000000000000004.
    double x = first + i * step;
    double t = p < 1 ? std::round(x / p) / std::round(1 / p) : std::round(x / p) * p;
    if (t > hi + step * 1e-9) break;
    out.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  }
  return out;
}

}  // namespace chaos::report
