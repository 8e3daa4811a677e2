// Inputs shared by the GPU tests that compare whole-model runs (layer splits, tensor parallelism):
// a short prompt of demo-model ids and the held-out corpus tokenized with the demo tokenizer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../engine/model/ref_util.h"
#include "io/text_file.h"
#include "nibble/tokenizer.h"

namespace nibble::gpu_test {

inline const std::vector<std::int32_t>& split_prompt() {
  static const std::vector<std::int32_t> ids = {648, 579, 275, 276, 521, 35, 743, 806, 80, 460, 2081, 393, 371, 16};
  return ids;
}

// tests/data/corpus/heldout_raw.txt.gz as demo-model ids (empty when it cannot be read).
inline const std::vector<std::int32_t>& heldout_ids() {
  static const std::vector<std::int32_t> ids = [] {
    auto tok = Tokenizer::load(demo_model_dir());
    auto text = read_text_file(std::string(NIBBLE_TEST_DATA_DIR) + "/corpus/heldout_raw.txt.gz");
    if (!tok || !text) return std::vector<std::int32_t>{};
    auto r = (*tok)->encode(*text, false);
    return r ? *r : std::vector<std::int32_t>{};
  }();
  return ids;
}

}  // namespace nibble::gpu_test
