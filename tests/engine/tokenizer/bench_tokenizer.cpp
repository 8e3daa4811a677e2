// Tokenizer speed: load time and single-thread encode throughput of one or more tokenizers on a
// text file (the long mixed text from tests/data/tokenizers/make_bench_text.py). Not a test; the
// numbers go to docs/PERF.md next to HF tokenizers measured on the same machine and text.
//
//   bench_tokenizer --text FILE [--runs N] [--dump-ids PREFIX] DIR...
//
// Prints one JSON line per tokenizer. --dump-ids writes PREFIX<name>.ids (comma-separated ids) so
// the ids can be checked against HF's (hf_bench.json holds their SHA-256).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "nibble/tokenizer.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string name_of(const std::string& dir) {
  std::filesystem::path p(dir);
  if (p.filename() == "models") p = p.parent_path();
  return p.filename().string();
}

}  // namespace

int main(int argc, char** argv) {
  std::string text_file, dump_prefix;
  int runs = 5;
  std::vector<std::string> dirs;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--text" && i + 1 < argc) {
      text_file = argv[++i];
    } else if (a == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--dump-ids" && i + 1 < argc) {
      dump_prefix = argv[++i];
    } else {
      dirs.push_back(a);
    }
  }
  if (text_file.empty() || dirs.empty()) {
    std::cerr << "usage: bench_tokenizer --text FILE [--runs N] [--dump-ids PREFIX] DIR...\n";
    return 2;
  }
  std::ifstream in(text_file, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  if (text.empty()) {
    std::cerr << "bench_tokenizer: cannot read " << text_file << "\n";
    return 1;
  }
  for (const std::string& dir : dirs) {
    double load_best = 1e9;
    std::unique_ptr<nibble::Tokenizer> tokenizer;
    for (int k = 0; k < 3; ++k) {
      auto t0 = std::chrono::steady_clock::now();
      auto t = nibble::Tokenizer::load(dir);
      double s = seconds_since(t0);
      if (!t.ok()) {
        std::cerr << "bench_tokenizer: " << t.error().to_string() << "\n";
        return 1;
      }
      load_best = std::min(load_best, s);
      tokenizer = std::move(t).value();
    }
    std::vector<double> times;
    std::vector<std::int32_t> ids;
    for (int k = 0; k <= runs; ++k) {  // the first run warms the word cache and is not counted
      auto t0 = std::chrono::steady_clock::now();
      auto r = tokenizer->encode(text, false);
      double s = seconds_since(t0);
      if (!r.ok()) {
        std::cerr << "bench_tokenizer: " << r.error().to_string() << "\n";
        return 1;
      }
      ids = std::move(r).value();
      if (k > 0) times.push_back(s);
    }
    auto cold_t0 = std::chrono::steady_clock::now();
    auto cold = nibble::Tokenizer::load(dir);
    double cold_load = seconds_since(cold_t0);
    auto c0 = std::chrono::steady_clock::now();
    auto cold_ids = (*cold)->encode(text, false);
    double cold_s = seconds_since(c0);
    std::sort(times.begin(), times.end());
    double mb = static_cast<double>(text.size()) / 1e6;
    std::string name = name_of(dir);
    std::printf(
        "{\"tokenizer\": \"%s\", \"bytes\": %zu, \"n_ids\": %zu, \"load_s\": %.4f, \"mb_per_s_best\": %.2f, "
        "\"mb_per_s_median\": %.2f, \"mb_per_s_first_encode\": %.2f, \"first_load_s\": %.4f, \"same_ids_cold\": %s}\n",
        name.c_str(), text.size(), ids.size(), load_best, mb / times.front(), mb / times[times.size() / 2], mb / cold_s,
        cold_load, (cold_ids.ok() && *cold_ids == ids) ? "true" : "false");
    std::fflush(stdout);
    if (!dump_prefix.empty()) {
      std::ofstream out(dump_prefix + name + ".ids");
      for (std::size_t i = 0; i < ids.size(); ++i) out << (i ? "," : "") << ids[i];
    }
  }
  return 0;
}
