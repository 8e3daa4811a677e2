// Byte-level alphabet tables, built once at first use.
#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/unicode.h"

namespace nibble::tok {

namespace {

struct Tables {
  std::array<char32_t, 256> to_cp{};
  std::array<std::array<char, 2>, 256> utf8{};  // every mapped code point is 1 or 2 bytes
  std::array<unsigned char, 256> utf8_len{};
  std::array<int, 0x144> to_byte{};
  Tables() {
    to_byte.fill(-1);
    int next = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_cp[b] = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(0x100 + next++);
    }
    for (int b = 0; b < 256; ++b) {
      std::string s;
      utf8_append(s, to_cp[b]);
      utf8_len[b] = static_cast<unsigned char>(s.size());
      for (std::size_t k = 0; k < s.size(); ++k) utf8[b][k] = s[k];
      to_byte[to_cp[b]] = b;
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

void byte_level_encode(std::string_view bytes, std::string& out) {
  const Tables& t = tables();
  std::size_t at = out.size();
  out.resize(at + bytes.size() * 2);
  char* p = out.data() + at;
  for (unsigned char b : bytes) {
    p[0] = t.utf8[b][0];
    p[1] = t.utf8[b][1];
    p += t.utf8_len[b];
  }
  out.resize(static_cast<std::size_t>(p - out.data()));
}

int byte_level_byte(char32_t cp) { return cp < 0x144 ? tables().to_byte[cp] : -1; }

bool byte_level_decode_token(std::string_view token, std::string& out) {
  std::size_t mark = out.size();
  std::size_t i = 0;
  while (i < token.size()) {
    int b = byte_level_byte(utf8_next(token, i));
    if (b < 0) {
      out.resize(mark);
      out.append(token);
      return false;
    }
    out.push_back(static_cast<char>(b));
  }
  return true;
}

}  // namespace nibble::tok
