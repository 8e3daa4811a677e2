// Settings that live beside tokenizer.json: tokenizer_config.json (bos/eos/pad as strings or
// AddedToken objects, add_bos_token/add_eos_token, chat_template as a string or a list of named
// templates), generation_config.json (eos_token_id, int or list), chat_template.jinja and
// chat_template.json. Applied to an HfTokenizer by tokenizer_load.cpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "nibble/error.h"
#include "tokenizer/hf_tokenizer.h"

namespace nibble::tok {

struct ConfigTexts {
  std::optional<std::string_view> tokenizer_config;   // tokenizer_config.json
  std::optional<std::string_view> generation_config;  // generation_config.json
  std::optional<std::string_view> chat_template_jinja;
  std::optional<std::string_view> chat_template_json;
  std::string_view dir;                               // prefix for error messages ("" in memory)
  bool gpt2_defaults = false;                         // encoder.json + vocab.bpe: <|endoftext|> for bos/eos
};

Status apply_config(HfTokenizer& tokenizer, const ConfigTexts& texts);

}  // namespace nibble::tok
