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
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "tokenizer/unicode.h"

namespace nibble::tok {

namespace {
constexpr std::size_t kCacheMaxWordBytes = 256;
constexpr std::size_t kCacheMaxEntries = 1 << 17;
constexpr std::size_t kSegmentMinBytes = 48;

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return static_cast<std::size_t>(hash_bytes(s)); }
};
struct StringEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};
}  // namespace

// Word -> ids memo shared by all threads encoding with one tokenizer. Stops growing when full
// (as HF's cache does); lookups take a shared lock.
class WordCache {
 public:
  bool lookup(std::string_view word, std::vector<std::int32_t>& out) const {
    std::shared_lock lock(mu_);
    auto it = map_.find(word);
    if (it == map_.end()) return false;
    out.insert(out.end(), it->second.begin(), it->second.end());
    return true;
  }
  void insert(std::string_view word, const std::int32_t* ids, std::size_t n) {
    std::unique_lock lock(mu_);
    if (map_.size() >= kCacheMaxEntries) return;
    map_.try_emplace(std::string(word), ids, ids + n);
  }

 private:
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, std::vector<std::int32_t>, StringHash, StringEq> map_;
};

BpeModel::BpeModel() : cache_(std::make_unique<WordCache>()) { byte_ids_.fill(-1); }
BpeModel::~BpeModel() = default;
BpeModel::BpeModel(BpeModel&&) noexcept = default;
BpeModel& BpeModel::operator=(BpeModel&&) noexcept = default;

Status BpeModel::add_merge(std::string_view left, std::string_view right, std::uint32_t rank,
                           std::string_view where) {
  auto l = vocab_.find(left);
  if (!l) return make_error(ErrorKind::format, where, ": merge token '", left, "' is not in the vocabulary");
  auto r = vocab_.find(right);
  if (!r) return make_error(ErrorKind::format, where, ": merge token '", right, "' is not in the vocabulary");
  // With a continuing-subword prefix, the right part carries it and the merged token does not.
  std::string_view right_tail = right;
  const std::string& prefix = options_.continuing_subword_prefix;
  if (!prefix.empty() && right_tail.substr(0, prefix.size()) == prefix) right_tail.remove_prefix(prefix.size());
  std::string merged;
  merged.reserve(left.size() + right_tail.size());
  merged.append(left).append(right_tail);
  auto m = vocab_.find(merged);
  if (!m) return make_error(ErrorKind::format, where, ": merged token '", merged, "' is not in the vocabulary");
  merges_.set(*l, *r, MergeTable::Merge{rank, *m});
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
    if (i == t.size() && cp < 0x10000) bmp_ids_[cp] = *vocab_.find(t);
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
        bigrams_.push_back((std::uint64_t(prev) << 32) | cp);
        prev = cp;
      }
    }
    std::sort(bigrams_.begin(), bigrams_.end());
    bigrams_.erase(std::unique(bigrams_.begin(), bigrams_.end()), bigrams_.end());
  }
  return {};
}

std::int32_t BpeModel::char_id(char32_t cp, std::string_view text) const {
  if (cp < 0x10000) return bmp_ids_[cp];
  auto id = vocab_.find(text);
  return id ? *id : -1;
}

bool BpeModel::cut_allowed(char32_t a, char32_t b) const {
  std::uint64_t key = (std::uint64_t(a) << 32) | b;
  return !std::binary_search(bigrams_.begin(), bigrams_.end(), key);
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

void BpeModel::encode_uncached(std::string_view word, std::vector<std::int32_t>& out) const {
  std::size_t before = out.size();
  encode_segment(word, out);
  if (word.size() < kCacheMaxWordBytes) cache_->insert(word, out.data() + before, out.size() - before);
}

void BpeModel::encode_word(std::string_view word, std::vector<std::int32_t>& out) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (auto id = vocab_.find(word)) {
      out.push_back(*id);
      return;
    }
  }
  if (!segmentable_ || word.size() < kSegmentMinBytes) {
    if (!cache_->lookup(word, out)) encode_uncached(word, out);
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
      std::string_view piece = word.substr(start, at - start);
      if (!cache_->lookup(piece, out)) encode_uncached(piece, out);
      start = at;
    }
    prev = cp;
    prev_known = known;
  }
  std::string_view piece = word.substr(start);
  if (!cache_->lookup(piece, out)) encode_uncached(piece, out);
}

}  // namespace nibble::tok
