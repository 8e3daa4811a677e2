// The 1 MiB mixed bench text (make_bench_text.py, rebuilt here) encoded by each reference
// tokenizer: the SHA-256 of the comma-separated ids must equal HF tokenizers' (hf_bench.json).
#include <gtest/gtest.h>
#include <zlib.h>

#include <array>
#include <cstdint>
#include <cstdio>

#include "nibble/tokenizer.h"
#include "tokenizer_test_data.h"

namespace nibble {
namespace {

// SHA-256 (FIPS 180-4), enough to compare against Python's hashlib.
std::string sha256_hex(const std::string& message) {
  static constexpr std::array<std::uint32_t, 64> k = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
      0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
      0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
      0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
      0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
      0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
      0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
  std::array<std::uint32_t, 8> h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::string m = message;
  std::uint64_t bits = static_cast<std::uint64_t>(message.size()) * 8;
  m.push_back(static_cast<char>(0x80));
  while (m.size() % 64 != 56) m.push_back('\0');
  for (int i = 7; i >= 0; --i) m.push_back(static_cast<char>(bits >> (i * 8)));
  auto rotr = [](std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
  for (std::size_t chunk = 0; chunk < m.size(); chunk += 64) {
    std::array<std::uint32_t, 64> w{};
    for (int i = 0; i < 16; ++i) {
      const auto* p = reinterpret_cast<const unsigned char*>(m.data() + chunk + 4 * i);
      w[i] = (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
    }
    for (int i = 16; i < 64; ++i) {
      std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    auto v = h;
    for (int i = 0; i < 64; ++i) {
      std::uint32_t s1 = rotr(v[4], 6) ^ rotr(v[4], 11) ^ rotr(v[4], 25);
      std::uint32_t ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
      std::uint32_t t1 = v[7] + s1 + ch + k[i] + w[i];
      std::uint32_t s0 = rotr(v[0], 2) ^ rotr(v[0], 13) ^ rotr(v[0], 22);
      std::uint32_t maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
      std::uint32_t t2 = s0 + maj;
      v = {t1 + t2, v[0], v[1], v[2], v[3] + t1, v[4], v[5], v[6]};
    }
    for (int i = 0; i < 8; ++i) h[i] += v[i];
  }
  std::string hex;
  char buf[9];
  for (std::uint32_t x : h) {
    std::snprintf(buf, sizeof buf, "%08x", x);
    hex += buf;
  }
  return hex;
}

std::string bench_text() {
  std::string prose;
  gzFile f = gzopen(test::test_data("corpus/heldout_raw.txt.gz").c_str(), "rb");
  if (!f) return {};
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) prose.append(buf, static_cast<std::size_t>(n));
  gzclose(f);
  std::string mixed;
  bool first = true;
  for (const auto& s : test::read_json(test::test_data("tokenizers/strings.json"))) {
    std::string t = s.get<std::string>();
    std::size_t chars = 0;  // Python's len(): code points
    for (unsigned char c : t) chars += (c & 0xC0) != 0x80;
    if (chars == 0 || chars > 1000) continue;
    if (!first) mixed += "\n";
    mixed += t;
    first = false;
  }
  mixed += "\n";
  std::string text = prose;
  while (text.size() < (1u << 20)) text += mixed;
  return text;
}

class BenchText : public ::testing::TestWithParam<std::string> {};

TEST_P(BenchText, IdsEqualHf) {
  if (!test::tokenizer_available(GetParam())) GTEST_SKIP() << test::kMissingCache;
  static const std::string text = bench_text();
  ASSERT_EQ(text.size(), 1055320u);
  auto hf = test::read_json(test::test_data("tokenizers/hf_bench.json"));
  ASSERT_EQ(sha256_hex(text), hf["text_sha256"].get<std::string>());
  auto t = Tokenizer::load(test::tokenizer_dir(GetParam()));
  ASSERT_TRUE(t.ok()) << t.error().to_string();
  auto ids = (*t)->encode(text, false);
  ASSERT_TRUE(ids.ok());
  const auto& run = hf["runs"][GetParam()];
  EXPECT_EQ(ids->size(), run["n_ids"].get<std::size_t>());
  std::string joined;
  for (std::size_t i = 0; i < ids->size(); ++i) joined += (i ? "," : "") + std::to_string((*ids)[i]);
  EXPECT_EQ(sha256_hex(joined), run["ids_sha256"].get<std::string>());
}

INSTANTIATE_TEST_SUITE_P(Real, BenchText, ::testing::Values("dictlm", "qwen3", "llama3", "gemma3", "gpt2"),
                         [](const auto& info) { return info.param; });

TEST(Sha256, KnownDigests) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace nibble
