// libFuzzer target: Tokenizer::load_from_memory on a tokenizer.json, then encode / decode / stream
// a text with whatever it accepted. Input: tokenizer.json, NUL, text, NUL, tokenizer_config.json
// (the last two optional). Findings are crashes, sanitizer reports, or an accepted tokenizer that
// breaks its own invariants (ids out of range, decode failing on its own ids, decode or stream
// producing text that is not UTF-8).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "nibble/tokenizer.h"
#include "tokenizer/unicode.h"

namespace {

std::string_view next_part(std::string_view& rest) {
  std::size_t nul = rest.find('\0');
  std::string_view part = rest.substr(0, nul);
  rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  return part;
}

bool valid(std::string_view s) { return nibble::tok::utf8_first_invalid(s) == std::string_view::npos; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::string_view json = next_part(rest);
  std::string_view text = next_part(rest);
  std::string_view config = next_part(rest);
  if (text.empty()) text = "Hello, world! 123 caf\xC3\xA9 \xF0\x9F\x98\x80\n";
  auto loaded = nibble::Tokenizer::load_from_memory(json, config);
  if (!loaded) return 0;
  const nibble::Tokenizer& t = **loaded;
  for (bool add_special : {false, true}) {
    auto ids = t.encode(text, add_special);
    if (!ids) {
      if (valid(text) && ids.error().kind != nibble::ErrorKind::invalid_argument) std::abort();
      continue;
    }
    if (!valid(text)) std::abort();  // invalid UTF-8 must be refused
    for (std::int32_t id : *ids)
      if (id < 0 || id >= t.vocab_size()) std::abort();
    for (bool skip : {false, true}) {
      auto decoded = t.decode(*ids, skip);
      if (!decoded || !valid(*decoded)) std::abort();
      // A stream over a decoder that is not token-local costs O(length) per id: bound the length.
      auto stream = t.make_stream(skip);
      std::string streamed;
      for (std::size_t k = 0; k < ids->size() && k < 256; ++k) streamed += stream->push((*ids)[k]);
      streamed += stream->flush();
      if (!valid(streamed)) std::abort();
    }
  }
  for (std::int32_t id = 0; id < t.vocab_size() && id < 64; ++id) {
    std::string s = t.token_text(id);
    if (auto back = t.token_id(s); s.size() && !back) std::abort();
  }
  return 0;
}
