// HfTokenizer: the Tokenizer behind nibble/tokenizer.h, assembled from tokenizer.json parts
// (added tokens -> normalizer -> pre-tokenizer -> BPE model -> post-processor; decoder on the way
// back) plus tokenizer_config.json / generation_config.json settings. Built by tokenizer_load.cpp;
// the parts are parsed in tokenizer_json.cpp and tokenizer_config.cpp.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nibble/tokenizer.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/decoders.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/post_processors.h"
#include "tokenizer/pre_tokenizers.h"

namespace nibble::tok {

struct TokenizerParts {
  BpeModel model;
  std::vector<AddedToken> added;  // in file order, ids not yet resolved
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  SpecialWrap wrap;
  std::unique_ptr<Decoder> decoder;
};

class HfTokenizer final : public Tokenizer {
 public:
  // Resolves added-token ids as HF does and builds the matchers.
  static Result<std::unique_ptr<HfTokenizer>> create(TokenizerParts parts);

  Result<std::vector<std::int32_t>> encode(std::string_view text, bool add_special) const override;
  Result<std::string> decode(std::span<const std::int32_t> ids, bool skip_special) const override;
  std::unique_ptr<StreamingDetokenizer> make_stream(bool skip_special) const override;

  std::int32_t vocab_size() const override { return vocab_size_; }
  std::optional<std::int32_t> token_id(std::string_view token) const override;
  std::string token_text(std::int32_t id) const override { return std::string(token_view(id)); }
  bool is_special(std::int32_t id) const override {
    return id >= 0 && id < vocab_size_ && special_[static_cast<std::size_t>(id)];
  }
  const SpecialTokens& special() const override { return special_tokens_; }
  const std::map<std::string, std::string>& chat_templates() const override { return templates_; }

  // Settings from tokenizer_config.json and friends (tokenizer_config.cpp).
  SpecialTokens& mutable_special() { return special_tokens_; }
  std::map<std::string, std::string>& mutable_templates() { return templates_; }
  const SpecialWrap& wrap() const { return wrap_; }
  void set_wrap(SpecialWrap wrap) { wrap_ = std::move(wrap); }

  // For the streaming detokenizer.
  bool is_byte_fallback_token(std::int32_t id) const {
    return decoder_has_byte_fallback_ && id >= 0 && id < vocab_size_ && byte_token_[static_cast<std::size_t>(id)];
  }
  bool decoder_is_stream_local() const { return decoder_stream_local_; }

 private:
  HfTokenizer() = default;
  std::string_view token_view(std::int32_t id) const;
  Status pre_tokenize(std::string_view piece, bool at_origin, std::vector<std::int32_t>& ids) const;

  BpeModel model_;
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<Decoder> decoder_;
  SpecialWrap wrap_;
  AddedTokenMatcher raw_matcher_;         // normalized: false
  AddedTokenMatcher normalized_matcher_;  // normalized: true, matched after normalization
  std::map<std::string, std::int32_t, std::less<>> added_ids_;
  std::vector<std::string> added_by_id_;  // content for added ids ("" when not added)
  std::vector<bool> is_added_;
  std::vector<bool> special_;             // decode(skip_special) drops these
  std::vector<bool> byte_token_;          // "<0xNN>" tokens
  bool decoder_has_byte_fallback_ = false;
  bool decoder_stream_local_ = true;
  std::int32_t vocab_size_ = 0;
  SpecialTokens special_tokens_;
  std::map<std::string, std::string> templates_;
};

}  // namespace nibble::tok
