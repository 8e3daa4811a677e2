// Reads the RoPE settings of config.json into ModelSpec::rope, from either convention: classic
// top-level `rope_theta` + `rope_scaling`, or transformers 5 `rope_parameters` (which wins when
// both are present, as transformers does). Called by parse_model_spec only.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "model/spec.h"

namespace nibble {

Status read_rope_config(const nlohmann::json& config, const std::string& file, ModelSpec& spec);

}  // namespace nibble
