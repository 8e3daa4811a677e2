// nibble-cli perplexity: the ppl_raw protocol over a text file (tokenized without special tokens,
// --windows windows of --window-len tokens) or, with --chat-jsonl, ppl_chat over {q, a} dialogs
// rendered with the model's chat template. Plain or gzip-compressed input; text or --json output.
#include <chrono>
#include <cstdio>
#include <ostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "model_options.h"
#include "nibble/chat_template.h"
#include "nibble/model.h"
#include "nibble/tokenizer.h"

namespace nibble::cli {
namespace {

void print_usage(std::ostream& out) {
  out << "Usage: nibble-cli perplexity MODEL_DIR --file FILE [--windows 64] [--window-len 512] [options]\n"
         "       nibble-cli perplexity MODEL_DIR --chat-jsonl FILE [--system TEXT] [--dialogs 256] [options]\n"
         "  --file FILE           text (or .gz): the first windows x window-len tokens, each window scored\n"
         "                        on tokens 1.. given its own prefix\n"
         "  --chat-jsonl FILE     one {\"q\": ..., \"a\": ...} per line (or .gz), rendered with the chat template\n"
         "                        (system, user q, assistant a) and scored on every token after the first\n"
         "  --system TEXT         system message for --chat-jsonl (default: none)\n"
         "  --json                print one JSON object\n"
      << kModelOptionsUsage;
}

Result<std::vector<std::vector<std::int32_t>>> chat_dialogs(const std::string& dir, const Tokenizer& tok,
                                                            const std::string& text, const std::string& system,
                                                            int limit) {
  NIBBLE_ASSIGN_OR_RETURN(auto templates, load_chat_templates(dir));
  const std::string* source = select_chat_template(templates.templates, false);
  if (!source) return make_error(ErrorKind::not_found, dir, ": the model has no chat template");
  NIBBLE_ASSIGN_OR_RETURN(auto tmpl, ChatTemplate::parse(*source));
  std::vector<std::vector<std::int32_t>> out;
  std::istringstream lines(text);
  std::string line;
  int line_no = 0;
  while (static_cast<int>(out.size()) < limit && std::getline(lines, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("q") || !j.contains("a") || !j["q"].is_string() || !j["a"].is_string())
      return make_error(ErrorKind::format, "line ", line_no, ": expected {\"q\": string, \"a\": string}");
    ChatRenderInput in;
    if (!system.empty()) in.messages.push_back({{"role", "system"}, {"content", system}});
    in.messages.push_back({{"role", "user"}, {"content", j["q"].get<std::string>()}});
    in.messages.push_back({{"role", "assistant"}, {"content", j["a"].get<std::string>()}});
    in.bos_token = templates.bos_token;
    in.eos_token = templates.eos_token;
    NIBBLE_ASSIGN_OR_RETURN(std::string rendered, tmpl->render(in));
    NIBBLE_ASSIGN_OR_RETURN(auto ids, tok.encode(rendered, false));
    out.push_back(std::move(ids));
  }
  return out;
}

}  // namespace

int cmd_perplexity(int argc, char** argv, CommandIo io) {
  std::set<std::string> value_opts = {"file", "windows", "window-len", "chat-jsonl", "system", "dialogs"};
  value_opts.insert(kModelValueOptions.begin(), kModelValueOptions.end());
  Args args(argc, argv, value_opts);
  if (args.flag("help")) {
    print_usage(io.out);
    return 0;
  }
  auto usage_error = [&](const std::string& what) {
    io.err << "nibble-cli perplexity: " << what << "\n";
    print_usage(io.err);
    return 2;
  };
  auto fail = [&](const Error& e) {
    io.err << "nibble-cli perplexity: " << e.to_string() << "\n";
    return 1;
  };
  if (!args.error().empty()) return usage_error(args.error());
  if (auto bad = args.unknown({"json", "help"})) return usage_error("unknown option " + *bad);
  if (args.positionals().size() != 1) return usage_error("expected one MODEL_DIR");
  const bool chat = args.value("chat-jsonl").has_value();
  if (chat == args.value("file").has_value()) return usage_error("give exactly one of --file and --chat-jsonl");
  long long windows = 64, window_len = 512, dialogs = 256;
  if (auto s = args.value("windows"); s && (!parse_int(*s, windows) || windows < 1 || windows > (1 << 20)))
    return usage_error("--windows must be a positive integer");
  if (auto s = args.value("window-len"); s && (!parse_int(*s, window_len) || window_len < 2 || window_len > (1 << 20)))
    return usage_error("--window-len must be an integer >= 2");
  if (auto s = args.value("dialogs"); s && (!parse_int(*s, dialogs) || dialogs < 1 || dialogs > (1 << 24)))
    return usage_error("--dialogs must be a positive integer");
  LoadOptions load;
  std::string error;
  if (!parse_model_options(args, load, error)) return usage_error(error);
  const std::string dir = args.positionals()[0];
  if (const int rc = place_model(args, dir, load, error); rc == 2) return usage_error(error);
  else if (rc == 1) {
    io.err << "nibble-cli perplexity: " << error << "\n";
    return 1;
  }

  auto tok = Tokenizer::load(dir);
  if (!tok) return fail(tok.error());
  auto text = read_corpus_file(chat ? *args.value("chat-jsonl") : *args.value("file"));
  if (!text) return fail(text.error());
  auto model = Model::load(dir, load);
  if (!model) return fail(model.error());

  const auto t0 = std::chrono::steady_clock::now();
  Result<PerplexityResult> r = make_error(ErrorKind::internal, "not run");
  if (chat) {
    auto ds = chat_dialogs(dir, **tok, *text, args.value_or("system", ""), static_cast<int>(dialogs));
    if (!ds) return fail(ds.error());
    r = perplexity_dialogs(**model, *ds);
  } else {
    auto ids = (*tok)->encode(*text, false);
    if (!ids) return fail(ids.error());
    if (ids->size() < static_cast<std::size_t>(windows * window_len))
      io.err << "nibble-cli perplexity: the file has " << ids->size() << " tokens, fewer than " << windows << " x "
             << window_len << "; using the whole windows that fit\n";
    r = perplexity_windows(**model, *ids, static_cast<int>(windows), static_cast<int>(window_len));
  }
  if (!r) return fail(r.error());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (args.flag("json")) {
    nlohmann::ordered_json j = {{"model", dir}, {"protocol", chat ? "ppl_chat" : "ppl_raw"}, {"perplexity", r->perplexity},
                                {"mean_nll", r->mean_nll}, {"tokens_scored", r->tokens_scored}};
    if (chat) j["dialogs"] = r->sequences;
    else {
      j["windows"] = r->sequences;
      j["window_len"] = window_len;
    }
    j["seconds"] = seconds;
    io.out << j.dump() << '\n';
    return 0;
  }
  char line[256];
  std::snprintf(line, sizeof line, "perplexity %.4f (mean NLL %.5f over %lld tokens, %d %s) in %.1f s\n", r->perplexity,
                r->mean_nll, static_cast<long long>(r->tokens_scored), r->sequences, chat ? "dialogs" : "windows", seconds);
  io.out << line;
  return 0;
}

}  // namespace nibble::cli
