// Pre-tokenizers of tokenizer.json (Split with its five behaviours and invert, ByteLevel,
// Metaspace, Whitespace, WhitespaceSplit, Digits, Punctuation, CharDelimiterSplit, BertPreTokenizer,
// Sequence). Each cuts a piece into words and hands them, in order, to the next stage; the last
// stage is the model. Built from JSON by make_pre_tokenizer; called by the encode path.
#pragma once

#include <memory>
#include <string_view>

#include "nibble/error.h"
#include "tokenizer/spec_json.h"

namespace nibble::tok {

// Receives the words of a piece, in order. `at_origin`: the word starts at offset 0 of the input.
class PieceSink {
 public:
  template <class F>
  explicit PieceSink(F& f)
      : ctx_(&f), fn_([](void* c, std::string_view s, bool o) { (*static_cast<F*>(c))(s, o); }) {}
  void operator()(std::string_view s, bool at_origin) const { fn_(ctx_, s, at_origin); }

 private:
  void* ctx_;
  void (*fn_)(void*, std::string_view, bool);
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  virtual Status run(std::string_view piece, bool at_origin, const PieceSink& next) const = 0;
};

// Throws SpecError / nlohmann exceptions on a malformed spec (caught by the loader).
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& spec, std::string_view where);
// ByteLevel as GPT-2 uses it (add_prefix_space false, GPT-2 regex), for encoder.json + vocab.bpe.
std::unique_ptr<PreTokenizer> make_gpt2_pre_tokenizer();

}  // namespace nibble::tok
