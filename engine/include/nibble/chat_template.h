// Public chat-template API: a sandboxed Jinja interpreter for the subset real chat templates use,
// rendering the way HF transformers' apply_chat_template does (trim_blocks, lstrip_blocks,
// raise_exception, strftime_now, HF's tojson). Implemented in engine/template.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "nibble/error.h"

namespace nibble {

struct TemplateLimits {
  std::size_t max_output_bytes = 4u << 20;   // rendered text
  std::size_t max_loop_iterations = 1u << 20; // all loops together
  int max_recursion_depth = 64;               // macro calls / nested evaluation
  std::chrono::milliseconds max_time{2000};
};

struct ChatRenderInput {
  nlohmann::json messages = nlohmann::json::array();  // [{role, content, ...}]
  nlohmann::json tools;                               // null when none
  nlohmann::json documents;                           // null when none
  bool add_generation_prompt = false;
  std::string bos_token;
  std::string eos_token;
  nlohmann::json extra = nlohmann::json::object();    // further variables (enable_thinking, ...)
};

class ChatTemplate {
 public:
  virtual ~ChatTemplate() = default;

  // Syntax errors -> format error with line and column.
  static Result<std::shared_ptr<const ChatTemplate>> parse(std::string_view source);

  // Renders; runtime errors (raise_exception, type errors, limits) name line and column.
  virtual Result<std::string> render(const ChatRenderInput& input, const TemplateLimits& limits = {}) const = 0;
};

// The plain ChatML prompt the app falls back to when a model's template fails.
std::string render_chatml(const nlohmann::json& messages, bool add_generation_prompt);

}  // namespace nibble
