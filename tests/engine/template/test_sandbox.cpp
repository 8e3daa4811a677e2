// The sandbox: templates that loop forever, print without end, recurse, nest deeply or fail to
// parse end in a clear error naming line and column, never a crash or a hang.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "nibble/chat_template.h"

namespace nibble {
namespace {

Result<std::string> render(const std::string& source, const TemplateLimits& limits = {},
                           ChatRenderInput in = {}) {
  auto t = ChatTemplate::parse(source);
  if (!t) return t.error();
  return (*t)->render(in, limits);
}

void expect_error(const Result<std::string>& r, ErrorKind kind, const std::string& part) {
  ASSERT_FALSE(r.ok()) << "rendered: " << r.value();
  EXPECT_EQ(r.error().kind, kind) << r.error().to_string();
  EXPECT_NE(r.error().message.find(part), std::string::npos) << r.error().to_string();
}

TEST(Sandbox, SyntaxErrorNamesLineAndColumn) {
  expect_error(render("Hello\n{{ name | }}"), ErrorKind::format,
               "line 2, column 11: syntax error: expected token 'name', got 'end of print statement'");
  expect_error(render("{% for m in messages %}\n  {{ m.content + }}\n{% endfor %}"), ErrorKind::format,
               "line 2, column 18: syntax error: unexpected 'end of print statement'");
  expect_error(render("ok\n{% if x %}\n  text\n"), ErrorKind::format,
               "line 3, column 7: syntax error: Unexpected end of template.");
  expect_error(render("a\n  {{ 'unterminated }}"), ErrorKind::format, "line 2, column 6: syntax error: unexpected char");
  expect_error(render("{{ 1 }}\n{{ 2 ~ x|no_such_filter }}"), ErrorKind::format,
               "line 2, column 10: syntax error: No filter named 'no_such_filter'.");
}

TEST(Sandbox, RuntimeErrorNamesLineAndColumn) {
  expect_error(render("line one\n  {{ 1 / 0 }}"), ErrorKind::format, "line 2, column 8: division by zero");
  expect_error(render("{% set d = {} %}\n{{ d.a.b }}"), ErrorKind::format,
               "line 2, column 8: 'dict object' has no attribute 'a'");
  expect_error(render("{{ 'x' }}\n\n   {{ raise_exception('bad ' ~ 'roles') }}"), ErrorKind::invalid_argument,
               "line 3, column 7: the template raised: bad roles");
}

TEST(Sandbox, CheckerNoticesAWrongPosition) {
  auto r = render("Hello\n{{ name | }}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.find("line 1, column 11"), std::string::npos);
}

TEST(Sandbox, EndlessLoopHitsTheIterationLimit) {
  TemplateLimits limits;
  limits.max_loop_iterations = 100000;
  limits.max_time = std::chrono::minutes(5);  // the iteration limit must fire first, even under sanitizers
  expect_error(render("{% for i in range(100000) %}\n{% for j in range(100000) %}{% endfor %}{% endfor %}", limits),
               ErrorKind::invalid_argument, "line 2, column 1: limit exceeded: more than 100000 loop iterations");
}

TEST(Sandbox, SlowTemplateHitsTheTimeLimit) {
  TemplateLimits limits;
  limits.max_loop_iterations = std::size_t{1} << 40;
  limits.max_time = std::chrono::milliseconds(100);
  auto start = std::chrono::steady_clock::now();
  expect_error(render("{% for i in range(100000) %}{% for j in range(100000) %}{{ '' }}{% endfor %}{% endfor %}", limits),
               ErrorKind::invalid_argument, "limit exceeded: rendering took longer than 100 ms");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(Sandbox, HugeOutputHitsTheOutputLimit) {
  TemplateLimits limits;
  limits.max_output_bytes = 1 << 16;
  expect_error(render("{% for i in range(100000) %}{{ 'some text ' }}{% endfor %}", limits), ErrorKind::invalid_argument,
               "limit exceeded: the output exceeds 65536 bytes");
  expect_error(render("{{ 'x' * 100000000 }}", limits), ErrorKind::invalid_argument, "limit exceeded");
  expect_error(render("{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", limits),
               ErrorKind::invalid_argument, "limit exceeded");
  expect_error(render("{{ ([1] * 1000) * 100000 }}", limits), ErrorKind::invalid_argument, "limit exceeded");
  expect_error(render("{% macro m() %}{% for i in range(100000) %}yyyyyyyy{% endfor %}{% endmacro %}{{ m() }}", limits),
               ErrorKind::invalid_argument, "limit exceeded");
}

TEST(Sandbox, DeepRecursionHitsTheRecursionLimit) {
  expect_error(render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}\n{{ f(0) }}"), ErrorKind::invalid_argument,
               "limit exceeded: macro calls nest deeper than 64");
  expect_error(render("{% for x in [1] recursive %}{{ loop([x]) }}{% endfor %}"), ErrorKind::invalid_argument,
               "limit exceeded");
  TemplateLimits limits;
  limits.max_recursion_depth = 5;
  expect_error(render("{% macro f(n) %}{{ n }}{{ f(n + 1) if n < 10 }}{% endmacro %}{{ f(0) }}", limits),
               ErrorKind::invalid_argument, "nest deeper than 5");
  EXPECT_EQ(render("{% macro f(n) %}{{ n }}{{ f(n + 1) if n < 3 }}{% endmacro %}{{ f(0) }}", limits).value(), "0123");
}

TEST(Sandbox, DeepNestingIsRefusedNotCrashing) {
  std::string parens = std::string(5000, '(') + "1" + std::string(5000, ')');
  expect_error(render("{{ " + parens + " }}"), ErrorKind::format, "nested too deeply");
  std::string lists = std::string(5000, '[') + std::string(5000, ']');
  expect_error(render("{{ " + lists + " }}"), ErrorKind::format, "nested too deeply");
  std::string chain = "{{ 1";
  for (int i = 0; i < 20000; ++i) chain += " + 1";
  expect_error(render(chain + " }}"), ErrorKind::format, "nested too deeply");
  std::string filters = "{{ 'x'";
  for (int i = 0; i < 20000; ++i) filters += "|upper";
  expect_error(render(filters + " }}"), ErrorKind::format, "nested too deeply");
  std::string ifs;
  for (int i = 0; i < 5000; ++i) ifs += "{% if true %}";
  expect_error(render(ifs), ErrorKind::format, "nested too deeply");
  expect_error(render("{{ " + std::string(100000, '-') + "1 }}"), ErrorKind::format, "nested too deeply");
  expect_error(render("{{ " + std::string(50000, 'n') + std::string(50000, ' ') + "}}" + std::string(50000, '{')),
               ErrorKind::format, "syntax error");
}

TEST(Sandbox, DeeplyNestedValuesAreRefusedNotCrashing) {
  TemplateLimits limits;
  limits.max_time = std::chrono::minutes(5);  // the nesting limit must fire first, even under sanitizers
  expect_error(render("{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}", limits),
               ErrorKind::invalid_argument, "nested too deeply");
  auto chain = render("{% set ns = namespace(x=none) %}{% for i in range(100000) %}{% set ns = namespace(x=ns) %}"
                      "{% endfor %}{{ 'survived' }}",
                      limits);
  ASSERT_TRUE(chain.ok()) << chain.error().to_string();
  EXPECT_EQ(*chain, "survived");
  expect_error(render("{% set ns = namespace() %}{% set ns.self = ns %}{{ ns }}", limits), ErrorKind::invalid_argument,
               "nested too deeply");
  ChatRenderInput deep;
  nlohmann::ordered_json j = nlohmann::ordered_json::array();
  for (int i = 0; i < 1000; ++i) j = nlohmann::ordered_json::array({j});
  deep.messages = j;
  expect_error(render("{{ messages }}", limits, deep), ErrorKind::invalid_argument, "nested too deeply");
}

TEST(Sandbox, InputVariablesFollowHf) {
  ChatRenderInput in;
  in.messages = nlohmann::json::array({{{"role", "user"}, {"content", "hi"}}});
  in.extra = {{"enable_thinking", false}, {"custom", {1, 2}}};
  EXPECT_EQ(render("{{ bos_token is defined }} {{ eos_token is defined }} {{ tools is none }} {{ documents is none }} "
                   "{{ enable_thinking }} {{ custom }} {{ add_generation_prompt }}", {}, in).value(),
            "False False True True False [1, 2] False");
  in.bos_token = "<s>";
  EXPECT_EQ(render("{{ bos_token }}", {}, in).value(), "<s>");
  in.extra = {{"messages", 1}};
  expect_error(render("x", {}, in), ErrorKind::invalid_argument, "'messages' given twice");
}

TEST(Sandbox, InvalidUtf8SourceIsAFormatError) {
  auto t = ChatTemplate::parse("ok \xff\xfe {{ 1 }}");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().kind, ErrorKind::format);
}

TEST(Sandbox, ChatmlFallback) {
  nlohmann::json messages = {{{"role", "system"}, {"content", "S"}}, {{"content", "no role"}}, 5,
                             {{"role", "assistant"}, {"content", nullptr}}};
  EXPECT_EQ(render_chatml(messages, true),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nno role<|im_end|>\n<|im_start|>assistant\n<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(render_chatml(nlohmann::json("not a list"), false), "");
}

}  // namespace
}  // namespace nibble
