// The BPE vocabulary (token string <-> id) and the merge table ((left id, right id) -> rank,
// merged id), as flat open-addressing hash tables filled with batched, prefetched lookups.
// Owns the token strings (one arena). Used by bpe_model.cpp and the tokenizer loader.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nibble::tok {

std::uint64_t hash_bytes(std::string_view s);

class Vocab {
 public:
  void reserve(std::size_t entries, std::size_t bytes);
  // Later entries with the same string replace earlier ones (as a JSON object read into a map).
  void set(std::string_view token, std::int32_t id) { set_hashed(token, id, hash_bytes(token)); }
  // set() for many entries, with batched prefetching.
  void set_all(const std::vector<std::pair<std::string_view, std::int32_t>>& entries);
  std::optional<std::int32_t> find(std::string_view token) const { return find_hashed(token, hash_bytes(token)); }
  // For batched lookups: hash first, prefetch, then find (hides the cache misses of big tables).
  void prefetch(std::uint64_t hash) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[hash & (slots_.size() - 1)]);
  }
  std::optional<std::int32_t> find_hashed(std::string_view token, std::uint64_t hash) const;
  // The string of `id`, or an empty view (and `has` false) when no entry has that id.
  std::string_view token(std::int32_t id) const;
  bool has(std::int32_t id) const;
  std::size_t size() const { return size_; }  // distinct strings
  std::int32_t end_id() const { return static_cast<std::int32_t>(by_id_.size()); }  // max id + 1

 private:
  // A slot holds the first 16 bytes of its string, so lookups of tokens up to 16 bytes (nearly
  // all) never read the arena: one cache miss per lookup, two slots per cache line.
  struct alignas(32) Slot {
    std::uint64_t head[2];  // first 16 bytes, zero-padded
    std::uint32_t length;   // 0xFFFFFFFF = empty slot
    std::int32_t id;
    std::uint32_t offset;   // into the arena
  };
  struct Head {
    std::uint64_t w[2];
  };
  static constexpr std::uint32_t kEmpty = 0xFFFFFFFFu;
  struct Text {
    std::uint32_t offset;
    std::uint32_t length;  // kEmpty for ids without a token
  };
  static Head head_of(std::string_view s);
  bool same(const Slot& slot, std::string_view s, const Head& head) const;
  void set_hashed(std::string_view token, std::int32_t id, std::uint64_t hash);
  void grow();

  std::string arena_;
  std::vector<Slot> slots_;
  std::vector<Text> by_id_;  // id -> its string in the arena
  std::size_t size_ = 0;
};

class MergeTable {
 public:
  struct Merge {
    std::uint32_t rank;
    std::int32_t merged;
  };
  void reserve(std::size_t n);
  // A pair listed twice keeps the later rank, as HF's merge map does.
  void set(std::int32_t left, std::int32_t right, Merge m);
  void prefetch(std::int32_t left, std::int32_t right) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[mix(pack(left, right)) & (slots_.size() - 1)]);
  }
  const Merge* find(std::int32_t left, std::int32_t right) const {
    if (slots_.empty()) return nullptr;
    std::uint64_t key = pack(left, right);
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = mix(key) & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s.merge;
      if (s.key == kEmpty) return nullptr;
    }
  }
  std::size_t size() const { return size_; }

 private:
  static constexpr std::uint64_t kEmpty = ~std::uint64_t{0};
  struct Slot {
    std::uint64_t key;
    Merge merge;
  };
  static std::uint64_t pack(std::int32_t l, std::int32_t r) {
    return (std::uint64_t(std::uint32_t(l)) << 32) | std::uint32_t(r);
  }
  static std::size_t mix(std::uint64_t k) {
    k ^= k >> 29;
    k *= 0xbf58476d1ce4e5b9ULL;
    k ^= k >> 32;
    return static_cast<std::size_t>(k);
  }
  void grow();

  std::vector<Slot> slots_;
  std::size_t size_ = 0;
};

// A set of 64-bit keys (pairs of code points), for BpeModel's cut test.
class PairSet {
 public:
  void insert(std::uint64_t key);
  bool contains(std::uint64_t key) const {
    if (slots_.empty()) return false;
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = mix(key) & mask;; i = (i + 1) & mask) {
      if (slots_[i] == key) return true;
      if (slots_[i] == kEmpty) return false;
    }
  }
  void clear() {
    slots_.clear();
    size_ = 0;
  }

 private:
  static constexpr std::uint64_t kEmpty = ~std::uint64_t{0};
  static std::size_t mix(std::uint64_t k) {
    k *= 0x9E3779B97F4A7C15ULL;
    return static_cast<std::size_t>(k ^ (k >> 29));
  }
  std::vector<std::uint64_t> slots_;
  std::size_t size_ = 0;
};

}  // namespace nibble::tok
