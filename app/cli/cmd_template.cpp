// nibble-cli template: renders a model's chat template for a conversation and prints the prompt.
// Reads the templates with load_chat_templates; when the template fails it reports the error
// (with line and column) and prints the plain ChatML prompt the app would fall back to.
#include <fstream>
#include <ostream>
#include <sstream>

#include "args.h"
#include "commands.h"
#include "nibble/chat_template.h"

namespace nibble::cli {

namespace {

constexpr const char* usage =
    "Usage: nibble-cli template MODEL_DIR --messages FILE.json [--tools FILE.json] [--documents FILE.json]\n"
    "                           [--add-generation-prompt] [--var KEY=VALUE]... [--template NAME] [--no-fallback]\n"
    "  --var values are JSON when they parse as JSON (true, 3, [..]), strings otherwise.\n";

bool read_json_file(const std::string& path, nlohmann::ordered_json& out, std::ostream& err) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    err << "nibble-cli template: io: " << path << ": cannot open\n";
    return false;
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  out = nlohmann::ordered_json::parse(buf.str(), nullptr, false);
  if (out.is_discarded()) {
    err << "nibble-cli template: format: " << path << ": not valid JSON\n";
    return false;
  }
  return true;
}

}  // namespace

int cmd_template(int argc, char** argv, CommandIo io) {
  Args args(argc, argv, {"messages", "tools", "documents", "var", "template"});
  if (!args.error().empty()) {
    io.err << "nibble-cli template: " << args.error() << "\n" << usage;
    return 2;
  }
  if (auto bad = args.unknown({"add-generation-prompt", "no-fallback"})) {
    io.err << "nibble-cli template: unknown option " << *bad << "\n" << usage;
    return 2;
  }
  if (args.positionals().size() != 1 || !args.value("messages")) {
    io.err << usage;
    return 2;
  }
  ChatRenderInput input;
  for (const auto& kv : args.values("var")) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      io.err << "nibble-cli template: --var expects KEY=VALUE, got '" << kv << "'\n";
      return 2;
    }
    auto value = nlohmann::ordered_json::parse(kv.substr(eq + 1), nullptr, false);
    input.extra[kv.substr(0, eq)] = value.is_discarded() ? nlohmann::ordered_json(kv.substr(eq + 1)) : value;
  }
  if (!read_json_file(*args.value("messages"), input.messages, io.err)) return 1;
  if (input.messages.is_object() && input.messages.contains("messages")) input.messages = input.messages["messages"];
  if (!input.messages.is_array()) {
    io.err << "nibble-cli template: format: " << *args.value("messages") << ": expected a list of messages\n";
    return 1;
  }
  if (auto tools = args.value("tools"))
    if (!read_json_file(*tools, input.tools, io.err)) return 1;
  if (auto documents = args.value("documents"))
    if (!read_json_file(*documents, input.documents, io.err)) return 1;
  input.add_generation_prompt = args.flag("add-generation-prompt");

  auto model = load_chat_templates(args.positionals()[0]);
  if (!model) {
    io.err << "nibble-cli template: " << model.error().to_string() << "\n";
    return 1;
  }
  input.bos_token = model->bos_token;
  input.eos_token = model->eos_token;
  const std::string* source = nullptr;
  if (auto name = args.value("template")) {
    auto it = model->templates.find(*name);
    if (it == model->templates.end()) {
      io.err << "nibble-cli template: the model has no chat template named '" << *name << "'\n";
      return 1;
    }
    source = &it->second;
  } else {
    source = select_chat_template(model->templates, !input.tools.is_null());
  }

  Result<std::string> prompt = make_error(ErrorKind::not_found, args.positionals()[0], ": no chat template found");
  if (source) {
    auto tmpl = ChatTemplate::parse(*source);
    prompt = tmpl ? (*tmpl)->render(input) : Result<std::string>(tmpl.error());
  }
  if (prompt) {
    io.out << *prompt;
    return 0;
  }
  io.err << "nibble-cli template: " << prompt.error().to_string() << "\n";
  if (args.flag("no-fallback")) return 1;
  io.err << "nibble-cli template: falling back to a plain ChatML prompt\n";
  io.out << render_chatml(input.messages, input.add_generation_prompt);
  return 1;
}

}  // namespace nibble::cli
