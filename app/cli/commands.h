// nibble-cli command table. Each command is one function in its own cmd_<name>.cpp, taking the
// arguments after the command name and the streams to write to; it returns the process exit code
// (0 ok, 1 failure with a message on `err`, 2 usage error). Commands never call exit().
#pragma once

#include <iosfwd>
#include <string_view>

namespace nibble::cli {

struct CommandIo {
  std::ostream& out;
  std::ostream& err;
};

using CommandFn = int (*)(int argc, char** argv, CommandIo io);

struct Command {
  std::string_view name;
  std::string_view summary;
  CommandFn run;
};

int cmd_info(int argc, char** argv, CommandIo io);
int cmd_generate(int argc, char** argv, CommandIo io);
int cmd_perplexity(int argc, char** argv, CommandIo io);
int cmd_tokenize(int argc, char** argv, CommandIo io);
int cmd_detokenize(int argc, char** argv, CommandIo io);
int cmd_template(int argc, char** argv, CommandIo io);
int cmd_history(int argc, char** argv, CommandIo io);
int cmd_quantize(int argc, char** argv, CommandIo io);
int cmd_bench(int argc, char** argv, CommandIo io);
int cmd_chat(int argc, char** argv, CommandIo io);
int cmd_serve(int argc, char** argv, CommandIo io);

// The table, in the order `nibble-cli --help` lists it.
const Command* commands_begin();
const Command* commands_end();

// Entry used by main() and by tests: argv[0] is the program name.
int run_cli(int argc, char** argv, CommandIo io);

}  // namespace nibble::cli
