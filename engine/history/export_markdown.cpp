// Markdown export: each conversation's selected branch, readable as-is (message text is already
// Markdown), with reasoning folded into <details>, and a note where a message has other versions
// (those are kept by the JSON export). Conversations are separated by horizontal rules.
#include <ostream>

#include "history/clock.h"
#include "history/export.h"

namespace nibble::history {
namespace {

std::string one_line(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) out += (ch == '\n' || ch == '\r') ? ' ' : ch;
  return out;
}

void write_quoted(std::ostream& out, const std::string& text) {
  out << "> ";
  for (char ch : text) {
    out << ch;
    if (ch == '\n') out << "> ";
  }
  out << "\n";
}

class MarkdownWriter final : public ExportWriter {
 public:
  void begin(std::ostream&) override {}

  void add(const ConversationTree& tree, std::ostream& out) override {
    const Conversation& c = tree.conversation;
    if (count_++ > 0) out << "\n---\n\n";
    out << "# " << (c.title.empty() ? std::string("Untitled conversation") : one_line(c.title)) << "\n\n";
    out << "*Created " << format_utc_minutes(c.created_at) << " · updated " << format_utc_minutes(c.updated_at);
    if (!c.model_ref.empty()) out << " · model " << one_line(c.model_ref);
    if (!c.folder.empty()) out << " · folder " << one_line(c.folder);
    if (c.pinned) out << " · pinned";
    if (c.trashed_at) out << " · in the trash";
    out << "*\n\n";
    if (!c.system_prompt.empty()) {
      out << "**System prompt**\n\n";
      write_quoted(out, c.system_prompt);
      out << "\n";
    }
    for (const Message* m : selected_path(tree)) write_message(tree, *m, out);
  }

  void end(std::ostream&) override {}

 private:
  void write_message(const ConversationTree& tree, const Message& m, std::ostream& out) {
    out << "## " << role_label(m.role);
    std::string byline = message_byline(m);
    if (!byline.empty()) out << " · " << byline;
    out << " · " << format_utc_minutes(m.created_at) << "\n\n";
    if (!m.reasoning.empty()) {
      out << "<details><summary>Reasoning</summary>\n\n" << m.reasoning << "\n\n</details>\n\n";
    }
    out << m.content << "\n\n";
    std::string note = status_note(m);
    if (!note.empty()) out << "*" << note << "*\n\n";
    auto versions = siblings(tree, m.id);
    if (versions.size() > 1) {
      std::size_t index = 0;
      for (std::size_t i = 0; i < versions.size(); ++i)
        if (versions[i]->id == m.id) index = i + 1;
      out << "*Version " << index << " of " << versions.size()
          << " of this message; the others are kept in the JSON export.*\n\n";
    }
  }

  int count_ = 0;
};

}  // namespace

std::unique_ptr<ExportWriter> make_markdown_writer() { return std::make_unique<MarkdownWriter>(); }

}  // namespace nibble::history
