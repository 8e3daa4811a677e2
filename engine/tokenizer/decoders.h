// Decoders of tokenizer.json (ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, BPEDecoder,
// Sequence): turn the token strings of an id sequence back into text, as HF's decode_chain does.
// Built from JSON by make_decoder; called by Tokenizer::decode and the streaming detokenizer.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nibble/error.h"
#include "tokenizer/spec_json.h"

namespace nibble::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual Status decode_chain(std::vector<std::string>& tokens) const = 0;
  // False when a later token can change text an earlier token already produced beyond an
  // unfinished UTF-8 sequence or byte-fallback run (e.g. Strip of trailing characters):
  // the streaming detokenizer then holds back the last token's text.
  virtual bool stream_local(bool joined_before) const = 0;
  // True when this step concatenates the tokens (later steps then see the whole text).
  virtual bool joins() const { return false; }
  // True when a ByteFallback step is part of the chain.
  virtual bool has_byte_fallback() const { return false; }
};

// Throws SpecError / nlohmann exceptions on a malformed spec (caught by the loader).
std::unique_ptr<Decoder> make_decoder(const json& spec, std::string_view where);
std::unique_ptr<Decoder> make_byte_level_decoder();

// `<0xNN>` (as HF's ByteFallback reads it: 6 bytes, "<0x", two hex digits, ">"): the byte, or -1.
int byte_fallback_value(std::string_view token);

}  // namespace nibble::tok
