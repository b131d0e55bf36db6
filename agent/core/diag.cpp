#include "core/diag.h"

namespace chaos {

std::string Location::str() const {
  return (file.empty() ? std::string("<input>") : file) + ":" + std::to_string(line > 0 ? line : 1) + ":" +
         std::to_string(line > 0 ? col : 1);
}

std::string Diagnostic::str() const {
  std::string out = loc.file.empty() ? std::string("<input>") : loc.file;
  if (loc.line > 0) out += ":" + std::to_string(loc.line) + ":" + std::to_string(loc.col);
  out += ": error: ";
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
