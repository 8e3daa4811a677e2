// nibble-cli generate.
#include <ostream>

#include "commands.h"

namespace nibble::cli {

int cmd_generate(int argc, char** argv, CommandIo io) {
  io.err << "nibble-cli generate: not available in this build yet\n";
  return 1;
}

}  // namespace nibble::cli
