// PagePool: a mutex-guarded stack of free page ids.
#include "model/page_pool.h"

namespace nibble {

PagePool::PagePool(int n_pages) : total_(n_pages), in_use_(static_cast<std::size_t>(n_pages), 0) {
  free_.reserve(static_cast<std::size_t>(n_pages));
  for (int i = n_pages - 1; i >= 0; --i) free_.push_back(i);
}

int PagePool::free_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(free_.size());
}

Result<std::vector<std::int32_t>> PagePool::allocate(int count) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (count < 0) return make_error(ErrorKind::invalid_argument, "cannot allocate ", count, " pages");
  if (static_cast<std::size_t>(count) > free_.size())
    return make_error(ErrorKind::out_of_memory, "KV cache full: ", count, " pages needed, ", free_.size(), " of ", total_,
                      " free (load with a larger context)");
  std::vector<std::int32_t> out(free_.end() - count, free_.end());
  free_.resize(free_.size() - static_cast<std::size_t>(count));
  for (auto p : out) in_use_[static_cast<std::size_t>(p)] = 1;
  return out;
}

void PagePool::release(std::span<const std::int32_t> pages) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto p : pages) {
    if (p < 0 || p >= total_ || !in_use_[static_cast<std::size_t>(p)]) continue;
    in_use_[static_cast<std::size_t>(p)] = 0;
    free_.push_back(p);
  }
}

}  // namespace nibble
