// Global functions templates can call: Jinja2's range (capped like the sandbox), namespace, dict,
// joiner and cycler, and HF's raise_exception and strftime_now. strftime is implemented here so
// month and day names never depend on the process locale.
#include <cstdio>
#include <ctime>

#include "template/args.h"
#include "template/builtins.h"
#include "template/errors.h"
#include "template/interpreter.h"
#include "template/value_print.h"

namespace nibble::tmpl {

namespace {

constexpr std::int64_t max_range = 100000;  // Jinja2's sandbox MAX_RANGE

Value fn(const char* name, NativeFunction::Fn f) { return Value::object(std::make_shared<NativeFunction>(name, std::move(f))); }

std::int64_t as_index(const Value& v) {
  if (!v.is_integral()) fail("'" + type_name(v) + "' object cannot be interpreted as an integer");
  return v.as_int();
}

Value range(Interpreter& interp, CallArgs& args) {
  if (!args.kwargs.empty()) fail("range() takes no keyword arguments");
  if (args.args.empty() || args.args.size() > 3)
    fail("range expected at most 3 arguments, got " + std::to_string(args.args.size()));
  std::int64_t start = 0, stop, step = 1;
  if (args.args.size() == 1) {
    stop = as_index(args.args[0]);
  } else {
    start = as_index(args.args[0]);
    stop = as_index(args.args[1]);
    if (args.args.size() == 3) step = as_index(args.args[2]);
  }
  if (step == 0) fail("range() arg 3 must not be zero");
  long double count = step > 0 ? (static_cast<long double>(stop) - start + step - 1) / step
                               : (static_cast<long double>(start) - stop - step - 1) / -step;
  if (count > max_range)
    fail("Range too big. The sandbox blocks ranges larger than MAX_RANGE (" + std::to_string(max_range) + ").");
  std::vector<Value> out;
  for (std::int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(Value::integer(i));
  Value r = Value::sequence(std::move(out), SeqKind::range);
  r.seq().range_start = start;
  r.seq().range_stop = stop;
  r.seq().range_step = step;
  return r;
}

// dict(mapping or pairs, **kwargs), as Python's dict() and Jinja2's namespace() take it.
std::shared_ptr<Dict> dict_from(Interpreter& interp, CallArgs& args, const char* name) {
  if (args.args.size() > 1) fail(std::string(name) + " expected at most 1 argument, got " + std::to_string(args.args.size()));
  auto d = std::make_shared<Dict>();
  if (!args.args.empty()) {
    const Value& src = args.args[0];
    if (src.is_dict()) {
      *d = src.dict();
    } else {
      for (const auto& pair : interp.iterate(src)) {
        std::vector<Value> kv = interp.iterate(pair);
        if (kv.size() != 2) fail("dictionary update sequence element has length " + std::to_string(kv.size()) + "; 2 is required");
        if (!hashable(kv[0])) fail("unhashable type: '" + type_name(kv[0]) + "'");
        d->set(kv[0], kv[1]);
      }
    }
  }
  for (auto& [k, v] : args.kwargs) d->set(Value::string(k), v);
  return d;
}

class Cycler : public Object, public std::enable_shared_from_this<Cycler> {
 public:
  explicit Cycler(std::vector<Value> items) : items_(std::move(items)) {}
  std::string type_name() const override { return "Cycler"; }
  std::optional<Value> attribute(std::string_view name) const override {
    auto self = std::const_pointer_cast<Cycler>(shared_from_this());
    if (name == "current") return items_[pos_];
    if (name == "next")
      return fn("next", [self](Interpreter&, CallArgs&) {
        Value v = self->items_[self->pos_];
        self->pos_ = (self->pos_ + 1) % self->items_.size();
        return v;
      });
    if (name == "reset")
      return fn("reset", [self](Interpreter&, CallArgs&) {
        self->pos_ = 0;
        return Value::none();
      });
    return std::nullopt;
  }

 private:
  std::vector<Value> items_;
  std::size_t pos_ = 0;
};

const char* const weekdays[] = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};
const char* const months[] = {"January", "February", "March", "April", "May", "June", "July",
                              "August", "September", "October", "November", "December"};

// Days since 1970-01-01 of a proleptic Gregorian date.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  auto yoe = static_cast<unsigned>(y - era * 400);
  unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

std::string strftime_c(const std::tm& t, std::string_view fmt) {
  std::int64_t year = t.tm_year + 1900;
  auto month = static_cast<unsigned>(std::clamp(t.tm_mon, 0, 11));
  auto day = static_cast<unsigned>(std::clamp(t.tm_mday, 1, 31));
  std::int64_t days = days_from_civil(year, month + 1, day);
  int wday = static_cast<int>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday
  int yday = static_cast<int>(days - days_from_civil(year, 1, 1));
  std::string out;
  for (std::size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%' || i + 1 >= fmt.size()) {
      out.push_back(fmt[i]);
      continue;
    }
    char pad = 0;
    char c = fmt[++i];
    if ((c == '-' || c == '_' || c == '0') && i + 1 < fmt.size()) {
      pad = c;
      c = fmt[++i];
    }
    auto num = [&](std::int64_t v, int width, char fill) {
      char f = pad == '-' ? 0 : pad == '_' ? ' ' : pad == '0' ? '0' : fill;
      std::string s = std::to_string(v);
      if (f)
        while (static_cast<int>(s.size()) < width) s.insert(s.begin(), f);
      out += s;
    };
    int hour12 = t.tm_hour % 12 == 0 ? 12 : t.tm_hour % 12;
    switch (c) {
      case 'a': out += std::string(weekdays[wday]).substr(0, 3); break;
      case 'A': out += weekdays[wday]; break;
      case 'b': case 'h': out += std::string(months[month]).substr(0, 3); break;
      case 'B': out += months[month]; break;
      case 'c': out += strftime_c(t, "%a %b %e %H:%M:%S %Y"); break;
      case 'C': num(year / 100, 2, '0'); break;
      case 'd': num(day, 2, '0'); break;
      case 'D': case 'x': out += strftime_c(t, "%m/%d/%y"); break;
      case 'e': num(day, 2, ' '); break;
      case 'F': out += strftime_c(t, "%Y-%m-%d"); break;
      case 'f': out += "000000"; break;
      case 'H': num(t.tm_hour, 2, '0'); break;
      case 'I': num(hour12, 2, '0'); break;
      case 'j': num(yday + 1, 3, '0'); break;
      case 'k': num(t.tm_hour, 2, ' '); break;
      case 'l': num(hour12, 2, ' '); break;
      case 'm': num(month + 1, 2, '0'); break;
      case 'M': num(t.tm_min, 2, '0'); break;
      case 'n': out += '\n'; break;
      case 'p': out += t.tm_hour < 12 ? "AM" : "PM"; break;
      case 'R': out += strftime_c(t, "%H:%M"); break;
      case 'S': num(t.tm_sec, 2, '0'); break;
      case 't': out += '\t'; break;
      case 'T': case 'X': out += strftime_c(t, "%H:%M:%S"); break;
      case 'u': num(wday == 0 ? 7 : wday, 1, '0'); break;
      case 'U': num((yday + 7 - wday) / 7, 2, '0'); break;
      case 'w': num(wday, 1, '0'); break;
      case 'W': num((yday + 7 - (wday + 6) % 7) / 7, 2, '0'); break;
      case 'y': num(((year % 100) + 100) % 100, 2, '0'); break;
      case 'Y': num(year, 1, '0'); break;
      case 'z': case 'Z': break;
      case '%': out += '%'; break;
      default:
        out += '%';
        if (pad) out += pad;
        out += c;
    }
  }
  return out;
}

}  // namespace

void add_globals(Scope& scope) {
  scope.set("range", fn("range", range));
  scope.set("dict", fn("dict", [](Interpreter& interp, CallArgs& args) { return Value::dict(dict_from(interp, args, "dict")); }));
  scope.set("namespace", fn("namespace", [](Interpreter& interp, CallArgs& args) {
    auto ns = std::make_shared<Namespace>();
    ns->attrs = *dict_from(interp, args, "namespace");
    interp.track_namespace(ns);
    return Value::object(ns);
  }));
  scope.set("joiner", fn("joiner", [](Interpreter&, CallArgs& args) {
    Params p("joiner", args, {"sep"});
    Value comma = Value::string(", ");
    auto sep = p.get(0, comma);
    auto used = std::make_shared<bool>(false);
    return fn("joiner", [sep, used](Interpreter&, CallArgs&) {
      if (!*used) {
        *used = true;
        return Value::string("");
      }
      return sep;
    });
  }));
  scope.set("cycler", fn("cycler", [](Interpreter&, CallArgs& args) {
    if (args.args.empty()) fail("at least one item has to be provided");
    return Value::object(std::make_shared<Cycler>(args.args));
  }));
  scope.set("raise_exception", fn("raise_exception", [](Interpreter& interp, CallArgs& args) -> Value {
    Params p("raise_exception", args, {"message"});
    p.require(0, "raise_exception", "message");
    throw TemplateError(Fault::raised, to_str(p[0], interp.max_string()));
  }));
  scope.set("strftime_now", fn("strftime_now", [](Interpreter& interp, CallArgs& args) {
    Params p("strftime_now", args, {"format"});
    p.require(0, "strftime_now", "format");
    if (!p[0].is_string()) fail("strftime() argument 1 must be str, not " + type_name(p[0]));
    std::tm t{};
    if (interp.now()) {
      t = *interp.now();
    } else {
      std::time_t now = std::time(nullptr);
      localtime_r(&now, &t);
    }
    return Value::string(strftime_c(t, p[0].str()));
  }));
}

}  // namespace nibble::tmpl
