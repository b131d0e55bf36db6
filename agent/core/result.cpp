#include "core/result.h"

#include <cstring>

namespace chaos {

std::string Error::text() const {
  if (code == 0 || refusal) return message;
  return message + ": " + std::strerror(code);
}

}  // namespace chaos
