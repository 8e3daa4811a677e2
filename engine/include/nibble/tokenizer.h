// Public tokenizer API: loads a Hugging Face tokenizer.json (with tokenizer_config.json and
// generation_config.json beside it) and encodes/decodes exactly as HF tokenizers does.
// Implemented in engine/tokenizer; used by app/, the runtime and the perplexity tools.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "nibble/error.h"

namespace nibble {

struct SpecialTokens {
  std::optional<std::int32_t> bos_id;       // from tokenizer_config.json bos_token (string or AddedToken)
  std::optional<std::int32_t> eos_id;       // tokenizer_config.json eos_token
  std::optional<std::int32_t> pad_id;
  std::string bos_token;                    // text forms ("" when absent), for chat templates
  std::string eos_token;
  std::string pad_token;
  std::vector<std::int32_t> stop_ids;       // eos_id plus generation_config.json eos_token_id (int or list)
  bool add_bos = false;                     // what encode(..., add_special=true) does at the start
  bool add_eos = false;
};

// Feeds ids one at a time and returns text deltas that never split a UTF-8 sequence or a
// byte-fallback run; the concatenation of all deltas plus flush() equals decode(all ids).
// flush() also ends the sequence: the next push starts a new one. Ids out of range are ignored.
class StreamingDetokenizer {
 public:
  virtual ~StreamingDetokenizer() = default;
  virtual std::string push(std::int32_t id) = 0;
  virtual std::string flush() = 0;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // `path`: a model folder (reads tokenizer.json, tokenizer_config.json, generation_config.json,
  // chat_template.jinja when present) or a tokenizer.json file. A folder with GPT-2's
  // encoder.json + vocab.bpe and no tokenizer.json loads as GPT-2's byte-level BPE.
  // Errors name the file and field.
  static Result<std::unique_ptr<Tokenizer>> load(const std::string& path);
  // The same from file contents already in memory (empty views for files that are absent):
  // tokenizer.json, tokenizer_config.json, generation_config.json, chat_template.jinja.
  static Result<std::unique_ptr<Tokenizer>> load_from_memory(std::string_view tokenizer_json,
                                                              std::string_view tokenizer_config_json = {},
                                                              std::string_view generation_config_json = {},
                                                              std::string_view chat_template_jinja = {});

  // add_special = HF's add_special_tokens (post-processor: BOS/EOS templates). Added/special
  // tokens written in the text are matched as HF matches them. Invalid UTF-8 -> invalid_argument.
  virtual Result<std::vector<std::int32_t>> encode(std::string_view text, bool add_special) const = 0;
  // HF decode; ids out of range -> invalid_argument.
  virtual Result<std::string> decode(std::span<const std::int32_t> ids, bool skip_special) const = 0;
  virtual std::unique_ptr<StreamingDetokenizer> make_stream(bool skip_special) const = 0;

  virtual std::int32_t vocab_size() const = 0;  // including added tokens
  virtual std::optional<std::int32_t> token_id(std::string_view token) const = 0;
  virtual std::string token_text(std::int32_t id) const = 0;  // raw vocabulary string ("" if out of range)
  virtual bool is_special(std::int32_t id) const = 0;
  virtual const SpecialTokens& special() const = 0;

  // Chat templates found with the tokenizer: name -> Jinja source ("default" for a single one).
  // Sources: tokenizer_config.json chat_template (string or list of {name, template}), then
  // chat_template.jinja (overrides "default"). Empty when the model has none.
  virtual const std::map<std::string, std::string>& chat_templates() const = 0;
};

}  // namespace nibble
