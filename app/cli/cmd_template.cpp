// nibble-cli template.
#include <ostream>

#include "commands.h"

namespace nibble::cli {

int cmd_template(int argc, char** argv, CommandIo io) {
  io.err << "nibble-cli template: not available in this build yet\n";
  return 1;
}

}  // namespace nibble::cli
