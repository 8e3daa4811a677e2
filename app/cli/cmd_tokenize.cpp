// nibble-cli tokenize / detokenize: a model's tokenizer from the command line. tokenize prints
// the ids of a text (--text) or of each line of a JSON-lines file of strings (--jsonl, one JSON
// array of ids per line); detokenize prints the text of a list of ids.
#include <fstream>
#include <ostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "nibble/tokenizer.h"

namespace nibble::cli {

namespace {

constexpr const char* tokenize_usage =
    "Usage: nibble-cli tokenize MODEL_DIR (--text TEXT | --jsonl FILE) [--json] [--no-special]\n"
    "  --text TEXT   prints one line per token (id, then the token as JSON); --json prints a JSON array\n"
    "  --jsonl FILE  each line a JSON string; prints one JSON array of ids per line\n"
    "  --no-special  do not add the special tokens of the post-processor (BOS/EOS)\n";

constexpr const char* detokenize_usage =
    "Usage: nibble-cli detokenize MODEL_DIR --ids 1,2,3 [--skip-special]\n";

std::string json_ids(const std::vector<std::int32_t>& ids) { return nlohmann::json(ids).dump(); }

// Token strings may hold any bytes a vocabulary file has; print them as JSON without throwing.
std::string json_text(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int tokenize_jsonl(const Tokenizer& tokenizer, const std::string& file, bool add_special, CommandIo io) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    io.err << "nibble-cli tokenize: io: " << file << ": cannot open\n";
    return 1;
  }
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    auto value = nlohmann::json::parse(line, nullptr, false);
    if (value.is_discarded() || !value.is_string()) {
      io.err << "nibble-cli tokenize: format: " << file << ":" << line_no << ": expected a JSON string\n";
      return 1;
    }
    auto ids = tokenizer.encode(value.get<std::string>(), add_special);
    if (!ids) {
      io.err << "nibble-cli tokenize: " << file << ":" << line_no << ": " << ids.error().to_string() << "\n";
      return 1;
    }
    io.out << json_ids(*ids) << '\n';
  }
  return 0;
}

}  // namespace

int cmd_tokenize(int argc, char** argv, CommandIo io) {
  Args args(argc, argv, {"text", "jsonl"});
  if (!args.error().empty()) {
    io.err << "nibble-cli tokenize: " << args.error() << "\n" << tokenize_usage;
    return 2;
  }
  if (args.flag("help")) {
    io.out << tokenize_usage;
    return 0;
  }
  if (auto bad = args.unknown({"json", "no-special", "help"})) {
    io.err << "nibble-cli tokenize: unknown option " << *bad << "\n" << tokenize_usage;
    return 2;
  }
  auto text = args.value("text");
  auto jsonl = args.value("jsonl");
  if (args.positionals().size() != 1 || (text.has_value() == jsonl.has_value())) {
    io.err << tokenize_usage;
    return 2;
  }
  auto tokenizer = Tokenizer::load(args.positionals()[0]);
  if (!tokenizer) {
    io.err << "nibble-cli tokenize: " << tokenizer.error().to_string() << "\n";
    return 1;
  }
  bool add_special = !args.flag("no-special");
  if (jsonl) return tokenize_jsonl(**tokenizer, *jsonl, add_special, io);
  auto ids = (*tokenizer)->encode(*text, add_special);
  if (!ids) {
    io.err << "nibble-cli tokenize: " << ids.error().to_string() << "\n";
    return 1;
  }
  if (args.flag("json")) {
    io.out << json_ids(*ids) << '\n';
    return 0;
  }
  for (std::int32_t id : *ids) io.out << id << '\t' << json_text((*tokenizer)->token_text(id)) << '\n';
  io.out << ids->size() << " tokens\n";
  return 0;
}

int cmd_detokenize(int argc, char** argv, CommandIo io) {
  Args args(argc, argv, {"ids"});
  if (!args.error().empty()) {
    io.err << "nibble-cli detokenize: " << args.error() << "\n" << detokenize_usage;
    return 2;
  }
  if (args.flag("help")) {
    io.out << detokenize_usage;
    return 0;
  }
  if (auto bad = args.unknown({"skip-special", "help"})) {
    io.err << "nibble-cli detokenize: unknown option " << *bad << "\n" << detokenize_usage;
    return 2;
  }
  auto list = args.value("ids");
  std::vector<int> ids;
  if (args.positionals().size() != 1 || !list) {
    io.err << detokenize_usage;
    return 2;
  }
  if (!parse_int_list(*list, ids)) {
    io.err << "nibble-cli detokenize: --ids expects comma-separated integers, got '" << *list << "'\n";
    return 2;
  }
  auto tokenizer = Tokenizer::load(args.positionals()[0]);
  if (!tokenizer) {
    io.err << "nibble-cli detokenize: " << tokenizer.error().to_string() << "\n";
    return 1;
  }
  std::vector<std::int32_t> ids32(ids.begin(), ids.end());
  auto text = (*tokenizer)->decode(ids32, args.flag("skip-special"));
  if (!text) {
    io.err << "nibble-cli detokenize: " << text.error().to_string() << "\n";
    return 1;
  }
  io.out << *text << '\n';
  return 0;
}

}  // namespace nibble::cli
