// UTF-8 decoding/validation, Rust-compatible lossy conversion, character classes and Unicode
// normalization (through utf8proc). No tokenizer semantics here; see unicode.h.
#include "tokenizer/unicode.h"

#include <cstdlib>
#include <utf8proc.h>

namespace nibble::tok {

char32_t utf8_prev(std::string_view s, std::size_t& i) {
  std::size_t start = i - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  std::size_t j = start;
  char32_t c = utf8_next(s, j);
  i = start;
  return c;
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

namespace {

// Length of the valid UTF-8 sequence at p[0..n), or 0 with `*valid_prefix` set to the number of
// bytes that form a valid (but unfinished or broken) prefix: the maximal subpart to replace.
std::size_t valid_sequence(const unsigned char* p, std::size_t n, std::size_t* valid_prefix) {
  unsigned char b0 = p[0];
  *valid_prefix = 0;
  if (b0 < 0x80) return 1;
  std::size_t len;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  *valid_prefix = 1;
  for (std::size_t k = 1; k < len; ++k) {
    if (k >= n) return 0;
    unsigned char b = p[k];
    unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (b < l || b > h) return 0;
    *valid_prefix = k + 1;
  }
  return len;
}

}  // namespace

std::size_t utf8_first_invalid(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t n = s.size(), i = 0;
  while (i < n) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    std::size_t prefix;
    std::size_t len = valid_sequence(p + i, n - i, &prefix);
    if (len == 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

void utf8_append_lossy(std::string& out, std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t n = bytes.size(), i = 0;
  while (i < n) {
    std::size_t run = i;
    while (run < n && p[run] < 0x80) ++run;
    out.append(bytes.data() + i, run - i);
    i = run;
    if (i >= n) break;
    std::size_t prefix;
    std::size_t len = valid_sequence(p + i, n - i, &prefix);
    if (len) {
      out.append(bytes.data() + i, len);
      i += len;
    } else {
      out.append(kReplacementChar);
      i += prefix ? prefix : 1;
    }
  }
}

bool is_white_space(char32_t c) {
  if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D);
  if (c < 0x85) return false;
  switch (c) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

namespace {
utf8proc_category_t category(char32_t c) { return utf8proc_category(static_cast<utf8proc_int32_t>(c)); }
}  // namespace

bool is_word_char(char32_t c) {
  if (c < 0x80) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  }
  if (c == 0x200C || c == 0x200D) return true;
  // Other_Alphabetic symbols (circled and squared Latin letters) count as alphabetic.
  if ((c >= 0x24B6 && c <= 0x24E9) || (c >= 0x1F130 && c <= 0x1F149) || (c >= 0x1F150 && c <= 0x1F169) ||
      (c >= 0x1F170 && c <= 0x1F189))
    return true;
  switch (category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

bool is_punctuation(char32_t c) {
  if (c < 0x80) {
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
           (c >= 0x7B && c <= 0x7E);
  }
  switch (category(c)) {
    case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE: case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      return true;
    default:
      return false;
  }
}

bool is_numeric(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  auto cat = category(c);
  return cat == UTF8PROC_CATEGORY_ND || cat == UTF8PROC_CATEGORY_NL || cat == UTF8PROC_CATEGORY_NO;
}

bool is_nonspacing_mark(char32_t c) { return c >= 0x300 && category(c) == UTF8PROC_CATEGORY_MN; }

void append_lowercase(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
    return;
  }
  if (c == 0x130) {  // the one unconditional multi-code-point lowercase mapping
    out.append("i\xCC\x87");
    return;
  }
  utf8_append(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
}

bool normalize_unicode(std::string_view in, NormalForm form, std::string& out) {
  int options = UTF8PROC_STABLE;
  switch (form) {
    case NormalForm::nfc: options |= UTF8PROC_COMPOSE; break;
    case NormalForm::nfd: options |= UTF8PROC_DECOMPOSE; break;
    case NormalForm::nfkc: options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case NormalForm::nfkd: options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
  }
  out.clear();
  out.reserve(in.size());
  std::size_t i = 0, n = in.size();
  // No ASCII character composes with what precedes it, so a non-ASCII run is normalized
  // together with the one character before it, and ASCII between runs is copied.
  while (i < n) {
    std::size_t run = i;
    while (run < n && static_cast<unsigned char>(in[run]) < 0x80) ++run;
    if (run == n) {
      out.append(in.substr(i));
      break;
    }
    std::size_t start = run > i ? run - 1 : run;
    out.append(in.substr(i, start - i));
    std::size_t end = run;
    while (end < n && static_cast<unsigned char>(in[end]) >= 0x80) ++end;
    utf8proc_uint8_t* mapped = nullptr;
    auto len = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(in.data() + start),
                            static_cast<utf8proc_ssize_t>(end - start), &mapped,
                            static_cast<utf8proc_option_t>(options));
    if (len < 0) {
      std::free(mapped);
      return false;
    }
    out.append(reinterpret_cast<const char*>(mapped), static_cast<std::size_t>(len));
    std::free(mapped);
    i = end;
  }
  return true;
}

}  // namespace nibble::tok
