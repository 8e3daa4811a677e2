// GPT-2's byte-level alphabet: every byte maps to a printable code point (printable Latin-1 bytes
// to themselves, the rest to U+0100..U+0143), so any text becomes a string over 256 symbols.
// Used by the ByteLevel pre-tokenizer and decoder.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace nibble::tok {

// Appends the byte-level form of `bytes` to `out`.
void byte_level_encode(std::string_view bytes, std::string& out);
// The byte a code point stands for, or -1 when it is not in the byte-level alphabet.
int byte_level_byte(char32_t cp);
// Appends the bytes a token stands for when every character is in the alphabet; otherwise
// appends the token's own UTF-8 (HF's ByteLevel decoder does the same) and returns false.
bool byte_level_decode_token(std::string_view token, std::string& out);

// The GPT-2 pre-tokenization regex used by ByteLevel when use_regex is set.
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

}  // namespace nibble::tok
