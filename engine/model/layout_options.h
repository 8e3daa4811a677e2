// The checks shared by Model::load and the memory plan on the sizes that shape a loaded model:
// batch tokens, KV page size, context and the layer split points.
#pragma once

#include <string_view>
#include <vector>

#include "nibble/error.h"

namespace nibble {

// invalid_argument naming the setting, with `what` ("load options", "memory plan") in front.
Status check_layout_options(std::string_view what, int max_batch_tokens, int page_size, int context,
                            const std::vector<int>& split_layers, int n_layers);

}  // namespace nibble
