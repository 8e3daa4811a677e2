// Regex: Oniguruma -> PCRE2 translation, compilation (JIT when available) and HF-style
// find_all iteration. Literal patterns skip PCRE2 entirely.
#include "tokenizer/regex.h"

#include <pcre2.h>

#include "tokenizer/unicode.h"

namespace nibble::tok {

namespace {

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// An option group "(?imx-imx)" or "(?imx-imx:": Ruby's m is PCRE2's s (dot matches newline).
std::size_t translate_option_group(std::string_view p, std::size_t i, std::string& out) {
  std::size_t j = i + 2;
  while (j < p.size() && (p[j] == 'i' || p[j] == 'm' || p[j] == 'x' || p[j] == '-')) ++j;
  if (j == i + 2 || j >= p.size() || (p[j] != ':' && p[j] != ')')) return 0;
  out.append("(?");
  for (std::size_t k = i + 2; k < j; ++k) out.push_back(p[k] == 'm' ? 's' : p[k]);
  return j - i;
}

}  // namespace

std::string translate_onig_pattern(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 16);
  bool in_class = false;
  std::size_t i = 0;
  while (i < p.size()) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      char d = p[i + 1];
      if (d == 's') {
        out.append(in_class ? "\\s\\x{85}" : "[\\s\\x{85}]");
      } else if (d == 'S' && !in_class) {
        out.append("[^\\s\\x{85}]");
      } else if (d == 'h') {
        out.append(in_class ? "0-9a-fA-F" : "[0-9a-fA-F]");
      } else if (d == 'H' && !in_class) {
        out.append("[^0-9a-fA-F]");
      } else if (d == 'u' && i + 5 < p.size() && is_hex(p[i + 2]) && is_hex(p[i + 3]) && is_hex(p[i + 4]) &&
                 is_hex(p[i + 5])) {
        out.append("\\x{").append(p.substr(i + 2, 4)).append("}");
        i += 6;
        continue;
      } else {
        out.push_back(c);
        out.push_back(d);
      }
      i += 2;
      continue;
    }
    if (in_class) {
      if (c == '[' && i + 1 < p.size() && p[i + 1] == ':') {
        std::size_t end = p.find(":]", i + 2);
        if (end != std::string_view::npos) {
          out.append(p.substr(i, end + 2 - i));
          i = end + 2;
          continue;
        }
      }
      if (c == ']') in_class = false;
      out.push_back(c);
      ++i;
      continue;
    }
    if (c == '[') {
      in_class = true;
      out.push_back(c);
      ++i;
      if (i < p.size() && p[i] == '^') out.push_back(p[i++]);
      if (i < p.size() && p[i] == ']') out.push_back(p[i++]);
      continue;
    }
    if (c == '(' && i + 1 < p.size() && p[i + 1] == '?') {
      if (std::size_t used = translate_option_group(p, i, out)) {
        i += used;
        continue;
      }
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

struct Regex::Code {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Code() { pcre2_code_free(code); }
};

Result<Regex> Regex::compile(std::string_view pattern, std::string_view what) {
  std::string translated = translate_onig_pattern(pattern);
  int err = 0;
  PCRE2_SIZE err_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &err, &err_offset, nullptr);
  if (!code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(err, message, sizeof message);
    return make_error(ErrorKind::format, what, ": bad regex /", pattern, "/ at offset ", err_offset, ": ",
                      reinterpret_cast<const char*>(message));
  }
  auto owned = std::make_shared<Code>();
  owned->code = code;
  owned->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  Regex r;
  r.code_ = std::move(owned);
  return r;
}

Regex Regex::literal(std::string_view text) {
  Regex r;
  r.literal_ = std::string(text);
  return r;
}

Status Regex::find_all(std::string_view s, std::vector<Span>& out) const {
  if (!code_) {
    if (literal_.empty()) {
      // An empty pattern matches once at every character boundary.
      for (std::size_t i = 0;;) {
        out.emplace_back(i, i);
        if (i >= s.size()) break;
        i += utf8_seq_len(static_cast<unsigned char>(s[i]));
      }
      return {};
    }
    for (std::size_t at = s.find(literal_); at != std::string_view::npos; at = s.find(literal_, at + literal_.size()))
      out.emplace_back(at, at + literal_.size());
    return {};
  }
  struct MatchData {
    pcre2_match_data* md;
    ~MatchData() { pcre2_match_data_free(md); }
  } data{pcre2_match_data_create_from_pattern(code_->code, nullptr)};
  if (!data.md) return make_error(ErrorKind::out_of_memory, "regex match data");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(s.data());
  std::size_t last_end = 0;
  bool have_last = false;
  std::size_t last_match = 0;
  while (last_end <= s.size()) {
    int rc = PCRE2_ERROR_JIT_STACKLIMIT;
    if (code_->jit)
      rc = pcre2_jit_match(code_->code, subject, s.size(), last_end, PCRE2_NO_UTF_CHECK, data.md, nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)  // no JIT, or its small stack ran out: interpret
      rc = pcre2_match(code_->code, subject, s.size(), last_end, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, data.md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof message);
      return make_error(ErrorKind::invalid_argument, "regex match failed: ", reinterpret_cast<const char*>(message));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data.md);
    std::size_t b = ov[0], e = ov[1];
    if (b == e && have_last && last_match == e) {
      if (last_end >= s.size()) break;
      last_end += utf8_seq_len(static_cast<unsigned char>(s[last_end]));
      continue;
    }
    out.emplace_back(b, e);
    last_end = e;
    last_match = e;
    have_last = true;
  }
  return {};
}

}  // namespace nibble::tok
