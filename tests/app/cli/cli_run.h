// Runs nibble-cli in-process for the command tests: argv from a list, captured stdout/stderr.
#pragma once

#include <sstream>
#include <string>
#include <vector>

#include "commands.h"

namespace nibble::cli::test {

struct CliRun {
  int code;
  std::string out;
  std::string err;
};

inline CliRun run_cli_args(std::vector<std::string> args) {
  args.insert(args.begin(), "nibble-cli");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  std::ostringstream out, err;
  const int code = run_cli(static_cast<int>(argv.size()), argv.data(), {out, err});
  return {code, out.str(), err.str()};
}

}  // namespace nibble::cli::test
