// nibble-cli chat: an interactive terminal chat. Reads user turns from standard input, renders the
// whole conversation (history kept in memory) with the model's chat template and streams the reply;
// the runtime's prefix cache makes each follow-up prefill only the new turn. Commands: /reset
// (forget the history), /exit (or end of input).
#include <cstdio>
#include <iostream>
#include <ostream>

#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "generation_options.h"
#include "model_options.h"
#include "nibble/runtime.h"

namespace nibble::cli {
namespace {

void print_usage(std::ostream& out) {
  out << "Usage: nibble-cli chat MODEL_DIR [--system TEXT] [options]\n"
         "  Type a message and press Enter; /reset forgets the conversation, /exit (or Ctrl-D) quits.\n"
         "  --system TEXT         system message at the start of the conversation\n"
         "  --stats               print timings after each reply (time to first token, cached tokens, tokens/s)\n"
      << kGenerationUsage << kModelOptionsUsage;
}

}  // namespace

int cmd_chat(int argc, char** argv, CommandIo io) {
  std::set<std::string> value_opts = {"system"};
  value_opts.insert(kModelValueOptions.begin(), kModelValueOptions.end());
  value_opts.insert(kGenerationValueOptions.begin(), kGenerationValueOptions.end());
  Args args(argc, argv, value_opts);
  if (args.flag("help")) {
    print_usage(io.out);
    return 0;
  }
  auto usage_error = [&](const std::string& what) {
    io.err << "nibble-cli chat: " << what << "\n";
    print_usage(io.err);
    return 2;
  };
  if (!args.error().empty()) return usage_error(args.error());
  std::set<std::string> flags = {"help", "stats"};
  flags.insert(kGenerationFlags.begin(), kGenerationFlags.end());
  if (auto bad = args.unknown(flags)) return usage_error("unknown option " + *bad);
  if (args.positionals().size() != 1) return usage_error("expected one MODEL_DIR");
  const std::string dir = args.positionals()[0];
  GenerationSetup setup;
  LoadOptions load;
  std::string error;
  if (!parse_model_options(args, load, error) || !parse_generation_options(args, dir, setup, load, error))
    return usage_error(error);
  if (const int rc = place_model(args, dir, load, error); rc == 2) return usage_error(error);
  else if (rc == 1) {
    io.err << "nibble-cli chat: " << error << "\n";
    return 1;
  }
  if (setup.job.max_new_tokens == 128 && !args.value("max-tokens")) setup.job.max_new_tokens = 1024;

  auto fail = [&](const Error& e) {
    io.err << "nibble-cli chat: " << e.to_string() << "\n";
    return 1;
  };
  auto tok = Tokenizer::load(dir);
  if (!tok) return fail(tok.error());
  add_dry_breakers(**tok, setup);
  auto model = Model::load(dir, load);
  if (!model) return fail(model.error());
  std::unique_ptr<Model> draft;
  GeneratorOptions go;
  go.tokenizer = tok->get();
  std::unique_ptr<Tokenizer> draft_tok;
  if (setup.draft_dir) {
    auto d = Model::load(*setup.draft_dir, load);
    if (!d) return fail(d.error());
    draft = std::move(*d);
    if (auto dt = Tokenizer::load(*setup.draft_dir)) draft_tok = std::move(*dt);
    go.draft_model = draft.get();
    go.draft_tokenizer = draft_tok.get();
  }
  auto gen = Generator::create(**model, go);
  if (!gen) return fail(gen.error());

  auto history = nlohmann::ordered_json::array();
  if (auto s = args.value("system")) history.push_back({{"role", "system"}, {"content", *s}});
  const auto initial = history;
  std::string line;
  std::uint64_t turn = 0;
  while (true) {
    io.out << "> " << std::flush;
    if (!std::getline(std::cin, line) || line == "/exit") break;
    if (line == "/reset") {
      history = initial;
      io.out << "(conversation cleared)\n";
      continue;
    }
    if (line.empty()) continue;
    history.push_back({{"role", "user"}, {"content", line}});
    auto prompt = render_chat_prompt(dir, **tok, history);
    if (!prompt) return fail(prompt.error());
    JobSettings job = setup.job;
    job.prompt = std::move(*prompt);
    job.seed = setup.job.seed + turn++;
    job.on_update = [&](const JobUpdate& u) {
      io.out << u.text << std::flush;
      return true;
    };
    auto id = (*gen)->submit(std::move(job));
    if (!id) return fail(id.error());
    if (auto st = (*gen)->run_until_idle(); !st) return fail(st.error());
    auto r = (*gen)->take_result(*id);
    io.out << '\n';
    if (!r || r->reason == StopReason::error) {
      if (r && r->error) return fail(*r->error);
      return 1;
    }
    history.push_back({{"role", "assistant"}, {"content", r->text}});
    if (args.flag("stats")) {
      const JobTimings& t = r->timings;
      char stats[200];
      std::snprintf(stats, sizeof stats, "[first token after %.3f s, %d of %d prompt tokens cached, %d tokens at %.1f tokens/s]\n",
                    t.ttft_s, t.cached_tokens, t.prompt_tokens, t.generated_tokens, t.decode_tokens_per_s());
      io.err << stats;
    }
  }
  return 0;
}

}  // namespace nibble::cli
