// ppl_raw of the demo model with fp16, q8 and q4 KV caches on the first `windows` windows of 512
// tokens of the held-out corpus, checked against the bounds (q8 within 1%, q4 within 3% of fp16).
// Shared by the unit test (a few windows) and the slow full-protocol test.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>

#include "io/text_file.h"
#include "nibble/model.h"
#include "nibble/tokenizer.h"

namespace nibble {

inline double ppl_raw(KvCacheMode mode, const std::vector<std::int32_t>& ids, int windows) {
  LoadOptions o;
  o.kv_cache = mode;
  o.context = 1024;
  auto m = Model::load(std::string(NIBBLE_RESOURCES_DIR) + "/models/dictlm-16m", o);
  EXPECT_TRUE(m) << m.error().to_string();
  if (!m) return 0;
  auto r = perplexity_windows(**m, ids, windows, 512);
  EXPECT_TRUE(r) << r.error().to_string();
  return r ? r->perplexity : 0;
}

inline std::vector<std::int32_t> corpus_ids() {
  auto tok = Tokenizer::load(std::string(NIBBLE_RESOURCES_DIR) + "/models/dictlm-16m");
  EXPECT_TRUE(tok);
  auto text = read_text_file(std::string(NIBBLE_TEST_DATA_DIR) + "/corpus/heldout_raw.txt.gz");
  EXPECT_TRUE(text);
  if (!tok || !text) return {};
  auto ids = (*tok)->encode(*text, false);
  return ids ? *ids : std::vector<std::int32_t>{};
}

inline void check_kv_ppl(int windows) {
  const auto ids = corpus_ids();
  ASSERT_GE(ids.size(), static_cast<std::size_t>(windows) * 512);
  const double fp16 = ppl_raw(KvCacheMode::fp16, ids, windows);
  const double q8 = ppl_raw(KvCacheMode::q8, ids, windows);
  const double q4 = ppl_raw(KvCacheMode::q4, ids, windows);
  std::printf("ppl_raw (%d windows of 512): fp16 cache %.4f, q8 %.4f (%+.3f%%), q4 %.4f (%+.3f%%)\n", windows, fp16, q8,
              100 * (q8 / fp16 - 1), q4, 100 * (q4 / fp16 - 1));
  EXPECT_NEAR(q8, fp16, fp16 * 0.01);
  EXPECT_NEAR(q4, fp16, fp16 * 0.03);
  EXPECT_NE(q4, fp16);  // the cache really is quantized
}

}  // namespace nibble
