// Decoder implementations and their construction from tokenizer.json.
#include "tokenizer/decoders.h"

#include "tokenizer/byte_level.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace nibble::tok {

int byte_fallback_value(std::string_view t) {
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
  // Rust's u8::from_str_radix accepts a leading '+'.
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (t[3] == '+') return hex(t[4]);
  int hi = hex(t[3]), lo = hex(t[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

namespace {

class ByteLevel final : public Decoder {
 public:
  Status decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) byte_level_decode_token(t, bytes);
    std::string text;
    text.reserve(bytes.size());
    utf8_append_lossy(text, bytes);
    tokens.assign(1, std::move(text));
    return {};
  }
  bool stream_local(bool) const override { return true; }
  bool joins() const override { return true; }
};

class Replace final : public Decoder {
 public:
  Replace(Regex pattern, std::string content, bool single_char)
      : pattern_(std::move(pattern)), content_(std::move(content)), single_char_(single_char) {}
  Status decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<Span> matches;
    for (std::string& t : tokens) {
      matches.clear();
      NIBBLE_TRY(pattern_.find_all(t, matches));
      if (matches.empty()) continue;
      std::string out;
      std::size_t prev = 0;
      for (const Span& m : matches) {
        out.append(t, prev, m.first - prev).append(content_);
        prev = m.second;
      }
      out.append(t, prev, std::string::npos);
      t.swap(out);
    }
    return {};
  }
  bool stream_local(bool joined_before) const override { return single_char_ || !joined_before; }

 private:
  Regex pattern_;
  std::string content_;
  bool single_char_;
};

class ByteFallback final : public Decoder {
 public:
  Status decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string run;
    auto flush = [&] {
      if (run.empty()) return;
      if (utf8_first_invalid(run) == std::string::npos) {
        out.push_back(run);
      } else {
        for (std::size_t k = 0; k < run.size(); ++k) out.emplace_back(kReplacementChar);
      }
      run.clear();
    };
    for (std::string& t : tokens) {
      int b = byte_fallback_value(t);
      if (b >= 0) {
        run.push_back(static_cast<char>(b));
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens.swap(out);
    return {};
  }
  bool stream_local(bool) const override { return true; }
  bool has_byte_fallback() const override { return true; }
};

class Fuse final : public Decoder {
 public:
  Status decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all.append(t);
    tokens.assign(1, std::move(all));
    return {};
  }
  bool stream_local(bool) const override { return true; }
  bool joins() const override { return true; }
};

class Strip final : public Decoder {
 public:
  Strip(char32_t content, std::size_t start, std::size_t stop) : content_(content), start_(start), stop_(stop) {}
  Status decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      // At most `start` leading and `stop` trailing characters equal to `content` go; the tail
      // cut never reaches into the head cut.
      std::size_t begin = 0;
      for (std::size_t k = 0; k < start_ && begin < t.size(); ++k) {
        std::size_t i = begin;
        if (utf8_next(t, i) != content_) break;
        begin = i;
      }
      std::size_t end = t.size();
      for (std::size_t k = 0; k < stop_ && end > begin; ++k) {
        std::size_t i = end;
        if (utf8_prev(t, i) != content_) break;
        end = i;
      }
      t = t.substr(begin, end - begin);
    }
    return {};
  }
  bool stream_local(bool joined_before) const override { return stop_ == 0; }

 private:
  char32_t content_;
  std::size_t start_, stop_;
};

class Metaspace final : public Decoder {
 public:
  Metaspace(char32_t replacement, bool drop_first) : replacement_(replacement), drop_first_(drop_first) {}
  Status decode_chain(std::vector<std::string>& tokens) const override {
    for (std::size_t k = 0; k < tokens.size(); ++k) {
      const std::string& t = tokens[k];
      std::string out;
      out.reserve(t.size());
      for (std::size_t i = 0; i < t.size();) {
        std::size_t start = i;
        char32_t c = utf8_next(t, i);
        if (c == replacement_) {
          if (!(k == 0 && drop_first_)) out.push_back(' ');
        } else {
          out.append(t, start, i - start);
        }
      }
      tokens[k].swap(out);
    }
    return {};
  }
  bool stream_local(bool) const override { return true; }

 private:
  char32_t replacement_;
  bool drop_first_;
};

class BpeSuffix final : public Decoder {
 public:
  explicit BpeSuffix(std::string suffix) : suffix_(std::move(suffix)) {}
  Status decode_chain(std::vector<std::string>& tokens) const override {
    for (std::size_t k = 0; k < tokens.size(); ++k) {
      std::string& t = tokens[k];
      if (suffix_.empty()) continue;
      std::string replacement = k + 1 == tokens.size() ? "" : " ";
      std::string out;
      std::size_t prev = 0;
      for (std::size_t at = t.find(suffix_); at != std::string::npos; at = t.find(suffix_, prev)) {
        out.append(t, prev, at - prev).append(replacement);
        prev = at + suffix_.size();
      }
      out.append(t, prev, std::string::npos);
      t.swap(out);
    }
    return {};
  }
  bool stream_local(bool) const override { return suffix_.empty(); }

 private:
  std::string suffix_;
};

class Sequence final : public Decoder {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
  Status decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& s : steps_) NIBBLE_TRY(s->decode_chain(tokens));
    return {};
  }
  bool stream_local(bool joined_before) const override {
    for (const auto& s : steps_) {
      if (!s->stream_local(joined_before)) return false;
      joined_before = joined_before || s->joins();
    }
    return true;
  }
  bool joins() const override {
    for (const auto& s : steps_)
      if (s->joins()) return true;
    return false;
  }
  bool has_byte_fallback() const override {
    for (const auto& s : steps_)
      if (s->has_byte_fallback()) return true;
    return false;
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

}  // namespace

std::unique_ptr<Decoder> make_byte_level_decoder() { return std::make_unique<ByteLevel>(); }

std::unique_ptr<Decoder> make_decoder(const json& spec, std::string_view where) {
  std::string type = type_of(spec, where);
  if (type == "ByteLevel") return std::make_unique<ByteLevel>();
  if (type == "ByteFallback") return std::make_unique<ByteFallback>();
  if (type == "Fuse") return std::make_unique<Fuse>();
  if (type == "Replace") {
    const json& pattern = field(spec, "pattern", where);
    bool single_char = false;
    if (const json* s = optional_field(pattern, "String"); s && s->is_string()) {
      std::string text = s->get<std::string>();
      std::size_t i = 0;
      if (!text.empty()) utf8_next(text, i);
      single_char = !text.empty() && i == text.size();
    }
    return std::make_unique<Replace>(make_pattern(pattern, path(where, "pattern")), string_field(spec, "content", where),
                                     single_char);
  }
  if (type == "Strip") {
    auto start = static_cast<std::size_t>(int_field(spec, "start", where, 0, 1 << 20));
    auto stop = static_cast<std::size_t>(int_field(spec, "stop", where, 0, 1 << 20));
    return std::make_unique<Strip>(char_field(spec, "content", where), start, stop);
  }
  if (type == "Metaspace") {
    char32_t replacement = char_field(spec, "replacement", where);
    bool drop_first;
    if (auto scheme = optional_string(spec, "prepend_scheme", where)) {
      if (*scheme != "always" && *scheme != "first" && *scheme != "never")
        spec_fail(path(where, "prepend_scheme"), "unknown value '" + *scheme + "'");
      drop_first = *scheme != "never";
    } else {
      drop_first = bool_field(spec, "add_prefix_space", where, true);
    }
    return std::make_unique<Metaspace>(replacement, drop_first);
  }
  if (type == "BPEDecoder") return std::make_unique<BpeSuffix>(optional_string(spec, "suffix", where).value_or("</w>"));
  if (type == "Sequence") {
    const json& list = field(spec, "decoders", where);
    if (!list.is_array()) spec_fail(path(where, "decoders"), "expected an array");
    std::vector<std::unique_ptr<Decoder>> steps;
    for (std::size_t i = 0; i < list.size(); ++i)
      steps.push_back(make_decoder(list[i], path(where, "decoders[" + std::to_string(i) + "]")));
    return std::make_unique<Sequence>(std::move(steps));
  }
  spec_unsupported(where, "unsupported decoder type '" + type + "'");
}

}  // namespace nibble::tok
