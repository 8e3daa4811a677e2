// spec_json helpers that need the UTF-8 decoder.
#include "tokenizer/spec_json.h"

#include "tokenizer/unicode.h"

namespace nibble::tok {

char32_t char_field(const json& j, std::string_view key, std::string_view where) {
  std::string s = string_field(j, key, where);
  std::size_t i = 0;
  if (s.empty()) spec_fail(path(where, key), "expected one character, got an empty string");
  char32_t c = utf8_next(s, i);
  if (i != s.size()) spec_fail(path(where, key), "expected exactly one character");
  return c;
}

// Reads a {"String": s} or {"Regex": r} pattern object.
Regex make_pattern(const json& spec, std::string_view where) {
  if (!spec.is_object()) spec_fail(where, "expected {\"String\": ...} or {\"Regex\": ...}");
  if (const json* s = optional_field(spec, "String")) {
    if (!s->is_string()) spec_fail(path(where, "String"), "expected a string");
    return Regex::literal(s->get<std::string>());
  }
  if (const json* r = optional_field(spec, "Regex")) {
    if (!r->is_string()) spec_fail(path(where, "Regex"), "expected a string");
    auto compiled = Regex::compile(r->get<std::string>(), path(where, "Regex"));
    if (!compiled) throw SpecError{compiled.error().message};
    return std::move(compiled).value();
  }
  spec_fail(where, "expected {\"String\": ...} or {\"Regex\": ...}");
}

}  // namespace nibble::tok
