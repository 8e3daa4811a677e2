// RoPE tables against transformers' formulas evaluated independently in double precision
// (Python math, values below), for the default, linear, llama3 (all three frequency bands) and
// yarn types; and the rotate-half application.
#include <gtest/gtest.h>

#include <cmath>

#include "model/rope.h"

namespace nibble {
namespace {

void expect_rel(float got, double want, double tol = 2e-6) {
  EXPECT_NEAR(got, want, std::fabs(want) * tol) << "want " << want;
}

TEST(Rope, Default) {
  RopeSpec r;
  const RopeTable t = rope_table(r, 64);
  ASSERT_EQ(t.inv_freq.size(), 32u);
  expect_rel(t.inv_freq[0], 1.0);
  expect_rel(t.inv_freq[1], 0.7498942093324559);
  expect_rel(t.inv_freq[16], 0.01);
  expect_rel(t.inv_freq[31], 0.0001333521432163324);
  EXPECT_EQ(t.attention_scaling, 1.0f);
}

TEST(Rope, Linear) {
  RopeSpec r;
  r.type = RopeType::linear;
  r.factor = 2.0;
  const RopeTable t = rope_table(r, 64);
  expect_rel(t.inv_freq[0], 0.5);
  expect_rel(t.inv_freq[16], 0.005);
  expect_rel(t.inv_freq[31], 6.66760716081662e-05);
}

TEST(Rope, Llama3AllBands) {
  RopeSpec r;
  r.type = RopeType::llama3;
  r.theta = 500000;
  r.factor = 8;
  r.low_freq_factor = 1;
  r.high_freq_factor = 4;
  r.original_max_positions = 8192;
  const RopeTable t = rope_table(r, 128);
  expect_rel(t.inv_freq[0], 1.0);                       // high frequency: unchanged
  expect_rel(t.inv_freq[28], 0.0032114459947525913);
  expect_rel(t.inv_freq[30], 0.0013718935677611381);    // medium: smoothed
  expect_rel(t.inv_freq[32], 0.0005248461609929547);
  expect_rel(t.inv_freq[34], 0.00017850781276799638);
  expect_rel(t.inv_freq[40], 3.428102195952591e-05);    // low: divided by factor
  expect_rel(t.inv_freq[63], 3.068925988914511e-07);
}

TEST(Rope, Yarn) {
  RopeSpec r;
  r.type = RopeType::yarn;
  r.theta = 1e6;
  r.factor = 4;
  r.original_max_positions = 32768;
  const RopeTable t = rope_table(r, 128);
  expect_rel(t.attention_scaling, 1.138629436111989, 1e-7);
  expect_rel(t.inv_freq[0], 1.0);
  expect_rel(t.inv_freq[10], 0.1154781984689458);
  expect_rel(t.inv_freq[20], 0.01333521432163324);
  expect_rel(t.inv_freq[30], 0.0010643609812470017);   // inside the ramp
  expect_rel(t.inv_freq[40], 4.445698525097307e-05);
  expect_rel(t.inv_freq[63], 3.102344401879299e-07);
  r.attention_factor = 1.5;
  EXPECT_EQ(rope_table(r, 128).attention_scaling, 1.5f);
}

TEST(Rope, RotateHalfPairsDimensionsIAndIPlusHalf) {
  RopeSpec r;
  const RopeTable t = rope_table(r, 8);
  float cos[4], sin[4];
  rope_cos_sin(t, 3, cos, sin);
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(cos[i], std::cos(3.0 * t.inv_freq[i]), 1e-6);
    EXPECT_NEAR(sin[i], std::sin(3.0 * t.inv_freq[i]), 1e-6);
  }
  float x[8] = {1, 0, 0, 0, 0, 0, 0, 0};  // unit vector on pair 0's first half
  rope_apply(x, 8, cos, sin);
  EXPECT_FLOAT_EQ(x[0], cos[0]);
  EXPECT_FLOAT_EQ(x[4], sin[0]);
  EXPECT_EQ(x[1], 0.0f);
}

}  // namespace
}  // namespace nibble
