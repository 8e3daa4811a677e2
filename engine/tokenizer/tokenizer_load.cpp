// Tokenizer::load entry point (the BPE implementation is not in this build yet).
#include "nibble/tokenizer.h"

namespace nibble {

Result<std::unique_ptr<Tokenizer>> Tokenizer::load(const std::string& path) {
  return make_error(ErrorKind::unsupported, path, ": tokenizers are not available in this build yet");
}

}  // namespace nibble
