// Normalizer implementations and their construction from tokenizer.json.
#include "tokenizer/normalizers.h"

#include <vector>

#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace nibble::tok {

namespace {

class UnicodeForm final : public Normalizer {
 public:
  explicit UnicodeForm(NormalForm form) : form_(form) {}
  Status apply(std::string& text, bool&) const override {
    std::string out;
    if (!normalize_unicode(text, form_, out)) return make_error(ErrorKind::internal, "unicode normalization failed");
    text.swap(out);
    return {};
  }

 private:
  NormalForm form_;
};

class Lowercase final : public Normalizer {
 public:
  Status apply(std::string& text, bool&) const override {
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) append_lowercase(out, utf8_next(text, i));
    text.swap(out);
    return {};
  }
};

class Replace final : public Normalizer {
 public:
  Replace(Regex pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  Status apply(std::string& text, bool& at_origin) const override {
    std::vector<Span> matches;
    NIBBLE_TRY(pattern_.find_all(text, matches));
    if (matches.empty()) return {};
    std::string out;
    out.reserve(text.size() + matches.size() * content_.size());
    std::size_t prev = 0;
    for (const Span& m : matches) {
      out.append(text, prev, m.first - prev);
      out.append(content_);
      prev = m.second;
    }
    out.append(text, prev, std::string::npos);
    if (content_.empty() && matches.front().first == 0 && matches.front().second > 0) at_origin = false;
    text.swap(out);
    return {};
  }

 private:
  Regex pattern_;
  std::string content_;
};

class Prepend final : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  Status apply(std::string& text, bool&) const override {
    if (!text.empty()) text.insert(0, prefix_);
    return {};
  }

 private:
  std::string prefix_;
};

class Strip final : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  Status apply(std::string& text, bool& at_origin) const override {
    std::size_t begin = 0, end = text.size();
    if (left_) {
      while (begin < end) {
        std::size_t i = begin;
        if (!is_white_space(utf8_next(text, i))) break;
        begin = i;
      }
    }
    if (right_) {
      while (end > begin) {
        std::size_t i = end;
        if (!is_white_space(utf8_prev(text, i))) break;
        end = i;
      }
    }
    if (begin > 0) at_origin = false;
    text = text.substr(begin, end - begin);
    return {};
  }

 private:
  bool left_, right_;
};

class StripAccents final : public Normalizer {
 public:
  Status apply(std::string& text, bool& at_origin) const override {
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    bool leading = true;
    while (i < text.size()) {
      std::size_t start = i;
      char32_t c = utf8_next(text, i);
      if (is_nonspacing_mark(c)) {
        if (leading) at_origin = false;
        continue;
      }
      leading = false;
      out.append(text, start, i - start);
    }
    text.swap(out);
    return {};
  }
};

class Sequence final : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  Status apply(std::string& text, bool& at_origin) const override {
    for (const auto& s : steps_) NIBBLE_TRY(s->apply(text, at_origin));
    return {};
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const json& spec, std::string_view where) {
  std::string type = type_of(spec, where);
  if (type == "NFC") return std::make_unique<UnicodeForm>(NormalForm::nfc);
  if (type == "NFD") return std::make_unique<UnicodeForm>(NormalForm::nfd);
  if (type == "NFKC") return std::make_unique<UnicodeForm>(NormalForm::nfkc);
  if (type == "NFKD") return std::make_unique<UnicodeForm>(NormalForm::nfkd);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "StripAccents") return std::make_unique<StripAccents>();
  if (type == "Replace") {
    return std::make_unique<Replace>(make_pattern(field(spec, "pattern", where), path(where, "pattern")),
                                     string_field(spec, "content", where));
  }
  if (type == "Prepend") return std::make_unique<Prepend>(string_field(spec, "prepend", where));
  if (type == "Strip") {
    return std::make_unique<Strip>(bool_field(spec, "strip_left", where, true),
                                   bool_field(spec, "strip_right", where, true));
  }
  if (type == "Sequence") {
    const json& list = field(spec, "normalizers", where);
    if (!list.is_array()) spec_fail(path(where, "normalizers"), "expected an array");
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (std::size_t i = 0; i < list.size(); ++i)
      steps.push_back(make_normalizer(list[i], path(where, "normalizers[" + std::to_string(i) + "]")));
    return std::make_unique<Sequence>(std::move(steps));
  }
  spec_unsupported(where, "unsupported normalizer type '" + type + "'");
}

}  // namespace nibble::tok
