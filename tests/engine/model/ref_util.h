// Helpers shared by the model tests: loading the demo model and the EXL2 test model, reading
// reference JSON, relative L2 distance and argmax.
#pragma once

#include <cmath>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "nibble/model.h"

namespace nibble {

inline std::string demo_model_dir() { return std::string(NIBBLE_RESOURCES_DIR) + "/models/dictlm-16m"; }
inline std::string exl2_model_dir() { return std::string(NIBBLE_TEST_DATA_DIR) + "/models/dictlm-16m-exl2-4.0"; }

inline Result<std::unique_ptr<Model>> load_demo_model(LoadOptions opts = {}) { return Model::load(demo_model_dir(), opts); }

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// ||a - b|| / ||b|| in double.
inline double rel_l2(const float* a, const float* b, std::size_t n) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    num += d * d;
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

inline int argmax_of(const float* x, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

}  // namespace nibble
