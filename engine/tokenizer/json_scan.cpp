// JsonScanner: strict RFC 8259 reading of strings, integers and skipped values (see json_scan.h).
#include "tokenizer/json_scan.h"

#include <cstring>

#include "tokenizer/unicode.h"

namespace nibble::tok {

namespace {
constexpr int kMaxDepth = 256;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

bool JsonScanner::fail(std::string message) {
  if (error_.empty()) error_ = "offset " + std::to_string(pos_) + ": " + std::move(message);
  return false;
}

bool JsonScanner::expect(char c) {
  if (consume(c)) return true;
  return fail(std::string("expected '") + c + "'");
}

bool JsonScanner::next_member(bool& first, char close) {
  if (failed()) return false;
  if (consume(close)) return false;
  if (!first && !expect(',')) return false;
  first = false;
  return true;
}

bool JsonScanner::read_string(std::string_view& out, std::string& scratch) {
  skip_ws();
  if (pos_ >= text_.size() || text_[pos_] != '"') return fail("expected a string");
  std::size_t start = ++pos_;
  const char* data = text_.data();
  std::size_t n = text_.size();
  // Fast path: scan to the closing quote; fall back to unescaping on the first backslash.
  std::size_t i = start;
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(data[i]);
    if (c == '"' || c == '\\' || c < 0x20) break;
    ++i;
  }
  if (i >= n) return fail("unterminated string");
  if (data[i] == '"') {
    out = text_.substr(start, i - start);
    pos_ = i + 1;
    return true;
  }
  scratch.assign(data + start, i - start);
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(data[i]);
    if (c == '"') {
      pos_ = i + 1;
      out = scratch;
      return true;
    }
    if (c < 0x20) {
      pos_ = i;
      return fail("control character in string");
    }
    if (c != '\\') {
      scratch.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    if (i + 1 >= n) break;
    char e = data[i + 1];
    i += 2;
    switch (e) {
      case '"': scratch.push_back('"'); break;
      case '\\': scratch.push_back('\\'); break;
      case '/': scratch.push_back('/'); break;
      case 'b': scratch.push_back('\b'); break;
      case 'f': scratch.push_back('\f'); break;
      case 'n': scratch.push_back('\n'); break;
      case 'r': scratch.push_back('\r'); break;
      case 't': scratch.push_back('\t'); break;
      case 'u': {
        auto read4 = [&](std::size_t at, char32_t& v) {
          if (at + 4 > n) return false;
          v = 0;
          for (std::size_t k = 0; k < 4; ++k) {
            int h = hex_value(data[at + k]);
            if (h < 0) return false;
            v = (v << 4) | static_cast<char32_t>(h);
          }
          return true;
        };
        char32_t cp;
        if (!read4(i, cp)) {
          pos_ = i;
          return fail("bad \\u escape");
        }
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          char32_t lo;
          if (i + 6 > n || data[i] != '\\' || data[i + 1] != 'u' || !read4(i + 2, lo) || lo < 0xDC00 ||
              lo > 0xDFFF) {
            pos_ = i;
            return fail("lone surrogate in \\u escape");
          }
          i += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          pos_ = i;
          return fail("lone surrogate in \\u escape");
        }
        utf8_append(scratch, cp);
        break;
      }
      default:
        pos_ = i;
        return fail("bad escape in string");
    }
  }
  pos_ = n;
  return fail("unterminated string");
}

bool JsonScanner::read_int(std::int64_t& out) {
  skip_ws();
  std::size_t i = pos_;
  bool negative = false;
  if (i < text_.size() && text_[i] == '-') {
    negative = true;
    ++i;
  }
  std::size_t digits = i;
  std::int64_t v = 0;
  while (i < text_.size() && text_[i] >= '0' && text_[i] <= '9') {
    if (v > (INT64_MAX - 9) / 10) return fail("integer out of range");
    v = v * 10 + (text_[i] - '0');
    ++i;
  }
  if (i == digits) return fail("expected an integer");
  if (i < text_.size() && (text_[i] == '.' || text_[i] == 'e' || text_[i] == 'E'))
    return fail("expected an integer, found a fraction");
  pos_ = i;
  out = negative ? -v : v;
  return true;
}

bool JsonScanner::skip_number() {
  std::size_t i = pos_, n = text_.size();
  if (i < n && text_[i] == '-') ++i;
  if (i >= n || text_[i] < '0' || text_[i] > '9') return fail("bad number");
  if (text_[i] == '0') {
    ++i;
  } else {
    while (i < n && text_[i] >= '0' && text_[i] <= '9') ++i;
  }
  if (i < n && text_[i] == '.') {
    ++i;
    std::size_t d = i;
    while (i < n && text_[i] >= '0' && text_[i] <= '9') ++i;
    if (i == d) return fail("bad number");
  }
  if (i < n && (text_[i] == 'e' || text_[i] == 'E')) {
    ++i;
    if (i < n && (text_[i] == '+' || text_[i] == '-')) ++i;
    std::size_t d = i;
    while (i < n && text_[i] >= '0' && text_[i] <= '9') ++i;
    if (i == d) return fail("bad number");
  }
  pos_ = i;
  return true;
}

bool JsonScanner::skip_value(std::string_view* span) {
  skip_ws();
  std::size_t start = pos_;
  if (!skip_value_at(0)) return false;
  if (span) *span = text_.substr(start, pos_ - start);
  return true;
}

bool JsonScanner::skip_value_at(int depth) {
  if (depth > kMaxDepth) return fail("nesting too deep");
  char c = peek();
  std::string scratch;
  std::string_view s;
  switch (c) {
    case '"':
      return read_string(s, scratch);
    case '{': {
      ++pos_;
      bool first = true;
      while (next_member(first, '}')) {
        if (!read_string(s, scratch) || !expect(':') || !skip_value_at(depth + 1)) return false;
      }
      return !failed();
    }
    case '[': {
      ++pos_;
      bool first = true;
      while (next_member(first, ']')) {
        if (!skip_value_at(depth + 1)) return false;
      }
      return !failed();
    }
    case 't':
    case 'f':
    case 'n': {
      const char* word = c == 't' ? "true" : c == 'f' ? "false" : "null";
      std::size_t len = std::strlen(word);
      if (text_.substr(pos_, len) != word) return fail("bad literal");
      pos_ += len;
      return true;
    }
    default:
      if (c == '-' || (c >= '0' && c <= '9')) return skip_number();
      return fail("expected a value");
  }
}

}  // namespace nibble::tok
