// ChatTemplate::parse entry point and the plain ChatML fallback prompt.
#include "nibble/chat_template.h"

namespace nibble {

Result<std::shared_ptr<const ChatTemplate>> ChatTemplate::parse(std::string_view) {
  return make_error(ErrorKind::unsupported, "chat templates are not available in this build yet");
}

std::string render_chatml(const nlohmann::json& messages, bool add_generation_prompt) {
  std::string out;
  for (const auto& m : messages) {
    out += "<|im_start|>";
    out += m.value("role", std::string("user"));
    out += '\n';
    if (m.contains("content") && m["content"].is_string()) out += m["content"].get<std::string>();
    out += "<|im_end|>\n";
  }
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

}  // namespace nibble
