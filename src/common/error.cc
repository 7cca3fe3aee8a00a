#include "w8a8/error.h"

#include <cstdlib>

namespace w8a8::detail {

void throw_error(ErrorKind kind, const char* file, int line, const std::string& message) {
  // The source location helps us, not the user; it is appended only when asked for.
  static const bool with_location = std::getenv("W8A8_ERROR_LOCATION") != nullptr;
  if (!with_location) throw Error(kind, message);
  throw Error(kind, message + " [" + file + ":" + std::to_string(line) + "]");
}

}  // namespace w8a8::detail
