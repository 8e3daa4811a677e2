// UTF-8 and Unicode helpers with Python's str semantics (code points, isspace, case mapping,
// isprintable, splitlines) for the template interpreter. Owns no template logic; used by the
// lexer, the value printer, string methods and filters.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace nibble::tmpl {

// Decodes UTF-8 (inputs are validated before they reach the interpreter; stray bytes map to U+FFFD).
std::u32string utf8_decode(std::string_view s);
std::string utf8_encode(std::u32string_view s);
void utf8_append(std::string& out, char32_t c);
bool utf8_valid(std::string_view s);
std::size_t utf8_length(std::string_view s);  // code points

bool py_isspace(char32_t c);    // str.isspace / regex \s
bool py_isprintable(char32_t c);
bool py_isalnum(char32_t c);    // str.isalnum (letters and numbers)
bool py_isalpha(char32_t c);
bool py_isdecimal(char32_t c);  // decimal digits (Nd)
bool py_isdigit(char32_t c);    // decimal digits and other digits (superscripts)
bool py_isnumeric(char32_t c);  // any numeric character (fractions, roman and CJK numerals)
bool py_is_cased(char32_t c);
bool py_is_lower(char32_t c);
bool py_is_upper(char32_t c);
bool py_is_linebreak(char32_t c);  // str.splitlines boundaries

// Python's full case mappings (SpecialCasing; final sigma when lowercasing).
std::u32string py_upper(std::u32string_view s);
std::u32string py_lower(std::u32string_view s);
std::u32string py_casefold(std::u32string_view s);
void py_append_upper(std::u32string& out, char32_t c);
void py_append_title(std::u32string& out, char32_t c);
// Lowercase of s[i] in its context (a capital sigma ending a word becomes final sigma).
void py_append_lower(std::u32string& out, std::u32string_view s, std::size_t i);

// str.strip family; `chars` empty optional = whitespace.
enum class StripSide { both, left, right };
std::u32string_view py_strip(std::u32string_view s, const std::u32string* chars, StripSide side);

// str.splitlines(keepends).
std::vector<std::u32string> py_splitlines(std::u32string_view s, bool keepends);

}  // namespace nibble::tmpl
