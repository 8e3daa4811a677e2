// Options shared by `nibble-cli generate` and `nibble-cli chat`: sampling, stops, limits, seed,
// speculative decoding and the KV cache type, parsed into the runtime's JobSettings; and the chat
// prompt rendered with the model's template. Used by cmd_generate.cpp and cmd_chat.cpp.
#pragma once

#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "args.h"
#include "nibble/model.h"
#include "nibble/runtime.h"
#include "nibble/tokenizer.h"

namespace nibble::cli {

inline const std::set<std::string> kGenerationValueOptions = {
    "max-tokens", "min-tokens", "temperature", "top-k", "top-p", "min-p", "typical-p",
    "repetition-penalty", "frequency-penalty", "presence-penalty", "penalty-range",
    "dry-multiplier", "dry-base", "dry-allowed-length", "dry-range", "dry-breakers",
    "xtc-threshold", "xtc-probability", "logit-bias", "ban", "stop", "stop-id", "seed",
    "draft", "draft-tokens", "cache"};
inline const std::set<std::string> kGenerationFlags = {"greedy", "ignore-eos", "ngram-draft"};

extern const char* const kGenerationUsage;

struct GenerationSetup {
  JobSettings job;                        // everything but the prompt and the callback
  std::optional<std::string> draft_dir;   // --draft MODEL_DIR
  std::vector<std::string> dry_breakers = {"\n", ":", "\"", "*"};
};

// Defaults: generation_config.json's temperature/top_p (do_sample false = greedy), else 0.7/0.9.
// Fills `load.kv_cache` from --cache. false with a message in `error` on a malformed value.
bool parse_generation_options(const Args& args, const std::string& model_dir, GenerationSetup& out, LoadOptions& load,
                              std::string& error);

// Turns DRY breaker strings into ids (the last token of "a" + breaker, as text-generation-webui does).
void add_dry_breakers(const Tokenizer& tok, GenerationSetup& setup);

// Renders messages ([{role, content}]) with the model's chat template (ChatML when it has none)
// and a generation prompt, then tokenizes without adding special tokens again.
Result<std::vector<std::int32_t>> render_chat_prompt(const std::string& model_dir, const Tokenizer& tok,
                                                     const nlohmann::ordered_json& messages);

}  // namespace nibble::cli
