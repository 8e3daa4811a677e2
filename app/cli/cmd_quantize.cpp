// nibble-cli quantize.
#include <ostream>

#include "commands.h"

namespace nibble::cli {

int cmd_quantize(int argc, char** argv, CommandIo io) {
  io.err << "nibble-cli quantize: not available in this build yet\n";
  return 1;
}

}  // namespace nibble::cli
