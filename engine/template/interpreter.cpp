// Statement execution: text and output, if, for (loop object, filter, else, break/continue,
// recursive loops), set (names, tuples, namespace attributes, blocks), macros and call blocks,
// filter and with blocks; plus the sandbox accounting shared with expression evaluation.
#include "template/interpreter.h"

#include "template/builtins.h"
#include "template/errors.h"
#include "template/value_print.h"

namespace nibble::tmpl {

namespace {

constexpr std::ptrdiff_t max_stack_bytes = 1 << 20;

// The `loop` variable inside {% for %}.
class LoopObject : public Object, public std::enable_shared_from_this<LoopObject> {
 public:
  std::string type_name() const override { return "LoopContext"; }
  bool callable() const override { return true; }
  std::string repr() const override {
    return "<LoopContext " + std::to_string(index0 + 1) + "/" + std::to_string(items.size()) + ">";
  }

  std::optional<Value> attribute(std::string_view name) const override {
    auto n = static_cast<std::int64_t>(items.size());
    auto i = static_cast<std::int64_t>(index0);
    if (name == "index") return Value::integer(i + 1);
    if (name == "index0") return Value::integer(i);
    if (name == "revindex") return Value::integer(n - i);
    if (name == "revindex0") return Value::integer(n - i - 1);
    if (name == "first") return Value::boolean(i == 0);
    if (name == "last") return Value::boolean(i == n - 1);
    if (name == "length") return Value::integer(n);
    if (name == "depth") return Value::integer(depth0 + 1);
    if (name == "depth0") return Value::integer(depth0);
    if (name == "previtem") return i > 0 ? items[index0 - 1] : Value::undefined("there is no previous item");
    if (name == "nextitem") return i + 1 < n ? items[index0 + 1] : Value::undefined("there is no next item");
    auto self = std::const_pointer_cast<LoopObject>(shared_from_this());
    if (name == "cycle") {
      return Value::object(std::make_shared<NativeFunction>("cycle", [self](Interpreter&, CallArgs& a) {
        if (a.args.empty()) fail("no items for cycling given");
        return a.args[self->index0 % a.args.size()];
      }));
    }
    if (name == "changed") {
      return Value::object(std::make_shared<NativeFunction>("changed", [self](Interpreter&, CallArgs& a) {
        Value current = Value::sequence(a.args, SeqKind::tuple);
        if (self->has_last && equals(self->last_changed, current)) return Value::boolean(false);
        self->has_last = true;
        self->last_changed = current;
        return Value::boolean(true);
      }));
    }
    return std::nullopt;
  }

  Value call(Interpreter& interp, CallArgs& args) override {
    if (!stmt) fail("The loop must have the 'recursive' marker to be called recursively.");
    if (args.args.size() != 1 || !args.kwargs.empty()) fail("loop() takes exactly one argument");
    return Value::string(interp.render_loop(*stmt, args.args[0], scope, depth0 + 1));
  }

  std::vector<Value> items;
  std::size_t index0 = 0;
  int depth0 = 0;
  const Stmt* stmt = nullptr;  // set for recursive loops
  std::shared_ptr<Scope> scope;
  bool has_last = false;
  Value last_changed;
};

}  // namespace

struct ScopeGuard {
  ScopeGuard(Interpreter& i, std::shared_ptr<Scope> s) : interp(i), saved(std::move(i.scope_)) {
    interp.scope_ = std::move(s);
  }
  ~ScopeGuard() { interp.scope_ = std::move(saved); }
  Interpreter& interp;
  std::shared_ptr<Scope> saved;
};

struct OutputGuard {
  OutputGuard(Interpreter& i, std::string* buffer) : interp(i), saved(i.out_) { interp.out_ = buffer; }
  ~OutputGuard() { interp.out_ = saved; }
  Interpreter& interp;
  std::string* saved;
};

const Value* Scope::find(std::string_view name) const {
  for (const Scope* s = this; s; s = s->parent_.get())
    for (const auto& [k, v] : s->vars_)
      if (k == name) return &v;
  return nullptr;
}

void Scope::set_undefined(const std::vector<std::string>& names) {
  for (const auto& n : names) set(n, Value::undefined("'" + n + "' is undefined"));
}

void Scope::set(const std::string& name, Value v) {
  for (auto& [k, val] : vars_) {
    if (k == name) {
      val = std::move(v);
      return;
    }
  }
  vars_.emplace_back(name, std::move(v));
}

std::optional<Value> Namespace::attribute(std::string_view name) const {
  if (const Value* v = attrs.find(name)) return *v;
  return std::nullopt;
}

Value Macro::call(Interpreter& interp, CallArgs& args) { return interp.call_macro(*def_, closure_, args); }

std::string Macro::repr() const { return "<Macro '" + def_->name + "'>"; }

std::optional<Value> Macro::attribute(std::string_view name) const {
  if (name == "name") return Value::string(def_->name);
  return std::nullopt;
}

Interpreter::Interpreter(const TemplateLimits& limits, std::optional<std::tm> now) : limits_(limits), now_(now) {}

Interpreter::~Interpreter() {
  // Macros close over scopes that may hold the macros themselves, and namespaces can contain
  // each other: clearing them breaks every cycle so everything is freed.
  for (auto& s : captured_) s->clear();
  for (auto& ns : namespaces_) ns->attrs.entries.clear();
}

std::string Interpreter::render(const Template& t, std::shared_ptr<Scope> globals) {
  stack_base_ = static_cast<const char*>(__builtin_frame_address(0));
  deadline_ = std::chrono::steady_clock::now() + limits_.max_time;
  std::string out;
  OutputGuard output(*this, &out);
  auto root = std::make_shared<Scope>(std::move(globals));
  root->set_undefined(t.undefined);
  ScopeGuard scope(*this, std::move(root));
  exec(t.body);
  return out;
}

Interpreter::Flow Interpreter::exec_frame(const Body& body, const std::vector<std::string>& undefined,
                                          std::string* capture_into) {
  auto frame = std::make_shared<Scope>(scope_);
  frame->set_undefined(undefined);
  ScopeGuard guard(*this, std::move(frame));
  if (!capture_into) return exec(body);
  OutputGuard output(*this, capture_into);
  return exec(body);
}

void Interpreter::check_stack() const {
  const auto* here = static_cast<const char*>(__builtin_frame_address(0));
  if (stack_base_ - here > max_stack_bytes) fail_limit("the template nests too deeply (stack limit)");
}

void Interpreter::check_time() {
  if (std::chrono::steady_clock::now() > deadline_)
    fail_limit("rendering took longer than " + std::to_string(limits_.max_time.count()) + " ms");
}

void Interpreter::tick() {
  if (++iterations_ > limits_.max_loop_iterations)
    fail_limit("more than " + std::to_string(limits_.max_loop_iterations) + " loop iterations");
  if ((iterations_ & 255) == 0) check_time();
}

void Interpreter::write(std::string_view text) {
  if (out_->size() + text.size() > limits_.max_output_bytes)
    fail_limit("the output exceeds " + std::to_string(limits_.max_output_bytes) + " bytes");
  out_->append(text);
}

std::string Interpreter::capture(const Body& body) {
  std::string buffer;
  OutputGuard output(*this, &buffer);
  exec(body);
  return buffer;
}

Interpreter::Flow Interpreter::exec(const Body& body) {
  for (const auto& s : body) {
    Flow f = exec(*s);
    if (f != Flow::normal) return f;
  }
  return Flow::normal;
}

Interpreter::Flow Interpreter::exec(const Stmt& s) {
  check_stack();
  try {
    switch (s.kind) {
      case StmtKind::text: write(s.text); break;
      case StmtKind::output:
        for (const auto& e : s.exprs) write(to_str(eval(*e), limits_.max_output_bytes));
        break;
      case StmtKind::if_:
        for (std::size_t i = 0; i < s.exprs.size(); ++i)
          if (truthy(eval(*s.exprs[i]))) return exec(s.bodies[i]);
        return exec(s.else_body);
      case StmtKind::for_: exec_for(s, eval(*s.iter), 0); break;
      case StmtKind::set: assign(s.target, eval(*s.iter), *scope_); break;
      case StmtKind::set_block: {
        std::string text;
        exec_frame(s.body, s.body_undefined, &text);
        Value v = Value::string(std::move(text));
        if (s.filter) v = apply_filter_chain(*s.filter, std::move(v));
        assign(s.target, v, *scope_);
        break;
      }
      case StmtKind::macro:
        keep_alive_until_end(scope_);
        scope_->set(s.macro->name, Value::object(std::make_shared<Macro>(s.macro, scope_)));
        break;
      case StmtKind::call_block: exec_call_block(s); break;
      case StmtKind::filter_block: {
        std::string text;
        exec_frame(s.body, s.body_undefined, &text);
        write(to_str(apply_filter_chain(*s.filter, Value::string(std::move(text)))));
        break;
      }
      case StmtKind::with: {
        std::vector<Value> values;
        for (const auto& e : s.exprs) values.push_back(eval(*e));
        auto inner = std::make_shared<Scope>(scope_);
        inner->set_undefined(s.body_undefined);
        for (std::size_t i = 0; i < values.size(); ++i) assign(s.targets[i], values[i], *inner);
        ScopeGuard guard(*this, inner);
        return exec(s.body);
      }
      case StmtKind::break_: return Flow::break_;
      case StmtKind::continue_: return Flow::continue_;
      case StmtKind::generation: return exec_frame(s.body, s.body_undefined);
    }
  } catch (TemplateError& err) {
    if (err.line == 0) {
      err.line = s.line;
      err.column = s.col;
    }
    throw;
  }
  return Flow::normal;
}

void Interpreter::exec_for(const Stmt& s, const Value& iterable, int depth) {
  std::vector<Value> all = iterate(iterable);
  auto outer = scope_;
  auto loop = std::make_shared<LoopObject>();
  if (s.cond) {
    for (auto& item : all) {
      tick();
      auto probe = std::make_shared<Scope>(outer);
      assign(s.target, item, *probe);
      ScopeGuard guard(*this, probe);
      if (truthy(eval(*s.cond))) loop->items.push_back(std::move(item));
    }
  } else {
    loop->items = std::move(all);
  }
  loop->depth0 = depth;
  if (s.recursive) {
    loop->stmt = &s;
    loop->scope = outer;
  }
  if (loop->items.empty()) {
    exec_frame(s.else_body, s.else_undefined);
    return;
  }
  Value loop_value = Value::object(loop);
  for (std::size_t i = 0; i < loop->items.size(); ++i) {
    tick();
    loop->index0 = i;
    auto iteration = std::make_shared<Scope>(outer);
    iteration->set_undefined(s.body_undefined);
    assign(s.target, loop->items[i], *iteration);
    iteration->set("loop", loop_value);
    ScopeGuard guard(*this, iteration);
    if (exec(s.body) == Flow::break_) break;
  }
}

std::string Interpreter::render_loop(const Stmt& loop, const Value& iterable, const std::shared_ptr<Scope>& scope,
                                     int depth) {
  if (depth > limits_.max_recursion_depth)
    fail_limit("recursive loops nest deeper than " + std::to_string(limits_.max_recursion_depth));
  std::string buffer;
  OutputGuard output(*this, &buffer);
  ScopeGuard guard(*this, scope);
  exec_for(loop, iterable, depth);
  return buffer;
}

void Interpreter::exec_call_block(const Stmt& s) {
  keep_alive_until_end(scope_);
  Value caller = Value::object(std::make_shared<Macro>(s.macro, scope_));
  const Expr& call = *s.iter;
  Value callee = eval(*call.a);
  CallArgs args = eval_args(call);
  args.kwargs.emplace_back("caller", std::move(caller));
  write(to_str(this->call(callee, args)));
}

Value Interpreter::call_macro(const MacroDef& def, const std::shared_ptr<Scope>& closure, CallArgs& args) {
  if (call_depth_ >= limits_.max_recursion_depth)
    fail_limit("macro calls nest deeper than " + std::to_string(limits_.max_recursion_depth));
  check_time();
  auto scope = std::make_shared<Scope>(closure);
  const std::size_t n = def.params.size();
  std::vector<std::optional<Value>> bound(n);
  auto take_kwarg = [&](const std::string& name) -> std::optional<Value> {
    for (auto it = args.kwargs.begin(); it != args.kwargs.end(); ++it) {
      if (it->first == name) {
        Value v = std::move(it->second);
        args.kwargs.erase(it);
        return v;
      }
    }
    return std::nullopt;
  };
  bool explicit_caller = false;
  for (std::size_t i = 0; i < n; ++i) {
    if (i < args.args.size()) bound[i] = args.args[i];
    else bound[i] = take_kwarg(def.params[i]);
    if (def.params[i] == "caller") explicit_caller = true;
  }
  if (def.uses_caller && !explicit_caller) {
    auto caller = take_kwarg("caller");
    scope->set("caller", caller ? *caller : Value::undefined("No caller defined"));
  }
  if (def.uses_kwargs) {
    std::vector<std::pair<Value, Value>> rest;
    for (auto& [k, v] : args.kwargs) rest.emplace_back(Value::string(k), v);
    scope->set("kwargs", Value::dict(std::move(rest)));
  } else if (!args.kwargs.empty()) {
    if (args.kwargs.front().first == "caller")
      fail("macro '" + def.name + "' was invoked with two values for the special caller argument");
    fail("macro '" + def.name + "' takes no keyword argument '" + args.kwargs.front().first + "'");
  }
  if (def.uses_varargs) {
    std::vector<Value> rest;
    for (std::size_t i = n; i < args.args.size(); ++i) rest.push_back(args.args[i]);
    scope->set("varargs", Value::sequence(std::move(rest), SeqKind::tuple));
  } else if (args.args.size() > n) {
    fail("macro '" + def.name + "' takes not more than " + std::to_string(n) + " argument(s)");
  }
  ++call_depth_;
  struct DepthGuard {
    int& d;
    ~DepthGuard() { --d; }
  } depth_guard{call_depth_};
  scope->set_undefined(def.body_undefined);
  ScopeGuard guard(*this, scope);
  const std::size_t first_default = n - def.defaults.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (bound[i]) scope->set(def.params[i], *bound[i]);
    else if (i >= first_default) scope->set(def.params[i], eval(*def.defaults[i - first_default]));
    else scope->set(def.params[i], Value::undefined("parameter '" + def.params[i] + "' was not provided"));
  }
  return Value::string(capture(def.body));
}

void Interpreter::assign(const Target& t, const Value& v, Scope& scope) {
  if (!t.attr.empty()) {
    const Value* ns = scope_->find(t.name);
    if (!ns || !ns->is_object() || !ns->obj().is_namespace())
      fail("cannot assign attribute on non-namespace object");
    static_cast<Namespace&>(ns->obj()).set(t.attr, v);
    return;
  }
  if (!t.is_tuple) {
    scope.set(t.name, v);
    return;
  }
  std::vector<Value> items = iterate(v);
  if (items.size() > t.items.size())
    fail("too many values to unpack (expected " + std::to_string(t.items.size()) + ")");
  if (items.size() < t.items.size())
    fail("not enough values to unpack (expected " + std::to_string(t.items.size()) + ", got " +
         std::to_string(items.size()) + ")");
  for (std::size_t i = 0; i < items.size(); ++i) assign(t.items[i], items[i], scope);
}

}  // namespace nibble::tmpl
