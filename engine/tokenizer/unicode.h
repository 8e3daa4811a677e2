// UTF-8 and Unicode helpers for the tokenizer: decoding, validation, Rust-compatible lossy
// conversion and the character classes HF tokenizers relies on (char::is_whitespace, \w, ...).
// Owns no tokenizer state; used by every stage under engine/tokenizer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace nibble::tok {

// Length of the UTF-8 sequence that starts with `lead` (1 for continuation/invalid bytes).
inline std::size_t utf8_seq_len(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

// Decodes the code point at s[i] (s must be valid UTF-8) and advances i past it.
inline char32_t utf8_next(std::string_view s, std::size_t& i) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + i;
  if (p[0] < 0x80) {
    ++i;
    return p[0];
  }
  if (p[0] < 0xE0) {
    i += 2;
    return (char32_t(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
  }
  if (p[0] < 0xF0) {
    i += 3;
    return (char32_t(p[0] & 0x0F) << 12) | (char32_t(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
  }
  i += 4;
  return (char32_t(p[0] & 0x07) << 18) | (char32_t(p[1] & 0x3F) << 12) | (char32_t(p[2] & 0x3F) << 6) |
         (p[3] & 0x3F);
}

// Decodes the code point that ends just before s[i] and moves i back to its start.
char32_t utf8_prev(std::string_view s, std::size_t& i);

void utf8_append(std::string& out, char32_t cp);

// Byte offset of the first invalid UTF-8 sequence, or npos when `s` is valid.
std::size_t utf8_first_invalid(std::string_view s);

// Appends `bytes` as UTF-8, replacing each maximal invalid subpart with U+FFFD (Rust's
// String::from_utf8_lossy, which HF's ByteLevel decoder uses).
void utf8_append_lossy(std::string& out, std::string_view bytes);

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

// Rust char::is_whitespace (the Unicode White_Space property).
bool is_white_space(char32_t c);
// The Rust regex crate's Unicode \w (alphabetic, marks, decimal digits, connector punctuation,
// join controls): what HF uses to decide whether an added token stands as a single word.
bool is_word_char(char32_t c);
// Unicode general category P* (Rust's is_punctuation as used by HF) or ASCII punctuation.
bool is_punctuation(char32_t c);
// Rust char::is_numeric (general categories Nd, Nl, No).
bool is_numeric(char32_t c);
// Nonspacing mark (Mn), removed by StripAccents.
bool is_nonspacing_mark(char32_t c);

// Rust char::to_lowercase appended to `out` (full mapping: U+0130 becomes two code points).
void append_lowercase(std::string& out, char32_t c);

enum class NormalForm { nfc, nfd, nfkc, nfkd };
// Unicode normalization of valid UTF-8; runs of ASCII (invariant in every form) are copied.
bool normalize_unicode(std::string_view in, NormalForm form, std::string& out);

}  // namespace nibble::tok
