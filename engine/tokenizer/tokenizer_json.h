// Parsing of tokenizer.json (and of GPT-2's encoder.json + vocab.bpe) into TokenizerParts.
// The vocabulary and merges go through the fast JsonScanner; the other sections through
// nlohmann::json. Exceptions stay inside; errors come back as ErrorKind::format/unsupported
// naming `name` and the field. Called by tokenizer_load.cpp.
#pragma once

#include <string_view>

#include "nibble/error.h"
#include "tokenizer/hf_tokenizer.h"

namespace nibble::tok {

Result<TokenizerParts> parse_tokenizer_json(std::string_view text, std::string_view name);

// GPT-2's original files: encoder.json (token -> id) and vocab.bpe (one merge per line after a
// "#version" header), with GPT-2's byte-level pre-tokenizer and decoder and <|endoftext|>.
Result<TokenizerParts> parse_gpt2_files(std::string_view encoder_json, std::string_view vocab_bpe,
                                        std::string_view name);

}  // namespace nibble::tok
