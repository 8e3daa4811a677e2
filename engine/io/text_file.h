// Reads a whole text file for the evaluation tools (perplexity corpora, dialog JSONL), gunzipping
// it transparently when it is gzip-compressed. Owns no parsing. Used by nibble-cli perplexity.
#pragma once

#include <string>

#include "nibble/error.h"

namespace nibble {

// io error naming the path on failure; unsupported for gzip input in a build without zlib.
Result<std::string> read_text_file(const std::string& path);

}  // namespace nibble
