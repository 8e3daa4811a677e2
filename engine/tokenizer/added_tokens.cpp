// AddedTokenMatcher: a byte trie searched leftmost-longest (the Aho-Corasick match kind HF uses;
// patterns are short, so walking the trie from each candidate start is cheap), then HF's
// single_word / lstrip / rstrip rules.
#include "tokenizer/added_tokens.h"

#include <algorithm>
#include <map>

#include "tokenizer/unicode.h"

namespace nibble::tok {

void AddedTokenMatcher::build(const std::vector<AddedToken>& tokens, const std::vector<std::string>& patterns) {
  tokens_.clear();
  nodes_.clear();
  edges_.clear();
  std::fill(std::begin(root_child_), std::end(root_child_), -1);
  // Build with maps, then flatten into sorted edge arrays.
  struct Build {
    std::map<unsigned char, std::uint32_t> kids;
    std::int32_t token = -1;
  };
  std::vector<Build> build(1);
  for (std::size_t k = 0; k < tokens.size(); ++k) {
    const std::string& p = patterns[k];
    if (p.empty()) continue;
    std::uint32_t node = 0;
    for (unsigned char b : p) {
      auto it = build[node].kids.find(b);
      if (it == build[node].kids.end()) {
        build.push_back({});
        it = build[node].kids.emplace(b, static_cast<std::uint32_t>(build.size() - 1)).first;
      }
      node = it->second;
    }
    if (build[node].token < 0) {  // a repeated pattern keeps its first token
      build[node].token = static_cast<std::int32_t>(tokens_.size());
      tokens_.push_back(tokens[k]);
    }
  }
  if (tokens_.empty()) return;
  nodes_.resize(build.size());
  for (std::size_t n = 0; n < build.size(); ++n) {
    nodes_[n] = Node{static_cast<std::uint32_t>(edges_.size()), static_cast<std::uint32_t>(build[n].kids.size()),
                     build[n].token};
    for (const auto& [b, child] : build[n].kids) edges_.push_back(Edge{b, child});
  }
  for (const auto& [b, child] : build[0].kids) root_child_[b] = static_cast<std::int32_t>(child);
}

std::int32_t AddedTokenMatcher::longest_at(std::string_view text, std::size_t at, std::size_t& end) const {
  std::int32_t child = root_child_[static_cast<unsigned char>(text[at])];
  if (child < 0) return -1;
  std::int32_t best = -1;
  std::uint32_t node = static_cast<std::uint32_t>(child);
  std::size_t i = at + 1;
  for (;;) {
    const Node& nd = nodes_[node];
    if (nd.token >= 0) {
      best = nd.token;
      end = i;
    }
    if (i >= text.size() || nd.edge_count == 0) break;
    auto b = static_cast<unsigned char>(text[i]);
    const Edge* first = edges_.data() + nd.first_edge;
    const Edge* last = first + nd.edge_count;
    const Edge* e = std::lower_bound(first, last, b, [](const Edge& x, unsigned char v) { return x.byte < v; });
    if (e == last || e->byte != b) break;
    node = e->child;
    ++i;
  }
  return best;
}

namespace {

bool ends_with_word(std::string_view s) {
  if (s.empty()) return false;
  std::size_t i = s.size();
  return is_word_char(utf8_prev(s, i));
}

bool starts_with_word(std::string_view s) {
  if (s.empty()) return false;
  std::size_t i = 0;
  return is_word_char(utf8_next(s, i));
}

// Start of the whitespace run that ends `s`.
std::size_t trailing_space_start(std::string_view s) {
  std::size_t end = s.size();
  while (end > 0) {
    std::size_t i = end;
    if (!is_white_space(utf8_prev(s, i))) break;
    end = i;
  }
  return end;
}

// Length of the whitespace run that starts `s`.
std::size_t leading_space_length(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t j = i;
    if (!is_white_space(utf8_next(s, j))) break;
    i = j;
  }
  return i;
}

}  // namespace

void AddedTokenMatcher::split(std::string_view text, std::vector<AddedSplit>& out) const {
  out.clear();
  if (tokens_.empty() || text.empty()) {
    out.push_back({0, text.size(), -1});
    return;
  }
  std::size_t start_offset = 0;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = 0;
    std::int32_t k = longest_at(text, at, end);
    if (k < 0) {
      ++at;
      continue;
    }
    std::size_t match_begin = at;
    at = end;  // the search resumes after this match whatever becomes of it
    const AddedToken& token = tokens_[k];
    std::size_t start = match_begin, stop = end;
    if (token.single_word) {
      bool start_ok = start == 0 || !ends_with_word(text.substr(0, start));
      bool stop_ok = stop == text.size() || !starts_with_word(text.substr(stop));
      if (!start_ok || !stop_ok) continue;
    }
    if (token.lstrip) start = std::max(trailing_space_start(text.substr(0, start)), start_offset);
    if (token.rstrip) stop += leading_space_length(text.substr(stop));
    if (start_offset < start) out.push_back({start_offset, start, -1});
    out.push_back({start, stop, token.id});
    start_offset = stop;
  }
  if (start_offset != text.size()) out.push_back({start_offset, text.size(), -1});
}

}  // namespace nibble::tok
