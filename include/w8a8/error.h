// One exception type for every misuse and every runtime failure in w8a8.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace w8a8 {

// What kind of mistake raised the error. Bindings map it to their own exception
// classes (Python: ValueError / TypeError / RuntimeError / NotImplementedError).
enum class ErrorKind {
  kValue,        // a value, shape, stride or alignment that the call cannot accept
  kType,         // a dtype or device that the call cannot accept
  kUnsupported,  // valid input that no available backend can run here
  kRuntime,      // a failure while running (CUDA, BLAS, I/O)
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message)
      : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
[[noreturn]] void throw_error(ErrorKind kind, const char* file, int line, const std::string& message);
}  // namespace detail

}  // namespace w8a8

// W8A8_CHECK(cond, parts...) throws a value error whose message is the concatenation of parts.
// Messages name the argument, what was expected and what was given:
//   W8A8_CHECK(a.dim() == 2, "a: expected a 2-D tensor, got ", a.dim(), "-D");
#define W8A8_CHECK_KIND(kind, cond, ...)                                                        \
  do {                                                                                          \
    if (!(cond)) ::w8a8::detail::throw_error(kind, __FILE__, __LINE__,                          \
                                             ::w8a8::detail::concat(__VA_ARGS__));              \
  } while (0)
#define W8A8_CHECK(cond, ...) W8A8_CHECK_KIND(::w8a8::ErrorKind::kValue, cond, __VA_ARGS__)
#define W8A8_CHECK_TYPE(cond, ...) W8A8_CHECK_KIND(::w8a8::ErrorKind::kType, cond, __VA_ARGS__)
#define W8A8_FAIL(kind, ...) \
  ::w8a8::detail::throw_error(kind, __FILE__, __LINE__, ::w8a8::detail::concat(__VA_ARGS__))
