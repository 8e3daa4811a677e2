// A fast 64-bit content hash for the job record (is this the same input, the same calibration,
// the same measurement?): not cryptographic, stable across runs and machines. Used by the job
// record and the orchestration.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "model/weight_source.h"
#include "util/thread_pool.h"

namespace nibble::quant {

class Hasher {
 public:
  void add(const void* data, std::size_t n);
  void add(std::string_view s) {
    add_u64(s.size());
    add(s.data(), s.size());
  }
  void add_u64(std::uint64_t v);
  std::uint64_t digest() const;
  std::string hex() const;  // 16 lowercase hex digits

 private:
  std::uint64_t h_ = 0x6a09e667f3bcc909ull;
  std::uint64_t n_ = 0;
};

std::uint64_t hash_bytes(const void* data, std::size_t n);

// config.json and every tensor (name, dtype, shape, bytes) of a model, tensors hashed in parallel
// and combined in name order.
Result<std::string> hash_model(const WeightSource& ws, ThreadPool& pool);

}  // namespace nibble::quant
