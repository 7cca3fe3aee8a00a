// Quantization group shapes with vLLM's meaning: (rows, cols), -1 meaning the full extent.
#pragma once

#include <cstdint>
#include <string>

namespace w8a8 {

struct GroupShape {
  int64_t row = -1;
  int64_t col = -1;

  static constexpr GroupShape per_tensor() { return {-1, -1}; }
  static constexpr GroupShape per_token() { return {1, -1}; }
  static constexpr GroupShape per_channel() { return {-1, 1}; }

  constexpr bool is_per_tensor() const { return row == -1 && col == -1; }
  constexpr bool is_per_token() const { return row == 1 && col == -1; }
  constexpr bool is_per_channel() const { return row == -1 && col == 1; }
  // (1, G) with G > 1: dynamic per-token-group activations, e.g. (1, 128).
  constexpr bool is_per_group() const { return row == 1 && col > 1; }
  constexpr bool operator==(const GroupShape& o) const { return row == o.row && col == o.col; }
  constexpr bool operator!=(const GroupShape& o) const { return !(*this == o); }
  std::string str() const;  // "PER_TENSOR", "PER_TOKEN", "PER_CHANNEL" or "(1, 128)"
};

// vLLM spells these as class attributes: GroupShape.PER_TENSOR, ...
inline constexpr GroupShape PER_TENSOR = GroupShape::per_tensor();
inline constexpr GroupShape PER_TOKEN = GroupShape::per_token();
inline constexpr GroupShape PER_CHANNEL = GroupShape::per_channel();

}  // namespace w8a8
