// nibble-cli bench.
#include <ostream>

#include "commands.h"

namespace nibble::cli {

int cmd_bench(int argc, char** argv, CommandIo io) {
  io.err << "nibble-cli bench: not available in this build yet\n";
  return 1;
}

}  // namespace nibble::cli
