#include "model/layout_options.h"

#include <string>

namespace nibble {

Status check_layout_options(std::string_view what, int max_batch_tokens, int page_size, int context,
                            const std::vector<int>& split_layers, int n_layers) {
  auto bad = [&](const std::string& detail) { return make_error(ErrorKind::invalid_argument, what, ": ", detail); };
  if (max_batch_tokens < 1 || max_batch_tokens > (1 << 16)) return bad("max_batch_tokens must be in [1, 65536]");
  if (page_size < 1 || page_size > (1 << 16)) return bad("page_size must be in [1, 65536]");
  if (context < 0 || context > (1 << 24)) return bad("context must be in [0, 16M] tokens");
  int prev = 0;
  for (int b : split_layers) {
    if (b <= prev || b >= n_layers)
      return bad("split_layers must increase strictly inside (0, " + std::to_string(n_layers) + ")");
    prev = b;
  }
  return {};
}

}  // namespace nibble
