// Added tokens (tokenizer.json "added_tokens"): finding them in text the way HF's AddedVocabulary
// does (leftmost-longest, with single_word, lstrip and rstrip), in two sets: tokens matched on the
// raw text (normalized: false) and tokens matched on normalized text (normalized: true).
// Built by the loader; called by the encode path. Does not normalize text itself.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nibble::tok {

struct AddedToken {
  std::string content;
  std::int32_t id = -1;
  bool special = false;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
};

// One part of a text split by added tokens: either an added token (id >= 0) or plain text.
struct AddedSplit {
  std::size_t begin, end;
  std::int32_t id;  // -1 for plain text
};

class AddedTokenMatcher {
 public:
  // `patterns[k]` is what to look for (the content, or its normalized form) for `tokens[k]`.
  void build(const std::vector<AddedToken>& tokens, const std::vector<std::string>& patterns);
  bool empty() const { return tokens_.empty(); }
  // Splits `text` into added tokens and the plain text between them (covering all of `text`).
  void split(std::string_view text, std::vector<AddedSplit>& out) const;

 private:
  struct Node {
    std::uint32_t first_edge;
    std::uint32_t edge_count;
    std::int32_t token;  // index into tokens_, -1 when no pattern ends here
  };
  struct Edge {
    unsigned char byte;
    std::uint32_t child;
  };
  // Longest pattern starting at `at`: token index and end offset, or -1.
  std::int32_t longest_at(std::string_view text, std::size_t at, std::size_t& end) const;

  std::vector<AddedToken> tokens_;
  std::vector<Node> nodes_;
  std::vector<Edge> edges_;
  std::int32_t root_child_[256];
};

}  // namespace nibble::tok
