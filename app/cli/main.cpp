// nibble-cli entry point: hands argv to the command table.
#include <iostream>

#include "commands.h"

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  return nibble::cli::run_cli(argc, argv, {std::cout, std::cerr});
}
