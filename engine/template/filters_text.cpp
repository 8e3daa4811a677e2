// Text and number filters (trim, upper, replace, indent, title, int, float, round, default,
// format, escape, ...) with Jinja2 3.1's argument names and defaults, and the filter registry
// the parser resolves names against.
#include <charconv>
#include <cmath>
#include <cstring>
#include <string_view>
#include <utility>

#include "template/args.h"
#include "template/builtins.h"
#include "template/errors.h"
#include "template/filters.h"
#include "template/interpreter.h"
#include "template/operators.h"
#include "template/string_format.h"
#include "template/text.h"
#include "template/value_print.h"

namespace nibble::tmpl {

std::string soft_str(Interpreter& interp, const Value& v) { return to_str(v, interp.max_string()); }

namespace {

using U32 = std::u32string;

Value call_str_method(Interpreter& interp, const std::string& s, std::string_view name, CallArgs args) {
  auto m = method_of(Value::string(s), name);
  return interp.call(*m, args);
}

// Python's float(str): optional sign, digits with single underscores, fraction, exponent, inf, nan.
std::optional<double> parse_py_float(std::string_view text) {
  U32 cps = utf8_decode(text);
  std::string s = utf8_encode(py_strip(cps, nullptr, StripSide::both));
  std::string lower;
  for (char c : s) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  std::string_view body = lower;
  bool neg = false;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    neg = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body == "inf" || body == "infinity") return neg ? -INFINITY : INFINITY;
  if (body == "nan") return NAN;
  std::string clean;
  for (std::size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c == '_') {
      bool ok = i > 0 && i + 1 < body.size() && std::isdigit(static_cast<unsigned char>(body[i - 1])) &&
                std::isdigit(static_cast<unsigned char>(body[i + 1]));
      if (!ok) return std::nullopt;
      continue;
    }
    if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.' && c != 'e' && c != '+' && c != '-') return std::nullopt;
    clean.push_back(c);
  }
  if (clean.empty() || clean.find_first_of("0123456789") == std::string::npos) return std::nullopt;
  double d = 0;
  auto res = std::from_chars(clean.data(), clean.data() + clean.size(), d);
  if (res.ptr != clean.data() + clean.size()) return std::nullopt;
  if (res.ec == std::errc::result_out_of_range) d = clean.find("e-") != std::string::npos ? 0.0 : INFINITY;
  return neg ? -d : d;
}

// Python's int(str, base).
std::optional<std::int64_t> parse_py_int(std::string_view text, int base) {
  std::string s = utf8_encode(py_strip(utf8_decode(text), nullptr, StripSide::both));
  std::string_view body = s;
  bool neg = false;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    neg = body[0] == '-';
    body.remove_prefix(1);
  }
  if (base == 16 && body.size() > 2 && body[0] == '0' && (body[1] | 0x20) == 'x') body.remove_prefix(2);
  if (base == 8 && body.size() > 2 && body[0] == '0' && (body[1] | 0x20) == 'o') body.remove_prefix(2);
  if (base == 2 && body.size() > 2 && body[0] == '0' && (body[1] | 0x20) == 'b') body.remove_prefix(2);
  std::string digits;
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '_' && i > 0 && i + 1 < body.size() && body[i - 1] != '_' && body[i + 1] != '_') continue;
    digits.push_back(body[i]);
  }
  if (digits.empty()) return std::nullopt;
  std::uint64_t magnitude = 0;
  auto res = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  if (res.ptr != digits.data() + digits.size()) return std::nullopt;
  if (res.ec != std::errc() || magnitude > (neg ? 9223372036854775808ull : 9223372036854775807ull))
    fail("integer overflow: values beyond 64 bits are not supported");
  return neg ? static_cast<std::int64_t>(0 - magnitude) : static_cast<std::int64_t>(magnitude);
}

std::optional<std::int64_t> float_to_int(double d) {
  if (std::isnan(d)) return std::nullopt;
  if (std::isinf(d)) fail("cannot convert float infinity to integer");
  if (d >= 9223372036854775808.0 || d < -9223372036854775808.0) fail("integer overflow: values beyond 64 bits are not supported");
  return static_cast<std::int64_t>(d);
}

NIBBLE_FILTER(abs) {
  Params("abs", args, {});
  if (v.is_integral()) return v.as_int() < 0 ? negate(v) : Value::integer(v.as_int());
  if (v.is_real()) return Value::real(std::fabs(v.as_double()));
  if (v.is_undefined()) fail(v.str());
  fail("bad operand type for abs(): '" + type_name(v) + "'");
}

NIBBLE_FILTER(attr) {
  Params p("attr", args, {"name"});
  p.require(0, "attr", "name");
  // Python getattr only: unlike `x.name`, items of a dict are not attributes.
  std::string name = soft_str(interp, p[0]);
  if (v.is_undefined()) fail(v.str());
  if (v.is_object())
    if (auto a = v.obj().attribute(name)) return *a;
  if (auto m = method_of(v, name)) return *m;
  return Value::undefined("'" + type_name(v) + " object' has no attribute '" + name + "'");
}

NIBBLE_FILTER(capitalize) {
  Params("capitalize", args, {});
  CallArgs none;
  return call_str_method(interp, soft_str(interp, v), "capitalize", none);
}

NIBBLE_FILTER(center) {
  Params p("center", args, {"width"});
  CallArgs a;
  a.args.push_back(p.get(0, Value::integer(80)));
  return call_str_method(interp, soft_str(interp, v), "center", a);
}

NIBBLE_FILTER(default) {
  Params p("default", args, {"default_value", "boolean"});
  Value empty = Value::string(""), f = Value::boolean(false);
  if (v.is_undefined() || (truthy(p.get(1, f)) && !truthy(v))) return p.get(0, empty);
  return v;
}

NIBBLE_FILTER(escape) {
  Params("escape", args, {});
  std::string out;
  for (char c : soft_str(interp, v)) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return Value::string(std::move(out));
}

NIBBLE_FILTER(float) {
  Params p("float", args, {"default"});
  Value zero = Value::real(0.0);
  if (v.is_undefined()) fail(v.str());  // Undefined.__float__ raises
  if (v.is_number()) return Value::real(v.as_double());
  if (v.is_string())
    if (auto d = parse_py_float(v.str())) return Value::real(*d);
  return p.get(0, zero);
}

NIBBLE_FILTER(format) {
  if (!args.args.empty() && !args.kwargs.empty()) fail("can't handle positional and keyword arguments at the same time");
  Value packed;
  if (!args.kwargs.empty()) {
    std::vector<std::pair<Value, Value>> entries;
    for (auto& [k, val] : args.kwargs) entries.emplace_back(Value::string(k), val);
    packed = Value::dict(std::move(entries));
  } else {
    packed = Value::sequence(args.args, SeqKind::tuple);
  }
  return Value::string(percent_format(soft_str(interp, v), packed, interp.max_string()));
}

NIBBLE_FILTER(indent) {
  Params p("indent", args, {"width", "first", "blank"});
  Value four = Value::integer(4), f = Value::boolean(false);
  const Value& width = p.get(0, four);
  U32 indention;
  if (width.is_string()) {
    indention = utf8_decode(width.str());
  } else {
    if (!width.is_integral()) fail("can't multiply sequence by non-int of type '" + type_name(width) + "'");
    indention = U32(static_cast<std::size_t>(std::clamp<std::int64_t>(width.as_int(), 0, 1 << 16)), U' ');
  }
  if (v.is_undefined()) fail(v.str());
  if (!v.is_string()) fail("unsupported operand type(s) for +=: '" + type_name(v) + "' and 'str'");
  U32 s = utf8_decode(v.str()) + U"\n";
  std::vector<U32> lines = py_splitlines(s, false);
  U32 rv;
  if (truthy(p.get(2, f))) {
    for (std::size_t i = 0; i < lines.size(); ++i) rv += (i ? U"\n" + indention : U32()) + lines[i];
  } else {
    rv = lines.empty() ? U32() : lines[0];
    for (std::size_t i = 1; i < lines.size(); ++i) rv += U"\n" + (lines[i].empty() ? U32() : indention + lines[i]);
  }
  if (truthy(p.get(1, f))) rv = indention + rv;
  if (rv.size() > interp.max_string()) fail_limit("a string exceeds the output limit");
  return Value::string(utf8_encode(rv));
}

NIBBLE_FILTER(int) {
  Params p("int", args, {"default", "base"});
  Value zero = Value::integer(0), ten = Value::integer(10);
  const Value& base = p.get(1, ten);
  if (v.is_undefined()) fail(v.str());  // Undefined.__int__ raises
  if (v.is_integral()) return Value::integer(v.as_int());
  if (v.is_real()) {
    if (auto i = float_to_int(v.as_double())) return Value::integer(*i);
    return p.get(0, zero);
  }
  if (v.is_string()) {
    int b = base.is_integral() ? static_cast<int>(base.as_int()) : 10;
    if (b >= 2 && b <= 36)
      if (auto i = parse_py_int(v.str(), b)) return Value::integer(*i);
    if (auto d = parse_py_float(v.str()))
      if (auto i = float_to_int(*d)) return Value::integer(*i);
  }
  return p.get(0, zero);
}

NIBBLE_FILTER(lower) {
  Params("lower", args, {});
  return Value::string(utf8_encode(py_lower(utf8_decode(soft_str(interp, v)))));
}

NIBBLE_FILTER(upper) {
  Params("upper", args, {});
  return Value::string(utf8_encode(py_upper(utf8_decode(soft_str(interp, v)))));
}

NIBBLE_FILTER(replace) {
  Params p("replace", args, {"old", "new", "count"});
  p.require(0, "replace", "old");
  p.require(1, "replace", "new");
  CallArgs a;
  a.args = {Value::string(soft_str(interp, p[0])), Value::string(soft_str(interp, p[1]))};
  Value none = Value::none();
  const Value& count = p.get(2, none);
  a.args.push_back(count.is_none() ? Value::integer(-1) : count);
  return call_str_method(interp, soft_str(interp, v), "replace", a);
}

NIBBLE_FILTER(round) {
  Params p("round", args, {"precision", "method"});
  Value zero = Value::integer(0), common = Value::string("common");
  const Value& precision = p.get(0, zero);
  const Value& method = p.get(1, common);
  if (!method.is_string() || (method.str() != "common" && method.str() != "ceil" && method.str() != "floor"))
    fail("method must be common, ceil or floor");
  if (!precision.is_integral()) fail("'" + type_name(precision) + "' object cannot be interpreted as an integer");
  if (!v.is_number()) {
    if (v.is_undefined()) fail(v.str());
    fail("type " + type_name(v) + " doesn't define __round__ method");
  }
  std::int64_t n = precision.as_int();
  if (method.str() != "common") {
    double scale = std::pow(10.0, static_cast<double>(n));
    double x = v.as_double() * scale;
    return Value::real((method.str() == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
  }
  if (v.is_integral() && n >= 0) return Value::integer(v.as_int());
  double d = v.as_double();
  if (!std::isfinite(d)) return Value::real(d);
  if (n >= 0) {
    std::string s = format_double(d, 'f', static_cast<int>(std::min<std::int64_t>(n, 340)), false);
    double r = 0;
    std::from_chars(s.data(), s.data() + s.size(), r);
    return Value::real(r);
  }
  double scale = std::pow(10.0, static_cast<double>(-n));
  double r = std::nearbyint(d / scale) * scale;
  return v.is_integral() ? Value::integer(static_cast<std::int64_t>(r)) : Value::real(r);
}

NIBBLE_FILTER(string) {
  Params("string", args, {});
  return Value::string(soft_str(interp, v));
}

NIBBLE_FILTER(title) {
  Params("title", args, {});
  U32 s = utf8_decode(soft_str(interp, v));
  auto is_sep = [](char32_t c) { return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || py_isspace(c); };
  U32 out;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t j = i;
    bool sep = is_sep(s[i]);
    while (j < s.size() && is_sep(s[j]) == sep) ++j;
    U32 item = s.substr(i, j - i);
    if (sep) {
      out += item;
    } else {
      out += py_upper(item.substr(0, 1));
      out += py_lower(item.substr(1));
    }
    i = j;
  }
  return Value::string(utf8_encode(out));
}

NIBBLE_FILTER(trim) {
  Params p("trim", args, {"chars"});
  CallArgs a;
  if (p.has(0)) a.args.push_back(p[0]);
  return call_str_method(interp, soft_str(interp, v), "strip", a);
}

NIBBLE_FILTER(truncate) {
  Params p("truncate", args, {"length", "killwords", "end", "leeway"});
  Value len_default = Value::integer(255), f = Value::boolean(false), dots = Value::string("..."), five = Value::integer(5);
  std::int64_t length = p.get(0, len_default).as_int();
  U32 end = utf8_decode(soft_str(interp, p.get(2, dots)));
  const Value& leeway_v = p.get(3, five);
  std::int64_t leeway = leeway_v.is_none() ? 5 : leeway_v.as_int();
  if (length < static_cast<std::int64_t>(end.size())) fail("expected length >= " + std::to_string(end.size()) + ", got " + std::to_string(length));
  if (leeway < 0) fail("expected leeway >= 0, got " + std::to_string(leeway));
  if (!v.is_string()) {
    std::int64_t n = 0;
    if (v.is_dict()) n = static_cast<std::int64_t>(v.dict().entries.size());
    else if (v.is_indexable()) n = static_cast<std::int64_t>(v.seq().items.size());
    else if (!v.is_undefined()) fail("object of type '" + type_name(v) + "' has no len()");
    if (n <= length + leeway) return v;
    fail("'" + type_name(v) + "' object has no attribute 'rsplit'");
  }
  U32 s = utf8_decode(v.str());
  if (static_cast<std::int64_t>(s.size()) <= length + leeway) return v;
  U32 head = s.substr(0, static_cast<std::size_t>(length) - end.size());
  if (truthy(p.get(1, f))) return Value::string(utf8_encode(head + end));
  std::size_t space = head.rfind(U' ');
  if (space != U32::npos) head = head.substr(0, space);
  return Value::string(utf8_encode(head + end));
}

NIBBLE_FILTER(safe) {
  Params("safe", args, {});
  return Value::string(soft_str(interp, v));
}

NIBBLE_FILTER(wordcount) {
  Params("wordcount", args, {});
  std::int64_t n = 0;
  bool in_word = false;
  for (char32_t c : utf8_decode(soft_str(interp, v))) {
    bool w = c == '_' || py_isalnum(c);
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value::integer(n);
}

struct FilterEntry {
  const char* name;
  FilterFn fn;
};

constexpr FilterEntry filter_table[] = {
    {"abs", filter_abs}, {"attr", filter_attr}, {"batch", filter_batch}, {"capitalize", filter_capitalize},
    {"center", filter_center}, {"count", filter_length}, {"d", filter_default}, {"default", filter_default},
    {"dictsort", filter_dictsort}, {"e", filter_escape}, {"escape", filter_escape}, {"first", filter_first},
    {"float", filter_float}, {"forceescape", filter_escape}, {"format", filter_format}, {"indent", filter_indent},
    {"int", filter_int}, {"items", filter_items}, {"join", filter_join}, {"last", filter_last},
    {"length", filter_length}, {"list", filter_list}, {"lower", filter_lower}, {"map", filter_map},
    {"max", filter_max}, {"min", filter_min}, {"reject", filter_reject}, {"rejectattr", filter_rejectattr},
    {"replace", filter_replace}, {"reverse", filter_reverse}, {"round", filter_round}, {"safe", filter_safe},
    {"select", filter_select}, {"selectattr", filter_selectattr}, {"slice", filter_slice}, {"sort", filter_sort},
    {"string", filter_string}, {"sum", filter_sum}, {"title", filter_title}, {"tojson", filter_tojson},
    {"trim", filter_trim}, {"truncate", filter_truncate}, {"unique", filter_unique}, {"upper", filter_upper},
    {"wordcount", filter_wordcount},
};

}  // namespace

FilterFn find_filter(std::string_view name) {
  for (const auto& f : filter_table)
    if (name == f.name) return f.fn;
  return nullptr;
}

}  // namespace nibble::tmpl
