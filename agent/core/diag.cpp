#include "core/diag.h"

namespace chaos {

std::string Location::str() const {
  // A problem with the whole file (empty, unreadable, not a map) is at its start: 1:1, so that
  // editors and scripts read every error line the same way.
  int l = line > 0 ? line : 1, c = line > 0 && col > 0 ? col : 1;
  return (file.empty() ? std::string("<input>") : file) + ":" + std::to_string(l) + ":" + std::to_string(c);
}

std::string Diagnostic::str(const char* severity) const {
  std::string out = loc.str() + ": " + severity + ": ";
  if (!field.empty()) out += field + ": ";
  out += message;
  return out;
}

void Diagnostics::error(Location loc, std::string field, std::string message) {
  items_.push_back(Diagnostic{std::move(loc), std::move(field), std::move(message)});
}

std::string Diagnostics::str() const {
  std::string out;
  for (const auto& d : items_) out += d.str() + "\n";
  return out;
}

void Diagnostics::merge(const Diagnostics& other) {
  items_.insert(items_.end(), other.items_.begin(), other.items_.end());
}

}  // namespace chaos
