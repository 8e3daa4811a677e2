// PagePool: the free list of KV cache page ids [0, n). Owns ids only (the memory lives in each
// segment's per-layer pools). Used by Model and its Sequences; the runtime's allocator (prefix
// sharing, eviction) will replace it.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <vector>

#include "nibble/error.h"

namespace nibble {

class PagePool {
 public:
  explicit PagePool(int n_pages);

  int total() const { return total_; }
  int free_count() const;
  // out_of_memory (naming the shortfall) when fewer than `count` pages are free; all or nothing.
  Result<std::vector<std::int32_t>> allocate(int count);
  // Pages must come from allocate() and not be freed twice (checked; double frees are ignored).
  void release(std::span<const std::int32_t> pages);

 private:
  mutable std::mutex mutex_;
  int total_;
  std::vector<std::int32_t> free_;     // stack of free ids
  std::vector<std::uint8_t> in_use_;   // [total]
};

}  // namespace nibble
