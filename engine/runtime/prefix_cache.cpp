// PageCache: allocation, publication, lookup and LRU eviction of KV pages.
#include "runtime/prefix_cache.h"

#include <algorithm>

namespace nibble {

std::uint64_t page_hash(std::uint64_t parent, std::span<const std::int32_t> tokens) {
  std::uint64_t h = parent ^ 0x9e3779b97f4a7c15ull;
  for (auto t : tokens) {
    h ^= static_cast<std::uint32_t>(t);
    h *= 0x100000001b3ull;
    h ^= h >> 29;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h == 0 ? 1 : h;  // 0 is "no parent"
}

PageCache::PageCache(Model& model, bool keep_unreferenced) : model_(model), page_size_(model.page_size()), keep_(keep_unreferenced) {}

PageCache::~PageCache() {
  std::vector<std::int32_t> all;
  all.reserve(pages_.size());
  for (const auto& [p, e] : pages_) all.push_back(p);
  model_.free_pages(all);
}

int PageCache::available() const { return model_.pages_free() + static_cast<int>(lru_.size()); }

void PageCache::evict_one() {
  const std::int32_t p = lru_.front();
  lru_.pop_front();
  auto it = pages_.find(p);
  by_hash_.erase(it->second.hash);
  pages_.erase(it);
  model_.free_pages(std::span<const std::int32_t>(&p, 1));
  ++evictions_;
}

Result<std::vector<std::int32_t>> PageCache::allocate(int count) {
  if (count < 0) return make_error(ErrorKind::invalid_argument, "cannot allocate ", count, " pages");
  if (count > available())
    return make_error(ErrorKind::out_of_memory, "KV cache full: ", count, " pages needed, ", available(), " of ",
                      model_.pages_total(), " available (load with a larger context)");
  while (model_.pages_free() < count && !lru_.empty()) evict_one();
  NIBBLE_ASSIGN_OR_RETURN(auto out, model_.allocate_pages(count));
  for (auto p : out) {
    Entry e;
    e.refs = 1;
    pages_[p] = std::move(e);
  }
  return out;
}

const PageCache::Entry* PageCache::find(std::uint64_t hash, std::uint64_t parent, std::span<const std::int32_t> tokens) const {
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return nullptr;
  const Entry& e = pages_.at(it->second);
  if (e.parent != parent || !std::equal(e.tokens.begin(), e.tokens.end(), tokens.begin(), tokens.end())) return nullptr;
  return &e;
}

int PageCache::count_prefix(std::span<const std::int32_t> tokens, int max_pages, int* unreferenced) const {
  std::uint64_t parent = 0;
  int n = 0;
  if (unreferenced) *unreferenced = 0;
  for (; n < max_pages && static_cast<std::size_t>(n + 1) * page_size_ <= tokens.size(); ++n) {
    const auto part = tokens.subspan(static_cast<std::size_t>(n) * page_size_, static_cast<std::size_t>(page_size_));
    const std::uint64_t h = page_hash(parent, part);
    const Entry* e = find(h, parent, part);
    if (!e) break;
    if (unreferenced && e->refs == 0) ++*unreferenced;
    parent = h;
  }
  return n;
}

std::vector<std::int32_t> PageCache::acquire_prefix(std::span<const std::int32_t> tokens, int max_pages,
                                                    std::vector<std::uint64_t>& hashes) {
  std::vector<std::int32_t> out;
  hashes.clear();
  std::uint64_t parent = 0;
  for (int n = 0; n < max_pages && static_cast<std::size_t>(n + 1) * page_size_ <= tokens.size(); ++n) {
    const auto part = tokens.subspan(static_cast<std::size_t>(n) * page_size_, static_cast<std::size_t>(page_size_));
    const std::uint64_t h = page_hash(parent, part);
    if (!find(h, parent, part)) break;
    const std::int32_t p = by_hash_.at(h);
    Entry& e = pages_.at(p);
    if (e.refs++ == 0) lru_.erase(e.lru);
    out.push_back(p);
    hashes.push_back(h);
    parent = h;
    ++hits_;
  }
  return out;
}

void PageCache::publish(std::int32_t page, std::uint64_t hash, std::uint64_t parent, std::span<const std::int32_t> tokens) {
  auto it = pages_.find(page);
  if (it == pages_.end() || it->second.published || by_hash_.count(hash)) return;
  Entry& e = it->second;
  e.published = true;
  e.hash = hash;
  e.parent = parent;
  e.tokens.assign(tokens.begin(), tokens.end());
  by_hash_[hash] = page;
}

void PageCache::release(std::span<const std::int32_t> pages) {
  for (auto p : pages) {
    auto it = pages_.find(p);
    if (it == pages_.end() || it->second.refs == 0) continue;
    Entry& e = it->second;
    if (--e.refs > 0) continue;
    if (e.published && keep_) {
      e.lru = lru_.insert(lru_.end(), p);
      continue;
    }
    if (e.published) by_hash_.erase(e.hash);
    pages_.erase(it);
    model_.free_pages(std::span<const std::int32_t>(&p, 1));
  }
}

void PageCache::clear() {
  while (!lru_.empty()) evict_one();
}

CacheStats PageCache::stats() const {
  CacheStats s;
  s.pages_total = model_.pages_total();
  s.pages_cached = static_cast<int>(lru_.size());
  s.pages_in_use = static_cast<int>(pages_.size()) - s.pages_cached;
  s.hits = hits_;
  s.evictions = evictions_;
  return s;
}

}  // namespace nibble
