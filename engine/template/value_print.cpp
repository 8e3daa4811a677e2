// str() and repr() of values, following CPython's output byte for byte for the data types chat
// templates meet. Objects print through Object::repr().
#include "template/value_print.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "template/errors.h"
#include "template/text.h"

namespace nibble::tmpl {

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(res.ptr - buf));
  std::string out;
  if (sci.front() == '-') {
    out.push_back('-');
    sci.remove_prefix(1);
  }
  auto e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_pos))
    if (c != '.') digits.push_back(c);
  int exp10 = 0;
  std::from_chars(sci.data() + e_pos + (sci[e_pos + 1] == '+' ? 2 : 1), sci.data() + sci.size(), exp10);
  int decpt = exp10 + 1;  // digits before the decimal point in positional notation
  auto ndigits = static_cast<int>(digits.size());
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out += "0." + std::string(static_cast<std::size_t>(-decpt), '0') + digits;
    } else if (decpt >= ndigits) {
      out += digits + std::string(static_cast<std::size_t>(decpt - ndigits), '0') + ".0";
    } else {
      out += digits.substr(0, static_cast<std::size_t>(decpt)) + "." + digits.substr(static_cast<std::size_t>(decpt));
    }
    return out;
  }
  out.push_back(digits[0]);
  if (ndigits > 1) out += "." + digits.substr(1);
  char exp_buf[16];
  std::snprintf(exp_buf, sizeof exp_buf, "e%c%02d", exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
  out += exp_buf;
  return out;
}

std::string string_repr(std::string_view s) {
  bool has_single = s.find('\'') != std::string_view::npos;
  bool has_double = s.find('"') != std::string_view::npos;
  char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, quote);
  for (char32_t c : utf8_decode(s)) {
    char buf[16];
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7f) {
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
      out += buf;
    } else if (c < 0x7f || py_isprintable(c)) {
      utf8_append(out, c);
    } else {
      if (c <= 0xff) std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
      else if (c <= 0xffff) std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      else std::snprintf(buf, sizeof buf, "\\U%08x", static_cast<unsigned>(c));
      out += buf;
    }
  }
  out.push_back(quote);
  return out;
}

namespace {

class Printer {
 public:
  explicit Printer(std::size_t max_bytes) : max_(max_bytes) {}

  void str(const Value& v) {
    if (v.is_undefined()) return;
    if (v.is_string()) {
      add(v.str());
      return;
    }
    repr(v);
  }

  void repr(const Value& v) {
    if (++depth_ > max_value_depth + 64) fail_limit("values are nested too deeply to print");
    switch (v.kind()) {
      case Kind::undefined: add("Undefined"); break;
      case Kind::none: add("None"); break;
      case Kind::boolean: add(v.as_bool() ? "True" : "False"); break;
      case Kind::integer: add(std::to_string(v.as_int())); break;
      case Kind::real: add(float_repr(v.as_double())); break;
      case Kind::string: add(string_repr(v.str())); break;
      case Kind::sequence: sequence(v); break;
      case Kind::dict: dict(v.dict()); break;
      case Kind::object:
        if (const Dict* attrs = v.obj().namespace_attrs()) {
          add("<Namespace ");
          dict(*attrs);
          add(">");
        } else {
          add(v.obj().repr());
        }
        break;
    }
    --depth_;
  }

  std::string take() { return std::move(out_); }

 private:
  void add(std::string_view s) {
    if (out_.size() + s.size() > max_) fail_limit("a value is too large to print");
    out_ += s;
  }

  void items(const std::vector<Value>& items) {
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (i) add(", ");
      repr(items[i]);
    }
  }

  void sequence(const Value& v) {
    const Sequence& s = v.seq();
    switch (s.kind) {
      case SeqKind::list: add("["); items(s.items); add("]"); break;
      case SeqKind::tuple:
        add("(");
        items(s.items);
        add(s.items.size() == 1 ? ",)" : ")");
        break;
      case SeqKind::range:
        add("range(" + std::to_string(s.range_start) + ", " + std::to_string(s.range_stop));
        add(s.range_step == 1 ? ")" : ", " + std::to_string(s.range_step) + ")");
        break;
      case SeqKind::dict_keys: add("dict_keys(["); items(s.items); add("])"); break;
      case SeqKind::dict_values: add("dict_values(["); items(s.items); add("])"); break;
      case SeqKind::dict_items: add("dict_items(["); items(s.items); add("])"); break;
      case SeqKind::generator: add("<generator object>"); break;
      case SeqKind::reversed: add("<list_reverseiterator object>"); break;
    }
  }

  void dict(const Dict& d) {
    add("{");
    bool first = true;
    for (const auto& [k, val] : d.entries) {
      if (!first) add(", ");
      first = false;
      repr(k);
      add(": ");
      repr(val);
    }
    add("}");
  }

  std::string out_;
  std::size_t max_;
  int depth_ = 0;
};

}  // namespace

std::string to_str(const Value& v, std::size_t max_bytes) {
  if (v.is_string()) {
    if (v.str().size() > max_bytes) fail_limit("a value is too large to print");
    return v.str();
  }
  Printer p(max_bytes);
  p.str(v);
  return p.take();
}

std::string repr(const Value& v, std::size_t max_bytes) {
  Printer p(max_bytes);
  p.repr(v);
  return p.take();
}

}  // namespace nibble::tmpl
