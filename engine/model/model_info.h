// Builds the public ModelInfo (architecture, sizes, parameter count, format and bits per weight
// per layer type) from an opened WeightSource, validating every layer on the way. Used by
// inspect_model and Model::load.
#pragma once

#include "model/weight_source.h"
#include "nibble/model.h"

namespace nibble {

Result<ModelInfo> build_model_info(const WeightSource& weights);

}  // namespace nibble
