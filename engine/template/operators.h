// Python's operators on template values: arithmetic (int64 with overflow checks, float, str and
// list concatenation and repetition, printf-style %), comparisons and `in`. Shared by the
// evaluator and the filters that sort or compare.
#pragma once

#include <cstddef>

#include "template/ast.h"
#include "template/value.h"

namespace nibble::tmpl {

Value binary_op(BinOp op, const Value& a, const Value& b, std::size_t max_string);
Value negate(const Value& v);
Value unary_plus(const Value& v);

bool compare(CmpOp op, const Value& a, const Value& b);
bool contains(const Value& container, const Value& item);  // Python `item in container`
bool less_than(const Value& a, const Value& b);             // Python <, TypeError when unordered

// Arithmetic helpers also used by filters (sum, abs, round).
Value add(const Value& a, const Value& b, std::size_t max_string);

}  // namespace nibble::tmpl
