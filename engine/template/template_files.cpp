// Finding a model's chat templates on disk: tokenizer_config.json (string or named list),
// chat_template.json, chat_template.jinja and additional_chat_templates/, plus the bos/eos token
// text templates use. Does not parse templates; nibble-cli template and the app call it.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "nibble/chat_template.h"

namespace nibble {

namespace {

namespace fs = std::filesystem;

Result<std::string> read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorKind::io, path.string(), ": cannot open");
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return make_error(ErrorKind::io, path.string(), ": read failed");
  return buf.str();
}

Result<nlohmann::json> read_json(const fs::path& path) {
  NIBBLE_ASSIGN_OR_RETURN(std::string text, read_text(path));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return make_error(ErrorKind::format, path.string(), ": not valid JSON");
  return j;
}

// chat_template as HF stores it: a string, or a list of {"name": ..., "template": ...}.
Status add_templates(const nlohmann::json& value, const fs::path& file, std::map<std::string, std::string>& out) {
  if (value.is_null()) return {};
  if (value.is_string()) {
    out["default"] = value.get<std::string>();
    return {};
  }
  if (!value.is_array())
    return make_error(ErrorKind::format, file.string(), ": chat_template must be a string or a list of templates");
  for (const auto& entry : value) {
    if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() || !entry.contains("template") ||
        !entry["template"].is_string())
      return make_error(ErrorKind::format, file.string(), ": chat_template entries need a string name and template");
    out[entry["name"].get<std::string>()] = entry["template"].get<std::string>();
  }
  return {};
}

std::string token_text(const nlohmann::json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto content = it->find("content");
    if (content != it->end() && content->is_string()) return content->get<std::string>();
  }
  return "";
}

}  // namespace

Result<ModelChatTemplates> load_chat_templates(const std::string& model_dir) {
  std::error_code ec;
  fs::path dir(model_dir);
  if (!fs::is_directory(dir, ec)) return make_error(ErrorKind::io, model_dir, ": not a model folder");
  ModelChatTemplates result;
  fs::path config_path = dir / "tokenizer_config.json";
  if (fs::exists(config_path, ec)) {
    NIBBLE_ASSIGN_OR_RETURN(nlohmann::json config, read_json(config_path));
    if (!config.is_object()) return make_error(ErrorKind::format, config_path.string(), ": expected a JSON object");
    if (config.contains("chat_template")) NIBBLE_TRY(add_templates(config["chat_template"], config_path, result.templates));
    result.bos_token = token_text(config, "bos_token");
    result.eos_token = token_text(config, "eos_token");
  }
  fs::path json_path = dir / "chat_template.json";
  if (result.templates.empty() && fs::exists(json_path, ec)) {
    NIBBLE_ASSIGN_OR_RETURN(nlohmann::json j, read_json(json_path));
    if (j.is_object() && j.contains("chat_template")) NIBBLE_TRY(add_templates(j["chat_template"], json_path, result.templates));
  }
  fs::path jinja_path = dir / "chat_template.jinja";
  if (fs::exists(jinja_path, ec)) {
    NIBBLE_ASSIGN_OR_RETURN(result.templates["default"], read_text(jinja_path));
  }
  fs::path extra_dir = dir / "additional_chat_templates";
  if (fs::is_directory(extra_dir, ec)) {
    for (const auto& entry : fs::directory_iterator(extra_dir, ec)) {
      if (entry.path().extension() != ".jinja") continue;
      NIBBLE_ASSIGN_OR_RETURN(result.templates[entry.path().stem().string()], read_text(entry.path()));
    }
  }
  return result;
}

const std::string* select_chat_template(const std::map<std::string, std::string>& templates, bool has_tools) {
  if (has_tools) {
    auto it = templates.find("tool_use");
    if (it != templates.end()) return &it->second;
  }
  auto it = templates.find("default");
  return it != templates.end() ? &it->second : nullptr;
}

}  // namespace nibble
