// Export writers: one per format, fed one conversation at a time so that exporting a whole
// history never holds it all in memory. Used by write_export() and HistoryStore::export_to();
// each format lives in its own file (export_markdown.cpp, export_json.cpp, export_html.cpp).
#pragma once

#include <iosfwd>
#include <memory>
#include <string>

#include "nibble/history.h"

namespace nibble::history {

class ExportWriter {
 public:
  virtual ~ExportWriter() = default;
  virtual void begin(std::ostream& out) = 0;
  virtual void add(const ConversationTree& tree, std::ostream& out) = 0;
  virtual void end(std::ostream& out) = 0;
};

std::unique_ptr<ExportWriter> make_markdown_writer();
std::unique_ptr<ExportWriter> make_json_writer();
std::unique_ptr<ExportWriter> make_html_writer();
std::unique_ptr<ExportWriter> make_export_writer(ExportFormat format);

// Shared wording of the readable formats.
std::string role_label(Role role);                 // "User", "Assistant", ...
std::string message_byline(const Message& m);      // "model · quantization · 12.3 tok/s", or ""
std::string status_note(const Message& m);         // "" for complete messages

// Our JSON export format: its name and version, checked by the importer.
inline constexpr const char* kJsonFormatName = "nibble.history";
inline constexpr int kJsonFormatVersion = 1;

}  // namespace nibble::history
