// Device discovery: reports devices, or skips visibly when the machine has none.
#include <gtest/gtest.h>

#include <cstring>

#include "nibble_kernels/device.h"

namespace {

TEST(KernelsDevice, PropertiesOfEveryDevice) {
  int count = -1;
  ASSERT_EQ(nibble::kernels::device_count(&count), 0);
  if (count == 0) GTEST_SKIP() << "no CUDA device on this machine";
  for (int d = 0; d < count; ++d) {
    nibble::kernels::DeviceProps p{};
    ASSERT_EQ(nibble::kernels::device_props(d, &p), 0);
    EXPECT_GT(std::strlen(p.name), 0u);
    EXPECT_GE(p.major, 7);
    EXPECT_GT(p.total_bytes, p.free_bytes / 2);
    EXPECT_GT(p.multiprocessors, 0);
  }
}

}  // namespace
