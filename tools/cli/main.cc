// w8a8 command-line tool (issue 4 grows it into quantize / inspect / info).
#include <cstdio>

#include "w8a8/w8a8.h"

int main() {
  const w8a8::Platform& p = w8a8::current_platform();
  std::printf("w8a8 %s\n", p.device_name.c_str());
  return 0;
}
