#include <gtest/gtest.h>
#include "w8a8/formats.h"
TEST(Formats, Placeholder) { EXPECT_EQ(w8a8::float_to_e4m3fn(1.0f), 0x38); }
