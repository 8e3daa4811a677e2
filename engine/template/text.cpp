// UTF-8 coding and the Unicode character classes Python's str methods use, over utf8proc.
// Python's full case mapping (e.g. 'ß'.upper() == 'SS') is followed for the common special cases.
#include "template/text.h"

#include <utf8proc.h>

#include <algorithm>
#include <utility>

namespace nibble::tmpl {

namespace {

#include "template/unicode_tables.inc"

bool in_ranges(const std::pair<char32_t, char32_t>* begin, const std::pair<char32_t, char32_t>* end, char32_t c) {
  auto it = std::upper_bound(begin, end, c, [](char32_t x, const auto& r) { return x < r.first; });
  return it != begin && c <= (it - 1)->second;
}

const SpecialCase* special_case(char32_t c) {
  auto it = std::lower_bound(std::begin(special_cases), std::end(special_cases), c,
                             [](const SpecialCase& s, char32_t x) { return s.cp < x; });
  return it != std::end(special_cases) && it->cp == c ? it : nullptr;
}

void append_seq(std::u32string& out, const char32_t (&seq)[3]) {
  for (char32_t x : seq)
    if (x) out.push_back(x);
}

char32_t simple_upper(char32_t c) { return static_cast<char32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(c))); }
char32_t simple_lower(char32_t c) { return static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))); }
char32_t simple_title(char32_t c) { return static_cast<char32_t>(utf8proc_totitle(static_cast<utf8proc_int32_t>(c))); }

// Returns the code point at s[i] and advances i; invalid sequences yield U+FFFD for one byte.
char32_t decode_one(std::string_view s, std::size_t& i) {
  auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) { ++i; return b0; }
  int len = b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : b0 >= 0xC0 ? 2 : 0;
  if (len == 0 || i + static_cast<std::size_t>(len) > s.size()) { ++i; return 0xFFFD; }
  char32_t c = b0 & (0x7F >> len);
  for (int k = 1; k < len; ++k) {
    auto b = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
    if ((b & 0xC0) != 0x80) { ++i; return 0xFFFD; }
    c = (c << 6) | (b & 0x3F);
  }
  static constexpr char32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (c < min_for_len[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) { ++i; return 0xFFFD; }
  i += static_cast<std::size_t>(len);
  return c;
}

utf8proc_category_t category(char32_t c) { return utf8proc_category(static_cast<utf8proc_int32_t>(c)); }

}  // namespace

std::u32string utf8_decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) out.push_back(decode_one(s, i));
  return out;
}

void utf8_append(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string utf8_encode(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) utf8_append(out, c);
  return out;
}

bool utf8_valid(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t before = i;
    char32_t c = decode_one(s, i);
    if (c == 0xFFFD && !(i - before == 3 && s.substr(before, 3) == "\xEF\xBF\xBD")) return false;
  }
  return true;
}

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (char ch : s)
    if ((static_cast<unsigned char>(ch) & 0xC0) != 0x80) ++n;
  return n;
}

bool py_isspace(char32_t c) {
  switch (c) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x1C: case 0x1D: case 0x1E:
    case 0x1F: case 0x20: case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

bool py_isprintable(char32_t c) {
  if (c == ' ') return true;
  switch (category(c)) {
    case UTF8PROC_CATEGORY_CN: case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS: case UTF8PROC_CATEGORY_CO: case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
      return false;
    default:
      return true;
  }
}

bool py_isalpha(char32_t c) {
  auto k = category(c);
  return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}

bool py_isdecimal(char32_t c) { return category(c) == UTF8PROC_CATEGORY_ND; }
bool py_isdigit(char32_t c) { return in_ranges(std::begin(digit_ranges), std::end(digit_ranges), c); }
bool py_isnumeric(char32_t c) { return in_ranges(std::begin(numeric_ranges), std::end(numeric_ranges), c); }
bool py_isalnum(char32_t c) { return py_isalpha(c) || py_isnumeric(c); }

bool py_is_lower(char32_t c) { return utf8proc_islower(static_cast<utf8proc_int32_t>(c)) != 0; }
bool py_is_upper(char32_t c) { return utf8proc_isupper(static_cast<utf8proc_int32_t>(c)) != 0; }
bool py_is_cased(char32_t c) {
  return py_is_lower(c) || py_is_upper(c) || category(c) == UTF8PROC_CATEGORY_LT;
}

bool py_is_linebreak(char32_t c) {
  switch (c) {
    case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x1C: case 0x1D: case 0x1E: case 0x85:
    case 0x2028: case 0x2029:
      return true;
    default:
      return false;
  }
}

void py_append_upper(std::u32string& out, char32_t c) {
  if (const SpecialCase* sc = special_case(c)) append_seq(out, sc->upper);
  else out.push_back(simple_upper(c));
}

void py_append_title(std::u32string& out, char32_t c) {
  if (const SpecialCase* sc = special_case(c)) append_seq(out, sc->title);
  else out.push_back(simple_title(c));
}

namespace {

// Approximates Unicode's Case_Ignorable: marks, format characters, modifiers and the
// in-word punctuation of word breaking (apostrophes, periods, colons).
bool case_ignorable(char32_t c) {
  switch (category(c)) {
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_SK:
      return true;
    default:
      return c == '\'' || c == '.' || c == ':' || c == 0xB7 || c == 0x2018 || c == 0x2019 || c == 0x2024 ||
             c == 0xFE52 || c == 0xFF07 || c == 0xFF0E || c == 0xFE13 || c == 0xFE55 || c == 0xFF1A;
  }
}

}  // namespace

void py_append_lower(std::u32string& out, std::u32string_view s, std::size_t i) {
  char32_t c = s[i];
  if (c == 0x3A3) {
    std::size_t j = i;
    while (j > 0 && case_ignorable(s[j - 1])) --j;
    bool final_sigma = j > 0 && py_is_cased(s[j - 1]);
    if (final_sigma) {
      std::size_t k = i + 1;
      while (k < s.size() && case_ignorable(s[k])) ++k;
      final_sigma = k == s.size() || !py_is_cased(s[k]);
    }
    out.push_back(final_sigma ? 0x3C2 : 0x3C3);
    return;
  }
  if (const SpecialCase* sc = special_case(c)) append_seq(out, sc->lower);
  else out.push_back(simple_lower(c));
}

std::u32string py_upper(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (char32_t c : s) py_append_upper(out, c);
  return out;
}

std::u32string py_lower(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) py_append_lower(out, s, i);
  return out;
}

std::u32string py_casefold(std::u32string_view s) {
  std::u32string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto it = std::lower_bound(std::begin(casefold_specials), std::end(casefold_specials), s[i],
                               [](const CaseFold& f, char32_t x) { return f.cp < x; });
    if (it != std::end(casefold_specials) && it->cp == s[i]) append_seq(out, it->to);
    else py_append_lower(out, s.substr(i, 1), 0);  // folding ignores context (no final sigma)
  }
  return out;
}

std::u32string_view py_strip(std::u32string_view s, const std::u32string* chars, StripSide side) {
  auto strip_it = [&](char32_t c) {
    return chars ? chars->find(c) != std::u32string::npos : py_isspace(c);
  };
  std::size_t b = 0, e = s.size();
  if (side != StripSide::right)
    while (b < e && strip_it(s[b])) ++b;
  if (side != StripSide::left)
    while (e > b && strip_it(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::vector<std::u32string> py_splitlines(std::u32string_view s, bool keepends) {
  std::vector<std::u32string> lines;
  std::size_t start = 0, i = 0;
  while (i < s.size()) {
    if (!py_is_linebreak(s[i])) { ++i; continue; }
    std::size_t eol = i;
    i += (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ? 2 : 1;
    lines.emplace_back(s.substr(start, (keepends ? i : eol) - start));
    start = i;
  }
  if (start < s.size()) lines.emplace_back(s.substr(start));
  return lines;
}

}  // namespace nibble::tmpl
