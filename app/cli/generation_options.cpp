// Parsing of the generation options and chat prompt rendering.
#include "generation_options.h"

#include <fstream>

#include "nibble/chat_template.h"

namespace nibble::cli {

const char* const kGenerationUsage =
    "Sampling (defaults: temperature/top_p from generation_config.json, else 0.7/0.9; the rest off):\n"
    "  --greedy              argmax decoding (same as --temperature 0)\n"
    "  --temperature T       0 = greedy\n"
    "  --top-k K             keep the K most likely tokens (0 = off)\n"
    "  --top-p P             nucleus mass in (0, 1] (1 = off)\n"
    "  --min-p P             drop tokens below P x the top probability (0 = off)\n"
    "  --typical-p P         locally typical sampling mass (1 = off)\n"
    "  --repetition-penalty R  (1 = off)   --frequency-penalty F  --presence-penalty P  (0 = off)\n"
    "  --penalty-range N     tokens the penalties look back over (default 1024, 0 = all)\n"
    "  --dry-multiplier M    DRY repetition penalty (0 = off); --dry-base 1.75 --dry-allowed-length 2\n"
    "  --dry-range N         (0 = all)   --dry-breakers JSON  (default [\"\\n\", \":\", \"\\\"\", \"*\"])\n"
    "  --xtc-threshold T     (0.1)  --xtc-probability P  exclude top choices (0 = off)\n"
    "  --logit-bias ID:B     add B to a token's logit (repeatable)\n"
    "  --ban 1,2,3           never sample these ids\n"
    "  --seed N              sampling seed (default 0)\n"
    "Stopping:\n"
    "  --max-tokens N        tokens to generate (default 128)\n"
    "  --min-tokens N        no stop before N tokens (default 0)\n"
    "  --stop TEXT           stop string (repeatable; held back from the output)\n"
    "  --stop-id ID          extra stop token id (repeatable)\n"
    "  --ignore-eos          keep going past the model's end-of-sequence tokens\n"
    "Speed:\n"
    "  --draft MODEL_DIR     speculative decoding with a draft model (same tokenizer)\n"
    "  --ngram-draft         speculative decoding with n-gram lookup in the context\n"
    "  --draft-tokens N      tokens proposed per step (default 4)\n"
    "  --cache fp16|q8|q4    KV cache type (default fp16)\n";

namespace {

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

}  // namespace

bool parse_generation_options(const Args& args, const std::string& model_dir, GenerationSetup& out, LoadOptions& load,
                              std::string& error) {
  JobSettings& j = out.job;
  SamplerSettings& s = j.sampler;
  j.max_new_tokens = 128;
  s.temperature = 0.7f;
  s.top_p = 0.9f;
  sampling_defaults(model_dir, s.temperature, s.top_p);
  long long v;
  double d;
  auto fail = [&](const std::string& e) {
    error = e;
    return false;
  };
  auto get_int = [&](const char* name, long long lo, long long hi, auto& dst) {
    auto t = args.value(name);
    if (!t) return true;
    if (!parse_int(*t, v) || v < lo || v > hi)
      return fail(std::string("--") + name + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    dst = static_cast<std::remove_reference_t<decltype(dst)>>(v);
    return true;
  };
  auto get_float = [&](const char* name, float& dst) {
    auto t = args.value(name);
    if (!t) return true;
    if (!parse_double(*t, d)) return fail(std::string("--") + name + " must be a number");
    dst = static_cast<float>(d);
    return true;
  };
  if (!get_int("max-tokens", 0, 1 << 24, j.max_new_tokens) || !get_int("min-tokens", 0, 1 << 24, j.min_new_tokens) ||
      !get_int("top-k", 0, 1 << 24, s.top_k) || !get_int("penalty-range", 0, 1 << 24, s.penalty_range) ||
      !get_int("dry-allowed-length", 1, 1 << 20, s.dry_allowed_length) || !get_int("dry-range", 0, 1 << 24, s.dry_range) ||
      !get_int("draft-tokens", 1, 64, j.draft_tokens))
    return false;
  if (auto t = args.value("seed")) {
    if (!parse_int(*t, v)) return fail("--seed must be an integer");
    j.seed = static_cast<std::uint64_t>(v);
  }
  if (!get_float("temperature", s.temperature) || !get_float("top-p", s.top_p) || !get_float("min-p", s.min_p) ||
      !get_float("typical-p", s.typical_p) || !get_float("repetition-penalty", s.repetition_penalty) ||
      !get_float("frequency-penalty", s.frequency_penalty) || !get_float("presence-penalty", s.presence_penalty) ||
      !get_float("dry-multiplier", s.dry_multiplier) || !get_float("dry-base", s.dry_base) ||
      !get_float("xtc-threshold", s.xtc_threshold) || !get_float("xtc-probability", s.xtc_probability))
    return false;
  if (args.flag("greedy")) s.temperature = 0.0f;
  for (const auto& lb : args.values("logit-bias")) {
    const auto colon = lb.find(':');
    if (colon == std::string::npos || !parse_int(lb.substr(0, colon), v) || !parse_double(lb.substr(colon + 1), d))
      return fail("--logit-bias must be ID:BIAS, e.g. 42:-5");
    s.logit_bias.push_back({static_cast<std::int32_t>(v), static_cast<float>(d)});
  }
  if (auto b = args.value("ban")) {
    std::vector<int> ids;
    if (!parse_int_list(*b, ids)) return fail("--ban must be a comma-separated list of token ids");
    s.banned_ids.assign(ids.begin(), ids.end());
  }
  if (auto b = args.value("dry-breakers")) {
    auto parsed = nlohmann::json::parse(*b, nullptr, false);
    if (!parsed.is_array()) return fail("--dry-breakers must be a JSON list of strings");
    out.dry_breakers.clear();
    for (const auto& e : parsed) {
      if (!e.is_string()) return fail("--dry-breakers must be a JSON list of strings");
      out.dry_breakers.push_back(e.get<std::string>());
    }
  }
  if (auto st = s.validate(1 << 30); !st) return fail(st.error().message);
  j.stop_strings = args.values("stop");
  for (const auto& id : args.values("stop-id")) {
    if (!parse_int(id, v) || v < 0) return fail("--stop-id must be a token id");
    j.stop_ids.push_back(static_cast<std::int32_t>(v));
  }
  j.stop_at_model_eos = !args.flag("ignore-eos");
  if (args.flag("ngram-draft") && args.value("draft")) return fail("give at most one of --draft and --ngram-draft");
  if (args.flag("ngram-draft")) j.draft = DraftMode::ngram;
  if (auto dd = args.value("draft")) {
    j.draft = DraftMode::model;
    out.draft_dir = *dd;
  }
  if (auto c = args.value("cache")) {
    if (*c == "fp16") load.kv_cache = KvCacheMode::fp16;
    else if (*c == "q8") load.kv_cache = KvCacheMode::q8;
    else if (*c == "q4") load.kv_cache = KvCacheMode::q4;
    else return fail("--cache must be fp16, q8 or q4");
  }
  return true;
}

void add_dry_breakers(const Tokenizer& tok, GenerationSetup& setup) {
  if (setup.job.sampler.dry_multiplier <= 0.0f) return;
  for (const auto& b : setup.dry_breakers) {
    auto ids = tok.encode("a" + b, false);
    if (ids && !ids->empty()) setup.job.sampler.dry_sequence_breakers.push_back(ids->back());
  }
}

Result<std::vector<std::int32_t>> render_chat_prompt(const std::string& dir, const Tokenizer& tok,
                                                     const nlohmann::ordered_json& messages) {
  NIBBLE_ASSIGN_OR_RETURN(auto templates, load_chat_templates(dir));
  const std::string* source = select_chat_template(templates.templates, false);
  std::string rendered;
  if (source) {
    ChatRenderInput in;
    in.messages = messages;
    in.add_generation_prompt = true;
    in.bos_token = templates.bos_token;
    in.eos_token = templates.eos_token;
    NIBBLE_ASSIGN_OR_RETURN(auto tmpl, ChatTemplate::parse(*source));
    NIBBLE_ASSIGN_OR_RETURN(rendered, tmpl->render(in));
  } else {
    rendered = render_chatml(nlohmann::json::parse(messages.dump()), true);
  }
  return tok.encode(rendered, false);
}

}  // namespace nibble::cli
