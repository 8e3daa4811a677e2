// Benchmark (not a test): the runtime's numbers for docs/PERF.md. On a model folder (default: the
// synthetic Llama-2-7B EXL2 model, written on first use) measures
//   1. aggregate decode tokens/s with N concurrent greedy jobs (steady state: from the step where
//      every job has its first token to the step where the first job finishes),
//   2. time to first token of a follow-up turn whose first ~2,000 tokens are in the prefix cache
//      (and of the same prompt with an empty cache),
//   3. n-gram speculative decoding against plain decoding on a repetitive prompt.
// Usage: bench_runtime [--model DIR | --synthetic-dir DIR] [--device cuda:0] [--devices cuda:0,cuda:1] [--jobs 8,32]
//                      [--prompt 128] [--new 256] [--context 16384] [--history 2000] [--sample T,P] [--json]
// --sample T,P: the concurrent jobs sample at temperature T with top-p P (default: greedy).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nibble/bench.h"
#include "nibble/model.h"
#include "nibble/runtime.h"

namespace {

using namespace nibble;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string model;
  std::string synthetic_dir = "/dev/shm/nibble-bench-runtime";
  std::string device = "cuda:0";
  std::vector<std::string> devices;  // --devices: an even layer split over these
  std::vector<int> jobs = {8, 32};
  int prompt = 128;
  int new_tokens = 256;
  int context = 16384;
  int history = 2000;
  int page_size = 64;
  int max_batch = 512;
  float temperature = 0.0f;  // --sample T,P: concurrent jobs sample at temperature T with top-p P
  float top_p = 1.0f;
  bool json = false;
  bool tensor_parallel = false;  // --tensor-parallel: every layer shared among --devices
};

std::vector<std::int32_t> random_ids(std::mt19937_64& g, int n, int vocab) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = static_cast<std::int32_t>(3 + g() % static_cast<std::uint64_t>(vocab - 3));
  return v;
}

JobSettings greedy(std::vector<std::int32_t> prompt, int max_new) {
  JobSettings j;
  j.prompt = std::move(prompt);
  j.max_new_tokens = max_new;
  j.stop_at_model_eos = false;
  j.sampler.temperature = 0;
  return j;
}

// Aggregate decode tokens/s of n concurrent jobs in the steady state.
Result<double> concurrent_decode(Model& m, const Options& o, int n) {
  NIBBLE_ASSIGN_OR_RETURN(auto gen, Generator::create(m));
  std::mt19937_64 g(static_cast<std::uint64_t>(n));
  std::vector<int> produced(static_cast<std::size_t>(n), 0);
  bool any_finished = false;
  for (int i = 0; i < n; ++i) {
    auto j = greedy(random_ids(g, o.prompt, m.vocab_size()), o.new_tokens);
    j.sampler.temperature = o.temperature;
    j.sampler.top_p = o.top_p;
    j.seed = static_cast<std::uint64_t>(i + 1);
    j.on_update = [&, i](const JobUpdate& u) {
      produced[static_cast<std::size_t>(i)] += static_cast<int>(u.ids.size());
      any_finished |= u.finished;
      return true;
    };
    NIBBLE_TRY(gen->submit(std::move(j)));
  }
  Clock::time_point t0;
  long long tokens_at_t0 = 0;
  bool steady = false;
  while (gen->jobs_pending() > 0) {
    NIBBLE_TRY(gen->step());
    long long total = 0;
    bool all_started = true;
    for (int p : produced) {
      total += p;
      all_started &= p > 0;
    }
    if (!steady && all_started) {
      steady = true;
      t0 = Clock::now();
      tokens_at_t0 = total;
    } else if (steady && any_finished) {
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      const StepStats st = gen->step_stats();
      if (!o.json && st.steps > 0)
        std::printf("    per step (whole run): %.2f ms, of which forward %.2f ms, sampling %.2f ms\n",
                    1e3 * st.step_s / static_cast<double>(st.steps), 1e3 * st.forward_s / static_cast<double>(st.steps),
                    1e3 * st.sample_s / static_cast<double>(st.steps));
      while (gen->jobs_pending() > 0) NIBBLE_TRY(gen->step());
      return s > 0 ? static_cast<double>(total - tokens_at_t0) / s : 0.0;
    }
  }
  return 0.0;
}

struct FollowUp {
  double ttft_cached = 0, ttft_cold = 0;
  int cached_tokens = 0, prompt_tokens = 0;
};

// Turn 1: a `history`-token prompt and a short reply; turn 2 appends 32 new tokens. TTFT of turn 2
// with the prefix cache, then of the same prompt on a fresh Generator (cold cache).
Result<FollowUp> follow_up(Model& m, const Options& o) {
  std::mt19937_64 g(7);
  FollowUp f;
  auto turn1 = random_ids(g, o.history, m.vocab_size());
  std::vector<std::int32_t> turn2;
  {
    NIBBLE_ASSIGN_OR_RETURN(auto gen, Generator::create(m));
    // Warm-up (graph capture, allocator) on an unrelated prompt.
    NIBBLE_TRY(gen->submit(greedy(random_ids(g, 64, m.vocab_size()), 4)));
    NIBBLE_TRY(gen->run_until_idle());
    NIBBLE_ASSIGN_OR_RETURN(auto id1, gen->submit(greedy(turn1, 16)));
    NIBBLE_TRY(gen->run_until_idle());
    auto r1 = gen->take_result(id1);
    turn2 = turn1;
    turn2.insert(turn2.end(), r1->ids.begin(), r1->ids.end());
    auto extra = random_ids(g, 32, m.vocab_size());
    turn2.insert(turn2.end(), extra.begin(), extra.end());
    NIBBLE_ASSIGN_OR_RETURN(auto id2, gen->submit(greedy(turn2, 1)));
    NIBBLE_TRY(gen->run_until_idle());
    auto r2 = gen->take_result(id2);
    f.ttft_cached = r2->timings.ttft_s;
    f.cached_tokens = r2->timings.cached_tokens;
    f.prompt_tokens = r2->timings.prompt_tokens;
  }
  GeneratorOptions cold;
  cold.prefix_cache = false;
  NIBBLE_ASSIGN_OR_RETURN(auto gen, Generator::create(m, cold));
  NIBBLE_ASSIGN_OR_RETURN(auto id, gen->submit(greedy(turn2, 1)));
  NIBBLE_TRY(gen->run_until_idle());
  f.ttft_cold = gen->take_result(id)->timings.ttft_s;
  return f;
}

struct Ngram {
  double plain_tps = 0, ngram_tps = 0, acceptance = 0;
  bool identical = false;
};

// A 64-token phrase repeated 8 times, then greedy decoding with and without n-gram drafts.
Result<Ngram> ngram_speedup(Model& m, const Options& o) {
  std::mt19937_64 g(11);
  const auto phrase = random_ids(g, 64, m.vocab_size());
  std::vector<std::int32_t> prompt;
  for (int i = 0; i < 8; ++i) prompt.insert(prompt.end(), phrase.begin(), phrase.end());
  Ngram n;
  std::vector<std::int32_t> plain_ids;
  for (bool spec : {false, true, false, true}) {  // first pair warms up
    auto j = greedy(prompt, o.new_tokens);
    if (spec) {
      j.draft = DraftMode::ngram;
      j.draft_tokens = 5;
    }
    GeneratorOptions go;
    go.prefix_cache = false;
    NIBBLE_ASSIGN_OR_RETURN(auto r, generate_all(m, {j}, go));
    if (spec) {
      n.ngram_tps = r[0].timings.decode_tokens_per_s();
      n.acceptance = r[0].timings.draft_acceptance();
      n.identical = r[0].ids == plain_ids;
    } else {
      n.plain_tps = r[0].timings.decode_tokens_per_s();
      plain_ids = r[0].ids;
    }
  }
  return n;
}

bool parse_args(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--json") { o.json = true; continue; }
    if (a == "--tensor-parallel") { o.tensor_parallel = true; continue; }
    if (!(v = next())) return false;
    if (a == "--model") o.model = v;
    else if (a == "--synthetic-dir") o.synthetic_dir = v;
    else if (a == "--device") o.device = v;
    else if (a == "--devices") {
      std::string list = v;
      for (std::size_t at = 0; at <= list.size();) {
        const std::size_t comma = std::min(list.find(',', at), list.size());
        o.devices.push_back(list.substr(at, comma - at));
        at = comma + 1;
      }
    }
    else if (a == "--prompt") o.prompt = std::atoi(v);
    else if (a == "--new") o.new_tokens = std::atoi(v);
    else if (a == "--context") o.context = std::atoi(v);
    else if (a == "--history") o.history = std::atoi(v);
    else if (a == "--page-size") o.page_size = std::atoi(v);
    else if (a == "--max-batch") o.max_batch = std::atoi(v);
    else if (a == "--sample") {
      if (std::sscanf(v, "%f,%f", &o.temperature, &o.top_p) != 2) return false;
    } else if (a == "--jobs") {
      o.jobs.clear();
      for (char* s = std::strtok(const_cast<char*>(v), ","); s; s = std::strtok(nullptr, ",")) o.jobs.push_back(std::atoi(s));
    } else return false;
  }
  return o.prompt > 0 && o.new_tokens > 1 && o.history > 0 && !o.jobs.empty();
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse_args(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: bench_runtime [--model DIR | --synthetic-dir DIR] [--device cuda:0] [--devices cuda:0,cuda:1] [--jobs 8,32]\n"
                 "                     [--prompt 128] [--new 256] [--context 16384] [--history 2000] [--page-size 64] [--max-batch 512] [--sample T,P] [--json]\n"
                 "                     [--tensor-parallel]\n");
    return 2;
  }
  std::string dir = o.model;
  if (dir.empty()) {
    dir = o.synthetic_dir + "/exl2";
    if (!std::filesystem::exists(dir + "/config.json")) {
      std::fprintf(stderr, "writing the synthetic 7B EXL2 model to %s\n", dir.c_str());
      if (auto st = write_synthetic_model(dir, SyntheticShape{}, SyntheticFormat::exl2); !st) {
        std::fprintf(stderr, "%s\n", st.error().to_string().c_str());
        return 1;
      }
    }
  }
  LoadOptions lo;
  lo.device = o.device;
  lo.context = o.context;
  lo.page_size = o.page_size;
  lo.max_batch_tokens = o.max_batch;
  if (o.devices.size() > 1 && o.tensor_parallel) {
    lo.tensor_parallel = o.devices;
    o.device = "tp(";
    for (std::size_t i = 0; i < o.devices.size(); ++i) o.device += (i ? "|" : "") + o.devices[i];
    o.device += ")";
  } else if (o.devices.size() > 1) {
    auto info = inspect_model(dir);
    if (!info) {
      std::fprintf(stderr, "%s\n", info.error().to_string().c_str());
      return 1;
    }
    const int n = info->layers, d = static_cast<int>(o.devices.size());
    for (int i = 0; i < d; ++i) lo.placement.push_back({o.devices[static_cast<std::size_t>(i)], n * i / d, n * (i + 1) / d});
    o.device.clear();
    for (int i = 0; i < d; ++i) o.device += (i ? "+" : "") + o.devices[static_cast<std::size_t>(i)];
  }
  auto m = Model::load(dir, lo);
  if (!m) {
    std::fprintf(stderr, "%s\n", m.error().to_string().c_str());
    return 1;
  }
  nlohmann::ordered_json out = {{"model", dir}, {"device", o.device}, {"prompt_tokens", o.prompt}, {"new_tokens", o.new_tokens}};
  auto fail = [](const Error& e) {
    std::fprintf(stderr, "%s\n", e.to_string().c_str());
    return 1;
  };
  for (int n : o.jobs) {
    auto tps = concurrent_decode(**m, o, n);
    if (!tps) return fail(tps.error());
    out["decode_tokens_per_s"][std::to_string(n)] = *tps;
    if (!o.json) std::printf("%3d concurrent jobs: %.1f decode tokens/s aggregate\n", n, *tps);
  }
  auto f = follow_up(**m, o);
  if (!f) return fail(f.error());
  out["follow_up"] = {{"prompt_tokens", f->prompt_tokens}, {"cached_tokens", f->cached_tokens},
                      {"ttft_ms_cached", f->ttft_cached * 1e3}, {"ttft_ms_cold", f->ttft_cold * 1e3}};
  if (!o.json)
    std::printf("follow-up turn of %d tokens, %d cached: first token after %.2f ms (%.2f ms with an empty cache)\n",
                f->prompt_tokens, f->cached_tokens, f->ttft_cached * 1e3, f->ttft_cold * 1e3);
  auto ng = ngram_speedup(**m, o);
  if (!ng) return fail(ng.error());
  out["ngram"] = {{"plain_tokens_per_s", ng->plain_tps}, {"ngram_tokens_per_s", ng->ngram_tps},
                  {"speedup", ng->plain_tps > 0 ? ng->ngram_tps / ng->plain_tps : 0}, {"acceptance", ng->acceptance},
                  {"identical", ng->identical}};
  if (!o.json)
    std::printf("n-gram drafts on a repetitive prompt: %.1f -> %.1f tokens/s (x%.2f), acceptance %.1f%%, output %s\n",
                ng->plain_tps, ng->ngram_tps, ng->plain_tps > 0 ? ng->ngram_tps / ng->plain_tps : 0, 100 * ng->acceptance,
                ng->identical ? "identical" : "DIFFERENT");
  if (o.json) std::printf("%s\n", out.dump(2).c_str());
  return 0;
}
