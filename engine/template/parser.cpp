// Statement parsing: the template body, {% if/for/set/macro/call/filter/with/print %}, loop
// controls, HF's {% generation %}, and Jinja2's messages for unknown tags and unclosed blocks.
// Also scans macro bodies for `caller`, `varargs` and `kwargs`, which change how macros bind.
#include "template/parser.h"

#include "template/errors.h"
#include "template/scoping.h"

namespace nibble::tmpl {

namespace {

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

void scan_names(const Expr* e, MacroDef& m);

void scan_body(const Body& body, MacroDef& m);

void scan_stmt(const Stmt& s, MacroDef& m) {
  for (const auto& e : s.exprs) scan_names(e.get(), m);
  for (const auto& b : s.bodies) scan_body(b, m);
  scan_body(s.body, m);
  scan_body(s.else_body, m);
  scan_names(s.iter.get(), m);
  scan_names(s.cond.get(), m);
  scan_names(s.filter.get(), m);
  if (s.macro) {
    for (const auto& d : s.macro->defaults) scan_names(d.get(), m);
    scan_body(s.macro->body, m);
  }
}

void scan_body(const Body& body, MacroDef& m) {
  for (const auto& s : body) scan_stmt(*s, m);
}

void scan_names(const Expr* e, MacroDef& m) {
  if (!e) return;
  if (e->kind == ExprKind::name) {
    if (e->name == "caller") m.uses_caller = true;
    if (e->name == "varargs") m.uses_varargs = true;
    if (e->name == "kwargs") m.uses_kwargs = true;
  }
  scan_names(e->a.get(), m);
  scan_names(e->b.get(), m);
  scan_names(e->c.get(), m);
  scan_names(e->dyn_args.get(), m);
  scan_names(e->dyn_kwargs.get(), m);
  for (const auto& i : e->items) scan_names(i.get(), m);
  for (const auto& [k, v] : e->kwargs) scan_names(v.get(), m);
}

}  // namespace

namespace {

// Jinja2 rejects unknown filter and test names at compile time, except inside {% if %} statements
// and conditional expressions ("soft" frames), where the error waits until the filter is used.
void check_expr_names(const Expr* e, bool soft) {
  if (!e) return;
  if (e->kind == ExprKind::cond) soft = true;
  if (!soft && e->kind == ExprKind::filter && !e->filter)
    throw TemplateError(Fault::syntax, "No filter named " + quoted(e->name) + ".", e->line, e->col);
  if (!soft && e->kind == ExprKind::test && !e->test)
    throw TemplateError(Fault::syntax, "No test named " + quoted(e->name) + ".", e->line, e->col);
  for (const Expr* c : {e->a.get(), e->b.get(), e->c.get(), e->dyn_args.get(), e->dyn_kwargs.get()}) check_expr_names(c, soft);
  for (const auto& i : e->items) check_expr_names(i.get(), soft);
  for (const auto& [k, v] : e->kwargs) check_expr_names(v.get(), soft);
}

void check_body_names(const Body& body, bool soft) {
  for (const auto& s : body) {
    bool inner = s->kind == StmtKind::if_ || soft;
    switch (s->kind) {
      case StmtKind::if_:
      case StmtKind::output:
      case StmtKind::set:
        for (const auto& e : s->exprs) check_expr_names(e.get(), inner);
        check_expr_names(s->iter.get(), inner);
        for (const auto& b : s->bodies) check_body_names(b, inner);
        check_body_names(s->else_body, inner);
        break;
      case StmtKind::for_:
        check_expr_names(s->iter.get(), soft);
        check_expr_names(s->cond.get(), false);
        check_body_names(s->body, false);
        check_body_names(s->else_body, false);
        break;
      case StmtKind::call_block:
        check_expr_names(s->iter.get(), soft);
        break;
      default:
        for (const auto& e : s->exprs) check_expr_names(e.get(), false);
        check_expr_names(s->filter.get(), false);
        check_body_names(s->body, false);
        break;
    }
    if (s->macro) {
      for (const auto& d : s->macro->defaults) check_expr_names(d.get(), false);
      check_body_names(s->macro->body, false);
    }
  }
}

}  // namespace

Template parse_template(std::string_view source) {
  Template t;
  t.body = Parser(tokenize(source)).parse_all();
  check_body_names(t.body, false);
  t.undefined = analyze_scopes(t.body);
  return t;
}

bool Parser::skip_op(std::string_view op) {
  if (!is_op(op)) return false;
  advance();
  return true;
}

bool Parser::skip_name(std::string_view n) {
  if (!is_name(n)) return false;
  advance();
  return true;
}

void Parser::fail(const std::string& msg, const Token& at) const {
  throw TemplateError(Fault::syntax, msg, at.line, at.col);
}

void Parser::expect(Tok type, std::string_view what) {
  if (cur().type == type) {
    advance();
    return;
  }
  if (cur().type == Tok::eof) fail("unexpected end of template, expected " + quoted(what) + ".", cur());
  fail("expected token " + quoted(what) + ", got " + quoted(describe_token(cur())), cur());
}

void Parser::expect_op(std::string_view op) {
  if (is_op(op)) {
    advance();
    return;
  }
  if (cur().type == Tok::eof) fail("unexpected end of template, expected " + quoted(op) + ".", cur());
  fail("expected token " + quoted(op) + ", got " + quoted(describe_token(cur())), cur());
}

std::string Parser::expect_name() {
  if (cur().type != Tok::name) {
    if (cur().type == Tok::eof) fail("unexpected end of template, expected 'name'.", cur());
    fail("expected token 'name', got " + quoted(describe_token(cur())), cur());
  }
  return advance().value;
}

bool Parser::matches_any(const std::vector<std::string_view>& names) const {
  if (cur().type != Tok::name) return false;
  for (auto n : names)
    if (cur().value == n) return true;
  return false;
}

void Parser::fail_unknown_tag(const std::string* name, const Token& at) const {
  std::string msg = name ? "Encountered unknown tag " + quoted(*name) + "." : "Unexpected end of template.";
  if (!end_stack_.empty()) {
    std::string looking;
    for (auto n : end_stack_.back()) looking += (looking.empty() ? "" : " or ") + quoted(n);
    bool expected = false;
    for (const auto& level : end_stack_)
      for (auto n : level)
        if (name && *name == n) expected = true;
    if (expected)
      msg += " You probably made a nesting mistake. Jinja is expecting this tag, but currently looking for " +
             looking + ".";
    else
      msg += " Jinja was looking for the following tags: " + looking + ".";
  }
  if (!tag_stack_.empty()) msg += " The innermost block that needs to be closed is " + quoted(tag_stack_.back()) + ".";
  fail(msg, at);
}

Body Parser::parse_all() {
  Body body = subparse(nullptr);
  if (cur().type != Tok::eof) fail("unexpected " + quoted(describe_token(cur())), cur());
  return body;
}

Body Parser::subparse(const std::vector<std::string_view>* end_tags) {
  Body body;
  if (end_tags) end_stack_.push_back(*end_tags);
  while (cur().type != Tok::eof) {
    const Token& tok = cur();
    if (tok.type == Tok::data) {
      auto s = std::make_unique<Stmt>();
      s->kind = StmtKind::text;
      s->line = tok.line;
      s->col = tok.col;
      s->text = tok.value;
      body.push_back(std::move(s));
      advance();
    } else if (tok.type == Tok::variable_begin) {
      auto s = std::make_unique<Stmt>();
      s->kind = StmtKind::output;
      s->line = tok.line;
      s->col = tok.col;
      advance();
      s->exprs.push_back(parse_tuple(false, true));
      expect(Tok::variable_end, "end of print statement");
      body.push_back(std::move(s));
    } else if (tok.type == Tok::block_begin) {
      const Token begin = advance();
      if (end_tags && matches_any(*end_tags)) {
        end_stack_.pop_back();
        return body;
      }
      body.push_back(parse_statement());
      body.back()->line = begin.line;
      body.back()->col = begin.col;
      expect(Tok::block_end, "end of statement block");
    } else {
      fail("unexpected " + quoted(describe_token(tok)), tok);
    }
  }
  if (end_tags) end_stack_.pop_back();
  return body;
}

Body Parser::parse_statements(const std::vector<std::string_view>& end_tags, bool drop_needle) {
  skip_op(":");
  expect(Tok::block_end, "end of statement block");
  Body body = subparse(&end_tags);
  if (cur().type == Tok::eof) {
    end_stack_.push_back(end_tags);
    fail_unknown_tag(nullptr, cur());
  }
  if (drop_needle) advance();
  return body;
}

StmtPtr Parser::parse_statement() {
  const Token tok = cur();
  if (tok.type != Tok::name) fail("tag name expected", tok);
  const std::string& n = tok.value;
  if (tag_stack_.size() >= 64) fail("blocks are nested too deeply", tok);
  static const char* unsupported[] = {"block", "extends", "include", "import", "from", "autoescape", "do"};
  for (const char* u : unsupported)
    if (n == u) fail("the '" + n + "' tag is not supported in chat templates", tok);
  tag_stack_.push_back(n);
  StmtPtr s;
  if (n == "if") s = parse_if();
  else if (n == "for") s = parse_for();
  else if (n == "set") s = parse_set();
  else if (n == "macro") s = parse_macro();
  else if (n == "call") s = parse_call_block();
  else if (n == "filter") s = parse_filter_block();
  else if (n == "with") s = parse_with();
  else if (n == "print") s = parse_print();
  else if (n == "break") s = parse_loop_control(StmtKind::break_);
  else if (n == "continue") s = parse_loop_control(StmtKind::continue_);
  else if (n == "generation") s = parse_generation();
  else {
    tag_stack_.pop_back();
    fail_unknown_tag(&n, tok);
  }
  tag_stack_.pop_back();
  return s;
}

StmtPtr Parser::parse_if() {
  auto s = std::make_unique<Stmt>();
  s->kind = StmtKind::if_;
  advance();
  for (;;) {
    s->exprs.push_back(parse_tuple(false, false));
    s->bodies.push_back(parse_statements({"elif", "else", "endif"}, false));
    const std::string tag = advance().value;
    if (tag == "elif") continue;
    if (tag == "else") s->else_body = parse_statements({"endif"}, true);
    break;
  }
  return s;
}

StmtPtr Parser::parse_for() {
  auto s = std::make_unique<Stmt>();
  s->kind = StmtKind::for_;
  advance();
  s->target = parse_assign_target(true, false, {"in"}, false);
  if (!skip_name("in")) {
    if (cur().type == Tok::eof) fail("unexpected end of template, expected 'in'.", cur());
    fail("expected token 'in', got " + quoted(describe_token(cur())), cur());
  }
  s->iter = parse_tuple(false, false, {"recursive"});
  if (skip_name("if")) s->cond = parse_expression();
  s->recursive = skip_name("recursive");
  ++loop_depth_;
  s->body = parse_statements({"endfor", "else"}, false);
  --loop_depth_;
  if (advance().value != "endfor") s->else_body = parse_statements({"endfor"}, true);
  return s;
}

StmtPtr Parser::parse_set() {
  auto s = std::make_unique<Stmt>();
  advance();
  s->target = parse_assign_target(true, false, {}, true);
  if (skip_op("=")) {
    s->kind = StmtKind::set;
    s->iter = parse_tuple();
    return s;
  }
  s->kind = StmtKind::set_block;
  if (is_op("|")) s->filter = parse_filter(nullptr, false);
  s->body = parse_statements({"endset"}, true);
  return s;
}

void Parser::parse_signature(MacroDef& macro) {
  expect_op("(");
  while (!is_op(")")) {
    if (!macro.params.empty()) expect_op(",");
    const Token at = cur();
    Target t = parse_assign_target(false, true, {}, false);
    if (skip_op("=")) {
      macro.defaults.push_back(parse_expression());
    } else if (!macro.defaults.empty()) {
      fail("non-default argument follows default argument", at);
    }
    macro.params.push_back(t.name);
  }
  expect_op(")");
}

StmtPtr Parser::parse_macro() {
  auto s = std::make_unique<Stmt>();
  s->kind = StmtKind::macro;
  advance();
  s->macro = std::make_shared<MacroDef>();
  s->macro->name = parse_assign_target(false, true, {}, false).name;
  parse_signature(*s->macro);
  int saved = loop_depth_;
  loop_depth_ = 0;
  s->macro->body = parse_statements({"endmacro"}, true);
  loop_depth_ = saved;
  scan_body(s->macro->body, *s->macro);
  return s;
}

StmtPtr Parser::parse_call_block() {
  auto s = std::make_unique<Stmt>();
  s->kind = StmtKind::call_block;
  advance();
  s->macro = std::make_shared<MacroDef>();
  s->macro->name = "caller";
  if (is_op("(")) parse_signature(*s->macro);
  const Token at = cur();
  s->iter = parse_expression();
  if (s->iter->kind != ExprKind::call) fail("expected call", at);
  int saved = loop_depth_;
  loop_depth_ = 0;
  s->macro->body = parse_statements({"endcall"}, true);
  loop_depth_ = saved;
  scan_body(s->macro->body, *s->macro);
  return s;
}

StmtPtr Parser::parse_filter_block() {
  auto s = std::make_unique<Stmt>();
  s->kind = StmtKind::filter_block;
  advance();
  s->filter = parse_filter(nullptr, true);
  s->body = parse_statements({"endfilter"}, true);
  return s;
}

StmtPtr Parser::parse_with() {
  auto s = std::make_unique<Stmt>();
  s->kind = StmtKind::with;
  advance();
  while (cur().type != Tok::block_end) {
    if (!s->targets.empty()) expect_op(",");
    s->targets.push_back(parse_assign_target(true, false, {}, false));
    expect_op("=");
    s->exprs.push_back(parse_expression());
  }
  s->body = parse_statements({"endwith"}, true);
  return s;
}

StmtPtr Parser::parse_print() {
  auto s = std::make_unique<Stmt>();
  s->kind = StmtKind::output;
  advance();
  while (cur().type != Tok::block_end) {
    if (!s->exprs.empty()) expect_op(",");
    s->exprs.push_back(parse_expression());
  }
  return s;
}

StmtPtr Parser::parse_loop_control(StmtKind kind) {
  const Token at = advance();
  if (loop_depth_ == 0) fail("'" + at.value + "' outside loop", at);
  auto s = std::make_unique<Stmt>();
  s->kind = kind;
  return s;
}

StmtPtr Parser::parse_generation() {
  auto s = std::make_unique<Stmt>();
  s->kind = StmtKind::generation;
  advance();
  s->body = parse_statements({"endgeneration"}, true);
  return s;
}

Target Parser::parse_assign_target(bool with_tuple, bool name_only, const std::vector<std::string_view>& extra_end,
                                   bool with_namespace) {
  Target t;
  if (with_namespace && look().type == Tok::op && look().value == ".") {
    t.name = expect_name();
    advance();
    t.attr = expect_name();
    return t;
  }
  if (name_only) {
    t.name = expect_name();
    return t;
  }
  const Token at = cur();
  ExprPtr e = with_tuple ? parse_tuple(true, true, extra_end) : parse_primary();
  auto to_target = [&](const Expr& x, auto&& self) -> Target {
    Target r;
    if (x.kind == ExprKind::name) {
      r.name = x.name;
    } else if (x.kind == ExprKind::tuple) {
      r.is_tuple = true;
      for (const auto& i : x.items) r.items.push_back(self(*i, self));
    } else {
      fail("can't assign to '" + std::string(x.kind == ExprKind::constant ? "Const" : "expression") + "'", at);
    }
    return r;
  };
  return to_target(*e, to_target);
}

}  // namespace nibble::tmpl
