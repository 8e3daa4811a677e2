// libFuzzer target for the chat-template interpreter: parses arbitrary bytes as a template and
// renders it with small limits. Bytes after the first NUL, when they are JSON, become the
// messages (a list) or extra variables (an object). Findings are crashes, leaks, UB or hangs.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "nibble/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::string_view source = bytes.substr(0, bytes.find('\0'));
  auto tmpl = nibble::ChatTemplate::parse(source);
  if (!tmpl) return 0;

  nibble::ChatRenderInput input;
  input.messages = nlohmann::ordered_json::array(
      {{{"role", "system"}, {"content", "You are terse."}},
       {{"role", "user"}, {"content", "Define 'nibble'."}},
       {{"role", "assistant"}, {"content", "<think>short</think>A small bite."},
        {"tool_calls", {{{"function", {{"name", "f"}, {"arguments", {{"x", 1.5}}}}}}}}},
       {{"role", "tool"}, {"content", "ok"}},
       {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "more"}}}}}});
  input.tools = nlohmann::ordered_json::array({{{"type", "function"}, {"function", {{"name", "f"}}}}});
  input.add_generation_prompt = true;
  input.bos_token = "<s>";
  input.eos_token = "</s>";
  if (source.size() < bytes.size()) {
    auto extra = nlohmann::ordered_json::parse(bytes.substr(source.size() + 1), nullptr, false);
    if (extra.is_array()) input.messages = extra;
    if (extra.is_object()) input.extra = extra;
  }
  nibble::TemplateLimits limits;
  limits.max_output_bytes = 1 << 16;
  limits.max_loop_iterations = 20000;
  limits.max_recursion_depth = 16;
  limits.max_time = std::chrono::milliseconds(250);
  (void)(*tmpl)->render(input, limits);
  return 0;
}
