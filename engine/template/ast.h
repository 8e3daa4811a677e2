// The syntax tree the parser builds and the evaluator walks: expressions and statements of the
// Jinja2 subset chat templates use. Plain data; owns no behaviour. Filters and tests are resolved
// to functions at parse time, as Jinja2 does at compile time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "template/value.h"

namespace nibble::tmpl {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

using FilterFn = Value (*)(Interpreter&, Value, CallArgs&);
using TestFn = bool (*)(Interpreter&, const Value&, CallArgs&);

enum class ExprKind : std::uint8_t {
  constant,  // value
  name,      // name
  list,      // items
  tuple,     // items
  dict,      // items: key, value, key, value, ...
  getattr,   // a.name
  getitem,   // a[b]
  slice,     // items[0..2]: start, stop, step (null when absent)
  call,      // a(items..., kwargs..., *dyn_args, **dyn_kwargs)
  filter,    // a|name(items..., kwargs...); a is null for {% filter %} blocks
  test,      // a is name(items...)
  neg, pos, not_,  // unary on a
  binary,    // a op b
  compare,   // a (ops[i] items[i])...
  and_, or_, // a and b / a or b
  concat,    // items joined with ~
  cond,      // b if a else c (c may be null)
};

enum class BinOp : std::uint8_t { add, sub, mul, div, floordiv, mod, pow };
enum class CmpOp : std::uint8_t { eq, ne, lt, le, gt, ge, in, not_in };

struct Expr {
  ExprKind kind;
  int line = 0;
  int col = 0;
  int depth = 1;  // height of this subtree (bounded by the parser)
  Value value;
  std::string name;
  ExprPtr a, b, c;
  std::vector<ExprPtr> items;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  ExprPtr dyn_args, dyn_kwargs;
  BinOp op = BinOp::add;
  std::vector<CmpOp> cmp_ops;
  FilterFn filter = nullptr;
  TestFn test = nullptr;
};

// Assignment targets: a name, a tuple of targets, or namespace attribute (ns.attr).
struct Target {
  std::string name;
  std::string attr;  // set for ns.attr
  std::vector<Target> items;
  bool is_tuple = false;
};

enum class StmtKind : std::uint8_t {
  text, output, if_, for_, set, set_block, macro, call_block, filter_block, with, break_, continue_,
  generation,
};

struct MacroDef {
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // aligned to the last defaults.size() params
  Body body;
  bool uses_caller = false, uses_varargs = false, uses_kwargs = false;
  std::vector<std::string> body_undefined;  // names that start Undefined in the body (scoping.h)
};

struct Stmt {
  StmtKind kind;
  int line = 0;
  int col = 0;
  std::string text;                   // text
  std::vector<ExprPtr> exprs;         // output (one or more), if_: condition per branch, with: values
  std::vector<Body> bodies;           // if_: one per branch (+ else)
  Body body, else_body;               // for_, set_block, call_block, filter_block, with, generation
  Target target;                      // for_, set, set_block
  std::vector<Target> targets;        // with
  ExprPtr iter, cond;                 // for_: iterable and loop filter; set: value; call_block: call
  ExprPtr filter;                     // set_block / filter_block: filter chain (innermost subject null)
  bool recursive = false;
  std::shared_ptr<MacroDef> macro;    // macro, call_block (the caller)
  std::vector<std::string> body_undefined, else_undefined;  // frames opened here (scoping.h)
};

// A parsed template: its statements and the names that start Undefined at its top level.
struct Template {
  Body body;
  std::vector<std::string> undefined;
};

}  // namespace nibble::tmpl
