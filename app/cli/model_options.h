// Options shared by the nibble-cli commands that load a model (--device, --threads, --context):
// parsing into LoadOptions with usage errors. Used by generate and perplexity.
#pragma once

#include <set>
#include <string>

#include "args.h"
#include "nibble/model.h"

namespace nibble::cli {

// The value options these flags add to a command's parser.
inline const std::set<std::string> kModelValueOptions = {"device", "threads", "context"};
inline constexpr const char* kModelOptionsUsage =
    "  --device cpu|cuda:N   where the model runs (default cpu)\n"
    "  --threads N           CPU threads (default: all cores)\n"
    "  --context N           KV cache capacity in tokens (default: the model's, at most 8192)\n";

// Fills `out`; false with a message in `error` on a malformed value.
bool parse_model_options(const Args& args, LoadOptions& out, std::string& error);

}  // namespace nibble::cli
