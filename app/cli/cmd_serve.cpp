// nibble-cli serve.
#include <ostream>

#include "commands.h"

namespace nibble::cli {

int cmd_serve(int argc, char** argv, CommandIo io) {
  io.err << "nibble-cli serve: not available in this build yet\n";
  return 1;
}

}  // namespace nibble::cli
