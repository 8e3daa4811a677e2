// Sequence filters: first, last, length, list, join, map, select/reject(attr), unique, sort,
// dictsort, min, max, sum, reverse, items, batch, slice. Like Jinja2, map/select/reject/unique/
// items/batch/slice produce generators (single-use, always true, no length).
#include <algorithm>

#include "template/args.h"
#include "template/builtins.h"
#include "template/errors.h"
#include "template/filters.h"
#include "template/interpreter.h"
#include "template/operators.h"
#include "template/text.h"
#include "template/value_print.h"

namespace nibble::tmpl {

namespace {

Value generator(std::vector<Value> items) { return Value::sequence(std::move(items), SeqKind::generator); }

// Runs a generator filter eagerly; an error becomes a generator that fails when consumed, as
// Jinja2's lazy generators do. Sandbox limits still stop rendering at once.
template <class Body>
Value lazily(Body body) {
  try {
    return body();
  } catch (const TemplateError& e) {
    if (e.fault == Fault::limit) throw;
    Value g = generator({});
    g.seq().error = std::make_shared<TemplateError>(e);
    return g;
  }
}

Value lower_if_str(const Value& v) {
  if (!v.is_string()) return v;
  return Value::string(utf8_encode(py_lower(utf8_decode(v.str()))));
}

// Jinja2's make_multi_attrgetter: a key per comma-separated attribute path.
std::vector<Value> multi_key(Interpreter& interp, const Value& item, const Value& attribute, bool case_sensitive) {
  std::vector<Value> keys;
  if (attribute.is_string()) {
    const std::string& spec = attribute.str();
    std::size_t start = 0;
    for (;;) {
      std::size_t comma = spec.find(',', start);
      Value path = Value::string(spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      Value k = lookup_path(interp, item, path);
      keys.push_back(case_sensitive ? k : lower_if_str(k));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  } else {
    Value k = lookup_path(interp, item, attribute);
    keys.push_back(case_sensitive ? k : lower_if_str(k));
  }
  return keys;
}

bool keys_less(const std::vector<Value>& a, const std::vector<Value>& b) {
  return less_than(Value::sequence(a), Value::sequence(b));
}

Value test_by_name(Interpreter& interp, const Value& name, const Value& item, CallArgs args) {
  if (!name.is_string()) fail("test name must be a string");
  TestFn t = find_test(name.str());
  if (!t) fail("No test named '" + name.str() + "'.");
  return Value::boolean(t(interp, item, args));
}

Value select_or_reject(Interpreter& interp, const Value& v, CallArgs& args, bool select, bool by_attr) {
  if (!truthy(v)) return generator({});
  std::size_t off = by_attr ? 1 : 0;
  if (by_attr && args.args.empty()) fail("Missing parameter for attribute name");
  Value attr = by_attr ? args.args[0] : Value();
  bool has_test = args.args.size() > off;
  Value test_name = has_test ? args.args[off] : Value();
  CallArgs test_args;
  for (std::size_t i = off + 1; i < args.args.size(); ++i) test_args.args.push_back(args.args[i]);
  test_args.kwargs = args.kwargs;
  std::vector<Value> out;
  for (auto& item : interp.iterate(v)) {
    interp.tick();
    Value subject = by_attr ? lookup_path(interp, item, attr) : item;
    bool hit = has_test ? test_by_name(interp, test_name, subject, test_args).as_bool() : truthy(subject);
    if (hit == select) out.push_back(std::move(item));
  }
  return generator(std::move(out));
}

Value min_or_max(Interpreter& interp, const Value& v, CallArgs& args, bool want_max, const char* name) {
  Params p(name, args, {"case_sensitive", "attribute"});
  Value f = Value::boolean(false), none = Value::none();
  bool cs = truthy(p.get(0, f));
  const Value& attr = p.get(1, none);
  std::vector<Value> items = interp.iterate(v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  auto key = [&](const Value& item) {
    Value k = attr.is_none() ? item : lookup_path(interp, item, attr);
    return cs ? k : lower_if_str(k);
  };
  std::size_t best = 0;
  Value best_key = key(items[0]);
  for (std::size_t i = 1; i < items.size(); ++i) {
    Value k = key(items[i]);
    if (want_max ? less_than(best_key, k) : less_than(k, best_key)) {
      best = i;
      best_key = std::move(k);
    }
  }
  return items[best];
}

}  // namespace

Value lookup_path(Interpreter& interp, const Value& item, const Value& attribute) {
  if (attribute.is_none() || attribute.is_undefined()) return item;
  if (!attribute.is_string()) return interp.get_item(item, attribute);
  Value cur = item;
  const std::string& path = attribute.str();
  std::size_t start = 0;
  for (;;) {
    std::size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    cur = interp.get_item(cur, digits && part.size() < 18 ? Value::integer(std::stoll(part)) : Value::string(part));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return cur;
}

NIBBLE_FILTER(first) {
  Params("first", args, {});
  if (v.is_sequence() && (v.seq_kind() == SeqKind::generator || v.seq_kind() == SeqKind::reversed)) {
    Sequence& s = v.seq();
    s.rethrow_if_failed();
    if (s.pos < s.items.size()) return s.items[s.pos++];
    return Value::undefined("No first item, sequence was empty.");
  }
  std::vector<Value> items = interp.iterate(v);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

NIBBLE_FILTER(last) {
  Params("last", args, {});
  if (v.is_sequence() && (v.seq_kind() == SeqKind::generator || v.seq_kind() == SeqKind::reversed ||
                          v.seq_kind() == SeqKind::dict_items || v.seq_kind() == SeqKind::dict_keys ||
                          v.seq_kind() == SeqKind::dict_values)) {
    if (v.seq_kind() == SeqKind::generator || v.seq_kind() == SeqKind::reversed)
      fail("'" + type_name(v) + "' object is not reversible");
  }
  std::vector<Value> items = interp.iterate(v);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

NIBBLE_FILTER(length) {
  Params("length", args, {});
  switch (v.kind()) {
    case Kind::undefined: return Value::integer(0);
    case Kind::string: return Value::integer(static_cast<std::int64_t>(utf8_length(v.str())));
    case Kind::dict: return Value::integer(static_cast<std::int64_t>(v.dict().entries.size()));
    case Kind::sequence:
      if (v.seq_kind() != SeqKind::generator && v.seq_kind() != SeqKind::reversed)
        return Value::integer(static_cast<std::int64_t>(v.seq().items.size()));
      [[fallthrough]];
    default: fail("object of type '" + type_name(v) + "' has no len()");
  }
}

NIBBLE_FILTER(list) {
  Params("list", args, {});
  return Value::sequence(interp.iterate(v));
}

NIBBLE_FILTER(join) {
  Params p("join", args, {"d", "attribute"});
  Value empty = Value::string(""), none = Value::none();
  std::string sep = soft_str(interp, p.get(0, empty));
  const Value& attr = p.get(1, none);
  std::string out;
  bool first = true;
  for (const auto& item : interp.iterate(v)) {
    if (!first) out += sep;
    first = false;
    out += to_str(attr.is_none() ? item : lookup_path(interp, item, attr), interp.max_string());
    if (out.size() > interp.max_string()) fail_limit("a string exceeds the output limit");
  }
  return Value::string(std::move(out));
}

NIBBLE_FILTER(map) {
  return lazily([&]() -> Value {
    if (!truthy(v)) return generator({});
    std::vector<Value> out;
    if (args.args.empty()) {
      Value attr, fallback = Value::none();
      bool has_attr = false;
      for (auto& [k, val] : args.kwargs) {
        if (k == "attribute") attr = val, has_attr = true;
        else if (k == "default") fallback = val;
        else fail("Unexpected keyword argument '" + k + "'");
      }
      if (!has_attr) fail("map requires a filter argument");
      for (const auto& item : interp.iterate(v)) {
        interp.tick();
        Value r = lookup_path(interp, item, attr);
        out.push_back(r.is_undefined() && !fallback.is_none() ? fallback : r);
      }
      return generator(std::move(out));
    }
    if (!args.args[0].is_string()) fail("filter name must be a string");
    FilterFn f = find_filter(args.args[0].str());
    if (!f) fail("No filter named '" + args.args[0].str() + "'.");
    CallArgs rest;
    rest.args.assign(args.args.begin() + 1, args.args.end());
    rest.kwargs = args.kwargs;
    for (auto& item : interp.iterate(v)) {
      interp.tick();
      CallArgs a = rest;
      out.push_back(f(interp, std::move(item), a));
    }
    return generator(std::move(out));
  });
}

NIBBLE_FILTER(select) {
  return lazily([&]() -> Value { return select_or_reject(interp, v, args, true, false); });
}
NIBBLE_FILTER(reject) {
  return lazily([&]() -> Value { return select_or_reject(interp, v, args, false, false); });
}
NIBBLE_FILTER(selectattr) {
  return lazily([&]() -> Value { return select_or_reject(interp, v, args, true, true); });
}
NIBBLE_FILTER(rejectattr) {
  return lazily([&]() -> Value { return select_or_reject(interp, v, args, false, true); });
}

NIBBLE_FILTER(unique) {
  return lazily([&]() -> Value {
    Params p("unique", args, {"case_sensitive", "attribute"});
    Value f = Value::boolean(false), none = Value::none();
    bool cs = truthy(p.get(0, f));
    const Value& attr = p.get(1, none);
    std::vector<Value> seen, out;
    for (auto& item : interp.iterate(v)) {
      interp.tick();
      Value k = attr.is_none() ? item : lookup_path(interp, item, attr);
      if (!cs) k = lower_if_str(k);
      if (!hashable(k)) fail("unhashable type: '" + type_name(k) + "'");
      if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, k); })) continue;
      seen.push_back(std::move(k));
      out.push_back(std::move(item));
    }
    return generator(std::move(out));
  });
}

NIBBLE_FILTER(sort) {
  Params p("sort", args, {"reverse", "case_sensitive", "attribute"});
  Value f = Value::boolean(false), none = Value::none();
  bool reverse = truthy(p.get(0, f)), cs = truthy(p.get(1, f));
  const Value& attr = p.get(2, none);
  std::vector<Value> items = interp.iterate(v);
  std::vector<std::pair<std::vector<Value>, std::size_t>> keyed;
  for (std::size_t i = 0; i < items.size(); ++i) keyed.emplace_back(multi_key(interp, items[i], attr, cs), i);
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
    return reverse ? keys_less(b.first, a.first) : keys_less(a.first, b.first);
  });
  std::vector<Value> out;
  for (const auto& k : keyed) out.push_back(items[k.second]);
  return Value::sequence(std::move(out));
}

NIBBLE_FILTER(dictsort) {
  Params p("dictsort", args, {"case_sensitive", "by", "reverse"});
  Value f = Value::boolean(false), key = Value::string("key");
  bool cs = truthy(p.get(0, f)), reverse = truthy(p.get(2, f));
  const Value& by = p.get(1, key);
  if (!by.is_string() || (by.str() != "key" && by.str() != "value"))
    fail("You can only sort by either \"key\" or \"value\"");
  if (!v.is_dict()) fail("'" + type_name(v) + "' object has no attribute 'items'");
  std::size_t pos = by.str() == "key" ? 0 : 1;
  std::vector<Value> pairs;
  for (const auto& [k, val] : v.dict().entries) pairs.push_back(Value::sequence({k, val}, SeqKind::tuple));
  std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& a, const Value& b) {
    Value x = a.seq().items[pos], y = b.seq().items[pos];
    if (!cs) x = lower_if_str(x), y = lower_if_str(y);
    return reverse ? less_than(y, x) : less_than(x, y);
  });
  return Value::sequence(std::move(pairs));
}

NIBBLE_FILTER(min) { return min_or_max(interp, v, args, false, "min"); }
NIBBLE_FILTER(max) { return min_or_max(interp, v, args, true, "max"); }

NIBBLE_FILTER(sum) {
  Params p("sum", args, {"attribute", "start"});
  Value none = Value::none(), zero = Value::integer(0);
  const Value& attr = p.get(0, none);
  Value total = p.get(1, zero);
  if (total.is_string()) fail("sum() can't sum strings [use ''.join(seq) instead]");
  for (const auto& item : interp.iterate(v)) total = add(total, attr.is_none() ? item : lookup_path(interp, item, attr), interp.max_string());
  return total;
}

NIBBLE_FILTER(reverse) {
  Params("reverse", args, {});
  if (v.is_string()) {
    std::u32string s = utf8_decode(v.str());
    std::reverse(s.begin(), s.end());
    return Value::string(utf8_encode(s));
  }
  std::vector<Value> items = interp.iterate(v);
  std::reverse(items.begin(), items.end());
  bool reversible = v.is_dict() || v.is_indexable() || v.is_undefined() ||
                    (v.is_sequence() && v.seq_kind() != SeqKind::generator && v.seq_kind() != SeqKind::reversed);
  return Value::sequence(std::move(items), reversible ? SeqKind::reversed : SeqKind::list);
}

NIBBLE_FILTER(items) {
  return lazily([&]() -> Value {
    Params("items", args, {});
    if (v.is_undefined()) return generator({});
    if (!v.is_dict()) fail("Can only get item pairs from a mapping.");
    std::vector<Value> out;
    for (const auto& [k, val] : v.dict().entries) out.push_back(Value::sequence({k, val}, SeqKind::tuple));
    return generator(std::move(out));
  });
}

NIBBLE_FILTER(batch) {
  return lazily([&]() -> Value {
    Params p("batch", args, {"linecount", "fill_with"});
    p.require(0, "batch", "linecount");
    if (!p[0].is_integral() || p[0].as_int() <= 0) fail("batch size must be a positive integer");
    auto n = static_cast<std::size_t>(p[0].as_int());
    Value none = Value::none();
    const Value& fill = p.get(1, none);
    std::vector<Value> out, cur;
    for (auto& item : interp.iterate(v)) {
      cur.push_back(std::move(item));
      if (cur.size() == n) out.push_back(Value::sequence(std::exchange(cur, {})));
    }
    if (!cur.empty()) {
      if (!fill.is_none())
        while (cur.size() < n) cur.push_back(fill);
      out.push_back(Value::sequence(std::move(cur)));
    }
    return generator(std::move(out));
  });
}

NIBBLE_FILTER(slice) {
  return lazily([&]() -> Value {
    Params p("slice", args, {"slices", "fill_with"});
    p.require(0, "slice", "slices");
    if (!p[0].is_integral() || p[0].as_int() <= 0 || p[0].as_int() > (1 << 20)) fail("slices must be a positive integer");
    auto slices = static_cast<std::size_t>(p[0].as_int());
    Value none = Value::none();
    const Value& fill = p.get(1, none);
    std::vector<Value> seq = interp.iterate(v), out;
    std::size_t per = seq.size() / slices, extra = seq.size() % slices, offset = 0;
    for (std::size_t k = 0; k < slices; ++k) {
      std::size_t start = offset + k * per;
      if (k < extra) ++offset;
      std::size_t end = offset + (k + 1) * per;
      std::vector<Value> part(seq.begin() + static_cast<std::ptrdiff_t>(start), seq.begin() + static_cast<std::ptrdiff_t>(end));
      if (!fill.is_none() && k >= extra) part.push_back(fill);
      out.push_back(Value::sequence(std::move(part)));
    }
    return generator(std::move(out));
  });
}

}  // namespace nibble::tmpl
