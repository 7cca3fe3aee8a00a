#include "w8a8/group_shape.h"

namespace w8a8 {

std::string GroupShape::str() const {
  if (is_per_tensor()) return "PER_TENSOR";
  if (is_per_token()) return "PER_TOKEN";
  if (is_per_channel()) return "PER_CHANNEL";
  return "(" + std::to_string(row) + ", " + std::to_string(col) + ")";
}

}  // namespace w8a8
