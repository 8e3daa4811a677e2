// tokenizer.json -> TokenizerParts. One pass over the file with JsonScanner: the model's vocab and
// merges are read in place (views into the file text), every other section is kept as a raw span
// and parsed with nlohmann::json once the model is built.
#include "tokenizer/tokenizer_json.h"

#include <deque>
#include <map>
#include <new>

#include "tokenizer/json_scan.h"
#include "tokenizer/unicode.h"

namespace nibble::tok {

namespace {

struct RawModel {
  std::vector<std::pair<std::string_view, std::int64_t>> vocab;
  std::vector<std::pair<std::string_view, std::string_view>> merges;
  bool has_vocab = false;
  std::map<std::string, std::string_view, std::less<>> other;
  std::deque<std::string> unescaped;  // stable storage for strings that had escapes
};

std::string_view keep(RawModel& raw, std::string_view s, const std::string& scratch) {
  if (s.data() != scratch.data()) return s;  // a view into the file
  raw.unescaped.emplace_back(scratch);
  return raw.unescaped.back();
}

bool read_vocab_entries(JsonScanner& sc, RawModel& raw) {
  if (!sc.begin_object()) return false;
  std::string scratch;
  std::string_view key;
  bool first = true;
  while (sc.next_member(first, '}')) {
    std::int64_t id;
    if (!sc.read_string(key, scratch) || !sc.expect(':') || !sc.read_int(id)) return false;
    raw.vocab.emplace_back(keep(raw, key, scratch), id);
  }
  return !sc.failed();
}

bool read_merges(JsonScanner& sc, RawModel& raw) {
  if (!sc.begin_array()) return false;
  std::string scratch_a, scratch_b;
  std::string_view a, b;
  bool first = true;
  while (sc.next_member(first, ']')) {
    if (sc.peek() == '[') {
      sc.begin_array();
      if (!sc.read_string(a, scratch_a)) return false;
      a = keep(raw, a, scratch_a);
      if (!sc.expect(',') || !sc.read_string(b, scratch_b) || !sc.expect(']')) {
        return sc.fail("a merge must be a pair of strings");
      }
      raw.merges.emplace_back(a, keep(raw, b, scratch_b));
      continue;
    }
    if (!sc.read_string(a, scratch_a)) return false;
    if (a.substr(0, 8) == "#version") continue;
    std::size_t space = a.find(' ');
    if (space == std::string_view::npos || a.find(' ', space + 1) != std::string_view::npos)
      return sc.fail("merge '" + std::string(a) + "' is not two tokens separated by one space");
    a = keep(raw, a, scratch_a);
    raw.merges.emplace_back(a.substr(0, space), a.substr(space + 1));
  }
  return !sc.failed();
}

bool read_model(JsonScanner& sc, RawModel& raw) {
  if (!sc.begin_object()) return false;
  std::string scratch;
  std::string_view key;
  bool first = true;
  while (sc.next_member(first, '}')) {
    if (!sc.read_string(key, scratch) || !sc.expect(':')) return false;
    if (key == "vocab") {
      raw.has_vocab = true;
      if (!read_vocab_entries(sc, raw)) return false;
    } else if (key == "merges") {
      if (!read_merges(sc, raw)) return false;
    } else {
      std::string name(key);
      std::string_view span;
      if (!sc.skip_value(&span)) return false;
      raw.other[name] = span;
    }
  }
  return !sc.failed();
}

json parse_span(std::string_view span) { return json::parse(span.begin(), span.end()); }

std::optional<std::string> model_string(const RawModel& raw, std::string_view key) {
  auto it = raw.other.find(key);
  if (it == raw.other.end()) return std::nullopt;
  json v = parse_span(it->second);
  if (v.is_null()) return std::nullopt;
  if (!v.is_string()) spec_fail(path("model", key), "expected a string");
  return v.get<std::string>();
}

bool model_bool(const RawModel& raw, std::string_view key) {
  auto it = raw.other.find(key);
  if (it == raw.other.end()) return false;
  json v = parse_span(it->second);
  if (v.is_null()) return false;
  if (!v.is_boolean()) spec_fail(path("model", key), "expected true or false");
  return v.get<bool>();
}

Status build_vocab(RawModel& raw, BpeModel& model, std::string_view where) {
  std::int64_t max_id = -1;
  for (const auto& [token, id] : raw.vocab) {
    if (id < 0) return make_error(ErrorKind::format, where, ": token '", token, "' has a negative id");
    max_id = std::max(max_id, id);
  }
  // Ids are dense in real files; a far larger id is corrupt (and would cost memory).
  if (max_id > static_cast<std::int64_t>(raw.vocab.size()) * 4 + 4096)
    return make_error(ErrorKind::format, where, ": id ", max_id, " is far beyond the ", raw.vocab.size(),
                      " entries");
  std::vector<std::pair<std::string_view, std::int32_t>> entries;
  entries.reserve(raw.vocab.size());
  for (const auto& [token, id] : raw.vocab) entries.emplace_back(token, static_cast<std::int32_t>(id));
  model.vocab().set_all(entries);
  return {};
}

Status build_model(RawModel& raw, TokenizerParts& parts, std::string_view name) {
  if (auto it = raw.other.find("type"); it != raw.other.end()) {
    json type = parse_span(it->second);
    if (!type.is_string()) spec_fail("model.type", "expected a string");
    if (type.get<std::string>() != "BPE")
      spec_unsupported("model.type", "unsupported model type '" + type.get<std::string>() + "' (only BPE is)");
  }
  if (!raw.has_vocab) spec_fail("model.vocab", "missing");
  NIBBLE_TRY(build_vocab(raw, parts.model, std::string(name) + ": model.vocab"));
  BpeOptions options;
  options.unk_token = model_string(raw, "unk_token");
  options.continuing_subword_prefix = model_string(raw, "continuing_subword_prefix").value_or("");
  options.end_of_word_suffix = model_string(raw, "end_of_word_suffix").value_or("");
  options.fuse_unk = model_bool(raw, "fuse_unk");
  options.byte_fallback = model_bool(raw, "byte_fallback");
  options.ignore_merges = model_bool(raw, "ignore_merges");
  parts.model.set_options(std::move(options));
  NIBBLE_TRY(parts.model.add_merges(raw.merges, std::string(name) + ": model.merges"));
  raw.merges.clear();
  raw.merges.shrink_to_fit();
  NIBBLE_TRY(parts.model.finish());
  return {};
}

std::vector<AddedToken> parse_added_tokens(const json& list) {
  if (!list.is_array()) spec_fail("added_tokens", "expected an array");
  std::vector<AddedToken> out;
  out.reserve(list.size());
  for (std::size_t i = 0; i < list.size(); ++i) {
    std::string where = "added_tokens[" + std::to_string(i) + "]";
    const json& t = list[i];
    AddedToken tok;
    tok.content = string_field(t, "content", where);
    tok.special = bool_field(t, "special", where, false);
    tok.single_word = bool_field(t, "single_word", where, false);
    tok.lstrip = bool_field(t, "lstrip", where, false);
    tok.rstrip = bool_field(t, "rstrip", where, false);
    tok.normalized = bool_field(t, "normalized", where, !tok.special);
    out.push_back(std::move(tok));
  }
  return out;
}

Status fill_sections(const std::map<std::string, std::string_view, std::less<>>& top, TokenizerParts& parts) {
  auto section = [&](std::string_view key) -> std::optional<json> {
    auto it = top.find(key);
    if (it == top.end()) return std::nullopt;
    json v = parse_span(it->second);
    if (v.is_null()) return std::nullopt;
    return v;
  };
  if (auto v = section("added_tokens")) parts.added = parse_added_tokens(*v);
  if (auto v = section("normalizer")) parts.normalizer = make_normalizer(*v, "normalizer");
  if (auto v = section("pre_tokenizer")) parts.pre_tokenizer = make_pre_tokenizer(*v, "pre_tokenizer");
  if (auto v = section("post_processor")) parts.wrap = make_post_processor(*v, "post_processor");
  if (auto v = section("decoder")) parts.decoder = make_decoder(*v, "decoder");
  return {};
}

// Runs a parser body, turning the exceptions it may throw into errors that name the file.
template <class F>
Status guarded(std::string_view name, F&& body) {
  try {
    return body();
  } catch (const SpecError& e) {
    return make_error(e.unsupported ? ErrorKind::unsupported : ErrorKind::format, name, ": ", e.message);
  } catch (const json::exception& e) {
    return make_error(ErrorKind::format, name, ": ", e.what());
  } catch (const std::bad_alloc&) {
    return make_error(ErrorKind::out_of_memory, name, ": out of memory while loading");
  } catch (const std::exception& e) {
    return make_error(ErrorKind::format, name, ": ", e.what());
  }
}

// Fills `model`'s vocabulary from a JSON object {token: id, ...} at the scanner's position.
Status read_vocab_object(JsonScanner& sc, BpeModel& model, std::string_view where) {
  RawModel raw;
  if (!read_vocab_entries(sc, raw)) return make_error(ErrorKind::format, where, ": ", sc.error());
  return build_vocab(raw, model, where);
}

}  // namespace

Result<TokenizerParts> parse_tokenizer_json(std::string_view text, std::string_view name) {
  if (std::size_t bad = utf8_first_invalid(text); bad != std::string_view::npos)
    return make_error(ErrorKind::format, name, ": not valid UTF-8 (byte offset ", bad, ")");
  TokenizerParts parts;
  Status status = guarded(name, [&]() -> Status {
    JsonScanner sc(text);
    RawModel raw;
    bool has_model = false;
    std::map<std::string, std::string_view, std::less<>> top;
    std::string scratch;
    std::string_view key;
    bool first = true;
    if (!sc.begin_object()) return make_error(ErrorKind::format, name, ": ", sc.error());
    while (sc.next_member(first, '}')) {
      if (!sc.read_string(key, scratch) || !sc.expect(':')) break;
      if (key == "model") {
        has_model = true;
        if (!read_model(sc, raw)) break;
        continue;
      }
      std::string k(key);
      std::string_view span;
      if (!sc.skip_value(&span)) break;
      top[k] = span;
    }
    if (sc.failed()) return make_error(ErrorKind::format, name, ": ", sc.error());
    if (!sc.at_end()) return make_error(ErrorKind::format, name, ": trailing data after the JSON object");
    if (!has_model) return make_error(ErrorKind::format, name, ": no \"model\" section");
    NIBBLE_TRY(build_model(raw, parts, name));
    return fill_sections(top, parts);
  });
  if (!status.ok()) return std::move(status).error();
  return parts;
}

Result<TokenizerParts> parse_gpt2_files(std::string_view encoder_json, std::string_view vocab_bpe,
                                        std::string_view name) {
  std::string where = std::string(name) + "/encoder.json";
  if (std::size_t bad = utf8_first_invalid(encoder_json); bad != std::string_view::npos)
    return make_error(ErrorKind::format, where, ": not valid UTF-8 (byte offset ", bad, ")");
  std::string merges_name = std::string(name) + "/vocab.bpe";
  if (std::size_t bad = utf8_first_invalid(vocab_bpe); bad != std::string_view::npos)
    return make_error(ErrorKind::format, merges_name, ": not valid UTF-8 (byte offset ", bad, ")");
  TokenizerParts parts;
  Status status = guarded(where, [&]() -> Status {
    JsonScanner sc(encoder_json);
    NIBBLE_TRY(read_vocab_object(sc, parts.model, where));
    if (!sc.at_end()) return make_error(ErrorKind::format, where, ": trailing data after the JSON object");
    parts.model.set_options(BpeOptions{});
    std::vector<std::pair<std::string_view, std::string_view>> merges;
    std::size_t line_no = 0;
    for (std::size_t pos = 0; pos < vocab_bpe.size();) {
      std::size_t end = vocab_bpe.find('\n', pos);
      if (end == std::string_view::npos) end = vocab_bpe.size();
      std::string_view line = vocab_bpe.substr(pos, end - pos);
      pos = end + 1;
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty() || line.substr(0, 8) == "#version") continue;
      std::size_t space = line.find(' ');
      if (space == std::string_view::npos || line.find(' ', space + 1) != std::string_view::npos)
        return make_error(ErrorKind::format, merges_name, ": line ", line_no, " is not two tokens separated by a space");
      merges.emplace_back(line.substr(0, space), line.substr(space + 1));
    }
    NIBBLE_TRY(parts.model.add_merges(merges, merges_name + " (merges after the header)"));
    NIBBLE_TRY(parts.model.finish());
    parts.pre_tokenizer = make_gpt2_pre_tokenizer();
    parts.decoder = make_byte_level_decoder();
    if (parts.model.vocab().find("<|endoftext|>")) {
      AddedToken eot;
      eot.content = "<|endoftext|>";
      eot.special = true;
      eot.normalized = false;
      parts.added.push_back(eot);
    }
    return {};
  });
  if (!status.ok()) return std::move(status).error();
  return parts;
}

}  // namespace nibble::tok
