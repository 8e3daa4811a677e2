// The streaming detokenizer: decodes a short window of recent ids on every push and emits only
// text that can no longer change. Held back: a trailing byte-fallback run (its bytes decode as a
// group) and trailing U+FFFD (an unfinished UTF-8 sequence). The window restarts from a few ids
// of context once its text is settled, so each push costs O(window), not O(stream).
// Decoders whose effect is not local to each token (Strip of trailing characters, a regex Replace
// after Fuse) keep the whole sequence instead and emit only what the decodes with and without the
// last token agree on: O(stream) per push, but exact.
#include <algorithm>

#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/unicode.h"

namespace nibble::tok {

namespace {

constexpr std::size_t kContextIds = 4;
constexpr std::size_t kCheckpointAfter = 12;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

class Stream final : public StreamingDetokenizer {
 public:
  Stream(const HfTokenizer& tokenizer, bool skip_special) : t_(tokenizer), skip_(skip_special) {}

  std::string push(std::int32_t id) override {
    if (id < 0 || id >= t_.vocab_size()) return {};
    window_.push_back(id);
    std::size_t stable_end = window_.size();
    while (stable_end > context_ && t_.is_byte_fallback_token(window_[stable_end - 1])) --stable_end;
    bool local = t_.decoder_is_stream_local();
    if (!local && stable_end == window_.size()) --stable_end;
    if (stable_end <= context_) return {};
    std::string text = decode(0, stable_end);
    bool settled = local && stable_end == window_.size();
    if (!local) keep_common_prefix(text, decode(0, window_.size()));
    while (ends_with(text, kReplacementChar)) {
      text.resize(text.size() - kReplacementChar.size());
      settled = false;
    }
    std::size_t known = context_text_.size() + emitted_.size();
    if (text.size() <= known || text.compare(0, context_text_.size(), context_text_) != 0 ||
        text.compare(context_text_.size(), emitted_.size(), emitted_) != 0)
      return {};
    std::string delta = text.substr(known);
    emitted_ += delta;
    if (settled && window_.size() - context_ >= kCheckpointAfter) checkpoint();
    return delta;
  }

  std::string flush() override {
    std::string text = decode(0, window_.size());
    std::size_t known = context_text_.size() + emitted_.size();
    std::string delta = text.size() > known ? text.substr(known) : std::string();
    if (delta.size() && (static_cast<unsigned char>(delta[0]) & 0xC0) == 0x80) delta.clear();  // inconsistent
    window_.clear();
    context_ = 0;
    context_text_.clear();
    emitted_.clear();
    return delta;
  }

 private:
  // Cuts `text` to the part it shares with `other`, at a character boundary.
  static void keep_common_prefix(std::string& text, const std::string& other) {
    std::size_t n = 0, limit = std::min(text.size(), other.size());
    while (n < limit && text[n] == other[n]) ++n;
    while (n > 0 && n < text.size() && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
    text.resize(n);
  }

  std::string decode(std::size_t begin, std::size_t end) const {
    auto r = t_.decode(std::span<const std::int32_t>(window_.data() + begin, end - begin), skip_);
    return r.ok() ? std::move(r).value() : std::string();
  }

  // Restarts the window from its last few ids when their text is a non-empty suffix of all the
  // text so far (then decoding context + new ids continues that text exactly). A few context
  // lengths are tried so that one starts on a character boundary (byte-level tokens).
  void checkpoint() {
    std::string all = context_text_ + emitted_;
    for (std::size_t keep = kContextIds; keep <= 2 * kContextIds && keep < window_.size(); ++keep) {
      std::size_t begin = window_.size() - keep;
      std::string context = decode(begin, window_.size());
      if (context.empty() || !ends_with(all, context)) continue;
      window_.erase(window_.begin(), window_.begin() + static_cast<std::ptrdiff_t>(begin));
      context_ = window_.size();
      context_text_ = std::move(context);
      emitted_.clear();
      return;
    }
  }

  const HfTokenizer& t_;
  bool skip_;
  std::vector<std::int32_t> window_;
  std::size_t context_ = 0;     // leading ids of window_ whose text (context_text_) was emitted before
  std::string context_text_;
  std::string emitted_;          // text emitted since the window (re)started, after the context
};

}  // namespace

std::unique_ptr<StreamingDetokenizer> HfTokenizer::make_stream(bool skip_special) const {
  return std::make_unique<Stream>(*this, skip_special);
}

}  // namespace nibble::tok
