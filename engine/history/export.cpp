// write_export(), the format switch, and the wording shared by Markdown and HTML exports.
#include "history/export.h"

#include <cstdio>
#include <exception>
#include <ostream>

namespace nibble::history {

std::unique_ptr<ExportWriter> make_export_writer(ExportFormat format) {
  switch (format) {
    case ExportFormat::markdown: return make_markdown_writer();
    case ExportFormat::json: return make_json_writer();
    case ExportFormat::html: return make_html_writer();
  }
  return make_json_writer();
}

Status write_export(const std::vector<ConversationTree>& trees, ExportFormat format, std::ostream& out) {
  try {
    auto writer = make_export_writer(format);
    writer->begin(out);
    for (const auto& tree : trees) writer->add(tree, out);
    writer->end(out);
    out.flush();
  } catch (const std::exception& e) {
    return make_error(ErrorKind::internal, "export: ", e.what());
  }
  if (!out) return make_error(ErrorKind::io, "export: writing the output failed");
  return {};
}

std::string role_label(Role role) {
  switch (role) {
    case Role::system: return "System";
    case Role::user: return "User";
    case Role::assistant: return "Assistant";
    case Role::tool: return "Tool";
  }
  return "User";
}

std::string message_byline(const Message& m) {
  std::string out;
  auto add = [&](const std::string& part) {
    if (part.empty()) return;
    if (!out.empty()) out += " · ";
    out += part;
  };
  add(m.model_id);
  add(m.quantization);
  if (m.metrics.completion_tokens) add(std::to_string(*m.metrics.completion_tokens) + " tokens");
  if (m.metrics.decode_tokens_per_s) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f tok/s", *m.metrics.decode_tokens_per_s);
    add(buf);
  }
  return out;
}

std::string status_note(const Message& m) {
  switch (m.status) {
    case MessageStatus::complete: return "";
    case MessageStatus::streaming: return "Still being generated when exported.";
    case MessageStatus::interrupted: return "Interrupted: generation stopped before the reply was finished.";
    case MessageStatus::error: return "Generation failed" + (m.error.empty() ? std::string(".") : ": " + m.error);
  }
  return "";
}

}  // namespace nibble::history
