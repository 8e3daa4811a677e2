// Pre-tokenizer implementations. Splitting follows HF's NormalizedString::split: the pattern's
// matches and the gaps between them cover the piece, `invert` swaps which is which, the behaviour
// decides what becomes of matches, and empty pieces are dropped.
#include "tokenizer/pre_tokenizers.h"

#include <algorithm>
#include <vector>

#include "tokenizer/byte_level.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace nibble::tok {

namespace {

enum class Behavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

Behavior parse_behavior(const std::string& s, std::string_view where) {
  if (s == "Removed") return Behavior::removed;
  if (s == "Isolated") return Behavior::isolated;
  if (s == "MergedWithPrevious") return Behavior::merged_with_previous;
  if (s == "MergedWithNext") return Behavior::merged_with_next;
  if (s == "Contiguous") return Behavior::contiguous;
  spec_fail(where, "unknown split behavior '" + s + "'");
}

struct Part {
  std::size_t begin, end;
  bool match;
};

// Matches plus the gaps between them, covering [0, n) (one empty gap for an empty piece).
void cover(std::size_t n, const std::vector<Span>& matches, bool invert, std::vector<Part>& parts) {
  parts.clear();
  if (n == 0) {
    parts.push_back({0, 0, invert});
    return;
  }
  std::size_t prev = 0;
  for (const Span& m : matches) {
    if (prev != m.first) parts.push_back({prev, m.first, invert});
    parts.push_back({m.first, m.second, !invert});
    prev = m.second;
  }
  if (prev != n) parts.push_back({prev, n, invert});
}

// Applies the behaviour (HF's fold rules) and emits the non-empty pieces.
void emit_parts(std::string_view s, std::vector<Part>& parts, Behavior behavior, bool at_origin,
                const PieceSink& next) {
  std::vector<Part> out;
  out.reserve(parts.size());
  bool previous_match = false;
  switch (behavior) {
    case Behavior::isolated:
      for (Part& p : parts) p.match = false;
      out.swap(parts);
      break;
    case Behavior::removed:
      out.swap(parts);
      break;
    case Behavior::contiguous:
      for (const Part& p : parts) {
        if (p.match == previous_match && !out.empty()) {
          out.back().end = p.end;
        } else {
          out.push_back({p.begin, p.end, false});
        }
        previous_match = p.match;
      }
      break;
    case Behavior::merged_with_previous:
      for (const Part& p : parts) {
        if (p.match && !previous_match && !out.empty()) {
          out.back().end = p.end;
        } else {
          out.push_back({p.begin, p.end, false});
        }
        previous_match = p.match;
      }
      break;
    case Behavior::merged_with_next:
      for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
        if (it->match && !previous_match && !out.empty()) {
          out.back().begin = it->begin;
        } else {
          out.push_back({it->begin, it->end, false});
        }
        previous_match = it->match;
      }
      std::reverse(out.begin(), out.end());
      break;
  }
  for (const Part& p : out) {
    if (p.match || p.begin == p.end) continue;  // removed delimiters, empty pieces
    next(s.substr(p.begin, p.end - p.begin), at_origin && p.begin == 0);
  }
}

// Each character satisfying `pred` is its own match (HF's Fn(char) pattern).
template <class Pred>
void char_matches(std::string_view s, Pred pred, std::vector<Span>& out) {
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t start = i;
    if (pred(utf8_next(s, i))) out.emplace_back(start, i);
  }
}

class Split final : public PreTokenizer {
 public:
  Split(Regex pattern, Behavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  Status run(std::string_view piece, bool at_origin, const PieceSink& next) const override {
    std::vector<Span> matches;
    NIBBLE_TRY(pattern_.find_all(piece, matches));
    if (behavior_ == Behavior::isolated) {  // the hot path of byte-level tokenizers
      std::size_t prev = 0;
      for (const Span& m : matches) {
        if (prev != m.first) next(piece.substr(prev, m.first - prev), at_origin && prev == 0);
        if (m.first != m.second) next(piece.substr(m.first, m.second - m.first), at_origin && m.first == 0);
        prev = m.second;
      }
      if (prev < piece.size()) next(piece.substr(prev), at_origin && prev == 0);
      return {};
    }
    std::vector<Part> parts;
    cover(piece.size(), matches, invert_, parts);
    emit_parts(piece, parts, behavior_, at_origin, next);
    return {};
  }

 private:
  Regex pattern_;
  Behavior behavior_;
  bool invert_;
};

template <class Pred>
class CharSplit final : public PreTokenizer {
 public:
  CharSplit(Pred pred, Behavior behavior) : pred_(pred), behavior_(behavior) {}
  Status run(std::string_view piece, bool at_origin, const PieceSink& next) const override {
    std::vector<Span> matches;
    char_matches(piece, pred_, matches);
    std::vector<Part> parts;
    cover(piece.size(), matches, false, parts);
    emit_parts(piece, parts, behavior_, at_origin, next);
    return {};
  }

 private:
  Pred pred_;
  Behavior behavior_;
};

template <class Pred>
std::unique_ptr<PreTokenizer> char_split(Pred pred, Behavior behavior) {
  return std::make_unique<CharSplit<Pred>>(pred, behavior);
}

class ByteLevel final : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space) {
    if (use_regex) regex_ = std::make_unique<Regex>(std::move(Regex::compile(kGpt2Pattern, "gpt2")).value());
  }
  Status run(std::string_view piece, bool at_origin, const PieceSink& next) const override {
    std::string prefixed;
    if (add_prefix_space_ && !piece.empty() && piece.front() != ' ') {
      prefixed.reserve(piece.size() + 1);
      prefixed.push_back(' ');
      prefixed.append(piece);
      piece = prefixed;
    }
    std::string mapped;
    auto emit = [&](std::string_view word, bool origin) {
      mapped.clear();
      byte_level_encode(word, mapped);
      next(mapped, origin);
    };
    if (!regex_) {
      emit(piece, at_origin);
      return {};
    }
    std::vector<Span> matches;
    NIBBLE_TRY(regex_->find_all(piece, matches));
    std::size_t prev = 0;
    for (const Span& m : matches) {
      if (prev != m.first) emit(piece.substr(prev, m.first - prev), at_origin && prev == 0);
      if (m.first != m.second) emit(piece.substr(m.first, m.second - m.first), at_origin && m.first == 0);
      prev = m.second;
    }
    if (prev < piece.size()) emit(piece.substr(prev), at_origin && prev == 0);
    return {};
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;
};

enum class Prepend { always, first, never };

class Metaspace final : public PreTokenizer {
 public:
  Metaspace(char32_t replacement, Prepend prepend, bool split) : prepend_(prepend), split_(split) {
    utf8_append(replacement_, replacement);
  }
  Status run(std::string_view piece, bool at_origin, const PieceSink& next) const override {
    std::string s;
    s.reserve(piece.size() + replacement_.size() * 2);
    bool prepend = prepend_ == Prepend::always || (prepend_ == Prepend::first && at_origin);
    bool starts_with_replacement = piece.substr(0, replacement_.size()) == replacement_ ||
                                   (!piece.empty() && piece.front() == ' ');
    if (prepend && !starts_with_replacement && !piece.empty()) s.append(replacement_);
    for (char c : piece) {
      if (c == ' ') {
        s.append(replacement_);
      } else {
        s.push_back(c);
      }
    }
    if (!split_) {
      next(s, at_origin);
      return {};
    }
    std::vector<Span> matches;
    for (std::size_t at = s.find(replacement_); at != std::string::npos; at = s.find(replacement_, at + replacement_.size()))
      matches.emplace_back(at, at + replacement_.size());
    std::vector<Part> parts;
    cover(s.size(), matches, false, parts);
    emit_parts(s, parts, Behavior::merged_with_next, at_origin, next);
    return {};
  }

 private:
  std::string replacement_;
  Prepend prepend_;
  bool split_;
};

// Words (\w+) and runs of other non-space characters ([^\w\s]+); spaces dropped.
class Whitespace final : public PreTokenizer {
 public:
  Status run(std::string_view piece, bool at_origin, const PieceSink& next) const override {
    std::size_t i = 0, start = 0;
    int run_kind = -1;  // 0 word, 1 other
    while (i < piece.size()) {
      std::size_t at = i;
      char32_t c = utf8_next(piece, i);
      int kind = is_word_char(c) ? 0 : is_white_space(c) ? 2 : 1;
      if (kind != run_kind) {
        if (run_kind == 0 || run_kind == 1) next(piece.substr(start, at - start), at_origin && start == 0);
        start = at;
        run_kind = kind;
      }
    }
    if (run_kind == 0 || run_kind == 1) next(piece.substr(start), at_origin && start == 0);
    return {};
  }
};

class Sequence final : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  Status run(std::string_view piece, bool at_origin, const PieceSink& next) const override {
    return run_from(0, piece, at_origin, next);
  }

 private:
  Status run_from(std::size_t k, std::string_view piece, bool at_origin, const PieceSink& next) const {
    if (k == steps_.size()) {
      next(piece, at_origin);
      return {};
    }
    Status status;
    auto inner = [&](std::string_view p, bool o) {
      if (status.ok()) status = run_from(k + 1, p, o, next);
    };
    NIBBLE_TRY(steps_[k]->run(piece, at_origin, PieceSink(inner)));
    return status;
  }
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

Prepend parse_prepend(const json& spec, std::string_view where) {
  if (auto scheme = optional_string(spec, "prepend_scheme", where)) {
    if (*scheme == "always") return Prepend::always;
    if (*scheme == "first") return Prepend::first;
    if (*scheme == "never") return Prepend::never;
    spec_fail(path(where, "prepend_scheme"), "unknown value '" + *scheme + "'");
  }
  return bool_field(spec, "add_prefix_space", where, true) ? Prepend::always : Prepend::never;
}

}  // namespace

std::unique_ptr<PreTokenizer> make_gpt2_pre_tokenizer() { return std::make_unique<ByteLevel>(false, true); }

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& spec, std::string_view where) {
  std::string type = type_of(spec, where);
  if (type == "Split") {
    Regex pattern = make_pattern(field(spec, "pattern", where), path(where, "pattern"));
    Behavior behavior = parse_behavior(string_field(spec, "behavior", where), path(where, "behavior"));
    return std::make_unique<Split>(std::move(pattern), behavior, bool_field(spec, "invert", where, false));
  }
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevel>(bool_field(spec, "add_prefix_space", where, true),
                                       bool_field(spec, "use_regex", where, true));
  }
  if (type == "Metaspace") {
    char32_t replacement = char_field(spec, "replacement", where);
    return std::make_unique<Metaspace>(replacement, parse_prepend(spec, where), bool_field(spec, "split", where, true));
  }
  if (type == "Whitespace") return std::make_unique<Whitespace>();
  if (type == "WhitespaceSplit") return char_split([](char32_t c) { return is_white_space(c); }, Behavior::removed);
  if (type == "Digits") {
    bool individual = bool_field(spec, "individual_digits", where, false);
    return char_split([](char32_t c) { return is_numeric(c); }, individual ? Behavior::isolated : Behavior::contiguous);
  }
  if (type == "Punctuation") {
    Behavior behavior = Behavior::isolated;
    if (auto b = optional_string(spec, "behavior", where)) behavior = parse_behavior(*b, path(where, "behavior"));
    return char_split([](char32_t c) { return is_punctuation(c); }, behavior);
  }
  if (type == "CharDelimiterSplit") {
    char32_t d = char_field(spec, "delimiter", where);
    return char_split([d](char32_t c) { return c == d; }, Behavior::removed);
  }
  if (type == "BertPreTokenizer") {
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    steps.push_back(char_split([](char32_t c) { return is_white_space(c); }, Behavior::removed));
    steps.push_back(char_split([](char32_t c) { return is_punctuation(c); }, Behavior::isolated));
    return std::make_unique<Sequence>(std::move(steps));
  }
  if (type == "Sequence") {
    const json& list = field(spec, "pretokenizers", where);
    if (!list.is_array()) spec_fail(path(where, "pretokenizers"), "expected an array");
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (std::size_t i = 0; i < list.size(); ++i)
      steps.push_back(make_pre_tokenizer(list[i], path(where, "pretokenizers[" + std::to_string(i) + "]")));
    return std::make_unique<Sequence>(std::move(steps));
  }
  spec_unsupported(where, "unsupported pre-tokenizer type '" + type + "'");
}

}  // namespace nibble::tok
