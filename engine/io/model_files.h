// Model folder layout: finds config.json and the safetensors weights (one file, shards named by
// model.safetensors.index.json, or every *.safetensors), refuses pickled checkpoints, and opens
// all weight files as one TensorSet (name -> view). Knows nothing about architectures.
// Used by model/ (WeightSource) and the quantizer.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "io/safetensors.h"
#include "nibble/error.h"

namespace nibble {

struct ModelFiles {
  std::string dir;
  std::string config_path;                // dir/config.json
  std::string index_path;                 // dir/model.safetensors.index.json, or "" when absent
  std::vector<std::string> weight_files;  // full paths, sorted
};

// `path`: a model folder (or a file inside one). not_found when there is no config.json or no
// weights; unsupported for pickled (*.bin, *.pt, *.pth) or GGUF weights; format for a bad index.
Result<ModelFiles> locate_model_files(const std::string& path);

// Every tensor of a model's weight files, kept mapped. Duplicate names across shards, and an index
// that places a tensor in a file that lacks it, are format errors.
class TensorSet {
 public:
  static Result<TensorSet> open(const ModelFiles& files);

  const TensorView* find(const std::string& name) const;  // nullptr when absent
  const std::vector<const TensorView*>& all() const { return all_; }  // sorted by name
  // "model.safetensors" or "model-00001-of-00002.safetensors, ..." for error messages.
  const std::string& files_description() const { return files_description_; }
  std::size_t total_bytes() const;

 private:
  std::vector<SafetensorsFile> files_;
  std::unordered_map<std::string, const TensorView*> by_name_;
  std::vector<const TensorView*> all_;
  std::string files_description_;
};

}  // namespace nibble
