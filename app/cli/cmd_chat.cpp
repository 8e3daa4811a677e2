// nibble-cli chat.
#include <ostream>

#include "commands.h"

namespace nibble::cli {

int cmd_chat(int argc, char** argv, CommandIo io) {
  io.err << "nibble-cli chat: not available in this build yet\n";
  return 1;
}

}  // namespace nibble::cli
