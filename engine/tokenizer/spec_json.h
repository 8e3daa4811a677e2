// Field access for the small JSON sections of tokenizer files (normalizer, pre_tokenizer, decoder,
// post_processor, added tokens, tokenizer_config.json). Missing or mistyped fields throw SpecError
// naming the field; the loaders catch it (and nlohmann's exceptions) at their edge and return
// ErrorKind::format. Nothing here is visible outside engine/tokenizer.
#pragma once

#include <nlohmann/json.hpp>

#include "tokenizer/regex.h"

#include <optional>
#include <string>
#include <string_view>

namespace nibble::tok {

using json = nlohmann::json;

struct SpecError {
  std::string message;
  bool unsupported = false;  // valid JSON naming something we do not implement
};

[[noreturn]] inline void spec_fail(std::string_view where, std::string_view what) {
  throw SpecError{std::string(where) + ": " + std::string(what)};
}

[[noreturn]] inline void spec_unsupported(std::string_view where, std::string_view what) {
  throw SpecError{std::string(where) + ": " + std::string(what), true};
}

inline std::string path(std::string_view where, std::string_view key) {
  return std::string(where) + "." + std::string(key);
}

inline const json& field(const json& j, std::string_view key, std::string_view where) {
  if (!j.is_object()) spec_fail(where, "expected an object");
  auto it = j.find(key);
  if (it == j.end()) spec_fail(path(where, key), "missing");
  return *it;
}

inline const json* optional_field(const json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

inline std::string string_field(const json& j, std::string_view key, std::string_view where) {
  const json& v = field(j, key, where);
  if (!v.is_string()) spec_fail(path(where, key), "expected a string");
  return v.get<std::string>();
}

inline std::optional<std::string> optional_string(const json& j, std::string_view key, std::string_view where) {
  const json* v = optional_field(j, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) spec_fail(path(where, key), "expected a string");
  return v->get<std::string>();
}

inline bool bool_field(const json& j, std::string_view key, std::string_view where, bool fallback) {
  const json* v = optional_field(j, key);
  if (!v) return fallback;
  if (!v->is_boolean()) spec_fail(path(where, key), "expected true or false");
  return v->get<bool>();
}

inline long long int_field(const json& j, std::string_view key, std::string_view where, long long lo,
                           long long hi) {
  const json& v = field(j, key, where);
  if (!v.is_number_integer()) spec_fail(path(where, key), "expected an integer");
  long long x = v.get<long long>();
  if (x < lo || x > hi) spec_fail(path(where, key), "out of range");
  return x;
}

// A single Unicode character given as a JSON string (HF's `char` fields).
char32_t char_field(const json& j, std::string_view key, std::string_view where);

// A {"String": s} (literal) or {"Regex": r} (Oniguruma syntax) pattern object.
Regex make_pattern(const json& spec, std::string_view where);

// The component's "type" string.
inline std::string type_of(const json& j, std::string_view where) { return string_field(j, "type", where); }

}  // namespace nibble::tok
