// Expression evaluation with Jinja2's sandboxed lookup rules: attribute access tries methods and
// then items, item access the reverse; a missing attribute or item yields an Undefined that only
// fails when used; calls, filters, tests, slices, and short-circuit and/or returning operands.
#include <algorithm>

#include "template/builtins.h"
#include "template/errors.h"
#include "template/interpreter.h"
#include "template/operators.h"
#include "template/text.h"
#include "template/value_print.h"

namespace nibble::tmpl {

namespace {

// Jinja2's object_type_repr: "dict object", "None".
std::string object_type(const Value& v) { return v.is_none() ? "None" : type_name(v) + " object"; }

Value missing_attribute(const Value& obj, const std::string& name) {
  return Value::undefined("'" + object_type(obj) + "' has no attribute '" + name + "'");
}

Value missing_element(const Value& obj, const Value& key) {
  if (key.is_string()) return missing_attribute(obj, key.str());
  return Value::undefined(object_type(obj) + " has no element " + repr(key));
}

struct SliceBounds {
  std::int64_t start, stop, step;
};

// Python's slice index adjustment (PySlice_AdjustIndices).
SliceBounds adjust_slice(std::int64_t len, const Value* start_v, const Value* stop_v, const Value* step_v) {
  std::int64_t step = step_v ? step_v->as_int() : 1;
  if (step == 0) fail("slice step cannot be zero");
  auto adjust = [&](const Value* v, std::int64_t dflt) {
    if (!v) return dflt;
    std::int64_t x = v->as_int();
    if (x < 0) {
      x += len;
      if (x < 0) x = step < 0 ? -1 : 0;
    } else if (x >= len) {
      x = step < 0 ? len - 1 : len;
    }
    return x;
  };
  return {adjust(start_v, step < 0 ? len - 1 : 0), adjust(stop_v, step < 0 ? -1 : len), step};
}

std::vector<std::size_t> slice_indices(const SliceBounds& b) {
  std::vector<std::size_t> out;
  if (b.step > 0)
    for (std::int64_t i = b.start; i < b.stop; i += b.step) out.push_back(static_cast<std::size_t>(i));
  else
    for (std::int64_t i = b.start; i > b.stop; i += b.step) out.push_back(static_cast<std::size_t>(i));
  return out;
}

}  // namespace

Value Interpreter::eval(const Expr& e) {
  check_stack();
  if ((++evals_ & 4095) == 0) check_time();
  try {
    return eval_inner(e);
  } catch (TemplateError& err) {
    if (err.line == 0) {
      err.line = e.line;
      err.column = e.col;
    }
    throw;
  }
}

Value Interpreter::eval_inner(const Expr& e) {
  switch (e.kind) {
    case ExprKind::constant: return e.value;
    case ExprKind::name: {
      if (const Value* v = scope_->find(e.name)) return *v;
      return Value::undefined("'" + e.name + "' is undefined");
    }
    case ExprKind::list:
    case ExprKind::tuple: {
      std::vector<Value> items;
      items.reserve(e.items.size());
      for (const auto& i : e.items) items.push_back(eval(*i));
      return Value::sequence(std::move(items), e.kind == ExprKind::list ? SeqKind::list : SeqKind::tuple);
    }
    case ExprKind::dict: {
      auto d = std::make_shared<Dict>();
      for (std::size_t i = 0; i + 1 < e.items.size(); i += 2) {
        Value k = eval(*e.items[i]);
        if (!hashable(k)) fail("unhashable type: '" + type_name(k) + "'");
        d->set(std::move(k), eval(*e.items[i + 1]));
      }
      return Value::dict(std::move(d));
    }
    case ExprKind::getattr: return get_attr(eval(*e.a), e.name);
    case ExprKind::getitem: {
      Value obj = eval(*e.a);
      if (e.b->kind == ExprKind::slice) return eval_slice(obj, *e.b);
      return get_item(obj, eval(*e.b));
    }
    case ExprKind::slice: fail("slice used outside of a subscript");
    case ExprKind::call: return eval_call(e);
    case ExprKind::filter: {
      Value subject = e.a ? eval(*e.a) : Value();
      CallArgs args = eval_args(e);
      if (!e.filter) fail("No filter named '" + e.name + "' found.");
      return e.filter(*this, std::move(subject), args);
    }
    case ExprKind::test: {
      Value subject = eval(*e.a);
      CallArgs args = eval_args(e);
      if (!e.test) fail("No test named '" + e.name + "' found.");
      return Value::boolean(e.test(*this, subject, args));
    }
    case ExprKind::neg: return negate(eval(*e.a));
    case ExprKind::pos: return unary_plus(eval(*e.a));
    case ExprKind::not_: return Value::boolean(!truthy(eval(*e.a)));
    case ExprKind::binary: {
      Value a = eval(*e.a);
      Value b = eval(*e.b);
      return binary_op(e.op, a, b, limits_.max_output_bytes);
    }
    case ExprKind::compare: {
      Value left = eval(*e.a);
      for (std::size_t i = 0; i < e.cmp_ops.size(); ++i) {
        Value right = eval(*e.items[i]);
        if (!compare(e.cmp_ops[i], left, right)) return Value::boolean(false);
        left = std::move(right);
      }
      return Value::boolean(true);
    }
    case ExprKind::and_: {
      Value a = eval(*e.a);
      return truthy(a) ? eval(*e.b) : a;
    }
    case ExprKind::or_: {
      Value a = eval(*e.a);
      return truthy(a) ? a : eval(*e.b);
    }
    case ExprKind::concat: {
      std::string out;
      for (const auto& i : e.items) {
        out += to_str(eval(*i), limits_.max_output_bytes);
        if (out.size() > limits_.max_output_bytes) fail_limit("a string exceeds the output limit");
      }
      return Value::string(std::move(out));
    }
    case ExprKind::cond:
      if (truthy(eval(*e.a))) return eval(*e.b);
      if (e.c) return eval(*e.c);
      return Value::undefined("the inline if-expression evaluated to false and no else section was defined");
  }
  fail("unknown expression");
}

CallArgs Interpreter::eval_args(const Expr& e) {
  CallArgs args;
  for (const auto& i : e.items) args.args.push_back(eval(*i));
  if (e.dyn_args)
    for (auto& v : iterate(eval(*e.dyn_args))) args.args.push_back(std::move(v));
  for (const auto& [k, v] : e.kwargs) args.kwargs.emplace_back(k, eval(*v));
  if (e.dyn_kwargs) {
    Value d = eval(*e.dyn_kwargs);
    if (!d.is_dict()) fail("argument after ** must be a mapping, not " + type_name(d));
    for (const auto& [k, v] : d.dict().entries) {
      if (!k.is_string()) fail("keywords must be strings");
      args.kwargs.emplace_back(k.str(), v);
    }
  }
  return args;
}

Value Interpreter::eval_call(const Expr& e) {
  Value callee = eval(*e.a);
  CallArgs args = eval_args(e);
  return call(callee, args);
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
  if (callee.is_undefined()) fail(callee.str());
  if (!callee.is_object() || !callee.obj().callable()) fail("'" + type_name(callee) + "' object is not callable");
  auto keep = callee.obj_ptr();
  return keep->call(*this, args);
}

Value Interpreter::get_attr(const Value& obj, const std::string& name) {
  switch (obj.kind()) {
    case Kind::undefined: fail(obj.str());
    case Kind::dict: {
      if (auto m = method_of(obj, name)) return *m;
      if (const Value* v = obj.dict().find(name)) return *v;
      return missing_attribute(obj, name);
    }
    case Kind::string:
    case Kind::sequence:
      if (auto m = method_of(obj, name)) return *m;
      return missing_attribute(obj, name);
    case Kind::object:
      if (auto v = obj.obj().attribute(name)) return *v;
      return missing_attribute(obj, name);
    default: return missing_attribute(obj, name);
  }
}

Value Interpreter::get_item(const Value& obj, const Value& key) {
  switch (obj.kind()) {
    case Kind::undefined: fail(obj.str());
    case Kind::dict:
      if (hashable(key))
        if (const Value* v = obj.dict().find(key)) return *v;
      break;
    case Kind::string:
    case Kind::sequence: {
      if (!key.is_integral() || (obj.is_sequence() && !obj.is_indexable())) break;
      std::int64_t i = key.as_int();
      if (obj.is_string()) {
        std::u32string cps = utf8_decode(obj.str());
        auto n = static_cast<std::int64_t>(cps.size());
        if (i < 0) i += n;
        if (i < 0 || i >= n) return missing_element(obj, key);
        return Value::string(utf8_encode(cps.substr(static_cast<std::size_t>(i), 1)));
      }
      const auto& items = obj.seq().items;
      auto n = static_cast<std::int64_t>(items.size());
      if (i < 0) i += n;
      if (i < 0 || i >= n) return missing_element(obj, key);
      return items[static_cast<std::size_t>(i)];
    }
    case Kind::object:
      if (key.is_string())
        if (auto v = obj.obj().attribute(key.str())) return *v;
      break;
    default: break;
  }
  if (key.is_string() && !obj.is_object())
    if (auto m = method_of(obj, key.str())) return *m;
  return missing_element(obj, key);
}

// Slices bypass Jinja2's sandboxed item lookup: Python's own errors surface.
Value Interpreter::eval_slice(const Value& obj, const Expr& slice) {
  Value parts[3];
  const Value* ptrs[3] = {nullptr, nullptr, nullptr};
  for (int i = 0; i < 3; ++i) {
    if (!slice.items[static_cast<std::size_t>(i)]) continue;
    parts[i] = eval(*slice.items[static_cast<std::size_t>(i)]);
    if (parts[i].is_none()) continue;
    ptrs[i] = &parts[i];
  }
  if (obj.is_undefined()) fail(obj.str());
  if (obj.is_dict()) fail("unhashable type: 'slice'");
  if (!obj.is_string() && !obj.is_indexable()) fail("'" + type_name(obj) + "' object is not subscriptable");
  for (const Value* p : ptrs)
    if (p && !p->is_integral()) fail("slice indices must be integers or None or have an __index__ method");
  if (obj.is_string()) {
    std::u32string cps = utf8_decode(obj.str());
    std::u32string out;
    for (std::size_t i : slice_indices(adjust_slice(static_cast<std::int64_t>(cps.size()), ptrs[0], ptrs[1], ptrs[2])))
      out.push_back(cps[i]);
    return Value::string(utf8_encode(out));
  }
  const Sequence& seq = obj.seq();
  SliceBounds bounds = adjust_slice(static_cast<std::int64_t>(seq.items.size()), ptrs[0], ptrs[1], ptrs[2]);
  std::vector<Value> out;
  for (std::size_t i : slice_indices(bounds)) out.push_back(seq.items[i]);
  Value result = Value::sequence(std::move(out), seq.kind);
  if (seq.kind == SeqKind::range) {
    Sequence& r = result.seq();
    r.range_start = seq.range_start + bounds.start * seq.range_step;
    r.range_stop = seq.range_start + bounds.stop * seq.range_step;
    r.range_step = seq.range_step * bounds.step;
  }
  return result;
}

std::vector<Value> Interpreter::iterate(const Value& v) {
  switch (v.kind()) {
    case Kind::undefined: return {};
    case Kind::string: {
      std::vector<Value> out;
      for (char32_t c : utf8_decode(v.str())) out.push_back(Value::string(utf8_encode(std::u32string(1, c))));
      return out;
    }
    case Kind::sequence: {
      Sequence& s = v.seq();
      s.rethrow_if_failed();
      if (s.kind == SeqKind::generator || s.kind == SeqKind::reversed) {
        std::vector<Value> rest(s.items.begin() + static_cast<std::ptrdiff_t>(std::min(s.pos, s.items.size())),
                                s.items.end());
        s.pos = s.items.size();
        return rest;
      }
      return s.items;
    }
    case Kind::dict: {
      std::vector<Value> keys;
      for (const auto& [k, val] : v.dict().entries) keys.push_back(k);
      return keys;
    }
    default: fail("'" + type_name(v) + "' object is not iterable");
  }
}

Value Interpreter::apply_filter_chain(const Expr& chain, Value subject) {
  if (chain.a) subject = apply_filter_chain(*chain.a, std::move(subject));
  CallArgs args = eval_args(chain);
  try {
    if (!chain.filter) fail("No filter named '" + chain.name + "' found.");
    return chain.filter(*this, std::move(subject), args);
  } catch (TemplateError& err) {
    if (err.line == 0) {
      err.line = chain.line;
      err.column = chain.col;
    }
    throw;
  }
}

}  // namespace nibble::tmpl
