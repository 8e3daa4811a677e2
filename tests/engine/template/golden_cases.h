// Loads the chat-template goldens in tests/data/templates (rendered by Jinja2 through
// make_goldens.py) and turns a case into a ChatRenderInput. Shared by the template tests.
#pragma once

#include <ctime>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "nibble/chat_template.h"

namespace nibble::test {

inline nlohmann::ordered_json load_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return nlohmann::ordered_json::parse(buf.str(), nullptr, false);
}

inline std::string golden_path(const std::string& name) {
  return std::string(NIBBLE_TEST_DATA_DIR) + "/templates/" + name + ".json";
}

// The fixed clock make_goldens.py gives strftime_now: 2024-07-26 14:05:09 unless the case says.
inline std::tm golden_now(const nlohmann::ordered_json& c) {
  std::tm t{};
  std::string iso = c.value("now", std::string("2024-07-26T14:05:09"));
  std::sscanf(iso.c_str(), "%d-%d-%dT%d:%d:%d", &t.tm_year, &t.tm_mon, &t.tm_mday, &t.tm_hour, &t.tm_min, &t.tm_sec);
  t.tm_year -= 1900;
  t.tm_mon -= 1;
  return t;
}

inline ChatRenderInput golden_input(const nlohmann::ordered_json& c) {
  ChatRenderInput in;
  in.messages = c.value("messages", nlohmann::ordered_json::array());
  if (c.contains("tools")) in.tools = c["tools"];
  if (c.contains("documents")) in.documents = c["documents"];
  in.add_generation_prompt = c.value("add_generation_prompt", false);
  in.bos_token = c.value("bos_token", std::string());
  in.eos_token = c.value("eos_token", std::string());
  if (c.contains("extra")) in.extra = c["extra"];
  in.now = golden_now(c);
  return in;
}

}  // namespace nibble::test
