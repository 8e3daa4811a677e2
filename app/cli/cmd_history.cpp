// nibble-cli history.
#include <ostream>

#include "commands.h"

namespace nibble::cli {

int cmd_history(int argc, char** argv, CommandIo io) {
  io.err << "nibble-cli history: not available in this build yet\n";
  return 1;
}

}  // namespace nibble::cli
