// nibble-cli generate: loads a model, turns the prompt (token ids, text through the tokenizer, a
// chat turn through the model's template, or a JSONL file of prompts run concurrently) into jobs
// for the runtime's Generator and streams or prints the results.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <ostream>

#include <nlohmann/json.hpp>

#include "args.h"
#include "commands.h"
#include "generation_options.h"
#include "model_options.h"
#include "nibble/model.h"
#include "nibble/runtime.h"
#include "nibble/tokenizer.h"

namespace nibble::cli {
namespace {

void print_usage(std::ostream& out) {
  out << "Usage: nibble-cli generate MODEL_DIR (--prompt TEXT | --prompt-ids 1,2,3 | --chat TEXT [--system S]\n"
         "                                      | --batch FILE.jsonl) [options]\n"
         "  --prompt TEXT         raw text, tokenized with the model's special tokens\n"
         "  --chat TEXT           a user message rendered with the model's chat template\n"
         "  --system TEXT         a system message before --chat\n"
         "  --batch FILE.jsonl    one prompt per line, run concurrently; one JSON result per line, in input\n"
         "                        order. A line is a string (a prompt) or an object with \"prompt\", \"chat\"\n"
         "                        (+ \"system\"), \"messages\" or \"prompt_ids\", and optional \"max_tokens\", \"seed\"\n"
         "  --json                print one JSON object (prompt_ids, ids, text, stop, timings)\n"
      << kGenerationUsage << kModelOptionsUsage;
}

nlohmann::ordered_json chat_messages(const std::optional<std::string>& system, const std::string& user) {
  auto m = nlohmann::ordered_json::array();
  if (system) m.push_back({{"role", "system"}, {"content", *system}});
  m.push_back({{"role", "user"}, {"content", user}});
  return m;
}

nlohmann::ordered_json result_json(const JobResult& r, std::span<const std::int32_t> prompt, bool with_text) {
  nlohmann::ordered_json j = {{"prompt_ids", prompt}, {"ids", r.ids}};
  if (with_text) j["text"] = r.text;
  j["stop"] = stop_reason_name(r.reason);
  if (r.error) j["error"] = r.error->to_string();
  const JobTimings& t = r.timings;
  j["prompt_tokens"] = t.prompt_tokens;
  j["cached_tokens"] = t.cached_tokens;
  j["generated_tokens"] = t.generated_tokens;
  j["ttft_seconds"] = t.ttft_s;
  j["prefill_seconds"] = t.prefill_s;
  j["prefill_tokens_per_second"] = t.prefill_tokens_per_s();
  j["decode_tokens_per_second"] = t.decode_tokens_per_s();
  if (t.draft_proposed > 0) {
    j["draft_proposed"] = t.draft_proposed;
    j["draft_acceptance"] = t.draft_acceptance();
  }
  return j;
}

// One JSONL line -> prompt ids (and per-line overrides of the job).
Result<std::vector<std::int32_t>> batch_prompt(const std::string& dir, const Tokenizer* tok, const std::string& line,
                                               JobSettings& job, const std::optional<std::string>& system) {
  auto bad = [](const std::string& what) { return make_error(ErrorKind::format, what); };
  auto j = nlohmann::ordered_json::parse(line, nullptr, false);
  if (j.is_discarded()) return bad("not JSON");
  if (j.is_string()) j = {{"prompt", j.get<std::string>()}};
  if (!j.is_object()) return bad("expected a string or an object");
  if (auto m = j.find("max_tokens"); m != j.end()) {
    if (!m->is_number_integer() || m->get<long long>() < 0) return bad("\"max_tokens\" must be a non-negative integer");
    job.max_new_tokens = m->get<int>();
  }
  if (auto s = j.find("seed"); s != j.end()) {
    if (!s->is_number_integer()) return bad("\"seed\" must be an integer");
    job.seed = s->get<std::uint64_t>();
  }
  if (auto ids = j.find("prompt_ids"); ids != j.end()) {
    std::vector<std::int32_t> out;
    if (!ids->is_array()) return bad("\"prompt_ids\" must be a list of integers");
    for (const auto& v : *ids) {
      if (!v.is_number_integer()) return bad("\"prompt_ids\" must be a list of integers");
      out.push_back(v.get<std::int32_t>());
    }
    return out;
  }
  if (!tok) return bad("text prompts need the model's tokenizer");
  if (auto p = j.find("prompt"); p != j.end() && p->is_string()) return tok->encode(p->get<std::string>(), true);
  if (auto c = j.find("chat"); c != j.end() && c->is_string()) {
    std::optional<std::string> sys = system;
    if (auto s = j.find("system"); s != j.end() && s->is_string()) sys = s->get<std::string>();
    return render_chat_prompt(dir, *tok, chat_messages(sys, c->get<std::string>()));
  }
  if (auto m = j.find("messages"); m != j.end() && m->is_array()) return render_chat_prompt(dir, *tok, *m);
  return bad("a line needs \"prompt\", \"chat\", \"messages\" or \"prompt_ids\"");
}

int run_batch(const std::string& dir, const std::string& file, Model& model, const Tokenizer* tok,
              const GeneratorOptions& go, const GenerationSetup& setup, const std::optional<std::string>& system,
              CommandIo io) {
  std::ifstream in(file);
  if (!in) {
    io.err << "nibble-cli generate: io: cannot read " << file << "\n";
    return 1;
  }
  auto gen = Generator::create(model, go);
  if (!gen) {
    io.err << "nibble-cli generate: " << gen.error().to_string() << "\n";
    return 1;
  }
  std::vector<std::uint64_t> ids;
  std::vector<std::vector<std::int32_t>> prompts;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    JobSettings job = setup.job;
    auto prompt = batch_prompt(dir, tok, line, job, system);
    if (!prompt) {
      io.err << "nibble-cli generate: " << file << ":" << line_no << ": " << prompt.error().message << "\n";
      return 1;
    }
    job.prompt = *prompt;
    auto id = (*gen)->submit(std::move(job));
    if (!id) {
      io.err << "nibble-cli generate: " << file << ":" << line_no << ": " << id.error().to_string() << "\n";
      return 1;
    }
    ids.push_back(*id);
    prompts.push_back(std::move(*prompt));
  }
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  if (auto st = (*gen)->run_until_idle(); !st) {
    io.err << "nibble-cli generate: " << st.error().to_string() << "\n";
    return 1;
  }
  const double wall = std::chrono::duration<double>(clock::now() - t0).count();
  std::size_t total = 0;
  bool failed = false;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    auto r = (*gen)->take_result(ids[i]);
    if (!r) continue;
    total += r->ids.size();
    failed |= r->reason == StopReason::error;
    auto j = result_json(*r, prompts[i], tok != nullptr);
    j.erase("prompt_ids");
    nlohmann::ordered_json line_out = {{"index", i}};
    line_out.update(j);
    io.out << line_out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
  }
  char stats[160];
  std::snprintf(stats, sizeof stats, "[%zu jobs, %zu tokens in %.3f s: %.1f tokens/s aggregate]\n", ids.size(), total, wall,
                wall > 0 ? static_cast<double>(total) / wall : 0.0);
  io.err << stats;
  return failed ? 1 : 0;
}

}  // namespace

int cmd_generate(int argc, char** argv, CommandIo io) {
  std::set<std::string> value_opts = {"prompt", "prompt-ids", "chat", "system", "batch"};
  value_opts.insert(kModelValueOptions.begin(), kModelValueOptions.end());
  value_opts.insert(kGenerationValueOptions.begin(), kGenerationValueOptions.end());
  Args args(argc, argv, value_opts);
  if (args.flag("help")) {
    print_usage(io.out);
    return 0;
  }
  auto usage_error = [&](const std::string& what) {
    io.err << "nibble-cli generate: " << what << "\n";
    print_usage(io.err);
    return 2;
  };
  if (!args.error().empty()) return usage_error(args.error());
  std::set<std::string> flags = {"json", "help"};
  flags.insert(kGenerationFlags.begin(), kGenerationFlags.end());
  if (auto bad = args.unknown(flags)) return usage_error("unknown option " + *bad);
  if (args.positionals().size() != 1) return usage_error("expected one MODEL_DIR");
  const int sources = args.value("prompt").has_value() + args.value("prompt-ids").has_value() +
                      args.value("chat").has_value() + args.value("batch").has_value();
  if (sources != 1) return usage_error("give exactly one of --prompt, --prompt-ids, --chat and --batch");
  if (args.value("system") && !args.value("chat") && !args.value("batch")) return usage_error("--system goes with --chat or --batch");
  const std::string dir = args.positionals()[0];

  GenerationSetup setup;
  LoadOptions load;
  std::string error;
  if (!parse_model_options(args, load, error) || !parse_generation_options(args, dir, setup, load, error))
    return usage_error(error);
  if (const int rc = place_model(args, dir, load, error); rc == 2) return usage_error(error);
  else if (rc == 1) {
    io.err << "nibble-cli generate: " << error << "\n";
    return 1;
  }

  // The tokenizer is required for text prompts and stop strings, optional for decoding the output.
  auto tok = Tokenizer::load(dir);
  const Tokenizer* tokp = tok ? tok->get() : nullptr;
  auto need_tokenizer = [&]() {
    io.err << "nibble-cli generate: " << tok.error().to_string() << "\n";
    return 1;
  };
  if (!tokp && (!setup.job.stop_strings.empty() || args.value("prompt") || args.value("chat"))) return need_tokenizer();
  if (tokp) add_dry_breakers(*tokp, setup);

  std::vector<std::int32_t> prompt;
  if (auto ids = args.value("prompt-ids")) {
    std::vector<int> parsed;
    if (!parse_int_list(*ids, parsed)) return usage_error("--prompt-ids must be a comma-separated list of integers");
    prompt.assign(parsed.begin(), parsed.end());
  } else if (!args.value("batch")) {
    auto encoded = args.value("chat") ? render_chat_prompt(dir, *tokp, chat_messages(args.value("system"), *args.value("chat")))
                                      : tokp->encode(*args.value("prompt"), true);
    if (!encoded) {
      io.err << "nibble-cli generate: " << encoded.error().to_string() << "\n";
      return 1;
    }
    prompt = std::move(*encoded);
  }

  auto model = Model::load(dir, load);
  if (!model) {
    io.err << "nibble-cli generate: " << model.error().to_string() << "\n";
    return 1;
  }
  std::unique_ptr<Model> draft;
  std::unique_ptr<Tokenizer> draft_tok;
  GeneratorOptions go;
  go.tokenizer = tokp;
  if (setup.draft_dir) {
    LoadOptions dl = load;
    auto d = Model::load(*setup.draft_dir, dl);
    if (!d) {
      io.err << "nibble-cli generate: draft: " << d.error().to_string() << "\n";
      return 1;
    }
    draft = std::move(*d);
    if (auto dt = Tokenizer::load(*setup.draft_dir)) draft_tok = std::move(*dt);
    go.draft_model = draft.get();
    go.draft_tokenizer = draft_tok.get();
  }
  if (auto b = args.value("batch")) return run_batch(dir, *b, **model, tokp, go, setup, args.value("system"), io);

  auto gen = Generator::create(**model, go);
  if (!gen) {
    io.err << "nibble-cli generate: " << gen.error().to_string() << "\n";
    return 1;
  }
  const bool json = args.flag("json");
  JobSettings job = setup.job;
  job.prompt = prompt;
  if (!json && tokp)
    job.on_update = [&](const JobUpdate& u) {
      io.out << u.text << std::flush;
      return true;
    };
  auto id = (*gen)->submit(std::move(job));
  if (!id) {
    io.err << "nibble-cli generate: " << id.error().to_string() << "\n";
    return 1;
  }
  if (auto st = (*gen)->run_until_idle(); !st) {
    io.err << "nibble-cli generate: " << st.error().to_string() << "\n";
    return 1;
  }
  auto r = (*gen)->take_result(*id);
  if (!r) return 1;
  if (r->reason == StopReason::error) {
    if (!json && tokp) io.out << '\n';
    io.err << "nibble-cli generate: " << (r->error ? r->error->to_string() : "failed") << "\n";
    return 1;
  }
  if (json) {
    io.out << result_json(*r, prompt, tokp != nullptr).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
           << '\n';
    return 0;
  }
  if (tokp) {
    io.out << '\n';
  } else {
    for (std::size_t i = 0; i < r->ids.size(); ++i) io.out << (i ? "," : "") << r->ids[i];
    io.out << '\n';
    io.err << "nibble-cli generate: printing token ids (" << tok.error().to_string() << ")\n";
  }
  const JobTimings& t = r->timings;
  char stats[256];
  std::snprintf(stats, sizeof stats,
                "[%d prompt tokens (%d cached), first token after %.3f s, %d generated at %.1f tokens/s, stop: %s",
                t.prompt_tokens, t.cached_tokens, t.ttft_s, t.generated_tokens, t.decode_tokens_per_s(),
                stop_reason_name(r->reason));
  io.err << stats;
  if (t.draft_proposed > 0) {
    std::snprintf(stats, sizeof stats, ", draft acceptance %.1f%%", 100.0 * t.draft_acceptance());
    io.err << stats;
  }
  io.err << "]\n";
  return 0;
}

}  // namespace nibble::cli
