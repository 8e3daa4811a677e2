// WeightSource: a model folder opened for loading. Gives a backend the host view of each tensor by
// name (mmap'd bytes + dtype + shape) and, per linear layer, a validated LinearDesc (format found
// from the tensor names). Every float tensor handed out has been scanned for NaN/inf. Owns the
// ModelSpec and the mapped files; knows no device. Built by Model::load, read by backends and the
// quantizer.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "formats/linear.h"
#include "io/model_files.h"
#include "model/spec.h"

namespace nibble {

class WeightSource {
 public:
  // Reads config.json (+ generation_config.json stop ids) and maps the weights. An architecture
  // outside the known four loads as Llama only when its config keys and tensor names prove it is one.
  static Result<std::unique_ptr<WeightSource>> open(const std::string& path);

  const ModelSpec& spec() const { return spec_; }
  const std::string& dir() const { return files_.dir; }
  const TensorSet& tensors() const { return tensors_; }

  // A tensor by name; a format error naming the folder, files and tensor when it is missing.
  Result<TensorView> tensor(const std::string& name) const;
  // A float tensor of exactly `shape` whose values are all finite (embeddings, norms).
  Result<TensorView> dense(const std::string& name, const std::vector<std::int64_t>& shape) const;
  // The linear layer `prefix` with K inputs and N outputs, validated; `bias` says whether the
  // architecture has one (a bias tensor is then required).
  Result<LinearDesc> linear(const std::string& prefix, int K, int N, bool bias) const;
  // The output head: lm_head's tensors when present, else the embeddings when tied.
  Result<LinearDesc> head() const;

  // Tensor names of decoder layer `layer` ("model.layers.3." + suffix).
  static std::string layer_name(int layer, const char* suffix);

 private:
  WeightSource() = default;
  Status prove_llama(const std::vector<std::string>& non_llama_keys);
  Error missing(const std::string& name) const;

  ModelFiles files_;
  TensorSet tensors_;
  ModelSpec spec_;
};

// format error naming the tensor and the first non-finite element, if any.
Status check_finite(const TensorView& t);

}  // namespace nibble
