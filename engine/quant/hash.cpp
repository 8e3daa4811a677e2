// 64-bit multiply-xorshift hashing over 8-byte words (the tail zero-padded), length folded in.
#include "quant/hash.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace nibble::quant {
namespace {

constexpr std::uint64_t kMul = 0x9e3779b97f4a7c15ull;

inline std::uint64_t mix(std::uint64_t h, std::uint64_t w) {
  h ^= w + kMul + (h << 6) + (h >> 2);
  h *= 0xff51afd7ed558ccdull;
  return h ^ (h >> 32);
}

}  // namespace

void Hasher::add(const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    h_ = mix(h_, w);
  }
  if (i < n) {
    std::uint64_t w = 0;
    std::memcpy(&w, p + i, n - i);
    h_ = mix(h_, w ^ (static_cast<std::uint64_t>(n - i) << 56));
  }
  n_ += n;
}

void Hasher::add_u64(std::uint64_t v) { h_ = mix(h_, v); }

std::uint64_t Hasher::digest() const { return mix(h_, n_); }

std::string Hasher::hex() const {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(digest()));
  return buf;
}

std::uint64_t hash_bytes(const void* data, std::size_t n) {
  Hasher h;
  h.add(data, n);
  return h.digest();
}

Result<std::string> hash_model(const WeightSource& ws, ThreadPool& pool) {
  std::ifstream in(ws.dir() + "/config.json", std::ios::binary);
  if (!in) return make_error(ErrorKind::io, ws.dir(), "/config.json: cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  const auto& all = ws.tensors().all();
  std::vector<std::uint64_t> parts(all.size());
  pool.parallel_for(all.size(), 1, [&](std::size_t a, std::size_t b) {
    for (std::size_t i = a; i < b; ++i) parts[i] = hash_bytes(all[i]->data, all[i]->nbytes);
  });
  Hasher h;
  h.add(ss.str());
  for (std::size_t i = 0; i < all.size(); ++i) {
    h.add(all[i]->name);
    h.add(dtype_name(all[i]->dtype));
    for (auto d : all[i]->shape) h.add_u64(static_cast<std::uint64_t>(d));
    h.add_u64(parts[i]);
  }
  return h.hex();
}

}  // namespace nibble::quant
