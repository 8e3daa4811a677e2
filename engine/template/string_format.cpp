// printf-style and str.format() formatting with CPython's rules for the conversions templates use.
// Floats go through std::to_chars, so the process locale never changes the decimal point.
#include "template/string_format.h"

#include <charconv>
#include <cmath>

#include "template/errors.h"
#include "template/interpreter.h"
#include "template/text.h"
#include "template/value_print.h"

namespace nibble::tmpl {

std::string format_double(double d, char type, int precision, bool alternate) {
  char lower = static_cast<char>(type | 0x20);
  std::string out;
  if (!std::isfinite(d)) {
    out = std::isnan(d) ? "nan" : (d < 0 ? "-inf" : "inf");
  } else {
    char buf[512];
    std::chars_format f = lower == 'f' ? std::chars_format::fixed
                          : lower == 'e' ? std::chars_format::scientific
                                         : std::chars_format::general;
    if (lower == 'g' && precision == 0) precision = 1;
    auto res = std::to_chars(buf, buf + sizeof buf, d, f, precision);
    if (res.ec != std::errc()) fail("number too large to format");
    out.assign(buf, res.ptr);
    if (alternate && lower != 'g' && out.find('.') == std::string::npos) {
      auto e = out.find('e');
      out.insert(e == std::string::npos ? out.size() : e, ".");
    }
  }
  if (type != lower)
    for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

namespace {

std::string pad(std::string body, std::size_t width, char align, char32_t fill, std::size_t sign_len) {
  std::size_t len = utf8_length(body);
  if (len >= width) return body;
  std::size_t n = width - len;
  std::string f;
  for (std::size_t i = 0; i < n; ++i) utf8_append(f, fill);
  switch (align) {
    case '<': return body + f;
    case '^': {
      std::string left, right;
      for (std::size_t i = 0; i < n / 2; ++i) utf8_append(left, fill);
      for (std::size_t i = 0; i < n - n / 2; ++i) utf8_append(right, fill);
      return left + body + right;
    }
    case '=': return body.substr(0, sign_len) + f + body.substr(sign_len);
    default: return f + body;
  }
}

std::string group_digits(const std::string& digits, char sep, std::size_t every) {
  std::string out;
  std::size_t n = digits.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (i && (n - i) % every == 0) out.push_back(sep);
    out.push_back(digits[i]);
  }
  return out;
}

std::string int_digits(std::int64_t v, int base, bool upper) {
  if (v == 0) return "0";
  auto u = v < 0 ? static_cast<std::uint64_t>(0) - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
  std::string s;
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  while (u) {
    s.insert(s.begin(), digits[u % static_cast<std::uint64_t>(base)]);
    u /= static_cast<std::uint64_t>(base);
  }
  return s;
}

}  // namespace

std::string format_spec(const Value& v, std::string_view spec) {
  if (spec.empty()) return to_str(v);
  std::u32string s = utf8_decode(spec);
  std::size_t i = 0;
  char32_t fill = ' ';
  char align = 0, sign = '-', grouping = 0, type = 0;
  bool alternate = false;
  auto is_align = [](char32_t c) { return c == '<' || c == '>' || c == '=' || c == '^'; };
  if (s.size() >= 2 && is_align(s[1])) {
    fill = s[0];
    align = static_cast<char>(s[1]);
    i = 2;
  } else if (!s.empty() && is_align(s[0])) {
    align = static_cast<char>(s[0]);
    i = 1;
  }
  if (i < s.size() && (s[i] == '+' || s[i] == '-' || s[i] == ' ')) sign = static_cast<char>(s[i++]);
  if (i < s.size() && s[i] == '#') alternate = (++i, true);
  if (i < s.size() && s[i] == '0') {
    if (!align) {
      fill = '0';
      align = '=';
    }
    ++i;
  }
  std::size_t width = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') width = width * 10 + (s[i++] - '0');
  if (width > 100000) fail("format width too large");
  if (i < s.size() && (s[i] == ',' || s[i] == '_')) grouping = static_cast<char>(s[i++]);
  int precision = -1;
  if (i < s.size() && s[i] == '.') {
    ++i;
    precision = 0;
    bool any = false;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      precision = precision * 10 + static_cast<int>(s[i++] - '0');
      any = true;
      if (precision > 1000) fail("format precision too large");
    }
    if (!any) fail("Format specifier missing precision");
  }
  if (i < s.size()) type = static_cast<char>(s[i++]);
  if (i < s.size()) fail("Invalid format specifier '" + std::string(spec) + "' for object of type '" + type_name(v) + "'");

  if (v.is_string() || (!v.is_number() && type == 0)) {
    if (!v.is_string()) fail("unsupported format string passed to " + type_name(v) + ".__format__");
    if (type && type != 's') fail(std::string("Unknown format code '") + type + "' for object of type 'str'");
    std::string body = v.str();
    if (precision >= 0) body = utf8_encode(utf8_decode(body).substr(0, static_cast<std::size_t>(precision)));
    return pad(body, width, align ? align : '<', fill, 0);
  }
  if (!v.is_number()) fail(std::string("Unknown format code '") + type + "' for object of type '" + type_name(v) + "'");
  if (v.is_bool() && type == 0 && precision < 0 && !grouping && sign == '-') return pad(to_str(v), width, align ? align : '<', fill, 0);
  std::string prefix, body;
  bool negative = false;
  bool int_type = type == 0 || type == 'd' || type == 'b' || type == 'o' || type == 'x' || type == 'X' ||
                  type == 'c' || type == 'n';
  if (v.is_integral() && int_type) {
    if (precision >= 0) fail("Precision not allowed in integer format specifier");
    std::int64_t n = v.as_int();
    negative = n < 0;
    int base = type == 'b' ? 2 : type == 'o' ? 8 : (type == 'x' || type == 'X') ? 16 : 10;
    if (type == 'c') return pad(utf8_encode(std::u32string(1, static_cast<char32_t>(n))), width, align ? align : '<', fill, 0);
    body = int_digits(n, base, type == 'X');
    if (grouping) body = group_digits(body, grouping, base == 10 ? 3 : 4);
    if (alternate && base != 10) prefix = base == 2 ? "0b" : base == 8 ? "0o" : (type == 'X' ? "0X" : "0x");
  } else {
    if (int_type && type != 0 && type != 'n') fail(std::string("Unknown format code '") + type + "' for object of type 'float'");
    double d = v.as_double();
    negative = std::signbit(d) && !std::isnan(d);
    double a = std::fabs(d);
    if (type == '%') {
      body = format_double(a * 100, 'f', precision < 0 ? 6 : precision, alternate) + "%";
    } else if (type == 0 || type == 'n') {
      if (precision < 0) {
        body = float_repr(a);
      } else {
        body = format_double(a, 'g', precision == 0 ? 1 : precision, alternate);
        if (std::isfinite(a) && body.find_first_of(".e") == std::string::npos) body += ".0";
      }
    } else {
      body = format_double(a, type, precision < 0 ? 6 : precision, alternate);
    }
    if (grouping && std::isfinite(a)) {
      auto end = body.find_first_not_of("0123456789");
      std::string int_part = body.substr(0, end);
      body = group_digits(int_part, grouping, 3) + (end == std::string::npos ? "" : body.substr(end));
    }
  }
  std::string sign_str = negative ? "-" : sign == '+' ? "+" : sign == ' ' ? " " : "";
  std::string full = sign_str + prefix + body;
  return pad(full, width, align ? align : '>', fill, sign_str.size() + prefix.size());
}

std::string percent_format(std::string_view fmt, const Value& args, std::size_t max_bytes) {
  std::vector<Value> positional;
  const Dict* mapping = nullptr;
  if (args.is_sequence() && args.seq_kind() == SeqKind::tuple) {
    positional = args.seq().items;
  } else {
    positional.push_back(args);
    if (args.is_dict()) mapping = &args.dict();
  }
  std::size_t next = 0;
  auto take = [&]() -> Value {
    if (next >= positional.size()) fail("not enough arguments for format string");
    return positional[next++];
  };
  std::string out;
  for (std::size_t i = 0; i < fmt.size(); ++i) {
    if (out.size() > max_bytes) fail_limit("a string exceeds the output limit");
    if (fmt[i] != '%') {
      out.push_back(fmt[i]);
      continue;
    }
    if (++i >= fmt.size()) fail("incomplete format");
    Value value;
    bool have_value = false;
    if (fmt[i] == '(') {
      if (!mapping) fail("format requires a mapping");
      auto close = fmt.find(')', i);
      if (close == std::string_view::npos) fail("incomplete format key");
      std::string key(fmt.substr(i + 1, close - i - 1));
      const Value* found = mapping->find(key);
      if (!found) fail("'" + key + "'");
      value = *found;
      have_value = true;
      i = close + 1;
    }
    bool left = false, plus = false, space = false, alternate = false, zero = false;
    for (; i < fmt.size(); ++i) {
      char c = fmt[i];
      if (c == '-') left = true;
      else if (c == '+') plus = true;
      else if (c == ' ') space = true;
      else if (c == '#') alternate = true;
      else if (c == '0') zero = true;
      else break;
    }
    std::size_t width = 0;
    if (i < fmt.size() && fmt[i] == '*') {
      Value w = take();
      if (!w.is_integral()) fail("* wants int");
      width = static_cast<std::size_t>(std::max<std::int64_t>(0, w.as_int()));
      ++i;
    }
    while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') width = width * 10 + static_cast<std::size_t>(fmt[i++] - '0');
    int precision = -1;
    if (i < fmt.size() && fmt[i] == '.') {
      precision = 0;
      ++i;
      if (i < fmt.size() && fmt[i] == '*') {
        Value p = take();
        if (!p.is_integral()) fail("* wants int");
        precision = static_cast<int>(p.as_int());
        ++i;
      }
      while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9') precision = precision * 10 + (fmt[i++] - '0');
    }
    if (width > 100000 || precision > 1000) fail("format width or precision too large");
    while (i < fmt.size() && (fmt[i] == 'h' || fmt[i] == 'l' || fmt[i] == 'L')) ++i;
    if (i >= fmt.size()) fail("incomplete format");
    char conv = fmt[i];
    if (conv == '%') {
      out.push_back('%');
      continue;
    }
    if (!have_value) value = take();
    std::string body, sign;
    bool numeric = true;
    switch (conv) {
      case 's': case 'r': case 'a':
        numeric = false;
        body = conv == 's' ? to_str(value, max_bytes) : repr(value, max_bytes);
        if (precision >= 0) body = utf8_encode(utf8_decode(body).substr(0, static_cast<std::size_t>(precision)));
        break;
      case 'c':
        numeric = false;
        if (value.is_integral()) body = utf8_encode(std::u32string(1, static_cast<char32_t>(value.as_int())));
        else if (value.is_string() && utf8_length(value.str()) == 1) body = value.str();
        else fail("%c requires int or char");
        break;
      case 'd': case 'i': case 'u': case 'x': case 'X': case 'o': {
        if (!value.is_number()) fail(std::string("%") + conv + " format: a real number is required, not " + type_name(value));
        if (value.is_real() && conv != 'd' && conv != 'i' && conv != 'u')
          fail(std::string("%") + conv + " format: an integer is required, not float");
        double dv = value.as_double();
        if (value.is_real() && (!std::isfinite(dv) || std::fabs(dv) >= 9.2e18)) fail("cannot convert float to integer");
        std::int64_t n = value.is_real() ? static_cast<std::int64_t>(dv) : value.as_int();
        int base = (conv == 'x' || conv == 'X') ? 16 : conv == 'o' ? 8 : 10;
        body = int_digits(n, base, conv == 'X');
        if (precision > 0 && body.size() < static_cast<std::size_t>(precision))
          body.insert(0, static_cast<std::size_t>(precision) - body.size(), '0');
        if (alternate && base != 10) body.insert(0, base == 8 ? "0o" : conv == 'X' ? "0X" : "0x");
        if (n < 0) sign = "-";
        break;
      }
      case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': {
        if (!value.is_number()) fail("must be real number, not " + type_name(value));
        double dv = value.as_double();
        body = format_double(std::fabs(dv), conv, precision < 0 ? 6 : precision, alternate);
        if (std::signbit(dv) && !std::isnan(dv)) sign = "-";
        break;
      }
      default: fail(std::string("unsupported format character '") + conv + "'");
    }
    if (numeric && sign.empty()) sign = plus ? "+" : space ? " " : "";
    std::string full = sign + body;
    if (utf8_length(full) < width) {
      std::size_t n = width - utf8_length(full);
      if (left) full += std::string(n, ' ');
      else if (zero && numeric) full = sign + std::string(n, '0') + body;
      else full = std::string(n, ' ') + full;
    }
    out += full;
  }
  // CPython skips this check when the argument supports item access (dict, list, Undefined).
  bool item_access = args.is_dict() || args.is_undefined() || (args.is_sequence() && args.seq_kind() == SeqKind::list);
  if (!item_access && next < positional.size()) fail("not all arguments converted during string formatting");
  if (out.size() > max_bytes) fail_limit("a string exceeds the output limit");
  return out;
}

std::string brace_format(Interpreter& interp, std::string_view fmt, const CallArgs& args) {
  std::string out;
  std::size_t auto_index = 0;
  bool manual = false, automatic = false;
  for (std::size_t i = 0; i < fmt.size(); ++i) {
    char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}') {
        out.push_back('}');
        ++i;
        continue;
      }
      fail("Single '}' encountered in format string");
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out.push_back('{');
      ++i;
      continue;
    }
    int nest = 1;
    std::size_t j = i + 1;
    for (; j < fmt.size() && nest; ++j) {
      if (fmt[j] == '{') ++nest;
      else if (fmt[j] == '}') --nest;
    }
    if (nest) fail("expected '}' before end of string");
    std::string_view field = fmt.substr(i + 1, j - i - 2);
    i = j - 1;
    std::string_view spec, conv;
    auto colon = field.find(':');
    if (colon != std::string_view::npos) {
      spec = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    auto bang = field.find('!');
    if (bang != std::string_view::npos) {
      conv = field.substr(bang + 1);
      field = field.substr(0, bang);
    }
    std::size_t end = field.find_first_of(".[");
    std::string_view first = field.substr(0, end);
    Value v;
    if (first.empty() || (first[0] >= '0' && first[0] <= '9')) {
      std::size_t index = 0;
      if (first.empty()) {
        if (manual) fail("cannot switch from manual field specification to automatic field numbering");
        automatic = true;
        index = auto_index++;
      } else {
        if (automatic) fail("cannot switch from automatic field numbering to manual field specification");
        manual = true;
        for (char d : first) {
          if (d < '0' || d > '9') fail("invalid format field");
          index = index * 10 + static_cast<std::size_t>(d - '0');
        }
      }
      if (index >= args.args.size()) fail("Replacement index " + std::to_string(index) + " out of range for positional args tuple");
      v = args.args[index];
    } else {
      bool found = false;
      for (const auto& [k, val] : args.kwargs)
        if (k == first) v = val, found = true;
      if (!found) fail("'" + std::string(first) + "'");
    }
    while (end != std::string_view::npos && end < field.size()) {
      if (field[end] == '.') {
        std::size_t next = field.find_first_of(".[", end + 1);
        std::string attr(field.substr(end + 1, next == std::string_view::npos ? std::string_view::npos : next - end - 1));
        if (!attr.empty() && attr[0] == '_') fail("access to attribute '" + attr + "' is unsafe");
        v = interp.get_attr(v, attr);
        end = next;
      } else {
        std::size_t close = field.find(']', end);
        if (close == std::string_view::npos) fail("Missing ']' in format string");
        std::string key(field.substr(end + 1, close - end - 1));
        bool numeric = !key.empty() && key.find_first_not_of("0123456789") == std::string::npos;
        v = interp.get_item(v, numeric ? Value::integer(std::stoll(key)) : Value::string(key));
        end = close + 1;
      }
    }
    if (v.is_undefined()) fail(v.str());
    if (conv == "r" || conv == "a") v = Value::string(repr(v));
    else if (conv == "s") v = Value::string(to_str(v));
    else if (!conv.empty()) fail("Unknown conversion specifier " + std::string(conv));
    std::string spec_text(spec);
    if (spec_text.find('{') != std::string::npos) spec_text = brace_format(interp, spec_text, args);
    out += format_spec(v, spec_text);
    if (out.size() > interp.max_string()) fail_limit("a string exceeds the output limit");
  }
  return out;
}

}  // namespace nibble::tmpl
