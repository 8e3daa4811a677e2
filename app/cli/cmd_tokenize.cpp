// nibble-cli tokenize.
#include <ostream>

#include "commands.h"

namespace nibble::cli {

int cmd_tokenize(int argc, char** argv, CommandIo io) {
  io.err << "nibble-cli tokenize: not available in this build yet\n";
  return 1;
}

int cmd_detokenize(int argc, char** argv, CommandIo io) {
  io.err << "nibble-cli detokenize: not available in this build yet\n";
  return 1;
}

}  // namespace nibble::cli
