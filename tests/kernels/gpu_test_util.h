// Helpers for GPU tests: skip without a device, typed device buffers with poisoned contents,
// random data, and the normalised error used to compare with CPU references.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "util/half.h"

namespace nibble::gpu_test {

inline bool have_gpu() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return n > 0;
}

#define NIBBLE_REQUIRE_GPU() \
  if (!::nibble::gpu_test::have_gpu()) GTEST_SKIP() << "no CUDA device on this machine"

#define CUDA_OK(expr) ASSERT_EQ(static_cast<int>(expr), 0) << #expr << ": " << cudaGetErrorString(static_cast<cudaError_t>(expr))

template <class T>
struct Dev {
  T* p = nullptr;
  std::size_t n = 0;
  explicit Dev(std::size_t count, bool poison = true) : n(count) {
    if (cudaMalloc(&p, std::max<std::size_t>(1, n) * sizeof(T)) != cudaSuccess) p = nullptr;
    if (p && poison) cudaMemset(p, 0xff, n * sizeof(T));  // NaN for floats/halves
  }
  void poison() {
    if (p) cudaMemset(p, 0xff, n * sizeof(T));
  }
  Dev(const std::vector<T>& host) : Dev(host.size(), false) {
    if (p) cudaMemcpy(p, host.data(), n * sizeof(T), cudaMemcpyHostToDevice);
  }
  ~Dev() {
    if (p) cudaFree(p);
  }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  std::vector<T> get() const {
    std::vector<T> h(n);
    cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost);
    return h;
  }
  void put(const std::vector<T>& h) { cudaMemcpy(p, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice); }
};

// ||a - b|| / ||b||; NaN anywhere in a gives +inf.
inline double rel_l2(const std::vector<float>& a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

inline std::vector<float> halves_to_float(const std::vector<std::uint16_t>& h) {
  std::vector<float> f(h.size());
  for (std::size_t i = 0; i < h.size(); ++i) f[i] = fp16_to_fp32(h[i]);
  return f;
}

inline std::vector<std::uint16_t> random_halves(std::mt19937& rng, std::size_t n, float scale) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<std::uint16_t> h(n);
  for (auto& v : h) v = fp32_to_fp16(d(rng));
  return h;
}

inline std::vector<float> random_floats(std::mt19937& rng, std::size_t n, float scale) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> f(n);
  for (auto& v : f) v = d(rng);
  return f;
}

}  // namespace nibble::gpu_test
