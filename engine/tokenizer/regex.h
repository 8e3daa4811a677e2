// Regular expressions for tokenizer.json patterns. HF tokenizers compiles them with Oniguruma
// (Ruby syntax); we translate the few constructs where PCRE2 differs (\s includes U+0085, \h is a
// hex digit, (?m) is dot-all, \uHHHH) and run PCRE2 in UTF + UCP mode, JIT-compiled.
// Used by the normalizers, pre-tokenizers and decoders; thread-safe once built.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nibble/error.h"

namespace nibble::tok {

using Span = std::pair<std::size_t, std::size_t>;  // [begin, end) byte offsets

// Rewrites an Oniguruma (Ruby syntax) pattern into the equivalent PCRE2 pattern.
std::string translate_onig_pattern(std::string_view pattern);

class Regex {
 public:
  // `pattern` in Oniguruma syntax; `what` names the field for error messages.
  static Result<Regex> compile(std::string_view pattern, std::string_view what);
  // A pattern matching `text` literally (a tokenizer.json {"String": ...} pattern).
  static Regex literal(std::string_view text);

  // All non-overlapping matches of `subject` (valid UTF-8), left to right, with Oniguruma's
  // iteration rule for empty matches (none directly after the previous match). Appends to `out`.
  Status find_all(std::string_view subject, std::vector<Span>& out) const;

  bool is_literal() const { return !code_; }

 private:
  struct Code;
  std::shared_ptr<const Code> code_;
  std::string literal_;
};

}  // namespace nibble::tok
