// Converts raw little-endian float32 values with w8a8's conversions, for tests/python to compare
// against ml_dtypes. Usage: fp8_convert IN OUT. OUT holds, one array after another:
// e4m3fn[N] u8, e4m3fnuz[N] u8, e5m2[N] u8, e4m3fn saturating[N] u8, bf16[N] u16, fp16[N] u16.
#include <cstdio>
#include <vector>

#include "w8a8/formats.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: fp8_convert IN OUT\n");
    return 2;
  }
  std::FILE* in = std::fopen(argv[1], "rb");
  if (!in) return 1;
  std::vector<float> x;
  float buf[4096];
  size_t n;
  while ((n = std::fread(buf, 4, 4096, in)) > 0) x.insert(x.end(), buf, buf + n);
  std::fclose(in);
  const size_t count = x.size();
  std::vector<uint8_t> bytes(4 * count);
  std::vector<uint16_t> halves(2 * count);
  for (size_t i = 0; i < count; ++i) {
    bytes[i] = w8a8::float_to_e4m3fn(x[i]);
    bytes[count + i] = w8a8::float_to_e4m3fnuz(x[i]);
    bytes[2 * count + i] = w8a8::float_to_e5m2(x[i]);
    bytes[3 * count + i] = w8a8::float_to_e4m3fn(x[i], w8a8::Overflow::kSaturating);
    halves[i] = w8a8::float_to_bf16(x[i]);
    halves[count + i] = w8a8::float_to_fp16(x[i]);
  }
  std::FILE* out = std::fopen(argv[2], "wb");
  if (!out) return 1;
  std::fwrite(bytes.data(), 1, bytes.size(), out);
  std::fwrite(halves.data(), 2, halves.size(), out);
  return std::fclose(out) == 0 ? 0 : 1;
}
