// Python's str() and repr() of template values: what `{{ x }}`, `~`, `|string` and `|join`
// produce, including float repr (shortest round-trip) and quoted strings inside containers.
// Used by the evaluator, filters and string methods.
#pragma once

#include <cstddef>
#include <limits>
#include <string>
#include <string_view>

#include "template/value.h"

namespace nibble::tmpl {

// `max_bytes` bounds the result (a limit error beyond it): containers can expand enormously.
std::string to_str(const Value& v, std::size_t max_bytes = std::numeric_limits<std::size_t>::max());
std::string repr(const Value& v, std::size_t max_bytes = std::numeric_limits<std::size_t>::max());

std::string float_repr(double d);              // repr(float): 1.0, 0.1, 1e-05, 1e+16, inf, nan
std::string string_repr(std::string_view s);   // repr(str): 'a', "it's", 'x\ny'

}  // namespace nibble::tmpl
