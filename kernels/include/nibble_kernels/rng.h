// Counter-based random numbers shared by the CPU and GPU samplers: uniform(seed, step, index) is a
// pure function, so both paths draw the same Gumbel noise for a seed. Header-only, host and device.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define NIBBLE_HD __host__ __device__ __forceinline__
#else
#define NIBBLE_HD inline
#endif

namespace nibble::rng {

NIBBLE_HD std::uint64_t mix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Uniform in (0, 1) with 24 bits, never 0 or 1.
NIBBLE_HD float uniform(std::uint64_t seed, std::uint64_t step, std::uint32_t index) {
  const std::uint64_t h = mix64(mix64(seed ^ 0x6a09e667f3bcc909ull) ^ (step * 0x100000001b3ull) ^
                                (static_cast<std::uint64_t>(index) << 1));
  return (static_cast<float>(h >> 40) + 0.5f) * (1.0f / 16777216.0f);
}

}  // namespace nibble::rng
