// nibble-cli info.
#include <ostream>

#include "commands.h"

namespace nibble::cli {

int cmd_info(int argc, char** argv, CommandIo io) {
  io.err << "nibble-cli info: not available in this build yet\n";
  return 1;
}

}  // namespace nibble::cli
