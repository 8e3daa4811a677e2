// nibble-cli history: list, search, export and import conversations of the history database
// (the same file the app uses; default $XDG_DATA_HOME/nibble/history.db). Read commands never
// create, recover or purge anything; only `import` writes. Talks to engine/history via nibble/history.h.
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>

#include "args.h"
#include "commands.h"
#include "nibble/history.h"

namespace nibble::cli {
namespace {

namespace h = nibble::history;

constexpr const char* kUsage =
    "Usage: nibble-cli history [--db PATH] COMMAND\n"
    "\n"
    "Commands:\n"
    "  list [--trash] [--folder NAME] [--limit N]    conversations, pinned first, most recent first\n"
    "  search QUERY [--limit N] [--relevance] [--trash]\n"
    "                                                full-text search, newest first; \"a phrase\", pre*\n"
    "  export ID... | --all [--trash] --format md|json|html [--out PATH]\n"
    "                                                Markdown, our JSON (every branch), or one HTML page\n"
    "  import FILE [--format auto|nibble|webui]      our JSON export or a text-generation-webui chat file\n"
    "\n"
    "--db defaults to $XDG_DATA_HOME/nibble/history.db (~/.local/share/nibble/history.db).\n";

int usage_error(CommandIo io, const std::string& message) {
  io.err << "nibble-cli history: " << message << "\n\n" << kUsage;
  return 2;
}

int failure(CommandIo io, const Error& e) {
  io.err << "nibble-cli history: " << e.to_string() << '\n';
  return 1;
}

Result<std::unique_ptr<h::HistoryStore>> open_store(const std::string& path, bool for_writing, CommandIo io) {
  h::HistoryOptions options;
  options.create_if_missing = for_writing;
  options.recover_interrupted = false;  // the app may be streaming into this file right now
  options.purge_expired_trash = false;
  auto store = h::HistoryStore::open(path, options);
  if (store.ok() && (*store)->read_only()) io.err << "note: " << (*store)->open_report().read_only_reason << '\n';
  return store;
}

std::string one_line(std::string text) {
  for (char& ch : text)
    if (ch == '\n' || ch == '\r' || ch == '\t') ch = ' ';
  return text;
}

std::string marked(const h::HighlightedText& t) {
  std::string out;
  std::size_t at = 0;
  for (const auto& [begin, end] : t.highlights) {
    out += t.text.substr(at, begin - at) + "[" + t.text.substr(begin, end - begin) + "]";
    at = end;
  }
  return one_line(out + t.text.substr(at));
}

std::string utc(h::TimestampMs ms) {
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

Result<std::size_t> parse_limit(const Args& args, std::size_t fallback) {
  auto text = args.value("limit");
  if (!text) return fallback;
  long long v = 0;
  if (!parse_int(*text, v) || v < 1) return make_error(ErrorKind::invalid_argument, "--limit must be a positive number");
  return static_cast<std::size_t>(v);
}

int run_list(h::HistoryStore& store, const Args& args, CommandIo io) {
  auto limit = parse_limit(args, 50);
  if (!limit.ok()) return usage_error(io, limit.error().message);
  h::ListQuery q;
  q.filter = args.flag("trash") ? h::ListFilter::trashed : h::ListFilter::active;
  q.limit = *limit;
  if (auto folder = args.value("folder")) q.folder = *folder;
  auto page = store.list(q);
  if (!page.ok()) return failure(io, page.error());
  if (page->items.empty()) {
    io.out << (q.filter == h::ListFilter::trashed ? "The trash is empty.\n" : "No conversations.\n");
    return 0;
  }
  char line[96];
  std::snprintf(line, sizeof line, "  %8s  %-16s  %5s  %s\n", "ID", "UPDATED (UTC)", "MSGS", "TITLE");
  io.out << line;
  for (const auto& item : page->items) {
    const auto& c = item.conversation;
    std::snprintf(line, sizeof line, "%c %8lld  %-16s  %5lld  ", c.pinned ? '*' : ' ', static_cast<long long>(c.id),
                  utc(c.updated_at).c_str(), static_cast<long long>(item.message_count));
    io.out << line << (c.title.empty() ? "(untitled)" : one_line(c.title));
    if (!c.folder.empty()) io.out << "  [" << one_line(c.folder) << ']';
    io.out << '\n';
  }
  if (page->next) io.out << "(more conversations: raise --limit to see them)\n";
  return 0;
}

int run_search(h::HistoryStore& store, const Args& args, CommandIo io) {
  const auto& pos = args.positionals();
  if (pos.size() < 2) return usage_error(io, "search needs a QUERY");
  std::string query;
  for (std::size_t i = 1; i < pos.size(); ++i) query += (i > 1 ? " " : "") + pos[i];
  auto limit = parse_limit(args, 20);
  if (!limit.ok()) return usage_error(io, limit.error().message);
  h::SearchOptions options;
  options.limit = *limit;
  options.order = args.flag("relevance") ? h::SearchOrder::relevance : h::SearchOrder::recent;
  options.include_trashed = args.flag("trash");
  auto hits = store.search(query, options);
  if (!hits.ok()) return failure(io, hits.error());
  if (hits->empty()) {
    io.out << "No matches.\n";
    return 0;
  }
  for (const auto& hit : *hits) {
    if (!hit.message_id) {
      io.out << hit.conversation_id << "  title: " << marked(hit.snippet) << '\n';
      continue;
    }
    io.out << hit.conversation_id << ':' << *hit.message_id << "  " << one_line(hit.conversation_title) << "  ("
           << h::role_name(hit.role) << ", " << utc(hit.created_at) << ")\n    " << marked(hit.snippet) << '\n';
  }
  return 0;
}

// Writes through a temporary file renamed over `path` at the end, so a failed export never
// leaves a half-written file where a good one was.
Status export_to_file(h::HistoryStore& store, const std::string& path, h::ExportFormat format,
                      const std::vector<h::ConversationId>& ids, h::ListFilter filter) {
  const std::string tmp = path + ".partial";
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out) return make_error(ErrorKind::io, tmp, ": cannot create the file");
  Status st = store.export_to(out, format, ids, filter);
  out.close();
  std::error_code ec;
  if (st.ok() && !out) st = make_error(ErrorKind::io, tmp, ": writing failed");
  if (st.ok()) {
    std::filesystem::rename(tmp, path, ec);
    if (ec) st = make_error(ErrorKind::io, path, ": cannot move the export into place: ", ec.message());
  }
  if (!st.ok()) std::filesystem::remove(tmp, ec);
  return st;
}

int run_export(h::HistoryStore& store, const Args& args, CommandIo io) {
  auto format_name = args.value("format");
  if (!format_name) return usage_error(io, "export needs --format md|json|html");
  auto format = h::parse_export_format(*format_name);
  if (!format) return usage_error(io, "unknown export format '" + *format_name + "' (md, json or html)");
  const auto& pos = args.positionals();
  std::vector<h::ConversationId> ids;
  for (std::size_t i = 1; i < pos.size(); ++i) {
    long long id = 0;
    if (!parse_int(pos[i], id) || id < 1) return usage_error(io, "'" + pos[i] + "' is not a conversation ID");
    ids.push_back(id);
  }
  const bool all = args.flag("all");
  if (all == !ids.empty()) return usage_error(io, "export takes conversation IDs or --all (one of the two)");
  for (auto id : ids) {
    auto c = store.conversation(id);
    if (!c.ok()) return failure(io, c.error());
  }
  const auto filter = args.flag("trash") ? h::ListFilter::all : h::ListFilter::active;
  if (all) {
    auto every = store.conversation_ids(filter);
    if (!every.ok()) return failure(io, every.error());
    ids = std::move(*every);
    if (ids.empty()) {
      io.err << "nibble-cli history: nothing to export\n";
      return 1;
    }
  }
  auto out_path = args.value("out");
  if (!out_path) {
    Status st = store.export_to(io.out, *format, ids, filter);
    return st.ok() ? 0 : failure(io, st.error());
  }
  Status st = export_to_file(store, *out_path, *format, ids, filter);
  if (!st.ok()) return failure(io, st.error());
  io.err << "exported " << ids.size() << " conversation" << (ids.size() == 1 ? "" : "s") << " to " << *out_path << '\n';
  return 0;
}

int run_import(h::HistoryStore& store, const Args& args, CommandIo io) {
  const auto& pos = args.positionals();
  if (pos.size() != 2) return usage_error(io, "import needs one FILE");
  const std::string& file = pos[1];
  const std::string format_name = args.value_or("format", "auto");
  h::ImportFormat format = h::ImportFormat::detect;
  if (format_name == "nibble") format = h::ImportFormat::nibble_json;
  else if (format_name == "webui") format = h::ImportFormat::tgwui_json;
  else if (format_name != "auto") return usage_error(io, "unknown import format '" + format_name + "'");
  std::ifstream in(file, std::ios::binary);
  if (!in) return failure(io, make_error(ErrorKind::io, file, ": cannot read the file"));
  std::ostringstream text;
  text << in.rdbuf();
  auto trees = h::parse_import(text.str(), format, file);
  if (!trees.ok()) return failure(io, trees.error());
  std::size_t messages = 0;
  for (const auto& t : *trees) messages += t.messages.size();
  auto ids = store.import_trees(std::move(*trees)).get();
  if (!ids.ok()) return failure(io, ids.error());
  io.out << "imported " << ids->size() << " conversation" << (ids->size() == 1 ? "" : "s") << " (" << messages
         << " messages) from " << file << ":";
  for (auto id : *ids) io.out << ' ' << id;
  io.out << '\n';
  return 0;
}

}  // namespace

int cmd_history(int argc, char** argv, CommandIo io) {
  Args args(argc, argv, {"db", "limit", "folder", "format", "out"});
  if (args.flag("help") || (!args.positionals().empty() && args.positionals()[0] == "help")) {
    io.out << kUsage;
    return 0;
  }
  if (!args.error().empty()) return usage_error(io, args.error());
  if (auto bad = args.unknown({"help", "trash", "relevance", "all"})) return usage_error(io, "unknown option " + *bad);
  if (args.positionals().empty()) return usage_error(io, "no command given");
  const std::string command = args.positionals()[0];
  if (command != "list" && command != "search" && command != "export" && command != "import")
    return usage_error(io, "unknown command '" + command + "'");
  const std::string path = args.value_or("db", h::default_history_path());
  auto store = open_store(path, command == "import", io);
  if (!store.ok()) return failure(io, store.error());
  int code = 2;
  if (command == "list") code = run_list(**store, args, io);
  else if (command == "search") code = run_search(**store, args, io);
  else if (command == "export") code = run_export(**store, args, io);
  else code = run_import(**store, args, io);
  Status closed = (*store)->close();
  if (!closed.ok() && code == 0) return failure(io, closed.error());
  return code;
}

}  // namespace nibble::cli
