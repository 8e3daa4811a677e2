// BpeModel: the merge loop, initial symbols, long-word segmentation and the word cache.
//
// Merging follows HF: repeatedly merge the adjacent pair with the lowest rank, leftmost first, via
// a binary heap with lazy invalidation (O(n log n) per word). Long words (a SentencePiece-style
// tokenizer sees a whole line as one word) are first cut where no vocabulary token spans the two
// neighbouring characters: no merge can ever cross such a cut, so the pieces merge independently
// to the same result, and each piece can hit the cache.
#include "tokenizer/bpe_model.h"

#include <algorithm>
#include <cstdio>
#include <atomic>
#include <cstring>
#include <thread>

#include "tokenizer/unicode.h"

namespace nibble::tok {

namespace {
constexpr std::size_t kCacheMaxWordBytes = 256;
constexpr std::size_t kCacheMaxEntries = 1 << 16;
constexpr std::size_t kSegmentMinBytes = 48;

std::atomic<std::uint64_t> next_model_uid{1};
}  // namespace

// Word -> ids memo, one per thread (no locking on the hot path), for the model that used it
// last: a thread that switches to another model starts it afresh. Cleared when full.
class WordCache {
 public:
  static WordCache& for_model(std::uint64_t uid) {
    thread_local WordCache cache;
    if (cache.owner_ != uid) cache.reset(uid);
    return cache;
  }

  bool lookup(std::string_view word, std::uint64_t hash, std::vector<std::int32_t>& out) const {
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.key_len == kEmpty) return false;
      if (s.hash == hash && s.key_len == word.size() && std::memcmp(keys_.data() + s.key_off, word.data(), word.size()) == 0) {
        out.insert(out.end(), ids_.begin() + s.ids_off, ids_.begin() + s.ids_off + s.n_ids);
        return true;
      }
    }
  }

  void insert(std::string_view word, std::uint64_t hash, const std::int32_t* ids, std::size_t n) {
    if (count_ >= kCacheMaxEntries) reset(owner_);
    if ((count_ + 1) * 2 > slots_.size()) grow();
    std::size_t mask = slots_.size() - 1;
    std::size_t i = hash & mask;
    while (slots_[i].key_len != kEmpty) i = (i + 1) & mask;
    slots_[i] = Slot{hash, static_cast<std::uint32_t>(keys_.size()), static_cast<std::uint32_t>(word.size()),
                     static_cast<std::uint32_t>(ids_.size()), static_cast<std::uint32_t>(n)};
    keys_.append(word);
    ids_.insert(ids_.end(), ids, ids + n);
    ++count_;
  }

 private:
  static constexpr std::uint32_t kEmpty = 0xFFFFFFFFu;
  struct Slot {
    std::uint64_t hash;
    std::uint32_t key_off, key_len, ids_off, n_ids;
  };
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.size() * 2, Slot{0, 0, kEmpty, 0, 0});
    std::size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.key_len == kEmpty) continue;
      std::size_t i = s.hash & mask;
      while (slots_[i].key_len != kEmpty) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }
  void reset(std::uint64_t uid) {
    owner_ = uid;
    slots_.assign(4096, Slot{0, 0, kEmpty, 0, 0});
    keys_.clear();
    ids_.clear();
    count_ = 0;
  }

  std::uint64_t owner_ = 0;
  std::vector<Slot> slots_;
  std::string keys_;
  std::vector<std::int32_t> ids_;
  std::size_t count_ = 0;
};

BpeModel::BpeModel() : uid_(next_model_uid.fetch_add(1)) { byte_ids_.fill(-1); }
BpeModel::~BpeModel() = default;
BpeModel::BpeModel(BpeModel&&) noexcept = default;
BpeModel& BpeModel::operator=(BpeModel&&) noexcept = default;

namespace {

using MergeList = std::vector<std::pair<std::string_view, std::string_view>>;

struct ResolvedMerge {
  std::int32_t left, right, merged;
};

// Resolves merges[begin, end) to ids. Lookups go in batches: hash and prefetch a batch's slots,
// then resolve them, so the cache misses of the big vocabulary overlap instead of queueing.
// Returns the index of the first merge with a missing token (and which part), or `end`.
std::size_t resolve_merges(const Vocab& vocab, const std::string& prefix, const MergeList& merges, std::size_t begin,
                           std::size_t end, std::vector<ResolvedMerge>& out, int& missing_part) {
  constexpr std::size_t kBatch = 32;
  std::string merged;
  std::size_t merged_at[kBatch + 1];
  std::uint64_t hashes[kBatch][3];
  for (std::size_t base = begin; base < end; base += kBatch) {
    std::size_t n = std::min(kBatch, end - base);
    merged.clear();
    for (std::size_t j = 0; j < n; ++j) {
      auto [left, right] = merges[base + j];
      // With a continuing-subword prefix, the right part carries it and the merged token does not.
      if (!prefix.empty() && right.substr(0, prefix.size()) == prefix) right.remove_prefix(prefix.size());
      merged_at[j] = merged.size();
      merged.append(left).append(right);
    }
    merged_at[n] = merged.size();
    auto merged_view = [&](std::size_t j) {
      return std::string_view(merged).substr(merged_at[j], merged_at[j + 1] - merged_at[j]);
    };
    for (std::size_t j = 0; j < n; ++j) {
      hashes[j][0] = hash_bytes(merges[base + j].first);
      hashes[j][1] = hash_bytes(merges[base + j].second);
      hashes[j][2] = hash_bytes(merged_view(j));
      for (std::uint64_t h : hashes[j]) vocab.prefetch(h);
    }
    for (std::size_t j = 0; j < n; ++j) {
      std::string_view parts[3] = {merges[base + j].first, merges[base + j].second, merged_view(j)};
      std::int32_t ids[3];
      for (int k = 0; k < 3; ++k) {
        auto id = vocab.find_hashed(parts[k], hashes[j][k]);
        if (!id) {
          missing_part = k;
          return base + j;
        }
        ids[k] = *id;
      }
      out[base + j] = ResolvedMerge{ids[0], ids[1], ids[2]};
    }
  }
  return end;
}

}  // namespace

Status BpeModel::add_merges(const MergeList& merges, std::string_view where) {
  std::vector<ResolvedMerge> resolved(merges.size());
  // Resolving is read-only on the vocabulary and bound by memory latency: big lists are split
  // over a few threads (Gemma-3's 515k merges are most of its load time otherwise).
  std::size_t threads = merges.size() < 65536 ? 1 : std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 8);
  std::vector<std::size_t> bad(threads);
  std::vector<int> bad_part(threads, 0);
  std::size_t chunk = (merges.size() + threads - 1) / threads;
  auto work = [&](std::size_t t) {
    std::size_t begin = std::min(merges.size(), t * chunk), end = std::min(merges.size(), begin + chunk);
    bad[t] = resolve_merges(vocab_, options_.continuing_subword_prefix, merges, begin, end, resolved, bad_part[t]);
    if (bad[t] == end) bad[t] = merges.size();
  };
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  for (std::size_t t = 0; t < threads; ++t) {
    if (bad[t] == merges.size()) continue;
    const auto& [left, right] = merges[bad[t]];
    std::string_view what = bad_part[t] == 0 ? left : right;
    if (bad_part[t] == 2)
      return make_error(ErrorKind::format, where, "[", bad[t], "]: the merge of '", left, "' and '", right,
                        "' is not in the vocabulary");
    return make_error(ErrorKind::format, where, "[", bad[t], "]: token '", what, "' is not in the vocabulary");
  }
  merges_.reserve(merges.size());
  constexpr std::size_t kAhead = 16;
  for (std::size_t i = 0; i < resolved.size(); ++i) {
    if (i + kAhead < resolved.size()) merges_.prefetch(resolved[i + kAhead].left, resolved[i + kAhead].right);
    merges_.set(resolved[i].left, resolved[i].right, MergeTable::Merge{static_cast<std::uint32_t>(i), resolved[i].merged});
  }
  return {};
}

Status BpeModel::finish() {
  if (options_.unk_token) {
    unk_id_ = vocab_.find(*options_.unk_token);
    if (!unk_id_) return make_error(ErrorKind::format, "model.unk_token '", *options_.unk_token, "' is not in the vocabulary");
  }
  all_byte_ids_ = true;
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    auto id = vocab_.find(name);
    byte_ids_[b] = id ? *id : -1;
    if (!id) all_byte_ids_ = false;
  }
  plain_symbols_ = options_.continuing_subword_prefix.empty() && options_.end_of_word_suffix.empty();
  bmp_ids_.assign(0x10000, -1);
  for (std::int32_t id = 0; id < vocab_.end_id(); ++id) {
    std::string_view t = vocab_.token(id);
    if (t.empty()) continue;
    std::size_t i = 0;
    char32_t cp = utf8_next(t, i);
    if (i == t.size() && cp < 0x10000) bmp_ids_[cp] = id;
  }
  segmentable_ = plain_symbols_ && (!unk_id_ || (options_.byte_fallback && all_byte_ids_));
  bigrams_.clear();
  if (segmentable_) {
    for (std::int32_t id = 0; id < vocab_.end_id(); ++id) {
      std::string_view t = vocab_.token(id);
      std::size_t i = 0;
      if (t.empty()) continue;
      char32_t prev = utf8_next(t, i);
      while (i < t.size()) {
        char32_t cp = utf8_next(t, i);
        bigrams_.insert((std::uint64_t(prev) << 32) | cp);
        prev = cp;
      }
    }
  }
  return {};
}

std::int32_t BpeModel::char_id(char32_t cp, std::string_view text) const {
  if (cp < 0x10000) return bmp_ids_[cp];
  auto id = vocab_.find(text);
  return id ? *id : -1;
}

bool BpeModel::cut_allowed(char32_t a, char32_t b) const {
  return !bigrams_.contains((std::uint64_t(a) << 32) | b);
}

void BpeModel::initial_symbols(std::string_view word, std::vector<Symbol>& symbols) const {
  symbols.clear();
  bool unk_pending = false;  // an unk symbol of `unk_bytes` bytes waits to be pushed
  std::uint32_t unk_bytes = 0;
  std::string composed;
  auto push = [&](std::int32_t id, std::uint32_t bytes) {
    symbols.push_back(Symbol{id, static_cast<std::int32_t>(symbols.size()) - 1, -1, bytes});
  };
  std::size_t i = 0;
  while (i < word.size()) {
    std::size_t start = i;
    char32_t cp = utf8_next(word, i);
    std::string_view text = word.substr(start, i - start);
    std::int32_t id;
    std::string_view symbol_text = text;
    if (plain_symbols_) {
      id = char_id(cp, text);
    } else {
      composed.clear();
      if (start > 0) composed.append(options_.continuing_subword_prefix);
      composed.append(text);
      if (i == word.size()) composed.append(options_.end_of_word_suffix);
      symbol_text = composed;
      auto found = vocab_.find(composed);
      id = found ? *found : -1;
    }
    auto byte_len = static_cast<std::uint32_t>(text.size());
    if (id >= 0) {
      if (unk_pending) {
        push(*unk_id_, unk_bytes);
        unk_pending = false;
      }
      push(id, byte_len);
      continue;
    }
    if (options_.byte_fallback) {
      bool all = true;
      for (unsigned char b : symbol_text) all = all && byte_ids_[b] >= 0;
      if (all) {
        for (unsigned char b : symbol_text) push(byte_ids_[b], 1);
        continue;
      }
    }
    if (unk_id_) {
      if (unk_pending && options_.fuse_unk) {
        unk_bytes += byte_len;
      } else {
        if (unk_pending) push(*unk_id_, unk_bytes);
        unk_pending = true;
        unk_bytes = byte_len;
      }
    }
  }
  if (unk_pending) push(*unk_id_, unk_bytes);
  for (std::size_t k = 0; k + 1 < symbols.size(); ++k) symbols[k].next = static_cast<std::int32_t>(k + 1);
}

void BpeModel::merge_all(std::vector<Symbol>& symbols) const {
  struct Candidate {
    std::uint32_t rank;
    std::int32_t pos;
    std::int32_t merged;
  };
  // Min-heap on (rank, pos): std heaps are max-heaps, so "less" means "comes later".
  auto later = [](const Candidate& a, const Candidate& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  };
  thread_local std::vector<Candidate> heap;
  heap.clear();
  for (std::size_t k = 0; k + 1 < symbols.size(); ++k) {
    if (const auto* m = merges_.find(symbols[k].id, symbols[k + 1].id))
      heap.push_back(Candidate{m->rank, static_cast<std::int32_t>(k), m->merged});
  }
  std::make_heap(heap.begin(), heap.end(), later);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    Candidate top = heap.back();
    heap.pop_back();
    Symbol& cur = symbols[top.pos];
    if (cur.bytes == 0 || cur.next < 0) continue;
    Symbol& right = symbols[cur.next];
    const auto* m = merges_.find(cur.id, right.id);
    if (!m || m->merged != top.merged) continue;
    cur.id = top.merged;
    cur.bytes += right.bytes;
    right.bytes = 0;
    cur.next = right.next;
    if (cur.next >= 0) symbols[cur.next].prev = top.pos;
    if (cur.prev >= 0) {
      if (const auto* pm = merges_.find(symbols[cur.prev].id, cur.id)) {
        heap.push_back(Candidate{pm->rank, cur.prev, pm->merged});
        std::push_heap(heap.begin(), heap.end(), later);
      }
    }
    if (cur.next >= 0) {
      if (const auto* nm = merges_.find(cur.id, symbols[cur.next].id)) {
        heap.push_back(Candidate{nm->rank, top.pos, nm->merged});
        std::push_heap(heap.begin(), heap.end(), later);
      }
    }
  }
}

void BpeModel::encode_segment(std::string_view word, std::vector<std::int32_t>& out) const {
  thread_local std::vector<Symbol> symbols;
  initial_symbols(word, symbols);
  merge_all(symbols);
  for (const Symbol& s : symbols)
    if (s.bytes != 0) out.push_back(s.id);
}

void BpeModel::encode_cached(std::string_view word, WordCache& cache, std::vector<std::int32_t>& out) const {
  std::uint64_t hash = hash_bytes(word);
  if (cache.lookup(word, hash, out)) return;
  std::size_t before = out.size();
  encode_segment(word, out);
  if (word.size() < kCacheMaxWordBytes) cache.insert(word, hash, out.data() + before, out.size() - before);
}

void BpeModel::encode_word(std::string_view word, std::vector<std::int32_t>& out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (auto id = vocab_.find(word)) {
      out.push_back(*id);
      return;
    }
  }
  WordCache& cache = WordCache::for_model(uid_);
  if (!segmentable_ || word.size() < kSegmentMinBytes) {
    encode_cached(word, cache, out);
    return;
  }
  std::size_t start = 0, i = 0;
  char32_t prev = utf8_next(word, i);
  bool prev_known = char_id(prev, word.substr(0, i)) >= 0;
  while (i < word.size()) {
    std::size_t at = i;
    char32_t cp = utf8_next(word, i);
    bool known = char_id(cp, word.substr(at, i - at)) >= 0;
    if (prev_known && known && cut_allowed(prev, cp)) {
      encode_cached(word.substr(start, at - start), cache, out);
      start = at;
    }
    prev = cp;
    prev_known = known;
  }
  encode_cached(word.substr(start), cache, out);
}

}  // namespace nibble::tok
