// GPTQ: a hand-packed layer decoded by the documented rules (codes and zero points lowest bits
// first, v1 storing z - 1), random round trips over widths 2/3/4/8 with and without g_idx, v1 and
// v2, symmetric and asymmetric zero points, and validation errors.
#include <gtest/gtest.h>

#include <random>

#include "formats/gptq.h"
#include "util/half.h"

namespace nibble {
namespace {

LinearDesc desc_of(const GptqPacked& p, bool v2, int group_size) {
  LinearDesc d;
  d.name = "layer";
  d.format = LinearFormat::gptq;
  d.K = p.K;
  d.N = p.N;
  d.gptq = p.views("layer", v2, group_size);
  return d;
}

TEST(Gptq, HandPackedLayerV1) {
  // K = 8, N = 8, 4-bit: row k holds code k in every column -> qweight word 0x76543210 per column.
  std::vector<std::int32_t> qweight(8, 0x76543210);
  std::vector<std::int32_t> qzeros = {0x77777777};  // v1 stores z - 1 = 7 -> z = 8 (symmetric)
  std::vector<std::uint16_t> scales(8, fp32_to_fp16(0.5f));
  LinearDesc d;
  d.format = LinearFormat::gptq;
  d.K = 8;
  d.N = 8;
  d.gptq.qweight = make_tensor_view("w.qweight", DType::i32, {1, 8}, qweight.data());
  d.gptq.qzeros = make_tensor_view("w.qzeros", DType::i32, {1, 1}, qzeros.data());
  d.gptq.scales = make_tensor_view("w.scales", DType::f16, {1, 8}, scales.data());
  d.gptq.bits = 4;
  std::vector<float> w(64);
  ASSERT_TRUE(dequantize_linear(d, w.data()).ok());
  for (int n = 0; n < 8; ++n)
    for (int k = 0; k < 8; ++k) EXPECT_EQ(w[static_cast<std::size_t>(n) * 8 + k], (k - 8) * 0.5f);
  d.gptq.v2 = true;  // the same bytes read as v2: z = 7
  ASSERT_TRUE(dequantize_linear(d, w.data()).ok());
  EXPECT_EQ(w[3], (3 - 7) * 0.5f);
}

GptqUnpacked random_layer(std::mt19937& rng, int bits, int K, int N, int group_size, bool g_idx, bool v2, bool sym) {
  GptqUnpacked u;
  u.K = K;
  u.N = N;
  u.bits = bits;
  u.v2 = v2;
  u.group_size = group_size;
  const int G = (K + group_size - 1) / group_size;
  const int maxq = (1 << bits) - 1;
  for (int i = 0; i < K * N; ++i) u.codes.push_back(static_cast<std::uint8_t>(rng() % (maxq + 1)));
  for (int i = 0; i < G * N; ++i) {
    const int z = sym ? (1 << (bits - 1)) : (v2 ? static_cast<int>(rng() % (maxq + 1)) : 1 + static_cast<int>(rng() % (maxq + 1)));
    u.zeros.push_back(static_cast<std::uint16_t>(z));
    u.scales.push_back(fp32_to_fp16(0.001f * static_cast<float>(1 + rng() % 100)));
  }
  if (g_idx) {
    for (int k = 0; k < K; ++k) u.g_idx.push_back(static_cast<std::int32_t>(rng() % G));
  }
  return u;
}

TEST(Gptq, RoundTrips) {
  std::mt19937 rng(9);
  for (int bits : {2, 3, 4, 8})
    for (bool g_idx : {false, true})
      for (bool v2 : {false, true})
        for (bool sym : {false, true}) {
          SCOPED_TRACE(testing::Message() << bits << "-bit g_idx " << g_idx << " v2 " << v2 << " sym " << sym);
          const GptqUnpacked u = random_layer(rng, bits, 128, 64, 32, g_idx, v2, sym);
          auto p = gptq_pack(u);
          ASSERT_TRUE(p) << p.error().to_string();
          const LinearDesc d = desc_of(*p, v2, 32);
          ASSERT_TRUE(validate_linear(d).ok()) << validate_linear(d).error().to_string();
          auto back = gptq_unpack(d);
          ASSERT_TRUE(back) << back.error().to_string();
          EXPECT_EQ(back->codes, u.codes);
          EXPECT_EQ(back->zeros, u.zeros);
          EXPECT_EQ(back->scales, u.scales);
          EXPECT_EQ(back->g_idx, u.g_idx);
          std::vector<float> w(128 * 64);
          ASSERT_TRUE(dequantize_linear(d, w.data()).ok());
          for (int k = 0; k < 128; k += 7)
            for (int n = 0; n < 64; n += 5) {
              const int g = g_idx ? u.g_idx[static_cast<std::size_t>(k)] : k / 32;
              const float want = static_cast<float>(u.codes[static_cast<std::size_t>(k) * 64 + n] - u.zeros[static_cast<std::size_t>(g) * 64 + n]) *
                                 fp16_to_fp32(u.scales[static_cast<std::size_t>(g) * 64 + n]);
              ASSERT_EQ(w[static_cast<std::size_t>(n) * 128 + k], want);
            }
        }
}

TEST(Gptq, V1CannotStoreAZeroOfZero) {
  std::mt19937 rng(1);
  auto u = random_layer(rng, 4, 32, 8, 32, false, false, false);
  u.zeros[0] = 0;
  auto p = gptq_pack(u);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().kind, ErrorKind::invalid_argument);
}

TEST(Gptq, ValidationErrorsNameTheTensor) {
  std::mt19937 rng(2);
  const auto u = random_layer(rng, 4, 64, 16, 32, true, true, false);
  auto p = gptq_pack(u);
  ASSERT_TRUE(p);
  auto bad = *p;
  bad.g_idx[5] = 2;  // only groups 0 and 1 exist
  auto st = validate_linear(desc_of(bad, true, 32));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("layer.g_idx"), std::string::npos) << st.error().message;
  LinearDesc d = desc_of(*p, true, 32);
  d.K = 96;  // qweight no longer matches
  st = validate_linear(d);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("layer.qweight"), std::string::npos) << st.error().message;
  d = desc_of(*p, true, 32);
  d.gptq.bits = 5;
  EXPECT_FALSE(validate_linear(d).ok());
}

}  // namespace
}  // namespace nibble
