// libFuzzer target: the safetensors header parser and the views it hands out.
// Any input must give either a parsed file whose every tensor lies inside the buffer, or a
// w8a8::Error. Anything else (a crash, a sanitizer report, another exception type) is a finding.
// Built and run by scripts/fuzz-safetensors.sh (clang, -fsanitize=fuzzer,address,undefined).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "w8a8/error.h"
#include "w8a8/io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const w8a8::SafetensorsFile f = w8a8::SafetensorsFile::from_buffer(data, size, "fuzz");
    uint8_t sink = 0;
    for (const w8a8::SafetensorsEntry& e : f.entries()) {
      if (f.header().data_offset + e.end > size) std::abort();  // a view outside the buffer
      const w8a8::TensorView v = f.tensor(e.name);
      if (uint64_t(v.numel()) * v.element_size() != e.nbytes()) std::abort();
      if (e.nbytes()) {
        // Touch the first and last byte: ASan reports any read outside the input.
        sink ^= static_cast<const uint8_t*>(v.data())[0];
        sink ^= static_cast<const uint8_t*>(v.data())[e.nbytes() - 1];
      }
    }
    for (const auto& kv : f.metadata()) sink ^= uint8_t(kv.first.size() + kv.second.size());
    volatile uint8_t keep = sink;
    (void)keep;
  } catch (const w8a8::Error&) {
    // Refused with a message: the expected outcome for malformed input.
  }
  return 0;
}
