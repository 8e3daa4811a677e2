// Linear mixes, their group layouts and stored sizes, and the block candidate tables.
// Table design: widths step through 2..8 in fractions of a quarter (finer near 2-3 bits, where
// each tenth of a bit moves the error most), mostly in groups of 32 rows (a 4-bit scale per 32
// rows costs 0.125 bpw and buys more accuracy than the same bits spent on widths below 5 bits),
// with groups of 64/128 at 4+ bits where the scale overhead starts to matter more than the fit.
#include "quant/candidates.h"

#include <cmath>
#include <cstdio>

namespace nibble::quant {
namespace {

LinearMix make_mix(int group, std::vector<int> bits, std::vector<double> fraction) {
  LinearMix m;
  m.group = group;
  m.bits = std::move(bits);
  m.fraction = std::move(fraction);
  char name[64] = {};
  int at = 0;
  for (std::size_t i = 0; i < m.bits.size(); ++i) {
    if (i + 1 < m.bits.size())
      at += std::snprintf(name + at, sizeof name - static_cast<std::size_t>(at), "%d:%ld/", m.bits[i], std::lround(m.fraction[i] * 100));
    else
      at += std::snprintf(name + at, sizeof name - static_cast<std::size_t>(at), "%d g%d", m.bits[i], group);
  }
  m.name = name;
  return m;
}

std::vector<LinearMix> build_mixes() {
  return {
      make_mix(32, {2}, {1.0}),
      make_mix(32, {3, 2}, {0.1, 0.9}),
      make_mix(32, {3, 2}, {0.25, 0.75}),
      make_mix(32, {3, 2}, {0.5, 0.5}),
      make_mix(32, {3, 2}, {0.75, 0.25}),
      make_mix(32, {3}, {1.0}),
      make_mix(32, {4, 3}, {0.1, 0.9}),
      make_mix(32, {4, 3}, {0.25, 0.75}),
      make_mix(32, {4, 3}, {0.5, 0.5}),
      make_mix(32, {4, 3}, {0.75, 0.25}),
      make_mix(64, {4}, {1.0}),
      make_mix(32, {4}, {1.0}),
      make_mix(32, {5, 4}, {0.25, 0.75}),
      make_mix(32, {5, 4}, {0.5, 0.5}),
      make_mix(32, {5, 4}, {0.75, 0.25}),
      make_mix(32, {5}, {1.0}),
      make_mix(32, {6, 5}, {0.5, 0.5}),
      make_mix(128, {6}, {1.0}),
      make_mix(32, {6}, {1.0}),
      make_mix(32, {8, 6}, {0.25, 0.75}),
      make_mix(128, {8, 6}, {0.5, 0.5}),
      make_mix(128, {8}, {1.0}),
      make_mix(32, {8}, {1.0}),
  };
}

std::vector<BlockCandidate> build_candidates(BlockKind kind) {
  const int levels = static_cast<int>(linear_mixes().size());
  std::vector<BlockCandidate> out;
  auto add = [&](std::vector<int> mixes) {
    for (int m : mixes)
      if (m < 0 || m >= levels) return;
    for (const auto& c : out)
      if (c.mixes == mixes) return;
    BlockCandidate c;
    c.mixes = mixes;
    const char* const attn_names[] = {"q", "k", "v", "o"};
    const char* const mlp_names[] = {"gate", "up", "down"};
    for (std::size_t i = 0; i < mixes.size(); ++i) {
      if (i) c.name += " ";
      c.name += kind == BlockKind::attn ? attn_names[i] : mlp_names[i];
      c.name += "=" + linear_mixes()[static_cast<std::size_t>(mixes[i])].name;
    }
    out.push_back(std::move(c));
  };
  for (int l = 0; l < levels; ++l) {
    if (kind == BlockKind::attn) {
      add({l, l, l, l});
      add({l, l, l + 2, l + 2});
      add({l, l, l + 4, l + 2});
    } else {
      add({l, l, l});
      add({l, l, l + 2});
      add({l, l, l + 4});
    }
  }
  return out;
}

}  // namespace

Result<GroupLayout> mix_layout(const LinearMix& mix, int K) {
  if (K <= 0 || K % 32 != 0)
    return make_error(ErrorKind::invalid_argument, "EXL2 layout: K = ", K, " is not a positive multiple of 32");
  if (mix.bits.empty() || mix.bits.size() != mix.fraction.size() || mix.group <= 0 || mix.group % 32 != 0)
    return make_error(ErrorKind::internal, "EXL2 layout: malformed mix '", mix.name, "'");
  const int G = (K + mix.group - 1) / mix.group;
  GroupLayout out;
  double cum = 0;
  int done = 0;
  for (std::size_t i = 0; i < mix.bits.size(); ++i) {
    cum += mix.fraction[i];
    const int end = i + 1 == mix.bits.size() ? G : std::min(G, static_cast<int>(std::lround(cum * G)));
    for (int g = done; g < end; ++g) {
      out.bits.push_back(mix.bits[i]);
      out.rows.push_back(std::min(mix.group, K - g * mix.group));
    }
    done = std::max(done, end);
  }
  return out;
}

std::int64_t layout_bits(const GroupLayout& layout, int K, int N) {
  std::int64_t bits = 0;
  for (std::size_t g = 0; g < layout.bits.size(); ++g)
    bits += static_cast<std::int64_t>(layout.rows[g]) * layout.bits[g] * N;
  const auto G = static_cast<std::int64_t>(layout.bits.size());
  bits += G * N * 4 + G * 16 + G * 32 + static_cast<std::int64_t>(K) * 32;
  return bits;
}

const std::vector<LinearMix>& linear_mixes() {
  static const std::vector<LinearMix> mixes = build_mixes();
  return mixes;
}

int mix_index(const std::string& name) {
  const auto& m = linear_mixes();
  for (std::size_t i = 0; i < m.size(); ++i)
    if (m[i].name == name) return static_cast<int>(i);
  return -1;
}

const char* block_kind_name(BlockKind kind) { return kind == BlockKind::attn ? "attn" : "mlp"; }

int block_linear_count(BlockKind kind) { return kind == BlockKind::attn ? 4 : 3; }

const char* block_linear_suffix(BlockKind kind, int i) {
  static const char* const attn[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"};
  static const char* const mlp[] = {"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
  return kind == BlockKind::attn ? attn[i] : mlp[i];
}

const std::vector<BlockCandidate>& block_candidates(BlockKind kind) {
  static const std::vector<BlockCandidate> attn = build_candidates(BlockKind::attn);
  static const std::vector<BlockCandidate> mlp = build_candidates(BlockKind::mlp);
  return kind == BlockKind::attn ? attn : mlp;
}

std::vector<int> head_mixes(int head_bits) {
  std::vector<int> out;
  const auto& mixes = linear_mixes();
  for (std::size_t i = 0; i < mixes.size(); ++i) {
    const auto& b = mixes[i].bits;
    if (b.front() == head_bits && (b.size() == 1 || b.back() < head_bits)) out.push_back(static_cast<int>(i));
    else if (b.size() > 1 && b.back() == head_bits) out.push_back(static_cast<int>(i));
  }
  return out;
}

}  // namespace nibble::quant
