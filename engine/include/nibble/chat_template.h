// Public chat-template API: a sandboxed Jinja interpreter for the subset real chat templates use,
// rendering the way HF transformers' apply_chat_template does (trim_blocks, lstrip_blocks,
// raise_exception, strftime_now, HF's tojson). Implemented in engine/template.
#pragma once

#include <chrono>
#include <cstddef>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "nibble/error.h"

namespace nibble {

struct TemplateLimits {
  std::size_t max_output_bytes = 4u << 20;   // rendered text (and any single string built on the way)
  std::size_t max_loop_iterations = 1u << 20; // all loops together
  int max_recursion_depth = 64;               // macro calls / nested evaluation
  std::chrono::milliseconds max_time{2000};
};

// JSON values keep their key order (ordered_json): templates iterate dicts and print tools with
// tojson in insertion order, as Python dicts do. Plain nlohmann::json converts implicitly.
struct ChatRenderInput {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();  // [{role, content, ...}]
  nlohmann::ordered_json tools;                                       // null when none (rendered as None)
  nlohmann::ordered_json documents;                                   // null when none (rendered as None)
  bool add_generation_prompt = false;
  std::string bos_token;  // "" = the tokenizer has none: the variable is left undefined, as HF does
  std::string eos_token;
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();    // further variables (enable_thinking, ...)
  std::optional<std::tm> now;  // what strftime_now() formats (local time); the current time when empty
};

class ChatTemplate {
 public:
  virtual ~ChatTemplate() = default;

  // Syntax errors -> format error with line and column.
  static Result<std::shared_ptr<const ChatTemplate>> parse(std::string_view source);

  // Renders; runtime errors (raise_exception, type errors, limits) name line and column.
  // raise_exception and sandbox limits -> invalid_argument; other failures -> format. Thread-safe
  // (one parsed template may render on several threads). Never throws.
  virtual Result<std::string> render(const ChatRenderInput& input, const TemplateLimits& limits = {}) const = 0;
};

// The plain ChatML prompt the app falls back to when a model's template fails.
std::string render_chatml(const nlohmann::json& messages, bool add_generation_prompt);

// The chat templates of a model folder and the special-token text they use.
struct ModelChatTemplates {
  std::map<std::string, std::string> templates;  // name -> source ("default" for a single one)
  std::string bos_token;                         // "" when absent
  std::string eos_token;
};

// Reads tokenizer_config.json (chat_template as a string or a list of {name, template};
// bos_token/eos_token as strings or {content: ...}), chat_template.json ({"chat_template": ...}),
// chat_template.jinja (overrides "default") and additional_chat_templates/<name>.jinja.
// A folder without any template gives an empty map; unreadable or malformed files are errors.
Result<ModelChatTemplates> load_chat_templates(const std::string& model_dir);

// HF's choice: "tool_use" when tools are given and it exists, else "default"; nullptr when
// neither exists (HF refuses a set of named templates without a default).
const std::string* select_chat_template(const std::map<std::string, std::string>& templates, bool has_tools);

}  // namespace nibble
