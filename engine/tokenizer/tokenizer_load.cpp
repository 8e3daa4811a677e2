// Tokenizer::load and Tokenizer::load_from_memory: find and read the tokenizer files of a model
// folder, parse them (tokenizer_json.cpp, tokenizer_config.cpp) and assemble an HfTokenizer.
#include <filesystem>
#include <fstream>

#include "nibble/tokenizer.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/tokenizer_config.h"
#include "tokenizer/tokenizer_json.h"

namespace nibble {

namespace {

namespace fs = std::filesystem;

Result<std::string> read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return make_error(ErrorKind::io, file.string(), ": cannot open");
  std::string data;
  in.seekg(0, std::ios::end);
  auto size = in.tellg();
  if (size < 0) return make_error(ErrorKind::io, file.string(), ": cannot read");
  data.resize(static_cast<std::size_t>(size));
  in.seekg(0);
  in.read(data.data(), size);
  if (!in) return make_error(ErrorKind::io, file.string(), ": read failed");
  return data;
}

Result<std::optional<std::string>> read_optional(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return std::optional<std::string>();
  NIBBLE_ASSIGN_OR_RETURN(std::string data, read_file(file));
  return std::optional<std::string>(std::move(data));
}

std::optional<std::string_view> view(const std::optional<std::string>& s) {
  if (!s) return std::nullopt;
  return std::string_view(*s);
}

std::optional<std::string_view> view_if_given(std::string_view s) {
  if (s.empty()) return std::nullopt;
  return s;
}

Result<std::unique_ptr<Tokenizer>> assemble(Result<tok::TokenizerParts> parts, const tok::ConfigTexts& texts) {
  if (!parts.ok()) return std::move(parts).error();
  NIBBLE_ASSIGN_OR_RETURN(auto tokenizer, tok::HfTokenizer::create(std::move(parts).value()));
  NIBBLE_TRY(tok::apply_config(*tokenizer, texts));
  return std::unique_ptr<Tokenizer>(std::move(tokenizer));
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::load(const std::string& path) {
  std::error_code ec;
  fs::path p(path);
  if (!fs::exists(p, ec)) return make_error(ErrorKind::not_found, path, ": no such file or folder");
  fs::path dir = fs::is_directory(p, ec) ? p : p.parent_path();
  fs::path json_file = fs::is_directory(p, ec) ? dir / "tokenizer.json" : p;
  bool gpt2 = false;
  if (!fs::is_regular_file(json_file, ec)) {
    if (fs::is_regular_file(dir / "encoder.json", ec) && fs::is_regular_file(dir / "vocab.bpe", ec)) {
      gpt2 = true;
    } else {
      return make_error(ErrorKind::not_found, path, ": no tokenizer.json (nor encoder.json + vocab.bpe)");
    }
  }
  NIBBLE_ASSIGN_OR_RETURN(auto tokenizer_config, read_optional(dir / "tokenizer_config.json"));
  NIBBLE_ASSIGN_OR_RETURN(auto generation_config, read_optional(dir / "generation_config.json"));
  NIBBLE_ASSIGN_OR_RETURN(auto jinja, read_optional(dir / "chat_template.jinja"));
  NIBBLE_ASSIGN_OR_RETURN(auto template_json, read_optional(dir / "chat_template.json"));
  std::string dir_name = dir.empty() ? std::string() : (dir / "").string();
  tok::ConfigTexts texts{view(tokenizer_config), view(generation_config), view(jinja), view(template_json), dir_name,
                         gpt2};
  if (gpt2) {
    NIBBLE_ASSIGN_OR_RETURN(std::string encoder, read_file(dir / "encoder.json"));
    NIBBLE_ASSIGN_OR_RETURN(std::string merges, read_file(dir / "vocab.bpe"));
    return assemble(tok::parse_gpt2_files(encoder, merges, dir.string()), texts);
  }
  NIBBLE_ASSIGN_OR_RETURN(std::string text, read_file(json_file));
  return assemble(tok::parse_tokenizer_json(text, json_file.string()), texts);
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::load_from_memory(std::string_view tokenizer_json,
                                                               std::string_view tokenizer_config_json,
                                                               std::string_view generation_config_json,
                                                               std::string_view chat_template_jinja) {
  tok::ConfigTexts texts{view_if_given(tokenizer_config_json), view_if_given(generation_config_json),
                         view_if_given(chat_template_jinja), std::nullopt, "", false};
  return assemble(tok::parse_tokenizer_json(tokenizer_json, "tokenizer.json"), texts);
}

}  // namespace nibble
