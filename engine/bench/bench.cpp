// The benchmark runner: for each synthetic format, write the model (once), load it twice (the
// second load is timed: page cache), decode batch 1 with a host round trip per token (the model
// returns logits, the host picks the argmax, as a chat loop does), then prefill prompts of each
// length into an empty cache. Warm-up passes run first so graph capture is not timed.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <unistd.h>

#include "nibble/bench.h"
#include "nibble/model.h"
#if NIBBLE_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace nibble {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::size_t device_used_bytes(const std::string& device) {
#if NIBBLE_HAVE_CUDA
  if (device.rfind("cuda:", 0) == 0) {
    const int idx = std::atoi(device.c_str() + 5);
    for (const auto& d : cuda_devices())
      if (d.index == idx) return d.total_bytes - d.free_bytes;
  }
#endif
  (void)device;
  return 0;
}

int argmax(const std::vector<float>& v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

std::size_t folder_bytes(const std::string& dir) {
  std::size_t t = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file()) t += e.file_size();
  return t;
}

}  // namespace

Result<std::vector<BenchResult>> run_bench(const BenchOptions& o, const BenchLog& log) {
  auto say = [&](const std::string& s) {
    if (log) log(s);
  };
  std::string work = o.work_dir;
  if (work.empty()) {
    const fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    work = (base / ("nibble-bench-" + std::to_string(::getpid()))).string();
  }
  const int max_prefill = o.prefill_lengths.empty() ? 1 : *std::max_element(o.prefill_lengths.begin(), o.prefill_lengths.end());
  if (o.decode_tokens < 1 || max_prefill < 1 || o.decode_tokens + 1 > o.context || max_prefill > o.context)
    return make_error(ErrorKind::invalid_argument, "bench: decode tokens and prompts must fit the context (", o.context, ")");
  std::vector<BenchResult> results;
  for (SyntheticFormat f : o.formats) {
    BenchResult r;
    r.format = synthetic_format_name(f);
    std::vector<std::string> gpus = o.devices.empty() ? std::vector<std::string>{o.device} : o.devices;
    r.device = o.cpu_layers > 0 ? "cpu(" + std::to_string(o.cpu_layers) + " layers)+" : "";
    for (std::size_t i = 0; i < gpus.size(); ++i) r.device += (i ? (o.tensor_parallel ? "|" : "+") : "") + gpus[i];
    if (o.tensor_parallel) r.device = "tp(" + r.device + ")";
    const std::string dir = (fs::path(work) / r.format).string();
    if (!fs::exists(fs::path(dir) / "config.json")) {
      say("writing synthetic " + r.format + " model to " + dir);
      const auto t = Clock::now();
      NIBBLE_TRY(write_synthetic_model(dir, o.shape, f));
      say("  written in " + std::to_string(seconds_since(t)) + " s");
    }
    r.file_gb = static_cast<double>(folder_bytes(dir)) / 1e9;
    LoadOptions lo;
    lo.device = o.device;
    lo.context = o.context;
    lo.max_batch_tokens = std::max(max_prefill, 16);
    lo.page_size = 64;
    const int n_layers = o.shape.layers;
    if (o.cpu_layers < 0 || o.cpu_layers >= n_layers)
      return make_error(ErrorKind::invalid_argument, "bench: cpu_layers must be in [0, ", n_layers, ")");
    if (o.tensor_parallel) {
      if (gpus.size() < 2 || o.cpu_layers > 0)
        return make_error(ErrorKind::invalid_argument, "bench: tensor parallelism takes two or more --devices and no CPU layers");
      lo.tensor_parallel = gpus;
    } else if (o.cpu_layers > 0 || gpus.size() > 1) {
      lo.placement.clear();
      if (o.cpu_layers > 0) lo.placement.push_back({"cpu", 0, o.cpu_layers});
      const int rest = n_layers - o.cpu_layers;
      if (static_cast<int>(gpus.size()) > rest)
        return make_error(ErrorKind::invalid_argument, "bench: more devices than layers to put on them");
      for (std::size_t i = 0; i < gpus.size(); ++i) {
        const int a = o.cpu_layers + static_cast<int>(rest * i / gpus.size());
        const int b = o.cpu_layers + static_cast<int>(rest * (i + 1) / gpus.size());
        lo.placement.push_back({gpus[i], a, b});
      }
    }
    auto used_now = [&] {
      std::size_t sum = 0;
      for (std::size_t i = 0; i < gpus.size(); ++i)
        if (std::find(gpus.begin(), gpus.begin() + static_cast<std::ptrdiff_t>(i), gpus[i]) == gpus.begin() + static_cast<std::ptrdiff_t>(i))
          sum += device_used_bytes(gpus[i]);
      return sum;
    };
    {
      NIBBLE_ASSIGN_OR_RETURN(auto warm, Model::load(dir, lo));  // fills the page cache
    }
    const std::size_t used_before = used_now();
    auto t0 = Clock::now();
    NIBBLE_ASSIGN_OR_RETURN(auto model, Model::load(dir, lo));
    r.load_seconds = seconds_since(t0);
    const std::size_t used_after = used_now();
    r.device_used_gb = static_cast<double>(used_after - std::min(used_before, used_after)) / 1e9;
    say("  " + r.format + ": loaded in " + std::to_string(r.load_seconds) + " s");

    std::vector<float> logits;
    auto decode_pass = [&](bool record) -> Status {
      auto seq = model->new_sequence();
      std::int32_t tok = 1;
      NIBBLE_TRY(seq->append(std::span<const std::int32_t>(&tok, 1), false, logits));
      tok = argmax(logits);
      auto w0 = Clock::now();
      for (int i = 1; i <= o.decode_tokens; ++i) {
        NIBBLE_TRY(seq->append(std::span<const std::int32_t>(&tok, 1), false, logits));
        tok = argmax(logits) % o.shape.vocab;
        if (record && (i % 128 == 0 || i == o.decode_tokens)) {
          const int n = i % 128 == 0 ? 128 : i % 128;
          r.decode_windows.push_back(n / seconds_since(w0));
          w0 = Clock::now();
        }
      }
      return {};
    };
    NIBBLE_TRY(decode_pass(false));
    NIBBLE_TRY(decode_pass(true));
    double sum = 0;
    for (double v : r.decode_windows) sum += v;
    r.decode_tokens_per_s = r.decode_windows.empty() ? 0 : sum / static_cast<double>(r.decode_windows.size());
    say("  decode: " + std::to_string(r.decode_tokens_per_s) + " tokens/s");

    std::mt19937 rng(5);
    for (int len : o.prefill_lengths) {
      std::vector<std::int32_t> ids(static_cast<std::size_t>(len));
      for (auto& id : ids) id = static_cast<std::int32_t>(rng() % static_cast<unsigned>(o.shape.vocab));
      std::vector<double> times;
      for (int rep = 0; rep < o.repeats + 1; ++rep) {
        auto seq = model->new_sequence();
        const auto t = Clock::now();
        NIBBLE_TRY(seq->append(ids, false, logits));
        if (rep > 0) times.push_back(seconds_since(t));  // the first run is a warm-up
      }
      std::sort(times.begin(), times.end());
      r.prefill.emplace_back(len, len / times[times.size() / 2]);
      say("  prefill " + std::to_string(len) + ": " + std::to_string(r.prefill.back().second) + " tokens/s");
    }
    results.push_back(std::move(r));
  }
  if (!o.keep_files) {
    std::error_code ec;
    fs::remove_all(work, ec);
  }
  return results;
}

}  // namespace nibble
