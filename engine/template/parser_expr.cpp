// Expression parsing with Jinja2's precedence: conditional, or, and, not, comparisons (chained,
// in / not in), + -, ~, * / // %, ** (left-assoc), unary, primary, postfix (attribute, item,
// slice, call), then filters and `is` tests. Filter and test names are resolved here.
#include <algorithm>

#include "template/builtins.h"
#include "template/errors.h"
#include "template/parser.h"

namespace nibble::tmpl {

// Nesting guard: deeply nested brackets would otherwise exhaust the stack.
struct NestingGuard {
  explicit NestingGuard(Parser& p, const Token& at) : parser(p) {
    if (++parser.nesting_ > 128) throw TemplateError(Fault::syntax, "expression is nested too deeply", at.line, at.col);
  }
  ~NestingGuard() { --parser.nesting_; }
  Parser& parser;
};

namespace {

constexpr int max_expr_depth = 200;

// Records the subtree height; long operator chains build deep trees without brackets, and
// evaluating or freeing them recurses.
ExprPtr finish(ExprPtr e) {
  int d = 0;
  for (const Expr* c : {e->a.get(), e->b.get(), e->c.get(), e->dyn_args.get(), e->dyn_kwargs.get()})
    if (c) d = std::max(d, c->depth);
  for (const auto& i : e->items)
    if (i) d = std::max(d, i->depth);
  for (const auto& [k, v] : e->kwargs) d = std::max(d, v->depth);
  e->depth = d + 1;
  if (e->depth > max_expr_depth) throw TemplateError(Fault::syntax, "expression is nested too deeply", e->line, e->col);
  return e;
}

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

}  // namespace

ExprPtr Parser::make(ExprKind kind, const Token& at) const {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->line = at.line;
  e->col = at.col;
  return e;
}

bool Parser::is_tuple_end(const std::vector<std::string_view>& extra_end) const {
  if (cur().type == Tok::variable_end || cur().type == Tok::block_end || is_op(")")) return true;
  return matches_any(extra_end);
}

ExprPtr Parser::parse_expression(bool with_condexpr) { return with_condexpr ? parse_condexpr() : parse_or(); }

ExprPtr Parser::parse_tuple(bool simplified, bool with_condexpr, const std::vector<std::string_view>& extra_end,
                            bool explicit_parens) {
  const Token at = cur();
  std::vector<ExprPtr> args;
  bool is_tuple = false;
  for (;;) {
    if (!args.empty()) expect_op(",");
    if (is_tuple_end(extra_end)) break;
    if (simplified) args.push_back(parse_primary());
    else args.push_back(parse_expression(with_condexpr));
    if (is_op(",")) is_tuple = true;
    else break;
  }
  if (!is_tuple) {
    if (!args.empty()) return std::move(args[0]);
    if (!explicit_parens) fail("Expected an expression, got " + quoted(describe_token(cur())), cur());
  }
  auto e = make(ExprKind::tuple, at);
  e->items = std::move(args);
  return finish(std::move(e));
}

ExprPtr Parser::parse_condexpr() {
  ExprPtr expr1 = parse_or();
  while (is_name("if")) {
    const Token at = advance();
    ExprPtr expr2 = parse_or();
    ExprPtr expr3;
    if (skip_name("else")) {
      NestingGuard guard(*this, at);
      expr3 = parse_condexpr();
    }
    auto e = make(ExprKind::cond, at);
    e->a = std::move(expr2);
    e->b = std::move(expr1);
    e->c = std::move(expr3);
    expr1 = finish(std::move(e));
  }
  return expr1;
}

ExprPtr Parser::parse_or() {
  ExprPtr left = parse_and();
  while (is_name("or")) {
    auto e = make(ExprKind::or_, advance());
    e->a = std::move(left);
    e->b = parse_and();
    left = finish(std::move(e));
  }
  return left;
}

ExprPtr Parser::parse_and() {
  ExprPtr left = parse_not();
  while (is_name("and")) {
    auto e = make(ExprKind::and_, advance());
    e->a = std::move(left);
    e->b = parse_not();
    left = finish(std::move(e));
  }
  return left;
}

ExprPtr Parser::parse_not() {
  if (is_name("not")) {
    NestingGuard guard(*this, cur());
    auto e = make(ExprKind::not_, advance());
    e->a = parse_not();
    return finish(std::move(e));
  }
  return parse_compare();
}

ExprPtr Parser::parse_compare() {
  const Token at = cur();
  ExprPtr expr = parse_math1();
  std::vector<CmpOp> ops;
  std::vector<ExprPtr> operands;
  for (;;) {
    CmpOp op;
    if (is_op("==")) op = CmpOp::eq;
    else if (is_op("!=")) op = CmpOp::ne;
    else if (is_op("<")) op = CmpOp::lt;
    else if (is_op("<=")) op = CmpOp::le;
    else if (is_op(">")) op = CmpOp::gt;
    else if (is_op(">=")) op = CmpOp::ge;
    else if (is_name("in")) op = CmpOp::in;
    else if (is_name("not") && look().type == Tok::name && look().value == "in") {
      advance();
      op = CmpOp::not_in;
    } else {
      break;
    }
    advance();
    ops.push_back(op);
    operands.push_back(parse_math1());
  }
  if (ops.empty()) return expr;
  auto e = make(ExprKind::compare, at);
  e->a = std::move(expr);
  e->cmp_ops = std::move(ops);
  e->items = std::move(operands);
  return finish(std::move(e));
}

namespace {

ExprPtr binary(ExprPtr left, BinOp op, ExprPtr right, const Token& at) {
  auto e = std::make_unique<Expr>();
  e->kind = ExprKind::binary;
  e->line = at.line;
  e->col = at.col;
  e->op = op;
  e->a = std::move(left);
  e->b = std::move(right);
  return finish(std::move(e));
}

}  // namespace

ExprPtr Parser::parse_math1() {
  ExprPtr left = parse_concat();
  while (is_op("+") || is_op("-")) {
    const Token at = advance();
    left = binary(std::move(left), at.value == "+" ? BinOp::add : BinOp::sub, parse_concat(), at);
  }
  return left;
}

ExprPtr Parser::parse_concat() {
  const Token at = cur();
  std::vector<ExprPtr> args;
  args.push_back(parse_math2());
  while (skip_op("~")) args.push_back(parse_math2());
  if (args.size() == 1) return std::move(args[0]);
  auto e = make(ExprKind::concat, at);
  e->items = std::move(args);
  return finish(std::move(e));
}

ExprPtr Parser::parse_math2() {
  ExprPtr left = parse_pow();
  for (;;) {
    BinOp op;
    if (is_op("*")) op = BinOp::mul;
    else if (is_op("/")) op = BinOp::div;
    else if (is_op("//")) op = BinOp::floordiv;
    else if (is_op("%")) op = BinOp::mod;
    else break;
    const Token at = advance();
    left = binary(std::move(left), op, parse_pow(), at);
  }
  return left;
}

ExprPtr Parser::parse_pow() {
  ExprPtr left = parse_unary(true);
  while (is_op("**")) {
    const Token at = advance();
    left = binary(std::move(left), BinOp::pow, parse_unary(true), at);
  }
  return left;
}

ExprPtr Parser::parse_unary(bool with_filter) {
  ExprPtr node;
  if (is_op("-") || is_op("+")) {
    NestingGuard guard(*this, cur());
    const Token at = advance();
    node = make(at.value == "-" ? ExprKind::neg : ExprKind::pos, at);
    node->a = parse_unary(false);
    node = finish(std::move(node));
  } else {
    node = parse_primary();
  }
  node = parse_postfix(std::move(node));
  if (with_filter) node = parse_filter_expr(std::move(node));
  return node;
}

ExprPtr Parser::parse_primary() {
  const Token tok = cur();
  ExprPtr node;
  if (tok.type == Tok::name) {
    advance();
    if (tok.value == "true" || tok.value == "True" || tok.value == "false" || tok.value == "False") {
      node = make(ExprKind::constant, tok);
      node->value = Value::boolean(tok.value == "true" || tok.value == "True");
    } else if (tok.value == "none" || tok.value == "None") {
      node = make(ExprKind::constant, tok);
      node->value = Value::none();
    } else {
      node = make(ExprKind::name, tok);
      node->name = tok.value;
    }
  } else if (tok.type == Tok::string) {
    std::string s;
    while (cur().type == Tok::string) s += advance().value;
    node = make(ExprKind::constant, tok);
    node->value = Value::string(std::move(s));
  } else if (tok.type == Tok::integer || tok.type == Tok::floating) {
    advance();
    node = make(ExprKind::constant, tok);
    node->value = tok.type == Tok::integer ? Value::integer(tok.ival) : Value::real(tok.fval);
  } else if (is_op("(")) {
    NestingGuard guard(*this, tok);
    advance();
    node = parse_tuple(false, true, {}, true);
    expect_op(")");
  } else if (is_op("[")) {
    node = parse_list();
  } else if (is_op("{")) {
    node = parse_dict();
  } else {
    fail("unexpected " + quoted(describe_token(tok)), tok);
  }
  return node;
}

ExprPtr Parser::parse_list() {
  NestingGuard guard(*this, cur());
  auto e = make(ExprKind::list, advance());
  while (!is_op("]")) {
    if (!e->items.empty()) expect_op(",");
    if (is_op("]")) break;
    e->items.push_back(parse_expression());
  }
  expect_op("]");
  return finish(std::move(e));
}

ExprPtr Parser::parse_dict() {
  NestingGuard guard(*this, cur());
  auto e = make(ExprKind::dict, advance());
  while (!is_op("}")) {
    if (!e->items.empty()) expect_op(",");
    if (is_op("}")) break;
    e->items.push_back(parse_expression());
    expect_op(":");
    e->items.push_back(parse_expression());
  }
  expect_op("}");
  return finish(std::move(e));
}

ExprPtr Parser::parse_postfix(ExprPtr node) {
  for (;;) {
    if (is_op(".") || is_op("[")) node = parse_subscript(std::move(node));
    else if (is_op("(")) node = parse_call(std::move(node));
    else break;
  }
  return node;
}

ExprPtr Parser::parse_filter_expr(ExprPtr node) {
  for (;;) {
    if (is_op("|")) node = parse_filter(std::move(node), false);
    else if (is_name("is")) node = parse_test(std::move(node));
    else if (is_op("(")) node = parse_call(std::move(node));
    else break;
  }
  return node;
}

ExprPtr Parser::parse_subscript(ExprPtr node) {
  NestingGuard guard(*this, cur());
  const Token tok = advance();
  if (tok.value == ".") {
    const Token attr = advance();
    if (attr.type == Tok::name) {
      auto e = make(ExprKind::getattr, attr);
      e->a = std::move(node);
      e->name = attr.value;
      return finish(std::move(e));
    }
    if (attr.type != Tok::integer) fail("expected name or number", attr);
    auto e = make(ExprKind::getitem, attr);
    e->a = std::move(node);
    e->b = make(ExprKind::constant, attr);
    e->b->value = Value::integer(attr.ival);
    return finish(std::move(e));
  }
  std::vector<ExprPtr> args;
  while (!is_op("]")) {
    if (!args.empty()) expect_op(",");
    args.push_back(parse_subscribed());
  }
  expect_op("]");
  auto e = make(ExprKind::getitem, tok);
  e->a = std::move(node);
  if (args.size() == 1) {
    e->b = std::move(args[0]);
  } else {
    e->b = make(ExprKind::tuple, tok);
    e->b->items = std::move(args);
    e->b = finish(std::move(e->b));
  }
  return finish(std::move(e));
}

ExprPtr Parser::parse_subscribed() {
  const Token at = cur();
  std::vector<ExprPtr> args;
  if (is_op(":")) {
    advance();
    args.push_back(nullptr);
  } else {
    ExprPtr node = parse_expression();
    if (!is_op(":")) return node;
    advance();
    args.push_back(std::move(node));
  }
  if (is_op(":")) args.push_back(nullptr);
  else if (!is_op("]") && !is_op(",")) args.push_back(parse_expression());
  else args.push_back(nullptr);
  if (is_op(":")) {
    advance();
    if (!is_op("]") && !is_op(",")) args.push_back(parse_expression());
    else args.push_back(nullptr);
  } else {
    args.push_back(nullptr);
  }
  auto e = make(ExprKind::slice, at);
  e->items = std::move(args);
  return finish(std::move(e));
}

void Parser::parse_call_args(Expr& call) {
  const Token lparen = cur();
  expect_op("(");
  bool require_comma = false;
  auto ensure = [&](bool ok) {
    if (!ok) fail("invalid syntax for function call expression", lparen);
  };
  while (!is_op(")")) {
    if (require_comma) {
      expect_op(",");
      if (is_op(")")) break;
    }
    if (is_op("*")) {
      ensure(!call.dyn_args && !call.dyn_kwargs);
      advance();
      call.dyn_args = parse_expression();
    } else if (is_op("**")) {
      ensure(!call.dyn_kwargs);
      advance();
      call.dyn_kwargs = parse_expression();
    } else if (cur().type == Tok::name && look().type == Tok::op && look().value == "=") {
      ensure(!call.dyn_kwargs);
      std::string key = advance().value;
      advance();
      call.kwargs.emplace_back(std::move(key), parse_expression());
    } else {
      ensure(!call.dyn_args && !call.dyn_kwargs && call.kwargs.empty());
      call.items.push_back(parse_expression());
    }
    require_comma = true;
  }
  expect_op(")");
}

ExprPtr Parser::parse_call(ExprPtr node) {
  NestingGuard guard(*this, cur());
  auto e = make(ExprKind::call, cur());
  e->line = node->line;
  e->col = node->col;
  e->a = std::move(node);
  parse_call_args(*e);
  return finish(std::move(e));
}

ExprPtr Parser::parse_filter(ExprPtr node, bool start_inline) {
  while (is_op("|") || start_inline) {
    NestingGuard guard(*this, cur());
    if (!start_inline) advance();
    start_inline = false;
    const Token at = cur();
    std::string name = expect_name();
    while (skip_op(".")) name += "." + expect_name();
    auto e = make(ExprKind::filter, at);
    e->a = std::move(node);
    e->name = name;
    e->filter = find_filter(name);  // unknown names are checked by check_names() after parsing
    if (is_op("(")) parse_call_args(*e);
    node = finish(std::move(e));
  }
  return node;
}

ExprPtr Parser::parse_test(ExprPtr node) {
  NestingGuard guard(*this, cur());
  advance();
  bool negated = skip_name("not");
  const Token at = cur();
  std::string name = expect_name();
  while (skip_op(".")) name += "." + expect_name();
  auto e = make(ExprKind::test, at);
  e->a = std::move(node);
  e->name = name;
  e->test = find_test(name);
  if (is_op("(")) {
    parse_call_args(*e);
  } else if ((cur().type == Tok::name || cur().type == Tok::string || cur().type == Tok::integer ||
              cur().type == Tok::floating || is_op("(") || is_op("[") || is_op("{")) &&
             !is_name("else") && !is_name("or") && !is_name("and")) {
    if (is_name("is")) fail("You cannot chain multiple tests with is", cur());
    e->items.push_back(parse_postfix(parse_primary()));
  }
  e = finish(std::move(e));
  if (!negated) return e;
  auto n = make(ExprKind::not_, at);
  n->a = std::move(e);
  return finish(std::move(n));
}

}  // namespace nibble::tmpl
