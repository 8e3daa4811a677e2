// Methods of str, dict and list values as the immutable sandbox exposes them: the read-only
// Python methods (strip, split, startswith, replace, format, items, get, index, ...); mutating
// ones (append, update, pop, ...) resolve to an Undefined that fails when called.
#include <algorithm>
#include <array>

#include "template/args.h"
#include "template/builtins.h"
#include "template/errors.h"
#include "template/interpreter.h"
#include "template/string_format.h"
#include "template/text.h"
#include "template/value_print.h"

namespace nibble::tmpl {

namespace {

using U32 = std::u32string;

constexpr std::array string_methods = {
    "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "replace",
    "lower", "upper", "title", "capitalize", "swapcase", "casefold", "find", "rfind", "index", "rindex",
    "count", "join", "format", "center", "ljust", "rjust", "zfill", "isdigit", "isdecimal", "isnumeric",
    "isalpha", "isalnum", "isspace", "islower", "isupper", "istitle", "partition", "rpartition",
    "removeprefix", "removesuffix"};
constexpr std::array dict_methods = {"items", "keys", "values", "get", "copy"};
constexpr std::array dict_mutators = {"clear", "pop", "popitem", "setdefault", "update"};
constexpr std::array list_methods = {"index", "count", "copy"};
constexpr std::array list_mutators = {"append", "clear", "extend", "insert", "pop", "remove", "reverse", "sort"};

template <std::size_t N>
bool among(const std::array<const char*, N>& names, std::string_view n) {
  return std::any_of(names.begin(), names.end(), [&](const char* x) { return n == x; });
}

Value str_value(const U32& s) { return Value::string(utf8_encode(s)); }

const std::string& want_str(const Value& v, std::string_view what) {
  if (!v.is_string()) fail(std::string(what) + " must be str, not " + type_name(v));
  return v.str();
}

// Start/end arguments of find/count/startswith: clamped like slice indices.
std::pair<std::size_t, std::size_t> range_of(const Params& p, std::size_t i, std::size_t len) {
  auto clamp = [&](const Value& v, std::int64_t dflt) {
    if (!v.is_integral()) return dflt;
    std::int64_t x = v.as_int();
    auto n = static_cast<std::int64_t>(len);
    if (x < 0) x = std::max<std::int64_t>(0, x + n);
    return std::min(x, n);
  };
  Value none = Value::none();
  auto b = static_cast<std::size_t>(clamp(p.get(i, none), 0));
  auto e = static_cast<std::size_t>(clamp(p.get(i + 1, none), static_cast<std::int64_t>(len)));
  return {b, e};
}

std::vector<Value> split_whitespace(const U32& s, std::int64_t maxsplit, bool from_right) {
  std::vector<U32> parts;
  if (!from_right) {
    std::size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && py_isspace(s[i])) ++i;
      if (i >= s.size()) break;
      if (maxsplit >= 0 && static_cast<std::int64_t>(parts.size()) >= maxsplit) {
        U32 rest = s.substr(i);
        parts.emplace_back(py_strip(rest, nullptr, StripSide::right));
        break;
      }
      std::size_t j = i;
      while (j < s.size() && !py_isspace(s[j])) ++j;
      parts.push_back(s.substr(i, j - i));
      i = j;
    }
  } else {
    std::size_t i = s.size();
    while (i > 0) {
      while (i > 0 && py_isspace(s[i - 1])) --i;
      if (i == 0) break;
      if (maxsplit >= 0 && static_cast<std::int64_t>(parts.size()) >= maxsplit) {
        parts.emplace_back(py_strip(s.substr(0, i), nullptr, StripSide::left));
        break;
      }
      std::size_t j = i;
      while (j > 0 && !py_isspace(s[j - 1])) --j;
      parts.push_back(s.substr(j, i - j));
      i = j;
    }
    std::reverse(parts.begin(), parts.end());
  }
  std::vector<Value> out;
  for (const auto& p : parts) out.push_back(str_value(p));
  return out;
}

std::vector<Value> split_on(const U32& s, const U32& sep, std::int64_t maxsplit, bool from_right) {
  if (sep.empty()) fail("empty separator");
  std::vector<U32> parts;
  if (!from_right) {
    std::size_t start = 0;
    for (;;) {
      if (maxsplit >= 0 && static_cast<std::int64_t>(parts.size()) >= maxsplit) break;
      std::size_t at = s.find(sep, start);
      if (at == U32::npos) break;
      parts.push_back(s.substr(start, at - start));
      start = at + sep.size();
    }
    parts.push_back(s.substr(start));
  } else {
    std::size_t end = s.size();
    for (;;) {
      if (maxsplit >= 0 && static_cast<std::int64_t>(parts.size()) >= maxsplit) break;
      if (end < sep.size()) break;
      std::size_t at = s.rfind(sep, end - sep.size());
      if (at == U32::npos) break;
      parts.push_back(s.substr(at + sep.size(), end - at - sep.size()));
      end = at;
    }
    parts.push_back(s.substr(0, end));
    std::reverse(parts.begin(), parts.end());
  }
  std::vector<Value> out;
  for (const auto& p : parts) out.push_back(str_value(p));
  return out;
}

U32 title_case(const U32& s) {
  U32 out;
  bool previous_cased = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (previous_cased) py_append_lower(out, s, i);
    else py_append_title(out, s[i]);
    previous_cased = py_is_cased(s[i]);
  }
  return out;
}

template <class Pred>
bool all_chars(const U32& s, Pred pred) {
  return !s.empty() && std::all_of(s.begin(), s.end(), pred);
}

Value string_method(Interpreter& interp, const std::string& name, const std::string& self_utf8, CallArgs& args) {
  U32 self = utf8_decode(self_utf8);
  std::size_t max = interp.max_string();
  auto check_size = [&](std::size_t n) {
    if (n > max) fail_limit("a string exceeds the output limit");
  };
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    Params p(name, args, {"chars"});
    Value none = Value::none();
    const Value& chars = p.get(0, none);
    U32 set;
    if (!chars.is_none()) set = utf8_decode(want_str(chars, name + " arg"));
    StripSide side = name == "strip" ? StripSide::both : name == "lstrip" ? StripSide::left : StripSide::right;
    return str_value(U32(py_strip(self, chars.is_none() ? nullptr : &set, side)));
  }
  if (name == "split" || name == "rsplit") {
    Params p(name, args, {"sep", "maxsplit"});
    Value none = Value::none(), minus_one = Value::integer(-1);
    const Value& sep = p.get(0, none);
    const Value& maxsplit = p.get(1, minus_one);
    if (!maxsplit.is_integral()) fail("'" + type_name(maxsplit) + "' object cannot be interpreted as an integer");
    bool right = name == "rsplit";
    if (sep.is_none()) return Value::sequence(split_whitespace(self, maxsplit.as_int(), right));
    return Value::sequence(split_on(self, utf8_decode(want_str(sep, "sep")), maxsplit.as_int(), right));
  }
  if (name == "splitlines") {
    Params p(name, args, {"keepends"});
    Value f = Value::boolean(false);
    std::vector<Value> out;
    for (const auto& line : py_splitlines(self, truthy(p.get(0, f)))) out.push_back(str_value(line));
    return Value::sequence(std::move(out));
  }
  if (name == "startswith" || name == "endswith") {
    Params p(name, args, {"prefix", "start", "end"});
    p.require(0, name, "prefix");
    auto [b, e] = range_of(p, 1, self.size());
    U32 part = b <= e ? self.substr(b, e - b) : U32();
    std::vector<Value> options = p[0].is_sequence() && p[0].seq_kind() == SeqKind::tuple ? p[0].seq().items
                                                                                            : std::vector<Value>{p[0]};
    for (const auto& o : options) {
      if (!o.is_string())
        fail(name + " first arg must be str or a tuple of str, not " + type_name(o));
      U32 x = utf8_decode(o.str());
      if (b > self.size() || x.size() > part.size()) continue;
      bool hit = name == "startswith" ? part.compare(0, x.size(), x) == 0
                                      : part.compare(part.size() - x.size(), x.size(), x) == 0;
      if (hit) return Value::boolean(true);
    }
    return Value::boolean(false);
  }
  if (name == "replace") {
    Params p(name, args, {"old", "new", "count"});
    p.require(0, name, "old");
    p.require(1, name, "new");
    U32 old_s = utf8_decode(want_str(p[0], "replace() argument 1"));
    U32 new_s = utf8_decode(want_str(p[1], "replace() argument 2"));
    Value minus_one = Value::integer(-1);
    std::int64_t count = p.get(2, minus_one).as_int();
    U32 out;
    std::int64_t done = 0;
    if (old_s.empty()) {
      for (std::size_t i = 0; i <= self.size(); ++i) {
        if (count < 0 || done < count) {
          out += new_s;
          ++done;
        }
        if (i < self.size()) out.push_back(self[i]);
        check_size(out.size());
      }
      return str_value(out);
    }
    std::size_t start = 0;
    for (;;) {
      std::size_t at = (count >= 0 && done >= count) ? U32::npos : self.find(old_s, start);
      if (at == U32::npos) break;
      out += self.substr(start, at - start);
      out += new_s;
      check_size(out.size());
      start = at + old_s.size();
      ++done;
    }
    out += self.substr(start);
    return str_value(out);
  }
  if (name == "lower") return (Params(name, args, {}), str_value(py_lower(self)));
  if (name == "casefold") return (Params(name, args, {}), str_value(py_casefold(self)));
  if (name == "upper") return (Params(name, args, {}), str_value(py_upper(self)));
  if (name == "title") return (Params(name, args, {}), str_value(title_case(self)));
  if (name == "capitalize") {
    Params(name, args, {});
    U32 out;
    if (!self.empty()) py_append_title(out, self[0]);
    for (std::size_t i = 1; i < self.size(); ++i) py_append_lower(out, self, i);
    return str_value(out);
  }
  if (name == "swapcase") {
    Params(name, args, {});
    U32 out;
    for (std::size_t i = 0; i < self.size(); ++i) {
      if (py_is_upper(self[i])) py_append_lower(out, self, i);
      else if (py_is_lower(self[i])) py_append_upper(out, self[i]);
      else out.push_back(self[i]);
    }
    return str_value(out);
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    Params p(name, args, {"sub", "start", "end"});
    p.require(0, name, "sub");
    U32 sub = utf8_decode(want_str(p[0], "must be str"));
    auto [b, e] = range_of(p, 1, self.size());
    if (name == "count") {
      if (b > e) return Value::integer(0);
      U32 part = self.substr(b, e - b);
      if (sub.empty()) return Value::integer(static_cast<std::int64_t>(part.size() + 1));
      std::int64_t n = 0;
      for (std::size_t at = part.find(sub); at != U32::npos; at = part.find(sub, at + sub.size())) ++n;
      return Value::integer(n);
    }
    std::int64_t found = -1;
    if (b <= e && sub.size() <= e - b) {
      U32 part = self.substr(b, e - b);
      std::size_t at = (name == "find" || name == "index") ? part.find(sub) : part.rfind(sub);
      if (at != U32::npos) found = static_cast<std::int64_t>(at + b);
    }
    if (found < 0 && (name == "index" || name == "rindex")) fail("substring not found");
    return Value::integer(found);
  }
  if (name == "join") {
    Params p(name, args, {"iterable"});
    p.require(0, name, "iterable");
    std::string out;
    std::size_t i = 0;
    for (const auto& item : interp.iterate(p[0])) {
      if (!item.is_string())
        fail("sequence item " + std::to_string(i) + ": expected str instance, " + type_name(item) + " found");
      if (i++) out += self_utf8;
      out += item.str();
      check_size(out.size());
    }
    return Value::string(std::move(out));
  }
  if (name == "format") return Value::string(brace_format(interp, self_utf8, args));
  if (name == "center" || name == "ljust" || name == "rjust") {
    Params p(name, args, {"width", "fillchar"});
    p.require(0, name, "width");
    if (!p[0].is_integral()) fail("'" + type_name(p[0]) + "' object cannot be interpreted as an integer");
    Value space = Value::string(" ");
    U32 fill = utf8_decode(want_str(p.get(1, space), "fillchar"));
    if (fill.size() != 1) fail("The fill character must be exactly one character long");
    std::int64_t width = p[0].as_int();
    check_size(static_cast<std::size_t>(std::max<std::int64_t>(0, width)));
    if (width <= static_cast<std::int64_t>(self.size())) return Value::string(self_utf8);
    auto total = static_cast<std::size_t>(width) - self.size();
    std::size_t left = name == "ljust" ? 0 : name == "rjust" ? total : total / 2 + (total & static_cast<std::size_t>(width) & 1);
    return str_value(U32(left, fill[0]) + self + U32(total - left, fill[0]));
  }
  if (name == "zfill") {
    Params p(name, args, {"width"});
    p.require(0, name, "width");
    std::int64_t width = p[0].as_int();
    check_size(static_cast<std::size_t>(std::max<std::int64_t>(0, width)));
    if (width <= static_cast<std::int64_t>(self.size())) return Value::string(self_utf8);
    std::size_t n = static_cast<std::size_t>(width) - self.size();
    std::size_t at = (!self.empty() && (self[0] == '+' || self[0] == '-')) ? 1 : 0;
    U32 out = self;
    out.insert(at, n, U'0');
    return str_value(out);
  }
  if (name == "partition" || name == "rpartition") {
    Params p(name, args, {"sep"});
    p.require(0, name, "sep");
    U32 sep = utf8_decode(want_str(p[0], "must be str"));
    if (sep.empty()) fail("empty separator");
    std::size_t at = name == "partition" ? self.find(sep) : self.rfind(sep);
    std::vector<Value> parts;
    if (at == U32::npos) {
      parts = name == "partition" ? std::vector<Value>{str_value(self), Value::string(""), Value::string("")}
                                  : std::vector<Value>{Value::string(""), Value::string(""), str_value(self)};
    } else {
      parts = {str_value(self.substr(0, at)), str_value(sep), str_value(self.substr(at + sep.size()))};
    }
    return Value::sequence(std::move(parts), SeqKind::tuple);
  }
  if (name == "removeprefix" || name == "removesuffix") {
    Params p(name, args, {"affix"});
    p.require(0, name, "affix");
    const std::string& affix = want_str(p[0], name + "() argument");
    const std::string& s = self_utf8;
    if (name == "removeprefix" && s.compare(0, affix.size(), affix) == 0) return Value::string(s.substr(affix.size()));
    if (name == "removesuffix" && !affix.empty() && s.size() >= affix.size() &&
        s.compare(s.size() - affix.size(), affix.size(), affix) == 0)
      return Value::string(s.substr(0, s.size() - affix.size()));
    return Value::string(s);
  }
  Params(name, args, {});
  bool r = false;
  if (name == "isdigit") r = all_chars(self, py_isdigit);
  else if (name == "isdecimal") r = all_chars(self, py_isdecimal);
  else if (name == "isnumeric") r = all_chars(self, py_isnumeric);
  else if (name == "isalpha") r = all_chars(self, py_isalpha);
  else if (name == "isalnum") r = all_chars(self, py_isalnum);
  else if (name == "isspace") r = all_chars(self, py_isspace);
  else if (name == "islower" || name == "isupper") {
    bool lower = name == "islower", cased = false;
    r = true;
    for (char32_t c : self) {
      if (lower ? (py_is_upper(c) || (py_is_cased(c) && !py_is_lower(c))) : (py_is_lower(c) || (py_is_cased(c) && !py_is_upper(c)))) r = false;
      if (py_is_cased(c)) cased = true;
    }
    r = r && cased;
  } else if (name == "istitle") {
    bool previous_cased = false, cased = false;
    r = true;
    for (char32_t c : self) {
      bool upper = py_is_upper(c) || (py_is_cased(c) && !py_is_lower(c));
      if (upper) {
        if (previous_cased) r = false;
        previous_cased = cased = true;
      } else if (py_is_lower(c)) {
        if (!previous_cased) r = false;
        previous_cased = cased = true;
      } else {
        previous_cased = false;
      }
    }
    r = r && cased;
  }
  return Value::boolean(r);
}

Value dict_method(const std::string& name, const Value& self, CallArgs& args) {
  const Dict& d = self.dict();
  if (name == "get") {
    Params p(name, args, {"key", "default"});
    p.require(0, name, "key");
    if (!hashable(p[0])) fail("unhashable type: '" + type_name(p[0]) + "'");
    if (const Value* v = d.find(p[0])) return *v;
    Value none = Value::none();
    return p.get(1, none);
  }
  Params(name, args, {});
  if (name == "copy") return Value::dict(std::make_shared<Dict>(d));
  std::vector<Value> out;
  for (const auto& [k, v] : d.entries) {
    if (name == "keys") out.push_back(k);
    else if (name == "values") out.push_back(v);
    else out.push_back(Value::sequence({k, v}, SeqKind::tuple));
  }
  SeqKind kind = name == "keys" ? SeqKind::dict_keys : name == "values" ? SeqKind::dict_values : SeqKind::dict_items;
  return Value::sequence(std::move(out), kind);
}

Value list_method(const std::string& name, const Value& self, CallArgs& args) {
  const auto& items = self.seq().items;
  if (name == "copy") return (Params(name, args, {}), Value::sequence(items, self.seq_kind()));
  Params p(name, args, {"value", "start", "stop"});
  p.require(0, name, "value");
  if (name == "count") {
    return Value::integer(std::count_if(items.begin(), items.end(), [&](const Value& v) { return equals(v, p[0]); }));
  }
  auto [b, e] = range_of(p, 1, items.size());
  for (std::size_t i = b; i < e; ++i)
    if (equals(items[i], p[0])) return Value::integer(static_cast<std::int64_t>(i));
  fail(repr(p[0]) + " is not in " + type_name(self));
}

}  // namespace

std::optional<Value> method_of(const Value& self, std::string_view name) {
  auto bind = [&](auto fn) {
    return Value::object(std::make_shared<NativeFunction>(std::string(name), fn));
  };
  std::string n(name);
  auto unsafe = [&]() {
    return Value::undefined("access to attribute '" + n + "' of '" + type_name(self) + "' object is unsafe.");
  };
  if (self.is_string() && among(string_methods, name)) {
    return bind([n, s = self](Interpreter& interp, CallArgs& a) { return string_method(interp, n, s.str(), a); });
  }
  if (self.is_dict()) {
    if (among(dict_methods, name)) return bind([n, s = self](Interpreter&, CallArgs& a) { return dict_method(n, s, a); });
    if (among(dict_mutators, name)) return unsafe();
  }
  if (self.is_indexable()) {
    bool is_list = self.seq_kind() == SeqKind::list;
    if (among(list_methods, name) && (is_list || name != "copy"))
      return bind([n, s = self](Interpreter&, CallArgs& a) { return list_method(n, s, a); });
    if (is_list && among(list_mutators, name)) return unsafe();
  }
  return std::nullopt;
}

}  // namespace nibble::tmpl
