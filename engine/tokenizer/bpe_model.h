// The BPE model of tokenizer.json: turns one pre-tokenized word into ids exactly as HF's BPE
// does (lowest-rank pair first, leftmost on ties; byte_fallback, unk/fuse_unk, ignore_merges,
// subword prefix/suffix), with a per-thread word cache. Not responsible for splitting text into
// words (pre_tokenizers.h) or for added tokens. Built by the loader, called by the tokenizer.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nibble/error.h"
#include "tokenizer/vocab.h"

namespace nibble::tok {

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

class WordCache;

class BpeModel {
 public:
  BpeModel();
  ~BpeModel();
  BpeModel(BpeModel&&) noexcept;
  BpeModel& operator=(BpeModel&&) noexcept;

  Vocab& vocab() { return vocab_; }
  const Vocab& vocab() const { return vocab_; }
  // Set before adding merges (the continuing-subword prefix changes how merged tokens are named).
  void set_options(BpeOptions options) { options_ = std::move(options); }
  // Adds the merges in rank order (merges[i] has rank i); `where` names them in errors.
  Status add_merges(const std::vector<std::pair<std::string_view, std::string_view>>& merges, std::string_view where);
  // Call once after the vocabulary and merges are complete.
  Status finish();

  // Appends the ids of `word` (already normalized and pre-tokenized) to `out`.
  void encode_word(std::string_view word, std::vector<std::int32_t>& out) const;

  std::size_t merge_count() const { return merges_.size(); }

 private:
  struct Symbol {
    std::int32_t id;
    std::int32_t prev;
    std::int32_t next;
    std::uint32_t bytes;  // length of the text it covers, 0 once merged away
  };
  void encode_cached(std::string_view word, WordCache& cache, std::vector<std::int32_t>& out) const;
  void encode_segment(std::string_view word, std::vector<std::int32_t>& out) const;
  // Builds the initial symbols of `word` (one per character, or byte tokens, or unk).
  void initial_symbols(std::string_view word, std::vector<Symbol>& symbols) const;
  void merge_all(std::vector<Symbol>& symbols) const;
  std::int32_t char_id(char32_t cp, std::string_view text) const;
  bool cut_allowed(char32_t a, char32_t b) const;

  Vocab vocab_;
  MergeTable merges_;
  BpeOptions options_;
  std::optional<std::int32_t> unk_id_;
  std::array<std::int32_t, 256> byte_ids_{};  // <0xNN> ids, -1 when absent
  bool all_byte_ids_ = false;
  std::vector<std::int32_t> bmp_ids_;         // single-character tokens below U+10000
  bool plain_symbols_ = false;                // no prefix/suffix: a symbol is its text
  bool segmentable_ = false;                  // long words may be cut where no merge crosses
  PairSet bigrams_;                           // (a << 32 | b) code point pairs seen inside tokens
  std::uint64_t uid_;                         // names this model to the per-thread word caches
};

}  // namespace nibble::tok
