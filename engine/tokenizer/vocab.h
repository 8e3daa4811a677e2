// The BPE vocabulary (token string <-> id) and the merge table ((left id, right id) -> rank,
// merged id), as flat open-addressing hash tables: a 262k-entry vocabulary loads in a few ms.
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
  void set(std::string_view token, std::int32_t id);
  std::optional<std::int32_t> find(std::string_view token) const;
  // The string of `id`, or an empty view (and `has` false) when no entry has that id.
  std::string_view token(std::int32_t id) const;
  bool has(std::int32_t id) const;
  std::size_t size() const { return entries_.size(); }  // distinct strings
  std::int32_t end_id() const { return static_cast<std::int32_t>(by_id_.size()); }  // max id + 1

 private:
  struct Entry {
    std::uint32_t offset;
    std::uint32_t length;
    std::int32_t id;
  };
  struct Slot {
    std::uint32_t entry_plus_one;  // 0 = empty
    std::uint32_t tag;             // low 32 bits of the hash
  };
  std::string_view entry_text(const Entry& e) const { return {arena_.data() + e.offset, e.length}; }
  void grow();

  std::string arena_;
  std::vector<Entry> entries_;
  std::vector<Slot> slots_;
  std::vector<std::int32_t> by_id_;  // id -> entry index, -1 for holes
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

}  // namespace nibble::tok
