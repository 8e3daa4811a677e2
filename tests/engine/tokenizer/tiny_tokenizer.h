// Builds small tokenizer.json documents for component tests: a BPE vocabulary of single
// characters plus whole words with ignore_merges set, so a piece that is one of the words becomes
// one token and anything else falls apart into characters: encoding shows the pieces the
// normalizer and pre-tokenizer produced.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "nibble/tokenizer.h"

namespace nibble::test {

inline std::vector<std::string> utf8_chars(const std::string& s) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = 1;
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0xF0) n = 4;
    else if (c >= 0xE0) n = 3;
    else if (c >= 0xC0) n = 2;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

struct TinySpec {
  std::vector<std::string> words;   // pieces the model can turn into one token
  std::vector<std::string> extra;   // single tokens without merges
  nlohmann::json normalizer = nullptr;
  nlohmann::json pre_tokenizer = nullptr;
  nlohmann::json post_processor = nullptr;
  nlohmann::json decoder = nullptr;
  nlohmann::json added_tokens = nlohmann::json::array();  // ids are assigned after the vocabulary
  nlohmann::json model_extra = nlohmann::json::object();
};

inline nlohmann::json tiny_tokenizer_json(const TinySpec& spec) {
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  nlohmann::json merges = nlohmann::json::array();
  int next = 0;
  auto add = [&](const std::string& t) {
    if (!vocab.contains(t)) vocab[t] = next++;
  };
  for (const auto& w : spec.words)
    for (const auto& c : utf8_chars(w)) add(c);
  for (const auto& t : spec.extra) add(t);
  for (const auto& w : spec.words) add(w);
  nlohmann::json added = spec.added_tokens;
  for (auto& a : added) {
    if (!vocab.contains(a["content"].get<std::string>())) vocab[a["content"].get<std::string>()] = next++;
    a["id"] = vocab[a["content"].get<std::string>()];
  }
  nlohmann::json model = {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}, {"ignore_merges", true}};
  for (auto& [k, v] : spec.model_extra.items()) model[k] = v;
  return {{"version", "1.0"},
          {"added_tokens", added},
          {"normalizer", spec.normalizer},
          {"pre_tokenizer", spec.pre_tokenizer},
          {"post_processor", spec.post_processor},
          {"decoder", spec.decoder},
          {"model", model}};
}

inline std::unique_ptr<Tokenizer> tiny_tokenizer(const TinySpec& spec) {
  auto t = Tokenizer::load_from_memory(tiny_tokenizer_json(spec).dump());
  if (!t.ok()) return nullptr;
  return std::move(t).value();
}

// The token strings of `text`'s ids: the pieces the pipeline produced.
inline std::vector<std::string> pieces(const Tokenizer& t, const std::string& text) {
  std::vector<std::string> out;
  auto ids = t.encode(text, false);
  if (!ids.ok()) return {"<error: " + ids.error().message + ">"};
  for (auto id : *ids) out.push_back(t.token_text(id));
  return out;
}

}  // namespace nibble::test
