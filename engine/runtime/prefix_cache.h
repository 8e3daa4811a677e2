// PageCache: the runtime's KV page allocator over Model's free list, with prefix reuse. A full
// page is identified by a hash chained over the token ids of every page before it and its own;
// published pages are shared by reference count, and unreferenced ones stay cached in LRU order
// until the pool runs short. Lookups verify the page's tokens and parent, so a hash collision can
// never hand out wrong KV. Internal to engine/runtime; one Generator owns one PageCache.
#pragma once

#include <cstdint>
#include <list>
#include <span>
#include <unordered_map>
#include <vector>

#include "nibble/model.h"
#include "nibble/runtime.h"

namespace nibble {

// Hash of a full page given its parent's hash (0 for the first page).
std::uint64_t page_hash(std::uint64_t parent, std::span<const std::int32_t> tokens);

class PageCache {
 public:
  PageCache(Model& model, bool keep_unreferenced);
  ~PageCache();
  PageCache(const PageCache&) = delete;
  PageCache& operator=(const PageCache&) = delete;

  int page_size() const { return page_size_; }
  // Pages an allocation could get now (free in the model + unreferenced cached ones).
  int available() const;
  // Fresh private pages (refcount 1), evicting the least recently used cached pages when the
  // model's free list is short. out_of_memory when even that is not enough (nothing is taken).
  Result<std::vector<std::int32_t>> allocate(int count);
  // The longest run of cached pages holding tokens[0, k * page_size) for k <= max_pages; each
  // returned page gets a reference. `hashes` receives the chain hash of each returned page.
  std::vector<std::int32_t> acquire_prefix(std::span<const std::int32_t> tokens, int max_pages,
                                           std::vector<std::uint64_t>& hashes);
  // How many pages acquire_prefix would return (no references taken); `unreferenced` receives how
  // many of them sit in the LRU (acquiring them makes them unavailable to allocate()).
  int count_prefix(std::span<const std::int32_t> tokens, int max_pages, int* unreferenced = nullptr) const;
  // Makes a full private page findable under `hash`. A page already published under that hash
  // wins; this one stays private.
  void publish(std::int32_t page, std::uint64_t hash, std::uint64_t parent, std::span<const std::int32_t> tokens);
  // Drops one reference per page; unreferenced published pages go to the LRU (or back to the
  // model when caching is off), private ones back to the model.
  void release(std::span<const std::int32_t> pages);
  // Returns every unreferenced cached page to the model.
  void clear();
  CacheStats stats() const;

 private:
  struct Entry {
    int refs = 0;
    bool published = false;
    std::uint64_t hash = 0, parent = 0;
    std::vector<std::int32_t> tokens;
    std::list<std::int32_t>::iterator lru;  // valid while refs == 0 and published
  };
  const Entry* find(std::uint64_t hash, std::uint64_t parent, std::span<const std::int32_t> tokens) const;
  void evict_one();

  Model& model_;
  int page_size_;
  bool keep_;
  std::unordered_map<std::int32_t, Entry> pages_;        // every page taken from the model
  std::unordered_map<std::uint64_t, std::int32_t> by_hash_;
  std::list<std::int32_t> lru_;                          // unreferenced published pages, oldest first
  std::int64_t hits_ = 0, evictions_ = 0;
};

}  // namespace nibble
