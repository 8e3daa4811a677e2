// Python string formatting for templates: printf-style `fmt % args` (and the |format filter) and
// str.format()'s replacement fields with the format-spec mini-language. Locale-independent.
// Used by operators.cpp, filters and string methods.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "template/value.h"

namespace nibble::tmpl {

// `args`: a tuple (positional), a dict (%(name)s) or a single value.
std::string percent_format(std::string_view fmt, const Value& args, std::size_t max_bytes);

// str.format(*args, **kwargs).
std::string brace_format(Interpreter& interp, std::string_view fmt, const CallArgs& args);

// format(value, spec) for one value: the mini-language (fill, align, sign, #, 0, width, grouping,
// precision, type).
std::string format_spec(const Value& v, std::string_view spec);

// Fixed, exponent and general notation with a precision, as C's %f/%e/%g but locale-independent.
std::string format_double(double d, char type, int precision, bool alternate);

}  // namespace nibble::tmpl
