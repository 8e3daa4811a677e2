// nibble-cli perplexity.
#include <ostream>

#include "commands.h"

namespace nibble::cli {

int cmd_perplexity(int argc, char** argv, CommandIo io) {
  io.err << "nibble-cli perplexity: not available in this build yet\n";
  return 1;
}

}  // namespace nibble::cli
