// Normalizers of tokenizer.json (NFC, NFD, NFKC, NFKD, Lowercase, Replace, Prepend, Strip,
// StripAccents, Sequence), applied to each piece of text between added tokens, as HF does.
// Built from JSON by make_normalizer; called by the tokenizer's encode path.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "nibble/error.h"
#include "tokenizer/spec_json.h"

namespace nibble::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // Rewrites `text` in place. `at_origin` tells whether the piece starts at offset 0 of the
  // input; a normalizer that deletes the leading characters clears it (HF's original offset of
  // the piece then moves past 0, which Metaspace's prepend_scheme "first" looks at).
  virtual Status apply(std::string& text, bool& at_origin) const = 0;
};

// Throws SpecError / nlohmann exceptions on a malformed spec (caught by the loader).
std::unique_ptr<Normalizer> make_normalizer(const json& spec, std::string_view where);

}  // namespace nibble::tok
