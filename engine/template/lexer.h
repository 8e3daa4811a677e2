// Lexer: template source -> tokens, with Jinja2's delimiters, whitespace control and HF's
// environment settings (trim_blocks and lstrip_blocks on, trailing newline dropped). Owns newline
// normalization and string-literal escapes; knows nothing of grammar. Used by the parser.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace nibble::tmpl {

enum class Tok : std::uint8_t {
  data, variable_begin, variable_end, block_begin, block_end, name, string, integer, floating, op, eof
};

struct Token {
  Tok type = Tok::eof;
  std::string value;  // data text, name, decoded string literal or operator symbol
  std::int64_t ival = 0;
  double fval = 0;
  int line = 1;
  int col = 1;
};

// Splits `source` (valid UTF-8) into tokens; throws TemplateError(syntax) with a position.
std::vector<Token> tokenize(std::string_view source);

// How Jinja2 names a token in syntax errors ("end of print statement", "'+'", a name's text).
std::string describe_token(const Token& t);

}  // namespace nibble::tmpl
