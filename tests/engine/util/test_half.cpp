// fp16/bf16 conversions against the hardware-independent definition: every fp16 bit pattern
// round-trips, and fp32 -> fp16 rounds to nearest even (checked against a double-precision model).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "util/half.h"

namespace nibble {
namespace {

// Reference: the fp16 value nearest to |x| (ties to the even bit pattern) by exhaustive search over
// the finite non-negative halves, then x's sign.
std::uint16_t nearest_half(float x, const std::vector<double>& table) {
  const double ax = std::fabs(static_cast<double>(x));
  double best = INFINITY;
  std::uint16_t best_bits = 0;
  for (std::uint32_t b = 0; b < 0x7c00; ++b) {
    const double d = std::fabs(table[b] - ax);
    if (d < best || (d == best && (b & 1) == 0)) {
      best = d;
      best_bits = static_cast<std::uint16_t>(b);
    }
  }
  return static_cast<std::uint16_t>(best_bits | (std::signbit(x) ? 0x8000 : 0));
}

TEST(Half, EveryHalfRoundTrips) {
  for (std::uint32_t b = 0; b < 0x10000; ++b) {
    const float f = fp16_to_fp32(static_cast<std::uint16_t>(b));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(fp16_to_fp32(fp32_to_fp16(f))));
      continue;
    }
    EXPECT_EQ(fp32_to_fp16(f), b) << "bits " << b;
  }
}

TEST(Half, KnownValues) {
  EXPECT_EQ(fp16_to_fp32(0x3c00), 1.0f);
  EXPECT_EQ(fp16_to_fp32(0xc000), -2.0f);
  EXPECT_EQ(fp16_to_fp32(0x7bff), 65504.0f);
  EXPECT_EQ(fp16_to_fp32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7c00);  // rounds to inf
  EXPECT_EQ(fp32_to_fp16(1e-9f), 0x0000);
}

TEST(Half, RoundsToNearestEven) {
  std::vector<double> table(0x10000);
  for (std::uint32_t b = 0; b < 0x10000; ++b) table[b] = fp16_to_fp32(static_cast<std::uint16_t>(b));
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> mag(-30.0f, 16.0f);
  for (int i = 0; i < 300; ++i) {
    float x = std::ldexp(1.0f + static_cast<float>(rng() % 1000) / 1000.0f, static_cast<int>(mag(rng)));
    if (rng() & 1) x = -x;
    EXPECT_EQ(fp32_to_fp16(x), nearest_half(x, table)) << x;
  }
}

TEST(Half, Bfloat16) {
  EXPECT_EQ(bf16_to_fp32(0x3f80), 1.0f);
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80);
  // 1 + 2^-8 is exactly halfway between two bf16 values: ties to even (down to 1.0).
  EXPECT_EQ(fp32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(fp32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(NAN))));
}

}  // namespace
}  // namespace nibble
