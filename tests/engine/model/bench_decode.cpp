// bench_decode: CPU decode speed and load time of a model (default: the demo model), the numbers
// docs/PERF.md records. Decode: batch 1, greedy, positions 0-512 in 4 windows of 128 tokens, host
// round trip per token (as a chat has it); prefill: 512 tokens into an empty cache; load: median of
// 5 loads from the page cache. Prints wall-clock and process CPU time (the machine may be shared).
// Usage: bench_decode [MODEL_DIR] [THREADS]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "nibble/model.h"

namespace {

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a;
  in >> a;
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 && argv[1][0] ? argv[1] : std::string(NIBBLE_RESOURCES_DIR) + "/models/dictlm-16m";
  nibble::LoadOptions opts;
  opts.threads = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) : 0;
  std::vector<double> loads;
  std::unique_ptr<nibble::Model> model;
  for (int i = 0; i < 5; ++i) {
    model.reset();
    const double t = now();
    auto m = nibble::Model::load(dir, opts);
    if (!m) {
      std::fprintf(stderr, "%s\n", m.error().to_string().c_str());
      return 1;
    }
    loads.push_back(now() - t);
    model = std::move(m).value();
  }
  std::sort(loads.begin(), loads.end());

  std::vector<std::int32_t> prompt(512);
  for (std::size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<std::int32_t>((i * 2654435761u) % 4000 + 50);
  std::vector<float> logits;
  auto seq = model->new_sequence();
  double t = now(), c = cpu_seconds();
  if (!seq->append(prompt, false, logits).ok()) return 1;
  const double prefill_wall = now() - t, prefill_cpu = cpu_seconds() - c;

  seq->clear();
  std::vector<double> windows;
  std::int32_t tok = 1;
  c = cpu_seconds();
  const double t_all = now();
  for (int w = 0; w < 4; ++w) {
    t = now();
    for (int i = 0; i < 128; ++i) {
      if (!seq->append(std::span<const std::int32_t>(&tok, 1), false, logits).ok()) return 1;
      tok = static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    }
    windows.push_back(128.0 / (now() - t));
  }
  const double decode_wall = now() - t_all, decode_cpu = cpu_seconds() - c;
  double mean = 0;
  for (double v : windows) mean += v / 4;
  std::printf("model %s, %u threads, load average %s\n", dir.c_str(), opts.threads, load_average().c_str());
  std::printf("load: median %.3f s (min %.3f)\n", loads[2], loads[0]);
  std::printf("prefill 512: %.0f tokens/s wall (%.2f s CPU)\n", 512 / prefill_wall, prefill_cpu);
  std::printf("decode 0-512: %.1f tokens/s wall (windows %.1f %.1f %.1f %.1f); %.2f ms CPU per token\n", mean, windows[0],
              windows[1], windows[2], windows[3], 1000 * decode_cpu / 512);
  std::printf("decode wall %.2f s for 512 tokens\n", decode_wall);
  return 0;
}
