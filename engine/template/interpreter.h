// Interpreter: walks the syntax tree and renders text, with Jinja2's scoping (a fresh scope per
// loop iteration, macros closing over their defining scope, namespace() for cross-scope state)
// and the sandbox limits (output size, loop iterations, recursion, time, stack). Statements are
// in interpreter.cpp, expressions in eval_expr.cpp. Called by ChatTemplate::render.
#pragma once

#include <chrono>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nibble/chat_template.h"
#include "template/ast.h"
#include "template/value.h"

namespace nibble::tmpl {

class Scope {
 public:
  explicit Scope(std::shared_ptr<Scope> parent) : parent_(std::move(parent)) {}
  const Value* find(std::string_view name) const;
  void set(const std::string& name, Value v);
  void set_undefined(const std::vector<std::string>& names);
  void clear() { vars_.clear(); }

 private:
  std::shared_ptr<Scope> parent_;
  std::vector<std::pair<std::string, Value>> vars_;
};

// A function implemented in C++: globals (range, namespace, ...), bound methods, loop.cycle.
class NativeFunction : public Object {
 public:
  using Fn = std::function<Value(Interpreter&, CallArgs&)>;
  NativeFunction(std::string name, Fn fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  std::string type_name() const override { return "builtin_function_or_method"; }
  bool callable() const override { return true; }
  Value call(Interpreter& interp, CallArgs& args) override { return fn_(interp, args); }
  std::string repr() const override { return "<built-in function " + name_ + ">"; }

 private:
  std::string name_;
  Fn fn_;
};

class Namespace : public Object {
 public:
  std::string type_name() const override { return "Namespace"; }
  std::optional<Value> attribute(std::string_view name) const override;
  bool is_namespace() const override { return true; }
  const Dict* namespace_attrs() const override { return &attrs; }
  void set(std::string name, Value v) { attrs.set(Value::string(std::move(name)), std::move(v)); }
  Dict attrs;
};

class Macro : public Object {
 public:
  Macro(std::shared_ptr<const MacroDef> def, std::shared_ptr<Scope> closure)
      : def_(std::move(def)), closure_(std::move(closure)) {}
  std::string type_name() const override { return "Macro"; }
  bool callable() const override { return true; }
  Value call(Interpreter& interp, CallArgs& args) override;
  std::string repr() const override;
  std::optional<Value> attribute(std::string_view name) const override;

 private:
  std::shared_ptr<const MacroDef> def_;
  std::shared_ptr<Scope> closure_;
};

struct LoopState;

class Interpreter {
 public:
  Interpreter(const TemplateLimits& limits, std::optional<std::tm> now);
  ~Interpreter();

  // Renders `t` with `globals` as the outermost scope.
  std::string render(const Template& t, std::shared_ptr<Scope> globals);

  // Expression evaluation (eval_expr.cpp); throws TemplateError.
  Value eval(const Expr& e);
  Value call(const Value& callee, CallArgs& args);
  Value get_attr(const Value& obj, const std::string& name);
  Value get_item(const Value& obj, const Value& key);

  // Python iteration: strings yield characters, dicts keys; consumes generators.
  std::vector<Value> iterate(const Value& v);
  // Counts one loop iteration against the limits and checks the clock.
  void tick();
  void check_time();
  std::size_t max_string() const { return limits_.max_output_bytes; }
  const std::optional<std::tm>& now() const { return now_; }

  // Runtime support for macros and recursive loops (interpreter.cpp).
  Value call_macro(const MacroDef& def, const std::shared_ptr<Scope>& closure, CallArgs& args);
  std::string render_loop(const Stmt& loop, const Value& iterable, const std::shared_ptr<Scope>& scope, int depth);
  void keep_alive_until_end(std::shared_ptr<Scope> scope) { captured_.push_back(std::move(scope)); }
  void track_namespace(std::shared_ptr<Namespace> ns) { namespaces_.push_back(std::move(ns)); }

 private:
  enum class Flow { normal, break_, continue_ };

  Flow exec(const Body& body);
  Flow exec(const Stmt& s);
  void exec_for(const Stmt& s, const Value& iterable, int depth);
  void exec_call_block(const Stmt& s);
  void assign(const Target& t, const Value& v, Scope& scope);
  std::string capture(const Body& body);
  // Runs `body` in a new frame (child scope) whose `undefined` names start Undefined.
  Flow exec_frame(const Body& body, const std::vector<std::string>& undefined, std::string* capture_into = nullptr);
  Value apply_filter_chain(const Expr& chain, Value subject);
  void write(std::string_view text);
  void check_stack() const;
  Value eval_inner(const Expr& e);
  Value eval_call(const Expr& e);
  Value eval_slice(const Value& obj, const Expr& slice);
  CallArgs eval_args(const Expr& e);

  TemplateLimits limits_;
  std::optional<std::tm> now_;
  std::chrono::steady_clock::time_point deadline_;
  std::size_t iterations_ = 0;
  std::size_t evals_ = 0;
  int call_depth_ = 0;
  const char* stack_base_ = nullptr;
  std::string* out_ = nullptr;
  std::shared_ptr<Scope> scope_;
  std::vector<std::shared_ptr<Scope>> captured_;
  std::vector<std::shared_ptr<Namespace>> namespaces_;
  friend struct ScopeGuard;
  friend struct OutputGuard;
  friend class Macro;
};

}  // namespace nibble::tmpl
