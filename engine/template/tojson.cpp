// HF's tojson: Python's json.dumps(x, ensure_ascii=False, indent=None, separators=None,
// sort_keys=False), not Jinja2's HTML-escaping tojson. Reproduces json.dumps output byte for
// byte: separators with and without indent, key coercion, float repr, NaN/Infinity.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>

#include "template/args.h"
#include "template/errors.h"
#include "template/filters.h"
#include "template/interpreter.h"
#include "template/operators.h"
#include "template/text.h"
#include "template/value_print.h"

namespace nibble::tmpl {

namespace {

class JsonWriter {
 public:
  JsonWriter(bool ensure_ascii, std::optional<std::string> indent, std::string item_sep, std::string key_sep,
             bool sort_keys, std::size_t max_bytes)
      : ascii_(ensure_ascii), indent_(std::move(indent)), item_sep_(std::move(item_sep)),
        key_sep_(std::move(key_sep)), sort_(sort_keys), max_(max_bytes) {}

  void value(const Value& v, int level) {
    if (level > max_value_depth + 64) fail("Circular reference detected");
    switch (v.kind()) {
      case Kind::none: add("null"); break;
      case Kind::boolean: add(v.as_bool() ? "true" : "false"); break;
      case Kind::integer: add(std::to_string(v.as_int())); break;
      case Kind::real: add(number(v.as_double())); break;
      case Kind::string: string(v.str()); break;
      case Kind::sequence:
        if (!v.is_list_like()) unserializable(v);
        array(v.seq().items, level);
        break;
      case Kind::dict: object(v.dict(), level); break;
      default: unserializable(v);
    }
  }

  std::string take() { return std::move(out_); }

 private:
  [[noreturn]] static void unserializable(const Value& v) {
    fail("Object of type " + type_name(v) + " is not JSON serializable");
  }

  void add(std::string_view s) {
    if (out_.size() + s.size() > max_) fail_limit("a string exceeds the output limit");
    out_ += s;
  }

  static std::string number(double d) {
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
    return float_repr(d);
  }

  void string(const std::string& s) {
    std::string out = "\"";
    for (char32_t c : utf8_decode(s)) {
      char buf[16];
      switch (c) {
        case '"': out += "\\\""; continue;
        case '\\': out += "\\\\"; continue;
        case '\n': out += "\\n"; continue;
        case '\r': out += "\\r"; continue;
        case '\t': out += "\\t"; continue;
        case '\b': out += "\\b"; continue;
        case '\f': out += "\\f"; continue;
        default: break;
      }
      if (c < 0x20 || (ascii_ && c > 0x7e)) {
        if (c > 0xffff) {
          char32_t x = c - 0x10000;
          std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", static_cast<unsigned>(0xd800 + (x >> 10)),
                        static_cast<unsigned>(0xdc00 + (x & 0x3ff)));
        } else {
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
        }
        out += buf;
      } else {
        utf8_append(out, c);
      }
    }
    out += "\"";
    add(out);
  }

  void newline(int level) {
    if (!indent_) return;
    add("\n");
    for (int i = 0; i < level; ++i) add(*indent_);
  }

  void array(const std::vector<Value>& items, int level) {
    if (items.empty()) {
      add("[]");
      return;
    }
    add("[");
    newline(level + 1);
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i) {
        add(item_sep_);
        newline(level + 1);
      }
      value(items[i], level + 1);
    }
    newline(level);
    add("]");
  }

  std::string key(const Value& k) {
    switch (k.kind()) {
      case Kind::string: return k.str();
      case Kind::real: return number(k.as_double());
      case Kind::boolean: return k.as_bool() ? "true" : "false";
      case Kind::none: return "null";
      case Kind::integer: return std::to_string(k.as_int());
      default: fail("keys must be str, int, float, bool or None, not " + type_name(k));
    }
  }

  void object(const Dict& d, int level) {
    if (d.entries.empty()) {
      add("{}");
      return;
    }
    std::vector<const std::pair<Value, Value>*> entries;
    for (const auto& e : d.entries) entries.push_back(&e);
    if (sort_)
      std::stable_sort(entries.begin(), entries.end(), [](const auto* a, const auto* b) { return less_than(a->first, b->first); });
    add("{");
    newline(level + 1);
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (i) {
        add(item_sep_);
        newline(level + 1);
      }
      string(key(entries[i]->first));
      add(key_sep_);
      value(entries[i]->second, level + 1);
    }
    newline(level);
    add("}");
  }

  bool ascii_;
  std::optional<std::string> indent_;
  std::string item_sep_, key_sep_;
  bool sort_;
  std::size_t max_;
  std::string out_;
};

}  // namespace

std::string json_dumps(const Value& v, bool ensure_ascii, const Value& indent, const Value& separators,
                       bool sort_keys, std::size_t max_bytes) {
  std::optional<std::string> ind;
  if (indent.is_string()) {
    ind = indent.str();
  } else if (indent.is_integral()) {
    ind = std::string(static_cast<std::size_t>(std::clamp<std::int64_t>(indent.as_int(), 0, 1024)), ' ');
  } else if (!indent.is_none()) {
    fail("can't multiply sequence by non-int of type '" + type_name(indent) + "'");
  }
  std::string item_sep = ind ? "," : ", ", key_sep = ": ";
  if (!separators.is_none()) {
    if (!separators.is_list_like() || separators.seq().items.size() != 2 || !separators.seq().items[0].is_string() ||
        !separators.seq().items[1].is_string())
      fail("separators must be a pair of strings");
    item_sep = separators.seq().items[0].str();
    key_sep = separators.seq().items[1].str();
  }
  JsonWriter w(ensure_ascii, ind, item_sep, key_sep, sort_keys, max_bytes);
  w.value(v, 0);
  return w.take();
}

NIBBLE_FILTER(tojson) {
  Params p("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  Value f = Value::boolean(false), none = Value::none();
  return Value::string(json_dumps(v, truthy(p.get(0, f)), p.get(1, none), p.get(2, none), truthy(p.get(3, f)),
                                  interp.max_string()));
}

}  // namespace nibble::tmpl
