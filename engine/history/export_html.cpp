// HTML export: one self-contained page (inline CSS, no scripts, no external resources, and a
// Content-Security-Policy that forbids loading any). Every piece of text is escaped; message text
// is shown as written (pre-wrap), reasoning and other versions of a message in <details>.
#include <ostream>

#include "history/clock.h"
#include "history/export.h"

namespace nibble::history {
namespace {

constexpr const char* kStyle = R"css(
:root { color-scheme: light dark; --fg: #1d1f23; --bg: #fbfbfa; --muted: #6b6f76; --line: #e3e3e0;
        --user: #eef3ff; --assistant: #ffffff; --system: #f6f1e7; --accent: #3b5bdb; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6e6e3; --bg: #17181a; --muted: #9a9ea6; --line: #2c2e33; --user: #1f2633;
          --assistant: #1d1e21; --system: #2a261e; --accent: #8ea6ff; } }
body { margin: 0; background: var(--bg); color: var(--fg);
       font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
article { max-width: 52rem; margin: 2rem auto; padding: 0 1rem; }
article + article { border-top: 1px solid var(--line); padding-top: 2rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
.meta, .who .when, .note, summary { color: var(--muted); font-size: .85rem; }
.message { border: 1px solid var(--line); border-radius: 10px; padding: .75rem 1rem; margin: .75rem 0; }
.message.user { background: var(--user); }
.message.assistant, .message.tool { background: var(--assistant); }
.message.system, .system-prompt { background: var(--system); }
.system-prompt { border-radius: 10px; padding: .75rem 1rem; }
.who { font-weight: 600; margin-bottom: .35rem; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; }
details { margin: .4rem 0; }
details .text { border-left: 3px solid var(--line); padding-left: .75rem; margin: .4rem 0; }
.note { font-style: italic; margin: .4rem 0 0; }
)css";

void escape(std::ostream& out, std::string_view text) {
  for (char ch : text) {
    switch (ch) {
      case '&': out << "&amp;"; break;
      case '<': out << "&lt;"; break;
      case '>': out << "&gt;"; break;
      case '"': out << "&quot;"; break;
      case '\'': out << "&#39;"; break;
      default: out << ch;
    }
  }
}

class HtmlWriter final : public ExportWriter {
 public:
  void begin(std::ostream& out) override {
    out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           "<meta name=\"generator\" content=\"Nibble\">\n<title>Nibble conversations</title>\n<style>"
        << kStyle << "</style>\n</head>\n<body>\n";
  }

  void add(const ConversationTree& tree, std::ostream& out) override {
    const Conversation& c = tree.conversation;
    out << "<article>\n<header>\n<h1>";
    escape(out, c.title.empty() ? std::string_view("Untitled conversation") : std::string_view(c.title));
    out << "</h1>\n<p class=\"meta\">Created " << format_utc_minutes(c.created_at) << " · updated "
        << format_utc_minutes(c.updated_at);
    if (!c.model_ref.empty()) {
      out << " · model ";
      escape(out, c.model_ref);
    }
    if (!c.folder.empty()) {
      out << " · folder ";
      escape(out, c.folder);
    }
    if (c.pinned) out << " · pinned";
    if (c.trashed_at) out << " · in the trash";
    out << "</p>\n</header>\n";
    if (!c.system_prompt.empty()) {
      out << "<section class=\"system-prompt\"><div class=\"who\">System prompt</div><div class=\"text\">";
      escape(out, c.system_prompt);
      out << "</div></section>\n";
    }
    for (const Message* m : selected_path(tree)) write_message(tree, *m, out);
    out << "</article>\n";
  }

  void end(std::ostream& out) override { out << "</body>\n</html>\n"; }

 private:
  static void write_message(const ConversationTree& tree, const Message& m, std::ostream& out) {
    out << "<section class=\"message " << role_name(m.role) << "\">\n<div class=\"who\">" << role_label(m.role);
    std::string byline = message_byline(m);
    if (!byline.empty()) {
      out << " · ";
      escape(out, byline);
    }
    out << " <span class=\"when\">" << format_utc_minutes(m.created_at) << "</span></div>\n";
    if (!m.reasoning.empty()) {
      out << "<details><summary>Reasoning</summary><div class=\"text\">";
      escape(out, m.reasoning);
      out << "</div></details>\n";
    }
    out << "<div class=\"text\">";
    escape(out, m.content);
    out << "</div>\n";
    std::string note = status_note(m);
    if (!note.empty()) {
      out << "<p class=\"note\">";
      escape(out, note);
      out << "</p>\n";
    }
    auto versions = siblings(tree, m.id);
    if (versions.size() > 1) {
      out << "<details><summary>" << versions.size() - 1 << " other version"
          << (versions.size() > 2 ? "s" : "") << " of this message</summary>\n";
      for (const Message* v : versions) {
        if (v->id == m.id) continue;
        out << "<div class=\"text\">";
        escape(out, v->content);
        out << "</div>\n";
      }
      out << "</details>\n";
    }
    out << "</section>\n";
  }
};

}  // namespace

std::unique_ptr<ExportWriter> make_html_writer() { return std::make_unique<HtmlWriter>(); }

}  // namespace nibble::history
