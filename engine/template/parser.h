// Parser: tokens -> syntax tree, following Jinja2's grammar and precedence (tests bind tighter than
// arithmetic, ** is left-associative, `x if c` needs no else) and its syntax-error messages. Owns
// no evaluation. Statements are in parser.cpp, expressions in parser_expr.cpp; ChatTemplate::parse
// calls parse_template().
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "template/ast.h"
#include "template/lexer.h"

namespace nibble::tmpl {

// Throws TemplateError(syntax) naming line and column.
Template parse_template(std::string_view source);

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}
  Body parse_all();

  // Expressions (parser_expr.cpp).
  ExprPtr parse_expression(bool with_condexpr = true);
  ExprPtr parse_tuple(bool simplified = false, bool with_condexpr = true,
                      const std::vector<std::string_view>& extra_end = {}, bool explicit_parens = false);
  ExprPtr parse_primary();
  ExprPtr parse_postfix(ExprPtr node);
  ExprPtr parse_filter(ExprPtr node, bool start_inline);

 private:
  // Token stream.
  const Token& cur() const { return tokens_[pos_]; }
  const Token& look() const { return tokens_[pos_ + 1 < tokens_.size() ? pos_ + 1 : pos_]; }
  const Token& advance() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }
  bool is_op(std::string_view op) const { return cur().type == Tok::op && cur().value == op; }
  bool is_name(std::string_view n) const { return cur().type == Tok::name && cur().value == n; }
  bool skip_op(std::string_view op);
  bool skip_name(std::string_view n);
  void expect_op(std::string_view op);
  void expect(Tok type, std::string_view what);
  std::string expect_name();
  [[noreturn]] void fail(const std::string& msg, const Token& at) const;
  [[noreturn]] void fail_unknown_tag(const std::string* name, const Token& at) const;
  bool matches_any(const std::vector<std::string_view>& names) const;

  // Statements (parser.cpp).
  Body subparse(const std::vector<std::string_view>* end_tags);
  Body parse_statements(const std::vector<std::string_view>& end_tags, bool drop_needle);
  StmtPtr parse_statement();
  StmtPtr parse_if();
  StmtPtr parse_for();
  StmtPtr parse_set();
  StmtPtr parse_macro();
  StmtPtr parse_call_block();
  StmtPtr parse_filter_block();
  StmtPtr parse_with();
  StmtPtr parse_print();
  StmtPtr parse_loop_control(StmtKind kind);
  StmtPtr parse_generation();
  void parse_signature(MacroDef& macro);
  Target parse_assign_target(bool with_tuple, bool name_only, const std::vector<std::string_view>& extra_end,
                             bool with_namespace);

  // Expression levels (parser_expr.cpp).
  ExprPtr parse_condexpr();
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter);
  ExprPtr parse_list();
  ExprPtr parse_dict();
  ExprPtr parse_subscript(ExprPtr node);
  ExprPtr parse_subscribed();
  ExprPtr parse_call(ExprPtr node);
  void parse_call_args(Expr& call);
  ExprPtr parse_filter_expr(ExprPtr node);
  ExprPtr parse_test(ExprPtr node);
  bool is_tuple_end(const std::vector<std::string_view>& extra_end) const;
  ExprPtr make(ExprKind kind, const Token& at) const;

  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
  std::vector<std::vector<std::string_view>> end_stack_;
  std::vector<std::string> tag_stack_;
  int loop_depth_ = 0;
  int nesting_ = 0;  // bounds recursion on deeply nested input
  friend struct NestingGuard;
};

}  // namespace nibble::tmpl
