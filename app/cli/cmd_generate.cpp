// nibble-cli generate: loads a model, prefills a prompt (token ids, text through the model's
// tokenizer, or a chat turn through its chat template) and decodes, streaming text as it comes.
// Greedy with --greedy, else sampling with generation_config.json's temperature/top_p.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <ostream>

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
  out << "Usage: nibble-cli generate MODEL_DIR (--prompt TEXT | --prompt-ids 1,2,3) [options]\n"
         "  --max-tokens N        tokens to generate (default 128)\n"
         "  --greedy              argmax decoding (default: sample with generation_config.json settings)\n"
         "  --temperature T       sampling temperature (0 = greedy)\n"
         "  --top-p P             nucleus sampling mass (default from generation_config.json, else 1)\n"
         "  --seed N              sampling seed (default 0)\n"
         "  --chat                send --prompt as a user message through the model's chat template\n"
         "  --ignore-eos          keep going past end-of-sequence tokens\n"
         "  --json                print one JSON object (prompt_ids, ids, text, stop, timings)\n"
      << kModelOptionsUsage;
}

// generation_config.json sampling defaults; absent file or keys leave the arguments as they are.
void sampling_defaults(const std::string& dir, float& temperature, float& top_p) {
  std::ifstream in(dir + "/generation_config.json");
  if (!in) return;
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (!j.is_object()) return;
  if (j.value("do_sample", true) == false) {
    temperature = 0.0f;
    return;
  }
  if (auto t = j.find("temperature"); t != j.end() && t->is_number()) temperature = t->get<float>();
  if (auto p = j.find("top_p"); p != j.end() && p->is_number()) top_p = p->get<float>();
}

Result<std::vector<std::int32_t>> chat_prompt(const std::string& dir, const Tokenizer& tok, const std::string& text) {
  NIBBLE_ASSIGN_OR_RETURN(auto templates, load_chat_templates(dir));
  const std::string* source = select_chat_template(templates.templates, false);
  ChatRenderInput in;
  in.messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", text}}});
  in.add_generation_prompt = true;
  in.bos_token = templates.bos_token;
  in.eos_token = templates.eos_token;
  std::string rendered;
  if (source) {
    NIBBLE_ASSIGN_OR_RETURN(auto tmpl, ChatTemplate::parse(*source));
    NIBBLE_ASSIGN_OR_RETURN(rendered, tmpl->render(in));
  } else {
    rendered = render_chatml(nlohmann::json::array({{{"role", "user"}, {"content", text}}}), true);
  }
  return tok.encode(rendered, false);
}

}  // namespace

int cmd_generate(int argc, char** argv, CommandIo io) {
  std::set<std::string> value_opts = {"prompt", "prompt-ids", "max-tokens", "temperature", "top-p", "seed"};
  value_opts.insert(kModelValueOptions.begin(), kModelValueOptions.end());
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
  if (auto bad = args.unknown({"greedy", "chat", "ignore-eos", "json", "help"})) return usage_error("unknown option " + *bad);
  if (args.positionals().size() != 1) return usage_error("expected one MODEL_DIR");
  if (args.value("prompt").has_value() == args.value("prompt-ids").has_value())
    return usage_error("give exactly one of --prompt and --prompt-ids");
  if (args.flag("chat") && !args.value("prompt")) return usage_error("--chat needs --prompt");
  const std::string dir = args.positionals()[0];

  GenerateOptions gen;
  gen.stop_at_eos = !args.flag("ignore-eos");
  gen.temperature = 0.7f;
  gen.top_p = 0.9f;
  sampling_defaults(dir, gen.temperature, gen.top_p);
  long long v;
  double d;
  if (auto s = args.value("max-tokens")) {
    if (!parse_int(*s, v) || v < 0 || v > (1 << 24)) return usage_error("--max-tokens must be a non-negative integer");
    gen.max_tokens = static_cast<int>(v);
  }
  if (auto s = args.value("temperature")) {
    if (!parse_double(*s, d) || d < 0) return usage_error("--temperature must be >= 0");
    gen.temperature = static_cast<float>(d);
  }
  if (auto s = args.value("top-p")) {
    if (!parse_double(*s, d) || d <= 0 || d > 1) return usage_error("--top-p must be in (0, 1]");
    gen.top_p = static_cast<float>(d);
  }
  if (auto s = args.value("seed")) {
    if (!parse_int(*s, v)) return usage_error("--seed must be an integer");
    gen.seed = static_cast<std::uint64_t>(v);
  }
  if (args.flag("greedy")) gen.temperature = 0.0f;
  LoadOptions load;
  std::string error;
  if (!parse_model_options(args, load, error)) return usage_error(error);

  // The tokenizer is required for text prompts and optional for decoding the output.
  auto tok = Tokenizer::load(dir);
  std::vector<std::int32_t> prompt;
  if (auto ids = args.value("prompt-ids")) {
    std::vector<int> parsed;
    if (!parse_int_list(*ids, parsed)) return usage_error("--prompt-ids must be a comma-separated list of integers");
    prompt.assign(parsed.begin(), parsed.end());
  } else {
    if (!tok) {
      io.err << "nibble-cli generate: " << tok.error().to_string() << "\n";
      return 1;
    }
    auto encoded = args.flag("chat") ? chat_prompt(dir, **tok, *args.value("prompt")) : (*tok)->encode(*args.value("prompt"), true);
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
  const bool json = args.flag("json");
  std::unique_ptr<StreamingDetokenizer> stream = tok ? (*tok)->make_stream(false) : nullptr;
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  auto t_first = t0;
  std::size_t produced = 0;
  gen.on_token = [&](std::int32_t id) {
    if (produced++ == 0) t_first = clock::now();
    if (stream && !json) io.out << stream->push(id) << std::flush;
    return true;
  };
  auto out = generate(**model, prompt, gen);
  const auto t_end = clock::now();
  if (!out) {
    if (stream && !json) io.out << '\n';
    io.err << "nibble-cli generate: " << out.error().to_string() << "\n";
    return 1;
  }
  const auto& stops = (*model)->stop_ids();
  const bool eos = gen.stop_at_eos && !out->empty() && std::find(stops.begin(), stops.end(), out->back()) != stops.end();
  const double prefill_s = std::chrono::duration<double>(t_first - t0).count();
  const double decode_s = std::chrono::duration<double>(t_end - t_first).count();
  const double decode_tps = out->size() > 1 && decode_s > 0 ? static_cast<double>(out->size() - 1) / decode_s : 0.0;

  if (json) {
    nlohmann::ordered_json j = {{"prompt_ids", prompt}, {"ids", *out}};
    if (tok) {
      auto text = (*tok)->decode(*out, false);
      if (text) j["text"] = *text;
    }
    j["stop"] = eos ? "eos" : "length";
    j["prompt_tokens"] = prompt.size();
    j["generated_tokens"] = out->size();
    j["prefill_seconds"] = prefill_s;
    j["decode_tokens_per_second"] = decode_tps;
    io.out << j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
    return 0;
  }
  if (stream) {
    io.out << stream->flush() << '\n';
  } else {
    for (std::size_t i = 0; i < out->size(); ++i) io.out << (i ? "," : "") << (*out)[i];
    io.out << '\n';
    io.err << "nibble-cli generate: printing token ids (" << tok.error().to_string() << ")\n";
  }
  char stats[160];
  std::snprintf(stats, sizeof stats, "[%zu prompt tokens in %.3f s, %zu generated at %.1f tokens/s, stop: %s]\n",
                prompt.size(), prefill_s, out->size(), decode_tps, eos ? "eos" : "length");
  io.err << stats;
  return 0;
}

}  // namespace nibble::cli
