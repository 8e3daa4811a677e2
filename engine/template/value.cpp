// Value construction, container lookup and the Python core protocols the evaluator relies on:
// truthiness, equality, hashability and type names. Printing lives in value_print.cpp.
#include "template/value.h"

#include <algorithm>
#include <cmath>

#include "template/errors.h"

namespace nibble::tmpl {

namespace {

int child_depth(const Value& v) { return v.depth(); }

void check_depth(int depth) {
  if (depth > max_value_depth) fail_limit("values are nested too deeply");
}

}  // namespace

std::optional<Value> Object::attribute(std::string_view) const { return std::nullopt; }

Value Object::call(Interpreter&, CallArgs&) { fail("'" + type_name() + "' object is not callable"); }

std::string Object::repr() const { return "<" + type_name() + " object>"; }

Value Value::undefined(std::string hint) {
  Value v;
  v.ptr_ = std::make_shared<std::string>(std::move(hint));
  return v;
}

Value Value::none() {
  Value v;
  v.kind_ = Kind::none;
  return v;
}

Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::boolean;
  v.b_ = b;
  return v;
}

Value Value::integer(std::int64_t i) {
  Value v;
  v.kind_ = Kind::integer;
  v.i_ = i;
  return v;
}

Value Value::real(double d) {
  Value v;
  v.kind_ = Kind::real;
  v.d_ = d;
  return v;
}

Value Value::string(std::string s) {
  Value v;
  v.kind_ = Kind::string;
  v.ptr_ = std::make_shared<std::string>(std::move(s));
  return v;
}

Value Value::sequence(std::vector<Value> items, SeqKind kind) {
  auto seq = std::make_shared<Sequence>();
  int depth = 0;
  for (const auto& item : items) depth = std::max(depth, child_depth(item));
  check_depth(depth + 1);
  seq->items = std::move(items);
  seq->kind = kind;
  seq->depth = depth + 1;
  Value v;
  v.kind_ = Kind::sequence;
  v.ptr_ = std::move(seq);
  return v;
}

Value Value::dict(std::shared_ptr<Dict> d) {
  int depth = 0;
  for (const auto& [k, val] : d->entries) depth = std::max({depth, child_depth(k), child_depth(val)});
  check_depth(depth + 1);
  d->depth = depth + 1;
  Value v;
  v.kind_ = Kind::dict;
  v.ptr_ = std::move(d);
  return v;
}

Value Value::dict(std::vector<std::pair<Value, Value>> entries) {
  auto d = std::make_shared<Dict>();
  for (auto& [k, val] : entries) d->set(std::move(k), std::move(val));
  return dict(std::move(d));
}

Value Value::object(std::shared_ptr<Object> o) {
  Value v;
  v.kind_ = Kind::object;
  v.ptr_ = std::move(o);
  return v;
}

bool Value::is_list_like() const {
  return kind_ == Kind::sequence && (seq().kind == SeqKind::list || seq().kind == SeqKind::tuple);
}

bool Value::is_indexable() const { return is_list_like() || (kind_ == Kind::sequence && seq().kind == SeqKind::range); }

void Sequence::rethrow_if_failed() const {
  if (error) throw *error;
}

const std::string& Value::str() const {
  static const std::string empty;
  return ptr_ ? *static_cast<const std::string*>(ptr_.get()) : empty;
}

Sequence& Value::seq() const { return *static_cast<Sequence*>(ptr_.get()); }
Dict& Value::dict() const { return *static_cast<Dict*>(ptr_.get()); }
Object& Value::obj() const { return *static_cast<Object*>(ptr_.get()); }

std::shared_ptr<Object> Value::obj_ptr() const {
  // Objects are only ever stored from a shared_ptr<Object>, so the cast restores the original pointer.
  return std::static_pointer_cast<Object>(ptr_);
}

SeqKind Value::seq_kind() const { return seq().kind; }

int Value::depth() const {
  if (kind_ == Kind::sequence) return seq().depth;
  if (kind_ == Kind::dict) return dict().depth;
  return 0;
}

const Value* Dict::find(const Value& key) const {
  for (const auto& [k, v] : entries)
    if (equals(k, key)) return &v;
  return nullptr;
}

const Value* Dict::find(std::string_view key) const {
  for (const auto& [k, v] : entries)
    if (k.is_string() && k.str() == key) return &v;
  return nullptr;
}

void Dict::set(Value key, Value value) {
  for (auto& [k, v] : entries) {
    if (equals(k, key)) {
      v = std::move(value);
      return;
    }
  }
  entries.emplace_back(std::move(key), std::move(value));
}

bool truthy(const Value& v) {
  switch (v.kind()) {
    case Kind::undefined: case Kind::none: return false;
    case Kind::boolean: return v.as_bool();
    case Kind::integer: return v.as_int() != 0;
    case Kind::real: return v.as_double() != 0.0;
    case Kind::string: return !v.str().empty();
    case Kind::sequence:
      if (v.seq_kind() == SeqKind::generator || v.seq_kind() == SeqKind::reversed) return true;
      return !v.seq().items.empty();
    case Kind::dict: return !v.dict().entries.empty();
    case Kind::object: return true;
  }
  return false;
}

namespace {

bool numbers_equal(const Value& a, const Value& b) {
  if (a.is_real() || b.is_real()) {
    if (a.is_real() && b.is_real()) return a.as_double() == b.as_double();
    double d = a.is_real() ? a.as_double() : b.as_double();
    std::int64_t i = a.is_real() ? b.as_int() : a.as_int();
    // Exact comparison as Python does: the double must be integral and equal to the integer.
    if (!std::isfinite(d) || std::floor(d) != d) return false;
    if (d < -9223372036854775808.0 || d >= 9223372036854775808.0) return false;
    return static_cast<std::int64_t>(d) == i;
  }
  return a.as_int() == b.as_int();
}

}  // namespace

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return numbers_equal(a, b);
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::undefined: case Kind::none: return true;
    case Kind::string: return a.str() == b.str();
    case Kind::sequence: {
      const Sequence& x = a.seq();
      const Sequence& y = b.seq();
      if (&x == &y) return true;
      bool x_list = x.kind == SeqKind::list || x.kind == SeqKind::tuple || x.kind == SeqKind::range;
      if (!x_list || x.kind != y.kind) {
        if (x.kind == SeqKind::dict_keys && y.kind == SeqKind::dict_keys) {
          if (x.items.size() != y.items.size()) return false;
          return std::all_of(x.items.begin(), x.items.end(), [&](const Value& k) {
            return std::any_of(y.items.begin(), y.items.end(), [&](const Value& o) { return equals(k, o); });
          });
        }
        return false;
      }
      if (x.items.size() != y.items.size()) return false;
      for (std::size_t i = 0; i < x.items.size(); ++i)
        if (!equals(x.items[i], y.items[i])) return false;
      return true;
    }
    case Kind::dict: {
      const Dict& x = a.dict();
      const Dict& y = b.dict();
      if (x.entries.size() != y.entries.size()) return false;
      for (const auto& [k, v] : x.entries) {
        const Value* other = y.find(k);
        if (!other || !equals(v, *other)) return false;
      }
      return true;
    }
    case Kind::object: return a.identity() == b.identity();
    default: return false;
  }
}

bool hashable(const Value& v) {
  switch (v.kind()) {
    case Kind::sequence:
      if (v.seq_kind() == SeqKind::tuple)
        return std::all_of(v.seq().items.begin(), v.seq().items.end(), [](const Value& x) { return hashable(x); });
      return v.seq_kind() == SeqKind::generator || v.seq_kind() == SeqKind::reversed || v.seq_kind() == SeqKind::range;
    case Kind::dict: return false;
    default: return true;
  }
}

std::string type_name(const Value& v) {
  switch (v.kind()) {
    case Kind::undefined: return "Undefined";
    case Kind::none: return "NoneType";
    case Kind::boolean: return "bool";
    case Kind::integer: return "int";
    case Kind::real: return "float";
    case Kind::string: return "str";
    case Kind::sequence:
      switch (v.seq_kind()) {
        case SeqKind::list: return "list";
        case SeqKind::tuple: return "tuple";
        case SeqKind::range: return "range";
        case SeqKind::generator: return "generator";
        case SeqKind::dict_keys: return "dict_keys";
        case SeqKind::dict_values: return "dict_values";
        case SeqKind::dict_items: return "dict_items";
        case SeqKind::reversed: return "list_reverseiterator";
      }
      return "list";
    case Kind::dict: return "dict";
    case Kind::object: return v.obj().type_name();
  }
  return "object";
}

}  // namespace nibble::tmpl
