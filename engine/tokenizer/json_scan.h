// A small strict JSON reader for the large parts of tokenizer files (vocabularies of 100k+ entries
// and merge lists), where building a DOM would dominate load time. It validates as it goes and
// never throws; smaller sections are handed to nlohmann::json as raw text spans.
// Used by tokenizer_json.cpp and tokenizer_config.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace nibble::tok {

class JsonScanner {
 public:
  explicit JsonScanner(std::string_view text) : text_(text) {}

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  std::size_t pos() const { return pos_; }
  bool at_end() {
    skip_ws();
    return pos_ >= text_.size();
  }

  void skip_ws() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c != ' ' && c != '\n' && c != '\r' && c != '\t') break;
      ++pos_;
    }
  }
  // Skips whitespace and consumes `c` if it is next.
  bool consume(char c) {
    skip_ws();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool expect(char c);
  char peek() {
    skip_ws();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }

  // Reads a string; `out` views the source when it has no escapes, else `scratch`.
  bool read_string(std::string_view& out, std::string& scratch);
  // Reads an integer (no fraction or exponent).
  bool read_int(std::int64_t& out);
  // Skips one value of any kind, validating it; `span` receives its raw text.
  bool skip_value(std::string_view* span = nullptr);
  // Iteration helpers for `{ "k": v, ... }` and `[ v, ... ]`: call begin, then next until false.
  bool begin_object() { return expect('{'); }
  bool begin_array() { return expect('['); }
  // Before each member/element: returns false at the closing bracket (or on error).
  bool next_member(bool& first, char close);

  bool fail(std::string message);

 private:
  bool skip_value_at(int depth);
  bool skip_number();

  std::string_view text_;
  std::size_t pos_ = 0;
  std::string error_;
};

}  // namespace nibble::tok
