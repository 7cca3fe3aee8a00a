#include "w8a8/tensor.h"

namespace w8a8 {
namespace {
thread_local Stream t_current_stream = nullptr;
}
Stream current_stream() { return t_current_stream; }
void set_current_stream(Stream stream) { t_current_stream = stream; }
}  // namespace w8a8
