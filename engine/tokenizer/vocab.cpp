// Vocab and MergeTable: open addressing with linear probing, power-of-two tables kept at most
// half full. Strings live in one arena; slots keep a 32-bit hash tag so most misses never touch
// the arena.
#include "tokenizer/vocab.h"

#include <cstring>

namespace nibble::tok {

std::uint64_t hash_bytes(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t n = s.size();
  std::uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0xff51afd7ed558ccdULL);
  while (n >= 8) {
    std::uint64_t k;
    std::memcpy(&k, p, 8);
    h = (h ^ k) * 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 31;
    p += 8;
    n -= 8;
  }
  if (n) {
    std::uint64_t k = 0;
    std::memcpy(&k, p, n);
    h = (h ^ k) * 0x94d049bb133111ebULL;
    h ^= h >> 29;
  }
  h *= 0xd6e8feb86659fd93ULL;
  h ^= h >> 32;
  return h;
}

void Vocab::reserve(std::size_t entries, std::size_t bytes) {
  entries_.reserve(entries);
  arena_.reserve(bytes);
  std::size_t cap = 16;
  while (cap < entries * 2) cap <<= 1;
  if (cap > slots_.size()) {
    slots_.assign(cap, Slot{0, 0});
    for (std::size_t e = 0; e < entries_.size(); ++e) {
      std::uint64_t h = hash_bytes(entry_text(entries_[e]));
      std::size_t mask = slots_.size() - 1;
      std::size_t i = h & mask;
      while (slots_[i].entry_plus_one) i = (i + 1) & mask;
      slots_[i] = Slot{static_cast<std::uint32_t>(e + 1), static_cast<std::uint32_t>(h >> 32)};
    }
  }
}

void Vocab::grow() { reserve(entries_.size() * 2 + 16, arena_.size()); }

void Vocab::set(std::string_view token, std::int32_t id) {
  if ((entries_.size() + 1) * 2 > slots_.size()) grow();
  std::uint64_t h = hash_bytes(token);
  std::uint32_t tag = static_cast<std::uint32_t>(h >> 32);
  std::size_t mask = slots_.size() - 1;
  std::size_t i = h & mask;
  for (;; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (!s.entry_plus_one) break;
    if (s.tag == tag && entry_text(entries_[s.entry_plus_one - 1]) == token) {
      Entry& e = entries_[s.entry_plus_one - 1];
      if (by_id_[e.id] == static_cast<std::int32_t>(s.entry_plus_one - 1)) by_id_[e.id] = -1;
      e.id = id;
      if (static_cast<std::size_t>(id) >= by_id_.size()) by_id_.resize(id + 1, -1);
      by_id_[id] = static_cast<std::int32_t>(s.entry_plus_one - 1);
      return;
    }
  }
  Entry e{static_cast<std::uint32_t>(arena_.size()), static_cast<std::uint32_t>(token.size()), id};
  arena_.append(token);
  entries_.push_back(e);
  slots_[i] = Slot{static_cast<std::uint32_t>(entries_.size()), tag};
  if (static_cast<std::size_t>(id) >= by_id_.size()) by_id_.resize(id + 1, -1);
  by_id_[id] = static_cast<std::int32_t>(entries_.size() - 1);
}

std::optional<std::int32_t> Vocab::find(std::string_view token) const {
  if (slots_.empty()) return std::nullopt;
  std::uint64_t h = hash_bytes(token);
  std::uint32_t tag = static_cast<std::uint32_t>(h >> 32);
  std::size_t mask = slots_.size() - 1;
  for (std::size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (!s.entry_plus_one) return std::nullopt;
    if (s.tag == tag) {
      const Entry& e = entries_[s.entry_plus_one - 1];
      if (e.length == token.size() && std::memcmp(arena_.data() + e.offset, token.data(), token.size()) == 0)
        return e.id;
    }
  }
}

bool Vocab::has(std::int32_t id) const {
  return id >= 0 && static_cast<std::size_t>(id) < by_id_.size() && by_id_[id] >= 0;
}

std::string_view Vocab::token(std::int32_t id) const {
  if (!has(id)) return {};
  return entry_text(entries_[by_id_[id]]);
}

void MergeTable::reserve(std::size_t n) {
  std::size_t cap = 16;
  while (cap < n * 2) cap <<= 1;
  if (cap <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(cap, Slot{kEmpty, {0, 0}});
  std::size_t mask = cap - 1;
  for (const Slot& s : old) {
    if (s.key == kEmpty) continue;
    std::size_t i = mix(s.key) & mask;
    while (slots_[i].key != kEmpty) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

void MergeTable::grow() { reserve(size_ * 2 + 16); }

void MergeTable::set(std::int32_t left, std::int32_t right, Merge m) {
  if ((size_ + 1) * 2 > slots_.size()) grow();
  std::uint64_t key = pack(left, right);
  std::size_t mask = slots_.size() - 1;
  for (std::size_t i = mix(key) & mask;; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (s.key == key) {
      s.merge = m;
      return;
    }
    if (s.key == kEmpty) {
      s = Slot{key, m};
      ++size_;
      return;
    }
  }
}

}  // namespace nibble::tok
