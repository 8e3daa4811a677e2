// The interpreter's internal error: thrown inside the lexer, parser and evaluator, caught at the
// ChatTemplate API edge and turned into a nibble::Error with line and column. Never escapes render().
#pragma once

#include <exception>
#include <string>
#include <utility>

namespace nibble::tmpl {

enum class Fault {
  syntax,   // the template does not parse
  runtime,  // a type error, undefined value, bad argument, ... while rendering
  raised,   // the template called raise_exception()
  limit,    // a sandbox limit was hit (output size, iterations, recursion, time)
};

struct TemplateError : std::exception {
  TemplateError(Fault f, std::string msg, int l = 0, int c = 0)
      : fault(f), message(std::move(msg)), line(l), column(c) {}
  const char* what() const noexcept override { return message.c_str(); }

  Fault fault;
  std::string message;
  int line;    // 1-based; 0 until the evaluator attaches the position of the failing node
  int column;  // 1-based, in code points
};

[[noreturn]] inline void fail(std::string msg) { throw TemplateError(Fault::runtime, std::move(msg)); }
[[noreturn]] inline void fail_limit(std::string msg) { throw TemplateError(Fault::limit, std::move(msg)); }

// Containers nested deeper than this are refused: printing, comparing and freeing them recurse.
inline constexpr int max_value_depth = 256;

}  // namespace nibble::tmpl
