// Jinja2's lexer rules re-expressed as a hand-written scanner: delimiters with -/+ modifiers,
// trim_blocks (one newline after %} and #}), lstrip_blocks (indentation before {% and {#),
// raw blocks, bracket balancing inside tags, and Python's escapes in string literals.
#include "template/lexer.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "template/errors.h"
#include "template/text.h"

namespace nibble::tmpl {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Python's str.encode('ascii', 'backslashreplace').decode('unicode-escape'), as Jinja2 applies it
// to the inside of every string literal.
std::string decode_string_literal(std::string_view body) {
  std::string ascii;
  for (char32_t c : utf8_decode(body)) {
    char buf[16];
    if (c < 0x80) {
      ascii.push_back(static_cast<char>(c));
      continue;
    }
    if (c <= 0xff) std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
    else if (c <= 0xffff) std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
    else std::snprintf(buf, sizeof buf, "\\U%08x", static_cast<unsigned>(c));
    ascii += buf;
  }
  std::string out;
  auto put = [&](std::uint32_t cp) {
    if (cp > 0x10FFFF) throw TemplateError(Fault::syntax, "illegal Unicode character");
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
    utf8_append(out, static_cast<char32_t>(cp));
  };
  for (std::size_t i = 0; i < ascii.size(); ++i) {
    char c = ascii[i];
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (++i >= ascii.size()) throw TemplateError(Fault::syntax, "\\ at end of string");
    char e = ascii[i];
    switch (e) {
      case '\n': break;
      case '\\': out.push_back('\\'); break;
      case '\'': out.push_back('\''); break;
      case '"': out.push_back('"'); break;
      case 'a': out.push_back('\a'); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'v': out.push_back('\v'); break;
      case 'x': case 'u': case 'U': {
        int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
        std::uint32_t cp = 0;
        for (int k = 0; k < n; ++k) {
          int h = i + 1 < ascii.size() ? hex_value(ascii[i + 1]) : -1;
          if (h < 0) {
            throw TemplateError(Fault::syntax, std::string("truncated \\") + e +
                                                   std::string(static_cast<std::size_t>(n), 'X') + " escape");
          }
          cp = cp * 16 + static_cast<std::uint32_t>(h);
          ++i;
        }
        put(cp);
        break;
      }
      case 'N':
        if (i + 1 < ascii.size() && ascii[i + 1] == '{')
          throw TemplateError(Fault::syntax, "named Unicode escapes (\\N{...}) are not supported");
        throw TemplateError(Fault::syntax, "malformed \\N character escape");
      default:
        if (e >= '0' && e <= '7') {
          std::uint32_t cp = static_cast<std::uint32_t>(e - '0');
          for (int k = 0; k < 2 && i + 1 < ascii.size() && ascii[i + 1] >= '0' && ascii[i + 1] <= '7'; ++k)
            cp = cp * 8 + static_cast<std::uint32_t>(ascii[++i] - '0');
          put(cp);
        } else {
          out.push_back('\\');
          out.push_back(e);
        }
    }
  }
  return out;
}

constexpr std::string_view operators[] = {
    "//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]", "(", ")",
    "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"};

class Scanner {
 public:
  explicit Scanner(std::string source) : src_(std::move(source)) {
    line_starts_.push_back(0);
    for (std::size_t i = 0; i < src_.size(); ++i)
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<Token> run() {
    while (pos_ < src_.size()) root();
    Token eof;
    eof.type = Tok::eof;
    set_pos(eof, src_.size());
    tokens_.push_back(std::move(eof));
    return std::move(tokens_);
  }

 private:
  // Columns count code points; positions mostly move forward, so counting resumes from the last one.
  void set_pos(Token& t, std::size_t offset) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    auto line = static_cast<std::size_t>(it - line_starts_.begin());
    std::size_t start = line_starts_[line - 1];
    if (cached_line_ != line || cached_offset_ > offset) {
      cached_line_ = line;
      cached_offset_ = start;
      cached_col_ = 1;
    }
    cached_col_ += utf8_length(std::string_view(src_).substr(cached_offset_, offset - cached_offset_));
    cached_offset_ = offset;
    t.line = static_cast<int>(line);
    t.col = static_cast<int>(cached_col_);
  }

  [[noreturn]] void error(std::size_t offset, std::string msg) const {
    Token t;
    set_pos(t, offset);
    throw TemplateError(Fault::syntax, std::move(msg), t.line, t.col);
  }

  bool at(std::size_t p, std::string_view s) const { return src_.compare(p, s.size(), s) == 0; }

  // Skips Unicode whitespace (regex \s*) from p.
  std::size_t skip_ws(std::size_t p) const {
    while (p < src_.size()) {
      std::size_t q = p;
      auto c = static_cast<unsigned char>(src_[q]);
      if (c < 0x80) {
        if (!py_isspace(c)) break;
        ++p;
        continue;
      }
      std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      auto cps = utf8_decode(std::string_view(src_).substr(q, len));
      if (cps.size() != 1 || !py_isspace(cps[0])) break;
      p += len;
    }
    return p;
  }

  void push(Tok type, std::string value, std::size_t offset) {
    Token t;
    t.type = type;
    t.value = std::move(value);
    set_pos(t, offset);
    tokens_.push_back(std::move(t));
  }

  // Text before a tag, stripped as the tag's modifier and lstrip_blocks ask.
  void emit_text(std::size_t begin, std::size_t end, char sign, bool is_variable) {
    std::string_view text(src_.data() + begin, end - begin);
    if (sign == '-') {
      std::u32string cps = utf8_decode(text);
      std::size_t e = cps.size();
      while (e > 0 && py_isspace(cps[e - 1])) --e;
      text = text.substr(0, utf8_encode(std::u32string_view(cps).substr(0, e)).size());
    } else if (sign != '+' && !is_variable) {
      std::size_t nl = text.rfind('\n');
      std::size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
      if (l_pos > 0 || line_starting_) {
        bool only_blanks = std::all_of(text.begin() + static_cast<std::ptrdiff_t>(l_pos), text.end(),
                                       [](char c) { return c == ' ' || c == '\t'; });
        if (only_blanks) text = text.substr(0, l_pos);
      }
    }
    if (!text.empty()) push(Tok::data, std::string(text), begin);
  }

  // Matches `{%[-+]?\s*raw\s*(-%}\s*|%})` at p; returns the end or npos.
  std::size_t match_raw_begin(std::size_t p, char& sign) const {
    std::size_t q = p + 2;
    sign = (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) ? src_[q++] : 0;
    q = skip_ws(q);
    if (!at(q, "raw")) return std::string::npos;
    q = skip_ws(q + 3);
    if (at(q, "-%}")) return skip_ws(q + 3);
    if (at(q, "%}")) return q + 2;
    return std::string::npos;
  }

  void root() {
    std::size_t t = pos_;
    char kind = 0;
    while ((t = src_.find('{', t)) != std::string::npos) {
      if (t + 1 < src_.size() && (src_[t + 1] == '{' || src_[t + 1] == '%' || src_[t + 1] == '#')) {
        kind = src_[t + 1];
        break;
      }
      ++t;
    }
    if (t == std::string::npos) {
      push(Tok::data, src_.substr(pos_), pos_);
      pos_ = src_.size();
      return;
    }
    if (kind == '%') {
      char sign = 0;
      std::size_t raw_end = match_raw_begin(t, sign);
      if (raw_end != std::string::npos) {
        emit_text(pos_, t, sign, false);
        line_starting_ = src_[raw_end - 1] == '\n';
        raw(raw_end, t);
        return;
      }
    }
    char sign = (t + 2 < src_.size() && (src_[t + 2] == '-' || src_[t + 2] == '+')) ? src_[t + 2] : 0;
    emit_text(pos_, t, sign, kind == '{');
    std::size_t body = t + 2 + (sign ? 1 : 0);
    if (kind == '#') {
      comment(body, t);
    } else {
      push(kind == '{' ? Tok::variable_begin : Tok::block_begin, kind == '{' ? "{{" : "{%", t);
      tag(body, kind == '{');
    }
  }

  void comment(std::size_t p, std::size_t start) {
    for (std::size_t q = p; q < src_.size(); ++q) {
      std::size_t end = std::string::npos;
      if (src_[q] == '+' && at(q + 1, "#}")) end = q + 3;
      else if (src_[q] == '-' && at(q + 1, "#}")) end = skip_ws(q + 3);
      else if (at(q, "#}")) end = q + 2 + (at(q + 2, "\n") ? 1 : 0);
      if (end == std::string::npos) continue;
      pos_ = end;
      line_starting_ = src_[end - 1] == '\n';
      return;
    }
    error(start, "Missing end of comment tag");
  }

  void raw(std::size_t p, std::size_t start) {
    for (std::size_t q = src_.find("{%", p); q != std::string::npos; q = src_.find("{%", q + 1)) {
      std::size_t r = q + 2;
      char sign = (r < src_.size() && (src_[r] == '-' || src_[r] == '+')) ? src_[r++] : 0;
      r = skip_ws(r);
      if (!at(r, "endraw")) continue;
      r = skip_ws(r + 6);
      std::size_t end = std::string::npos;
      if (at(r, "+%}")) end = r + 3;
      else if (at(r, "-%}")) end = skip_ws(r + 3);
      else if (at(r, "%}")) end = r + 2 + (at(r + 2, "\n") ? 1 : 0);
      if (end == std::string::npos) continue;
      emit_text(p, q, sign, false);
      pos_ = end;
      line_starting_ = src_[end - 1] == '\n';
      return;
    }
    error(start, "Missing end of raw directive");
  }

  // Tokens inside {{ }} or {% %} up to the closing delimiter (only when brackets balance).
  void tag(std::size_t p, bool variable) {
    std::vector<char> balance;
    while (p < src_.size()) {
      if (balance.empty()) {
        std::size_t end = std::string::npos;
        if (variable) {
          if (src_[p] == '-' && at(p + 1, "}}")) end = skip_ws(p + 3);
          else if (at(p, "}}")) end = p + 2;
        } else {
          if (src_[p] == '+' && at(p + 1, "%}")) end = p + 3;
          else if (src_[p] == '-' && at(p + 1, "%}")) end = skip_ws(p + 3);
          else if (at(p, "%}")) end = p + 2 + (at(p + 2, "\n") ? 1 : 0);
        }
        if (end != std::string::npos) {
          push(variable ? Tok::variable_end : Tok::block_end, variable ? "}}" : "%}", p);
          pos_ = end;
          line_starting_ = src_[end - 1] == '\n';
          return;
        }
      }
      std::size_t ws = skip_ws(p);
      if (ws != p) {
        p = ws;
        continue;
      }
      p = token(p, balance);
    }
    pos_ = p;
  }

  std::size_t scan_digits(std::size_t p) const {  // (\d+_)*\d+
    if (p >= src_.size() || !is_digit(src_[p])) return p;
    while (p < src_.size() && is_digit(src_[p])) ++p;
    while (p + 1 < src_.size() && src_[p] == '_' && is_digit(src_[p + 1])) {
      ++p;
      while (p < src_.size() && is_digit(src_[p])) ++p;
    }
    return p;
  }

  std::size_t scan_exponent(std::size_t p) const {  // e[+-]?(\d+_)*\d+
    if (p >= src_.size() || (src_[p] != 'e' && src_[p] != 'E')) return std::string::npos;
    std::size_t q = p + 1;
    if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
    std::size_t e = scan_digits(q);
    return e == q ? std::string::npos : e;
  }

  std::size_t number(std::size_t p) {
    std::size_t int_end = scan_digits(p);
    std::size_t float_end = std::string::npos;
    if (p == 0 || src_[p - 1] != '.') {
      if (at(int_end, ".") && int_end + 1 < src_.size() && is_digit(src_[int_end + 1])) {
        std::size_t frac_end = scan_digits(int_end + 1);
        std::size_t exp_end = scan_exponent(frac_end);
        float_end = exp_end != std::string::npos ? exp_end : frac_end;
      } else {
        float_end = scan_exponent(int_end);
      }
    }
    if (float_end != std::string::npos) {
      std::string text;
      for (std::size_t i = p; i < float_end; ++i)
        if (src_[i] != '_') text.push_back(src_[i]);
      Token t;
      t.type = Tok::floating;
      std::from_chars(text.data(), text.data() + text.size(), t.fval);
      t.value = text;
      set_pos(t, p);
      tokens_.push_back(std::move(t));
      return float_end;
    }
    return integer(p);
  }

  std::size_t integer(std::size_t p) {
    int base = 10;
    std::size_t q = p;
    if (src_[p] == '0' && p + 1 < src_.size()) {
      char x = static_cast<char>(src_[p + 1] | 0x20);
      if (x == 'b' || x == 'o' || x == 'x') base = x == 'b' ? 2 : x == 'o' ? 8 : 16;
    }
    std::string digits;
    if (base != 10) {
      q = p + 2;
      for (;;) {
        std::size_t r = q + (at(q, "_") ? 1 : 0);
        int h = r < src_.size() ? hex_value(src_[r]) : -1;
        if (h < 0 || h >= base) break;
        digits.push_back(src_[r]);
        q = r + 1;
      }
      if (digits.empty()) {
        base = 10;
        q = p;
      }
    }
    if (base == 10) {
      if (src_[p] == '0') {  // 0(_?0)*
        q = p + 1;
        while (q < src_.size() && (src_[q] == '0' || (src_[q] == '_' && at(q + 1, "0")))) q += src_[q] == '_' ? 2 : 1;
        digits = "0";
      } else {
        q = p;
        while (q < src_.size() && (is_digit(src_[q]) || (src_[q] == '_' && q + 1 < src_.size() && is_digit(src_[q + 1])))) {
          if (src_[q] != '_') digits.push_back(src_[q]);
          ++q;
        }
      }
    }
    Token t;
    t.type = Tok::integer;
    auto res = std::from_chars(digits.data(), digits.data() + digits.size(), t.ival, base);
    if (res.ec != std::errc()) error(p, "integer literal is too large");
    t.value = src_.substr(p, q - p);
    set_pos(t, p);
    tokens_.push_back(std::move(t));
    return q;
  }

  std::size_t string_literal(std::size_t p) {
    char quote = src_[p];
    for (std::size_t q = p + 1; q < src_.size(); ++q) {
      if (src_[q] == '\\') {
        ++q;
        continue;
      }
      if (src_[q] != quote) continue;
      Token t;
      t.type = Tok::string;
      set_pos(t, p);
      try {
        t.value = decode_string_literal(std::string_view(src_).substr(p + 1, q - p - 1));
      } catch (TemplateError& e) {
        e.line = t.line;
        e.column = t.col;
        throw;
      }
      tokens_.push_back(std::move(t));
      return q + 1;
    }
    return std::string::npos;
  }

  std::size_t token(std::size_t p, std::vector<char>& balance) {
    char c = src_[p];
    if (is_digit(c)) return number(p);
    if (is_name_start(c)) {
      std::size_t q = p;
      while (q < src_.size() && is_name_char(src_[q])) ++q;
      push(Tok::name, src_.substr(p, q - p), p);
      return q;
    }
    if (c == '\'' || c == '"') {
      std::size_t q = string_literal(p);
      if (q != std::string::npos) return q;
    }
    for (std::string_view op : operators) {
      if (!at(p, op)) continue;
      if (op == "(" || op == "[" || op == "{") {
        balance.push_back(op == "(" ? ')' : op == "[" ? ']' : '}');
      } else if (op == ")" || op == "]" || op == "}") {
        if (balance.empty()) error(p, "unexpected '" + std::string(op) + "'");
        if (balance.back() != op[0])
          error(p, "unexpected '" + std::string(op) + "', expected '" + std::string(1, balance.back()) + "'");
        balance.pop_back();
      }
      push(Tok::op, std::string(op), p);
      return p + op.size();
    }
    std::string ch = utf8_encode(utf8_decode(std::string_view(src_).substr(p, 4)).substr(0, 1));
    error(p, "unexpected char " + (ch == "'" ? std::string("\"'\"") : "'" + ch + "'") + " at " +
                 std::to_string(utf8_length(std::string_view(src_).substr(0, p))));
  }

  std::string src_;
  std::vector<std::size_t> line_starts_;
  mutable std::size_t cached_line_ = 0, cached_offset_ = 0, cached_col_ = 1;
  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
  bool line_starting_ = true;
};

std::string normalize_source(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (std::size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();  // keep_trailing_newline=False
  return out;
}

}  // namespace

std::vector<Token> tokenize(std::string_view source) { return Scanner(normalize_source(source)).run(); }

std::string describe_token(const Token& t) {
  switch (t.type) {
    case Tok::name: return t.value;
    case Tok::op: return t.value;
    case Tok::data: return "template data / text";
    case Tok::variable_begin: return "begin of print statement";
    case Tok::variable_end: return "end of print statement";
    case Tok::block_begin: return "begin of statement block";
    case Tok::block_end: return "end of statement block";
    case Tok::string: return "string";
    case Tok::integer: return "integer";
    case Tok::floating: return "float";
    case Tok::eof: return "end of template";
  }
  return "token";
}

}  // namespace nibble::tmpl
