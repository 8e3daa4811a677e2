// libFuzzer target: config.json parsing into a ModelSpec (both RoPE conventions, architecture
// quirks, quantization_config), then the RoPE table for whatever it accepted. Findings are
// crashes, sanitizer reports, or an accepted spec that breaks its own invariants.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "model/rope.h"
#include "model/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = nibble::parse_model_spec(text, "config.json");
  if (!r) return 0;
  const nibble::ModelSpec& s = r->spec;
  if (s.hidden_size <= 0 || s.n_layers <= 0 || s.n_heads <= 0 || s.n_kv_heads <= 0 || s.vocab_size <= 0) std::abort();
  if (s.n_heads % s.n_kv_heads != 0 || s.head_dim <= 0 || s.head_dim % 2 != 0) std::abort();
  if (s.sliding_window.size() != static_cast<std::size_t>(s.n_layers)) std::abort();
  const nibble::RopeTable t = nibble::rope_table(s.rope, s.head_dim);
  if (t.inv_freq.size() != static_cast<std::size_t>(s.head_dim / 2)) std::abort();
  std::vector<float> cos(t.inv_freq.size()), sin(t.inv_freq.size());  // head_dim / 2, any size the parser accepts
  nibble::rope_cos_sin(t, 1000, cos.data(), sin.data());
  return 0;
}
