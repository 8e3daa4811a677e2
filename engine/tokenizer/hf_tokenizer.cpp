// HfTokenizer: added-token id resolution, the encode pipeline and decode.
#include "tokenizer/hf_tokenizer.h"

#include <algorithm>
#include <set>

#include "tokenizer/unicode.h"

namespace nibble::tok {

namespace {
constexpr std::int32_t kMaxAddedId = (1 << 27);
}

Result<std::unique_ptr<HfTokenizer>> HfTokenizer::create(TokenizerParts parts) {
  std::unique_ptr<HfTokenizer> t(new HfTokenizer());
  t->model_ = std::move(parts.model);
  t->normalizer_ = std::move(parts.normalizer);
  t->pre_tokenizer_ = std::move(parts.pre_tokenizer);
  t->decoder_ = std::move(parts.decoder);
  t->wrap_ = std::move(parts.wrap);
  const Vocab& vocab = t->model_.vocab();

  // HF's AddedVocabulary::add_tokens: a token already known keeps its id, a new one gets the
  // model's vocabulary size (or one past the largest added id); a later entry with the same
  // content updates the flags. Special tokens are matched before the others.
  std::map<std::int32_t, AddedToken> by_id;
  std::vector<std::string> special_order;
  std::set<std::string, std::less<>> special_set;
  std::vector<std::int32_t> classic_order;
  auto vocab_count = static_cast<std::int64_t>(vocab.size());
  std::int64_t max_added = -1;
  for (AddedToken tok : parts.added) {
    if (tok.content.empty()) continue;
    if (tok.special && special_set.insert(tok.content).second) special_order.push_back(tok.content);
    std::int32_t id;
    if (auto it = t->added_ids_.find(tok.content); it != t->added_ids_.end()) {
      id = it->second;
    } else if (auto v = vocab.find(tok.content)) {
      id = *v;
    } else {
      std::int64_t next = (max_added < 0 || (max_added < vocab_count && vocab_count != 0)) ? vocab_count : max_added + 1;
      if (next > kMaxAddedId) return make_error(ErrorKind::format, "added_tokens: too many tokens");
      id = static_cast<std::int32_t>(next);
    }
    t->added_ids_[tok.content] = id;
    max_added = std::max<std::int64_t>(max_added, id);
    tok.id = id;
    if (!special_set.count(tok.content)) classic_order.push_back(id);
    by_id[id] = tok;
  }
  std::int32_t end = vocab.end_id();
  for (const auto& [id, tok] : by_id) end = std::max(end, id + 1);
  t->vocab_size_ = end;
  t->added_by_id_.assign(end, std::string());
  t->is_added_.assign(end, false);
  for (const auto& [id, tok] : by_id) {
    t->added_by_id_[id] = tok.content;
    t->is_added_[id] = true;
  }

  // Patterns in HF's order: special tokens, then the others; flags are the final ones per id.
  std::vector<AddedToken> raw, normalized;
  std::vector<std::string> raw_patterns, normalized_patterns;
  auto add_pattern = [&](std::int32_t id) -> Status {
    const AddedToken& tok = by_id.at(id);
    if (!tok.normalized) {
      raw.push_back(tok);
      raw_patterns.push_back(tok.content);
      return {};
    }
    std::string pattern = tok.content;
    bool at_origin = true;
    if (t->normalizer_) NIBBLE_TRY(t->normalizer_->apply(pattern, at_origin));
    normalized.push_back(tok);
    normalized_patterns.push_back(std::move(pattern));
    return {};
  };
  for (const std::string& content : special_order) NIBBLE_TRY(add_pattern(t->added_ids_.at(content)));
  for (std::int32_t id : classic_order) NIBBLE_TRY(add_pattern(id));
  t->raw_matcher_.build(raw, raw_patterns);
  t->normalized_matcher_.build(normalized, normalized_patterns);

  // decode(skip_special) drops every id whose text is a special token's content.
  t->special_.assign(end, false);
  for (const std::string& content : special_order) {
    t->special_[static_cast<std::size_t>(t->added_ids_.at(content))] = true;
    if (auto v = vocab.find(content)) t->special_[static_cast<std::size_t>(*v)] = true;
  }
  t->byte_token_.assign(end, false);
  for (std::int32_t id = 0; id < end; ++id) {
    if (byte_fallback_value(t->token_view(id)) >= 0) t->byte_token_[id] = true;
  }
  if (t->decoder_) {
    t->decoder_has_byte_fallback_ = t->decoder_->has_byte_fallback();
    t->decoder_stream_local_ = t->decoder_->stream_local(false);
  }
  return t;
}

std::string_view HfTokenizer::token_view(std::int32_t id) const {
  if (id < 0 || id >= vocab_size_) return {};
  if (is_added_[static_cast<std::size_t>(id)]) return added_by_id_[static_cast<std::size_t>(id)];
  return model_.vocab().token(id);
}

std::optional<std::int32_t> HfTokenizer::token_id(std::string_view token) const {
  if (auto it = added_ids_.find(token); it != added_ids_.end()) return it->second;
  return model_.vocab().find(token);
}

Status HfTokenizer::pre_tokenize(std::string_view piece, bool at_origin, std::vector<std::int32_t>& ids) const {
  auto to_model = [&](std::string_view word, bool) { model_.encode_word(word, ids); };
  if (!pre_tokenizer_) {
    to_model(piece, at_origin);
    return {};
  }
  return pre_tokenizer_->run(piece, at_origin, PieceSink(to_model));
}

Result<std::vector<std::int32_t>> HfTokenizer::encode(std::string_view text, bool add_special) const {
  if (std::size_t bad = utf8_first_invalid(text); bad != std::string_view::npos)
    return make_error(ErrorKind::invalid_argument, "text is not valid UTF-8 (byte offset ", bad, ")");
  std::vector<std::int32_t> ids;
  ids.reserve(text.size() / 3 + 8);
  if (add_special) ids = wrap_.prefix;
  std::vector<AddedSplit> raw, inner;
  raw_matcher_.split(text, raw);
  std::string normalized;
  for (const AddedSplit& part : raw) {
    if (part.id >= 0) {
      ids.push_back(part.id);
      continue;
    }
    if (part.begin == part.end) continue;
    std::string_view piece = text.substr(part.begin, part.end - part.begin);
    bool at_origin = part.begin == 0;
    if (normalizer_) {
      normalized.assign(piece);
      NIBBLE_TRY(normalizer_->apply(normalized, at_origin));
      piece = normalized;
    }
    if (piece.empty()) continue;
    if (normalized_matcher_.empty()) {
      NIBBLE_TRY(pre_tokenize(piece, at_origin, ids));
      continue;
    }
    normalized_matcher_.split(piece, inner);
    for (const AddedSplit& sub : inner) {
      if (sub.id >= 0) {
        ids.push_back(sub.id);
      } else if (sub.end > sub.begin) {
        NIBBLE_TRY(pre_tokenize(piece.substr(sub.begin, sub.end - sub.begin), at_origin && sub.begin == 0, ids));
      }
    }
  }
  if (add_special) ids.insert(ids.end(), wrap_.suffix.begin(), wrap_.suffix.end());
  return ids;
}

Result<std::string> HfTokenizer::decode(std::span<const std::int32_t> ids, bool skip_special) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (std::int32_t id : ids) {
    if (id < 0 || id >= vocab_size_)
      return make_error(ErrorKind::invalid_argument, "token id ", id, " is out of range (vocabulary size ",
                        vocab_size_, ")");
    if (skip_special && special_[static_cast<std::size_t>(id)]) continue;
    bool known = is_added_[static_cast<std::size_t>(id)] || model_.vocab().has(id);
    if (known) tokens.emplace_back(token_view(id));  // ids without a token are skipped, as HF does
  }
  std::string out;
  if (!decoder_) {
    for (std::size_t k = 0; k < tokens.size(); ++k) {
      if (k) out.push_back(' ');
      out.append(tokens[k]);
    }
    return out;
  }
  NIBBLE_TRY(decoder_->decode_chain(tokens));
  for (const std::string& t : tokens) out.append(t);
  return out;
}

}  // namespace nibble::tok
