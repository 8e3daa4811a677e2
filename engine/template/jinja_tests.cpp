// Jinja2's tests (`x is defined`, `is none`, `is string`, `is mapping`, `is iterable`,
// `is divisibleby(3)`, `is in(...)`, comparison aliases, ...) and the registry the parser uses.
#include <string_view>

#include "template/args.h"
#include "template/builtins.h"
#include "template/errors.h"
#include "template/filters.h"
#include "template/interpreter.h"
#include "template/operators.h"
#include "template/text.h"

namespace nibble::tmpl {

namespace {

#define NIBBLE_TEST(name) bool test_##name(Interpreter& interp, const Value& v, CallArgs& args)

Value one_arg(const char* name, CallArgs& args) {
  Params p(name, args, {"other"});
  p.require(0, name, "other");
  return p[0];
}

void no_args(const char* name, CallArgs& args) { Params(name, args, {}); }

NIBBLE_TEST(defined) { return no_args("defined", args), !v.is_undefined(); }
NIBBLE_TEST(undefined) { return no_args("undefined", args), v.is_undefined(); }
NIBBLE_TEST(none) { return no_args("none", args), v.is_none(); }
NIBBLE_TEST(boolean) { return no_args("boolean", args), v.is_bool(); }
NIBBLE_TEST(false) { return no_args("false", args), v.is_bool() && !v.as_bool(); }
NIBBLE_TEST(true) { return no_args("true", args), v.is_bool() && v.as_bool(); }
NIBBLE_TEST(integer) { return no_args("integer", args), v.is_int(); }
NIBBLE_TEST(float) { return no_args("float", args), v.is_real(); }
NIBBLE_TEST(number) { return no_args("number", args), v.is_number(); }
NIBBLE_TEST(string) { return no_args("string", args), v.is_string(); }
NIBBLE_TEST(mapping) { return no_args("mapping", args), v.is_dict(); }
NIBBLE_TEST(iterable) {
  no_args("iterable", args);
  return v.is_undefined() || v.is_string() || v.is_sequence() || v.is_dict();
}
NIBBLE_TEST(sequence) {
  no_args("sequence", args);
  if (v.is_sequence()) return v.seq_kind() == SeqKind::list || v.seq_kind() == SeqKind::tuple;
  return v.is_undefined() || v.is_string() || v.is_dict();
}
NIBBLE_TEST(callable) {
  no_args("callable", args);
  return v.is_undefined() || (v.is_object() && v.obj().callable());  // Undefined defines __call__
}
NIBBLE_TEST(escaped) { return no_args("escaped", args), false; }

NIBBLE_TEST(lower) {
  no_args("lower", args);
  CallArgs none;
  return truthy(interp.call(*method_of(Value::string(soft_str(interp, v)), "islower"), none));
}
NIBBLE_TEST(upper) {
  no_args("upper", args);
  CallArgs none;
  return truthy(interp.call(*method_of(Value::string(soft_str(interp, v)), "isupper"), none));
}

bool remainder_is(const Value& v, const Value& divisor, std::int64_t want) {
  Value r = binary_op(BinOp::mod, v, divisor, std::size_t{1} << 20);
  return equals(r, Value::integer(want));
}

NIBBLE_TEST(odd) { return no_args("odd", args), remainder_is(v, Value::integer(2), 1); }
NIBBLE_TEST(even) { return no_args("even", args), remainder_is(v, Value::integer(2), 0); }
NIBBLE_TEST(divisibleby) {
  Params p("divisibleby", args, {"num"});
  p.require(0, "divisibleby", "num");
  return remainder_is(v, p[0], 0);
}

NIBBLE_TEST(in) { return contains(one_arg("in", args), v); }
NIBBLE_TEST(eq) { return compare(CmpOp::eq, v, one_arg("eq", args)); }
NIBBLE_TEST(ne) { return compare(CmpOp::ne, v, one_arg("ne", args)); }
NIBBLE_TEST(lt) { return compare(CmpOp::lt, v, one_arg("lt", args)); }
NIBBLE_TEST(le) { return compare(CmpOp::le, v, one_arg("le", args)); }
NIBBLE_TEST(gt) { return compare(CmpOp::gt, v, one_arg("gt", args)); }
NIBBLE_TEST(ge) { return compare(CmpOp::ge, v, one_arg("ge", args)); }

// Python `is`: None, booleans and small integers are singletons; containers compare by identity.
NIBBLE_TEST(sameas) {
  const Value o = one_arg("sameas", args);
  if (v.kind() != o.kind()) return false;
  switch (v.kind()) {
    case Kind::none: case Kind::undefined: return v.is_none() || v.identity() == o.identity();
    case Kind::boolean: return v.as_bool() == o.as_bool();
    case Kind::integer: return v.as_int() == o.as_int() && v.as_int() >= -5 && v.as_int() <= 256;
    case Kind::real: return false;
    default: return v.identity() == o.identity();
  }
}

NIBBLE_TEST(filter) {
  no_args("filter", args);
  return v.is_string() && find_filter(v.str()) != nullptr;
}
NIBBLE_TEST(test) {
  no_args("test", args);
  return v.is_string() && find_test(v.str()) != nullptr;
}

struct TestEntry {
  const char* name;
  TestFn fn;
};

constexpr TestEntry test_table[] = {
    {"!=", test_ne}, {"<", test_lt}, {"<=", test_le}, {"==", test_eq}, {">", test_gt}, {">=", test_ge},
    {"boolean", test_boolean}, {"callable", test_callable}, {"defined", test_defined},
    {"divisibleby", test_divisibleby}, {"eq", test_eq}, {"equalto", test_eq}, {"escaped", test_escaped},
    {"even", test_even}, {"false", test_false}, {"filter", test_filter}, {"float", test_float},
    {"ge", test_ge}, {"greaterthan", test_gt}, {"gt", test_gt}, {"in", test_in}, {"integer", test_integer},
    {"iterable", test_iterable}, {"le", test_le}, {"lessthan", test_lt}, {"lower", test_lower}, {"lt", test_lt},
    {"mapping", test_mapping}, {"ne", test_ne}, {"none", test_none}, {"number", test_number}, {"odd", test_odd},
    {"sameas", test_sameas}, {"sequence", test_sequence}, {"string", test_string}, {"test", test_test},
    {"true", test_true}, {"undefined", test_undefined}, {"upper", test_upper},
};

}  // namespace

TestFn find_test(std::string_view name) {
  for (const auto& t : test_table)
    if (name == t.name) return t.fn;
  return nullptr;
}

}  // namespace nibble::tmpl
