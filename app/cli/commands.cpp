// The nibble-cli dispatcher: --version, --help, and the command table.
#include "commands.h"

#include <cstring>
#include <ostream>

#include "nibble/version.h"

namespace nibble::cli {
namespace {

const Command kCommands[] = {
    {"info", "show a model's architecture, sizes, format and memory plan", cmd_info},
    {"generate", "generate tokens or text from a prompt", cmd_generate},
    {"chat", "chat with a model in the terminal", cmd_chat},
    {"perplexity", "measure perplexity on a text file", cmd_perplexity},
    {"tokenize", "turn text into token ids", cmd_tokenize},
    {"detokenize", "turn token ids into text", cmd_detokenize},
    {"template", "render a conversation with the model's chat template", cmd_template},
    {"quantize", "quantize an fp16/bf16 model to EXL2", cmd_quantize},
    {"bench", "run the speed benchmarks", cmd_bench},
    {"history", "list, search, export and import conversations", cmd_history},
    {"serve", "serve an OpenAI-compatible API", cmd_serve},
};

void print_help(std::ostream& out) {
  out << "Usage: nibble-cli COMMAND [ARGS...]\n"
         "       nibble-cli --version\n\n"
         "Commands:\n";
  for (const auto& c : kCommands) {
    out << "  " << c.name;
    for (std::size_t i = c.name.size(); i < 12; ++i) out << ' ';
    out << c.summary << '\n';
  }
  out << "\nRun 'nibble-cli COMMAND --help' for a command's options.\n";
}

}  // namespace

const Command* commands_begin() { return std::begin(kCommands); }
const Command* commands_end() { return std::end(kCommands); }

int run_cli(int argc, char** argv, CommandIo io) {
  if (argc < 2) {
    print_help(io.err);
    return 2;
  }
  const char* name = argv[1];
  if (std::strcmp(name, "--version") == 0 || std::strcmp(name, "version") == 0) {
    io.out << "nibble-cli " << NIBBLE_VERSION_STRING << '\n';
    return 0;
  }
  if (std::strcmp(name, "--help") == 0 || std::strcmp(name, "-h") == 0 || std::strcmp(name, "help") == 0) {
    print_help(io.out);
    return 0;
  }
  for (const auto& c : kCommands) {
    if (c.name == name) return c.run(argc - 2, argv + 2, io);
  }
  io.err << "nibble-cli: unknown command '" << name << "' (see nibble-cli --help)\n";
  return 2;
}

}  // namespace nibble::cli
