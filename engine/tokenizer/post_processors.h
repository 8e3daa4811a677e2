// Post-processors of tokenizer.json for a single sequence: TemplateProcessing, BertProcessing,
// RobertaProcessing, ByteLevel (ids unchanged) and Sequence, reduced to the special-token ids
// encode(..., add_special=true) puts before and after the text. Built by the loader.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/spec_json.h"

namespace nibble::tok {

struct SpecialWrap {
  std::vector<std::int32_t> prefix;
  std::vector<std::int32_t> suffix;
};

// Throws SpecError / nlohmann exceptions on a malformed spec (caught by the loader).
SpecialWrap make_post_processor(const json& spec, std::string_view where);

}  // namespace nibble::tok
