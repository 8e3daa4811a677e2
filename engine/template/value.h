// Value: the interpreter's dynamic type, modelled on the Python objects Jinja2 works with
// (Undefined, None, bool, int, float, str, list/tuple/generator/dict views, dict with insertion
// order, and objects such as namespace, macro and bound methods). Owns no evaluation logic.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace nibble::tmpl {

class Value;
class Interpreter;
struct CallArgs;

enum class Kind : std::uint8_t { undefined, none, boolean, integer, real, string, sequence, dict, object };

// Python types that share the sequence representation; they differ in printing, indexing and
// whether they can be iterated twice (generators cannot).
enum class SeqKind : std::uint8_t { list, tuple, range, generator, dict_keys, dict_values, dict_items, reversed };

struct Sequence;
struct Dict;

// Objects that are not plain data: namespace, macro, loop, callables. Subclasses live with the
// code that creates them.
class Object {
 public:
  virtual ~Object() = default;
  virtual std::string type_name() const = 0;  // Python's type(x).__name__
  virtual std::optional<Value> attribute(std::string_view name) const;
  virtual bool callable() const { return false; }
  virtual Value call(Interpreter& interp, CallArgs& args);
  virtual std::string repr() const;
  virtual bool is_namespace() const { return false; }
  // The attributes a namespace prints as <Namespace {...}> (printed by value_print.cpp, which
  // bounds the depth: namespaces can contain themselves).
  virtual const Dict* namespace_attrs() const { return nullptr; }
};

class Value {
 public:
  Value() = default;  // Undefined
  static Value undefined(std::string hint);
  static Value none();
  static Value boolean(bool b);
  static Value integer(std::int64_t i);
  static Value real(double d);
  static Value string(std::string s);
  static Value sequence(std::vector<Value> items, SeqKind kind = SeqKind::list);
  static Value dict(std::shared_ptr<Dict> d);
  static Value dict(std::vector<std::pair<Value, Value>> entries);
  static Value object(std::shared_ptr<Object> o);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::undefined; }
  bool is_none() const { return kind_ == Kind::none; }
  bool is_bool() const { return kind_ == Kind::boolean; }
  bool is_int() const { return kind_ == Kind::integer; }
  bool is_real() const { return kind_ == Kind::real; }
  bool is_number() const { return kind_ == Kind::boolean || kind_ == Kind::integer || kind_ == Kind::real; }
  bool is_integral() const { return kind_ == Kind::boolean || kind_ == Kind::integer; }  // Python int incl. bool
  bool is_string() const { return kind_ == Kind::string; }
  bool is_sequence() const { return kind_ == Kind::sequence; }
  bool is_dict() const { return kind_ == Kind::dict; }
  bool is_object() const { return kind_ == Kind::object; }
  bool is_list_like() const;  // list or tuple: concatenable, JSON arrays
  bool is_indexable() const;  // list, tuple or range: indexable and sliceable

  bool as_bool() const { return b_; }
  std::int64_t as_int() const { return kind_ == Kind::boolean ? (b_ ? 1 : 0) : i_; }  // integral only
  double as_double() const { return kind_ == Kind::real ? d_ : static_cast<double>(as_int()); }
  const std::string& str() const;  // string value, or the hint of an Undefined
  Sequence& seq() const;
  Dict& dict() const;
  Object& obj() const;
  std::shared_ptr<Object> obj_ptr() const;
  const void* identity() const { return ptr_.get(); }
  SeqKind seq_kind() const;
  int depth() const;  // nesting depth of containers (bounded to keep destruction and printing shallow)

 private:
  Kind kind_ = Kind::undefined;
  bool b_ = false;
  std::int64_t i_ = 0;
  double d_ = 0;
  std::shared_ptr<void> ptr_;
};

struct TemplateError;

struct Sequence {
  std::vector<Value> items;
  SeqKind kind = SeqKind::list;
  std::size_t pos = 0;  // generators: items already consumed
  int depth = 1;
  std::int64_t range_start = 0, range_stop = 0, range_step = 1;  // range: what repr() prints
  // Generators are lazy in Jinja2: a filter that failed while producing one only fails when it
  // is consumed (printing or testing it does not).
  std::shared_ptr<const TemplateError> error;
  void rethrow_if_failed() const;
};

struct Dict {
  std::vector<std::pair<Value, Value>> entries;  // insertion order
  int depth = 1;

  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  void set(Value key, Value value);  // replaces in place or appends
};

struct CallArgs {
  std::vector<Value> args;
  std::vector<std::pair<std::string, Value>> kwargs;
};

// Python truthiness (generators and objects are always true, Undefined false).
bool truthy(const Value& v);
// Python == (1 == 1.0 == True; tuples never equal lists; dicts ignore order; Undefined == Undefined).
bool equals(const Value& a, const Value& b);
// Whether `v` can be a dict key / set member (Python hashable).
bool hashable(const Value& v);
// Python's type(x).__name__ ("str", "NoneType", "dict_items", ...).
std::string type_name(const Value& v);

}  // namespace nibble::tmpl
