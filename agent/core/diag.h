// User-facing diagnostics: FILE:LINE:COL: error: FIELD: what is wrong, expected what.
#pragma once

#include <string>
#include <vector>

namespace chaos {

struct Location {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown (printed as 1:1: a whole-file problem)
  int col = 0;   // 1-based
  // "FILE:LINE:COL", always with a line and column so every error line parses the same way.
  std::string str() const;
};

struct Diagnostic {
  Location loc;
  std::string field;    // dotted path: spec.faults[0].network.match.cidrs[1]
  std::string message;  // "\"10 ms\": expected a duration like 10ms"
  // "FILE:LINE:COL: error: FIELD: message"; `severity` replaces "error" (chaosctl import: "refused").
  std::string str(const char* severity = "error") const;
};

// Collects every error of one pass; parsing continues after an error so all are reported.
class Diagnostics {
 public:
  void error(Location loc, std::string field, std::string message);
  bool ok() const { return items_.empty(); }
  const std::vector<Diagnostic>& items() const { return items_; }
  std::string str() const;  // one diagnostic per line
  void merge(const Diagnostics& other);

 private:
  std::vector<Diagnostic> items_;
};

}  // namespace chaos
