// Python operator semantics over Values. Integers are 64-bit: results that would need Python's
// arbitrary precision are reported as errors rather than silently wrapping.
#include "template/operators.h"

#include <cmath>
#include <string>

#include "template/errors.h"
#include "template/string_format.h"
#include "template/value_print.h"

namespace nibble::tmpl {

namespace {

[[noreturn]] void unsupported(std::string_view op, const Value& a, const Value& b) {
  if (a.is_undefined()) fail(a.str());
  if (b.is_undefined()) fail(b.str());
  fail("unsupported operand type(s) for " + std::string(op) + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
}

[[noreturn]] void overflow() { fail("integer overflow: values beyond 64 bits are not supported"); }

std::int64_t checked_add(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_add_overflow(a, b, &r)) overflow();
  return r;
}

std::int64_t checked_sub(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) overflow();
  return r;
}

std::int64_t checked_mul(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) overflow();
  return r;
}

bool both_integral(const Value& a, const Value& b) { return a.is_integral() && b.is_integral(); }
bool both_numbers(const Value& a, const Value& b) { return a.is_number() && b.is_number(); }

Value repeat(const Value& seq, std::int64_t n, std::size_t max_string) {
  if (n < 0) n = 0;
  if (seq.is_string()) {
    const std::string& s = seq.str();
    if (!s.empty() && static_cast<std::size_t>(n) > max_string / s.size())
      fail_limit("a string exceeds the output limit");
    std::string out;
    out.reserve(s.size() * static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) out += s;
    return Value::string(std::move(out));
  }
  const auto& items = seq.seq().items;
  if (!items.empty() && static_cast<std::size_t>(n) > (std::size_t{1} << 20) / items.size())
    fail_limit("a list exceeds 1048576 items");
  std::vector<Value> out;
  for (std::int64_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
  return Value::sequence(std::move(out), seq.seq_kind());
}

double py_float_mod(double a, double b) {
  double m = std::fmod(a, b);
  if (m != 0) {
    if ((b < 0) != (m < 0)) m += b;
  } else {
    m = std::copysign(0.0, b);
  }
  return m;
}

double py_float_floordiv(double a, double b) {
  double m = std::fmod(a, b);
  double div = (a - m) / b;
  if (m != 0 && (b < 0) != (m < 0)) div -= 1.0;
  if (div == 0) return std::copysign(0.0, a / b);
  double f = std::floor(div);
  if (div - f > 0.5) f += 1.0;
  return f;
}

Value power(const Value& a, const Value& b) {
  if (both_integral(a, b) && b.as_int() >= 0) {
    std::int64_t base = a.as_int(), exp = b.as_int(), result = 1;
    while (exp > 0) {
      if (exp & 1) result = checked_mul(result, base);
      exp >>= 1;
      if (exp > 0) base = checked_mul(base, base);
    }
    return Value::integer(result);
  }
  double x = a.as_double(), y = b.as_double();
  if (x == 0 && y < 0) fail("0.0 cannot be raised to a negative power");
  if (x < 0 && std::floor(y) != y) fail("complex results are not supported");
  return Value::real(std::pow(x, y));
}

bool ordered(CmpOp op, const Value& a, const Value& b);

bool apply(CmpOp op, auto x, auto y) {
  switch (op) {
    case CmpOp::lt: return x < y;
    case CmpOp::le: return x <= y;
    case CmpOp::gt: return x > y;
    default: return x >= y;
  }
}

const char* symbol(CmpOp op) {
  switch (op) {
    case CmpOp::lt: return "<";
    case CmpOp::le: return "<=";
    case CmpOp::gt: return ">";
    default: return ">=";
  }
}

bool ordered(CmpOp op, const Value& a, const Value& b) {
  if (a.is_undefined()) fail(a.str());
  if (b.is_undefined()) fail(b.str());
  if (both_integral(a, b)) return apply(op, a.as_int(), b.as_int());
  if (both_numbers(a, b)) return apply(op, a.as_double(), b.as_double());
  if (a.is_string() && b.is_string()) return apply(op, a.str().compare(b.str()), 0);
  if (a.is_list_like() && b.is_list_like() && a.seq_kind() == b.seq_kind()) {
    const auto& x = a.seq().items;
    const auto& y = b.seq().items;
    for (std::size_t i = 0; i < x.size() && i < y.size(); ++i)
      if (!equals(x[i], y[i])) return ordered(op, x[i], y[i]);
    return apply(op, x.size(), y.size());
  }
  fail(std::string("'") + symbol(op) + "' not supported between instances of '" + type_name(a) + "' and '" +
       type_name(b) + "'");
}

}  // namespace

Value add(const Value& a, const Value& b, std::size_t max_string) {
  if (both_integral(a, b)) return Value::integer(checked_add(a.as_int(), b.as_int()));
  if (both_numbers(a, b)) return Value::real(a.as_double() + b.as_double());
  if (a.is_string()) {
    if (!b.is_string()) {
      if (b.is_undefined()) fail(b.str());
      fail("can only concatenate str (not \"" + type_name(b) + "\") to str");
    }
    if (a.str().size() + b.str().size() > max_string) fail_limit("a string exceeds the output limit");
    return Value::string(a.str() + b.str());
  }
  if (a.is_list_like()) {
    if (!b.is_list_like() || b.seq_kind() != a.seq_kind()) {
      if (b.is_undefined()) fail(b.str());
      fail("can only concatenate " + type_name(a) + " (not \"" + type_name(b) + "\") to " + type_name(a));
    }
    if (a.seq().items.size() + b.seq().items.size() > (std::size_t{1} << 20)) fail_limit("a list exceeds 1048576 items");
    std::vector<Value> items = a.seq().items;
    items.insert(items.end(), b.seq().items.begin(), b.seq().items.end());
    return Value::sequence(std::move(items), a.seq_kind());
  }
  unsupported("+", a, b);
}

Value binary_op(BinOp op, const Value& a, const Value& b, std::size_t max_string) {
  switch (op) {
    case BinOp::add: return add(a, b, max_string);
    case BinOp::sub:
      if (both_integral(a, b)) return Value::integer(checked_sub(a.as_int(), b.as_int()));
      if (both_numbers(a, b)) return Value::real(a.as_double() - b.as_double());
      unsupported("-", a, b);
    case BinOp::mul:
      if (both_integral(a, b)) return Value::integer(checked_mul(a.as_int(), b.as_int()));
      if (both_numbers(a, b)) return Value::real(a.as_double() * b.as_double());
      if ((a.is_string() || a.is_list_like()) && b.is_integral()) return repeat(a, b.as_int(), max_string);
      if ((b.is_string() || b.is_list_like()) && a.is_integral()) return repeat(b, a.as_int(), max_string);
      if ((a.is_string() || a.is_list_like()) && !b.is_undefined())
        fail("can't multiply sequence by non-int of type '" + type_name(b) + "'");
      unsupported("*", a, b);
    case BinOp::div:
      if (both_numbers(a, b)) {
        if (b.as_double() == 0) fail("division by zero");
        return Value::real(a.as_double() / b.as_double());
      }
      unsupported("/", a, b);
    case BinOp::floordiv:
      if (both_integral(a, b)) {
        std::int64_t x = a.as_int(), y = b.as_int();
        if (y == 0) fail("integer division or modulo by zero");
        if (x == INT64_MIN && y == -1) overflow();
        std::int64_t q = x / y;
        if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
        return Value::integer(q);
      }
      if (both_numbers(a, b)) {
        if (b.as_double() == 0) fail("float floor division by zero");
        return Value::real(py_float_floordiv(a.as_double(), b.as_double()));
      }
      unsupported("//", a, b);
    case BinOp::mod:
      if (both_integral(a, b)) {
        std::int64_t x = a.as_int(), y = b.as_int();
        if (y == 0) fail("integer modulo by zero");
        if (y == -1) return Value::integer(0);
        std::int64_t m = x % y;
        if (m != 0 && ((m < 0) != (y < 0))) m += y;
        return Value::integer(m);
      }
      if (both_numbers(a, b)) {
        if (b.as_double() == 0) fail("float modulo by zero");
        return Value::real(py_float_mod(a.as_double(), b.as_double()));
      }
      if (a.is_string()) return Value::string(percent_format(a.str(), b, max_string));
      unsupported("%", a, b);
    case BinOp::pow:
      if (both_numbers(a, b)) return power(a, b);
      unsupported("** or pow()", a, b);
  }
  fail("unknown operator");
}

Value negate(const Value& v) {
  if (v.is_integral()) {
    if (v.as_int() == INT64_MIN) overflow();
    return Value::integer(-v.as_int());
  }
  if (v.is_real()) return Value::real(-v.as_double());
  if (v.is_undefined()) fail(v.str());
  fail("bad operand type for unary -: '" + type_name(v) + "'");
}

Value unary_plus(const Value& v) {
  if (v.is_integral()) return Value::integer(v.as_int());
  if (v.is_real()) return v;
  if (v.is_undefined()) fail(v.str());
  fail("bad operand type for unary +: '" + type_name(v) + "'");
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Kind::undefined: return false;
    case Kind::string:
      if (!item.is_string())
        fail("'in <string>' requires string as left operand, not " + type_name(item));
      return container.str().find(item.str()) != std::string::npos;
    case Kind::sequence: {
      Sequence& s = container.seq();
      s.rethrow_if_failed();
      bool consumable = s.kind == SeqKind::generator || s.kind == SeqKind::reversed;
      for (std::size_t i = consumable ? s.pos : 0; i < s.items.size(); ++i) {
        if (equals(s.items[i], item)) {
          if (consumable) s.pos = i + 1;
          return true;
        }
      }
      if (consumable) s.pos = s.items.size();
      return false;
    }
    case Kind::dict:
      if (!hashable(item)) fail("unhashable type: '" + type_name(item) + "'");
      return container.dict().find(item) != nullptr;
    default: fail("argument of type '" + type_name(container) + "' is not iterable");
  }
}

bool compare(CmpOp op, const Value& a, const Value& b) {
  switch (op) {
    case CmpOp::eq: return equals(a, b);
    case CmpOp::ne: return !equals(a, b);
    case CmpOp::in: return contains(b, a);
    case CmpOp::not_in: return !contains(b, a);
    default: return ordered(op, a, b);
  }
}

bool less_than(const Value& a, const Value& b) { return ordered(CmpOp::lt, a, b); }

}  // namespace nibble::tmpl
