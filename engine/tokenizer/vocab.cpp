// Vocab and MergeTable: open addressing with linear probing, power-of-two tables kept at most
// half full. Strings live in one arena; a Vocab slot carries the first 16 bytes of its string so
// comparing most tokens never touches the arena.
#include "tokenizer/vocab.h"

#include <algorithm>
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

Vocab::Head Vocab::head_of(std::string_view s) {
  Head h{{0, 0}};
  std::memcpy(h.w, s.data(), s.size() < 16 ? s.size() : 16);
  return h;
}

bool Vocab::same(const Slot& slot, std::string_view s, const Head& head) const {
  if (slot.head[0] != head.w[0] || slot.head[1] != head.w[1] || slot.length != s.size()) return false;
  return s.size() <= 16 || std::memcmp(arena_.data() + slot.offset + 16, s.data() + 16, s.size() - 16) == 0;
}

void Vocab::reserve(std::size_t entries, std::size_t bytes) {
  arena_.reserve(bytes);
  std::size_t cap = 16;
  while (cap < entries * 2) cap <<= 1;
  if (cap <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(cap, Slot{{0, 0}, kEmpty, 0, 0});
  std::size_t mask = cap - 1;
  for (const Slot& s : old) {
    if (s.length == kEmpty) continue;
    std::size_t i = hash_bytes(std::string_view(arena_.data() + s.offset, s.length)) & mask;
    while (slots_[i].length != kEmpty) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

void Vocab::grow() { reserve(size_ * 2 + 16, arena_.size()); }

void Vocab::set_all(const std::vector<std::pair<std::string_view, std::int32_t>>& entries) {
  std::size_t bytes = arena_.size();
  for (const auto& e : entries) bytes += e.first.size();
  reserve(size_ + entries.size(), bytes);
  constexpr std::size_t kBatch = 32;
  std::uint64_t hashes[kBatch];
  for (std::size_t base = 0; base < entries.size(); base += kBatch) {
    std::size_t n = std::min(kBatch, entries.size() - base);
    for (std::size_t j = 0; j < n; ++j) {
      hashes[j] = hash_bytes(entries[base + j].first);
      prefetch(hashes[j]);
    }
    for (std::size_t j = 0; j < n; ++j) set_hashed(entries[base + j].first, entries[base + j].second, hashes[j]);
  }
}

void Vocab::set_hashed(std::string_view token, std::int32_t id, std::uint64_t h) {
  if ((size_ + 1) * 2 > slots_.size()) grow();
  Head head = head_of(token);
  std::size_t mask = slots_.size() - 1;
  std::size_t i = h & mask;
  if (static_cast<std::size_t>(id) >= by_id_.size()) by_id_.resize(static_cast<std::size_t>(id) + 1, Text{0, kEmpty});
  for (;; i = (i + 1) & mask) {
    Slot& s = slots_[i];
    if (s.length == kEmpty) break;
    if (same(s, token, head)) {
      Text& old = by_id_[static_cast<std::size_t>(s.id)];
      if (old.length != kEmpty && old.offset == s.offset) old.length = kEmpty;
      s.id = id;
      by_id_[static_cast<std::size_t>(id)] = Text{s.offset, s.length};
      return;
    }
  }
  auto offset = static_cast<std::uint32_t>(arena_.size());
  slots_[i] = Slot{{head.w[0], head.w[1]}, static_cast<std::uint32_t>(token.size()), id, offset};
  arena_.append(token);
  ++size_;
  by_id_[static_cast<std::size_t>(id)] = Text{offset, static_cast<std::uint32_t>(token.size())};
}

std::optional<std::int32_t> Vocab::find_hashed(std::string_view token, std::uint64_t h) const {
  if (slots_.empty()) return std::nullopt;
  Head head = head_of(token);
  std::size_t mask = slots_.size() - 1;
  for (std::size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.length == kEmpty) return std::nullopt;
    if (same(s, token, head)) return s.id;
  }
}

bool Vocab::has(std::int32_t id) const {
  return id >= 0 && static_cast<std::size_t>(id) < by_id_.size() && by_id_[static_cast<std::size_t>(id)].length != kEmpty;
}

std::string_view Vocab::token(std::int32_t id) const {
  if (!has(id)) return {};
  const Text& t = by_id_[static_cast<std::size_t>(id)];
  return {arena_.data() + t.offset, t.length};
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

void PairSet::insert(std::uint64_t key) {
  if ((size_ + 1) * 2 > slots_.size()) {
    std::vector<std::uint64_t> old = std::move(slots_);
    slots_.assign(old.empty() ? 1024 : old.size() * 2, kEmpty);
    size_ = 0;
    for (std::uint64_t k : old)
      if (k != kEmpty) insert(k);
  }
  std::size_t mask = slots_.size() - 1;
  for (std::size_t i = mix(key) & mask;; i = (i + 1) & mask) {
    if (slots_[i] == key) return;
    if (slots_[i] == kEmpty) {
      slots_[i] = key;
      ++size_;
      return;
    }
  }
}

}  // namespace nibble::tok
