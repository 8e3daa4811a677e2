// Chat templates rendered byte-identically to Jinja2 configured as HF transformers configures it:
// the real Qwen3, Llama-3 and Gemma-3 templates, dictlm-16m's, a suite of hand-written templates
// covering every supported feature, and templates that fail (same fault, message and line).
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "golden_cases.h"
#include "nibble/chat_template.h"

namespace nibble {
namespace {

using test::golden_input;
using test::golden_path;
using test::load_json;

std::string fault_of(const Error& e) {
  if (e.message.find("syntax error: ") != std::string::npos) return "syntax";
  if (e.message.find("the template raised: ") != std::string::npos) return "raised";
  if (e.message.find("limit exceeded: ") != std::string::npos) return "limit";
  return "runtime";
}

// Renders one golden case; returns "" when it matches, else what differs.
std::string check_case(const nlohmann::ordered_json& file, const nlohmann::ordered_json& c) {
  std::string source = c.contains("template") ? c["template"].get<std::string>() : file["template"].get<std::string>();
  auto parsed = ChatTemplate::parse(source);
  Result<std::string> out = parsed ? (*parsed)->render(golden_input(c)) : Result<std::string>(parsed.error());
  if (c.contains("expected")) {
    if (!out) return "failed: " + out.error().to_string();
    if (*out != c["expected"].get<std::string>())
      return "rendered:\n" + nlohmann::json(*out).dump() + "\nexpected:\n" + nlohmann::json(c["expected"]).dump();
    return "";
  }
  const auto& err = c["error"];
  if (out) return "rendered " + nlohmann::json(*out).dump() + " but Jinja2 failed: " + err.dump();
  const Error& e = out.error();
  std::string want_fault = err["fault"].get<std::string>();
  if (fault_of(e) != want_fault) return "fault " + fault_of(e) + " instead of " + want_fault + ": " + e.to_string();
  if (want_fault == "syntax" && parsed) return "a syntax error surfaced while rendering: " + e.to_string();
  if (want_fault == "raised" && e.kind != ErrorKind::invalid_argument) return "raise_exception kind: " + e.to_string();
  if (want_fault != "raised" && e.kind != ErrorKind::format) return "kind is not format: " + e.to_string();
  if (err.contains("line") && !err["line"].is_null() &&
      e.message.find("line " + std::to_string(err["line"].get<int>()) + ",") == std::string::npos)
    return "not at line " + std::to_string(err["line"].get<int>()) + ": " + e.to_string();
  if (c.contains("column") && e.message.find("column " + std::to_string(c["column"].get<int>()) + ":") == std::string::npos)
    return "not at column " + std::to_string(c["column"].get<int>()) + ": " + e.to_string();
  std::string message = err["message"].get<std::string>();
  if (c.value("match_message", true) && e.message.find(message) == std::string::npos)
    return "message differs: " + e.to_string() + "\nJinja2: " + message;
  return "";
}

class Goldens : public testing::TestWithParam<const char*> {};

TEST_P(Goldens, RenderLikeJinja2) {
  auto file = load_json(golden_path(GetParam()));
  ASSERT_TRUE(file.is_object()) << golden_path(GetParam());
  ASSERT_FALSE(file["cases"].empty());
  int failures = 0;
  for (const auto& c : file["cases"]) {
    std::string diff = check_case(file, c);
    if (diff.empty()) continue;
    ++failures;
    ADD_FAILURE() << GetParam() << "/" << c["name"].get<std::string>() << ": " << diff;
  }
  EXPECT_EQ(failures, 0) << "of " << file["cases"].size() << " cases";
}

INSTANTIATE_TEST_SUITE_P(Families, Goldens,
                         testing::Values("dictlm", "qwen3", "llama3", "gemma3", "features", "errors"),
                         [](const auto& info) { return std::string(info.param); });

// The checker itself must notice a wrong rendering.
TEST(Goldens, CheckerRejectsAWrongRendering) {
  auto file = load_json(golden_path("qwen3"));
  nlohmann::ordered_json c = file["cases"][0];
  c["expected"] = c["expected"].get<std::string>() + " ";
  EXPECT_NE(check_case(file, c), "");
  c["expected"] = nlohmann::ordered_json();
  c.erase("expected");
  c["error"] = {{"fault", "syntax"}, {"message", "x"}, {"line", 1}};
  EXPECT_NE(check_case(file, c), "");
}

// One parsed template serves renders on several threads at once (the app renders while the
// user types and the generator prepares the next turn).
TEST(Goldens, ConcurrentRendersOfOneTemplate) {
  auto file = load_json(golden_path("qwen3"));
  auto tmpl = ChatTemplate::parse(file["template"].get<std::string>());
  ASSERT_TRUE(tmpl) << tmpl.error().to_string();
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 10; ++round)
        for (const auto& c : file["cases"]) {
          auto out = (*tmpl)->render(golden_input(c));
          if (!out || *out != c["expected"].get<std::string>()) ++mismatches[static_cast<std::size_t>(t)];
        }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

// HF transformers' own renderings of dictlm-16m's template (tests/data/refs), through the
// template file the model ships.
TEST(Goldens, DictlmMatchesHfReference) {
  auto refs = load_json(std::string(NIBBLE_TEST_DATA_DIR) + "/refs/dictlm-16m/chat_template.json");
  ASSERT_TRUE(refs.is_array());
  auto model = load_chat_templates(std::string(NIBBLE_RESOURCES_DIR) + "/models/dictlm-16m");
  ASSERT_TRUE(model) << model.error().to_string();
  const std::string* source = select_chat_template(model->templates, false);
  ASSERT_NE(source, nullptr);
  auto tmpl = ChatTemplate::parse(*source);
  ASSERT_TRUE(tmpl) << tmpl.error().to_string();
  for (const auto& ref : refs) {
    ChatRenderInput in;
    in.messages = ref["messages"];
    in.add_generation_prompt = ref["add_generation_prompt"].get<bool>();
    in.bos_token = model->bos_token;
    in.eos_token = model->eos_token;
    auto out = (*tmpl)->render(in);
    ASSERT_TRUE(out) << out.error().to_string();
    EXPECT_EQ(*out, ref["text"].get<std::string>());
  }
}

}  // namespace
}  // namespace nibble
