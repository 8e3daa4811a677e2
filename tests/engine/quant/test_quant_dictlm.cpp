// The CPU quantizer end to end on the demo model, judged from outside: the files it writes are
// loaded by the engine and scored with the ppl_raw protocol (BENCHMARKS.md) against ExLlamaV2's
// converter at the same size (4.0 bpw: 22.2855, 3.0 bpw: 24.3082); the achieved size is counted
// from the written tensors; every quantized layer in the file unpacks to exactly the weights the
// solver reported (no packing drift). One measurement serves both targets, as `--measurement` does.
#include <fcntl.h>
#include <sys/file.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "formats/exl2.h"
#include "io/text_file.h"
#include "nibble/model.h"
#include "nibble/quant.h"
#include "nibble/tokenizer.h"
#include "quant_test_util.h"

namespace nibble {
namespace {

using test::TempDir;

// Calibration of the acceptance runs: the bundled default set, kRows x kLength tokens, the
// measurement on kMeasurementRows of them.
constexpr int kRows = 16, kLength = 512, kMeasurementRows = 2;

QuantOptions base_options(const std::string& out) {
  QuantOptions o;
  o.input_dir = test::demo_dir();
  o.output_dir = out;
  o.rows = kRows;
  o.length = kLength;
  o.measurement_rows = kMeasurementRows;
  o.threads = 2;
  return o;
}

// The measurement shared by the tests of this binary (each test runs in its own process): made
// once under a lock in the working directory, remade when it no longer loads.
std::string shared_measurement() {
  const std::string path = "dictlm-16m-measurement-r" + std::to_string(kRows) + "x" + std::to_string(kLength) + ".json";
  const int lock = ::open((path + ".lock").c_str(), O_CREAT | O_RDWR, 0644);
  if (lock >= 0) ::flock(lock, LOCK_EX);
  if (!std::filesystem::exists(path)) {
    TempDir t("measure");
    QuantOptions o = base_options(t.sub("out"));
    o.measurement_file = path + ".partial";
    o.measure_only = true;
    const auto t0 = std::chrono::steady_clock::now();
    auto r = quantize_model(o);
    EXPECT_TRUE(r) << r.error().to_string();
    std::printf("measurement: %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (r) std::filesystem::rename(path + ".partial", path);
  }
  if (lock >= 0) ::close(lock);
  return path;
}

std::vector<std::int32_t> heldout_ids() {
  auto tok = Tokenizer::load(test::demo_dir());
  EXPECT_TRUE(tok);
  auto text = read_text_file(std::string(NIBBLE_TEST_DATA_DIR) + "/corpus/heldout_raw.txt.gz");
  EXPECT_TRUE(text);
  auto ids = (*tok)->encode(*text, false);
  EXPECT_TRUE(ids);
  return ids ? *ids : std::vector<std::int32_t>{};
}

struct Achieved {
  double decoder_bpw = 0, head_bpw = 0;
};

// Sizes and drift, read back from the written file with the engine's EXL2 reader.
Achieved check_file(const std::string& out, const std::map<std::string, std::vector<float>>& solver) {
  Achieved a;
  auto file = SafetensorsFile::open(out + "/output.safetensors");
  EXPECT_TRUE(file) << file.error().to_string();
  if (!file) return a;
  std::map<std::string, const TensorView*> by_name;
  for (const auto& t : file->tensors()) by_name[t.name] = &t;
  double bits = 0, weights = 0;
  int layers = 0;
  for (const auto& [name, t] : by_name) {
    const auto at = name.rfind(".q_weight");
    if (at == std::string::npos || at + 9 != name.size()) continue;
    const std::string prefix = name.substr(0, at);
    LinearDesc d;
    d.name = prefix;
    d.format = LinearFormat::exl2;
    d.exl2 = {*t, *by_name.at(prefix + ".q_scale"), *by_name.at(prefix + ".q_scale_max"), *by_name.at(prefix + ".q_groups"),
              *by_name.at(prefix + ".q_invperm")};
    d.K = static_cast<int>(d.exl2.q_invperm.shape[0]);
    d.N = static_cast<int>(t->shape[1]);
    EXPECT_TRUE(exl2_validate(d)) << prefix;
    std::vector<float> w(static_cast<std::size_t>(d.K) * d.N);
    EXPECT_TRUE(exl2_dequantize(d, w.data())) << prefix;
    auto it = solver.find(prefix);
    EXPECT_NE(it, solver.end()) << prefix << " was not reported by the solver";
    if (it != solver.end()) {
      EXPECT_EQ(it->second.size(), w.size()) << prefix;
      if (it->second.size() == w.size()) {
        EXPECT_EQ(std::memcmp(it->second.data(), w.data(), w.size() * sizeof(float)), 0) << "packing drift in " << prefix;
      }
    }
    if (prefix == "lm_head") {
      a.head_bpw = d.bits_per_weight();
      continue;
    }
    bits += d.bits_per_weight() * d.K * d.N;
    weights += static_cast<double>(d.K) * d.N;
    ++layers;
  }
  EXPECT_EQ(layers, 8 * 7);
  a.decoder_bpw = weights > 0 ? bits / weights : 0;
  return a;
}

void run_target(double bits, double ppl_limit) {
  const std::string measurement = shared_measurement();
  TempDir t("dictlm");
  QuantOptions o = base_options(t.sub("out"));
  o.bits = bits;
  o.measurement_file = measurement;
  std::map<std::string, std::vector<float>> solver;
  o.on_linear = [&](const std::string& name, int, int, const std::vector<float>& w) { solver[name] = w; };
  const auto t0 = std::chrono::steady_clock::now();
  auto r = quantize_model(o);
  ASSERT_TRUE(r) << r.error().to_string();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(r->measurement_reused);

  const Achieved a = check_file(t.sub("out"), solver);
  EXPECT_NEAR(a.decoder_bpw, bits, 0.05);
  EXPECT_NEAR(r->bits_per_weight, a.decoder_bpw, 1e-9);
  EXPECT_GE(a.head_bpw, 6.0);
  EXPECT_LE(a.head_bpw, 6.71);  // ExLlamaV2's 6-bit head in tests/data/models/dictlm-16m-exl2-4.0: 6.705

  std::ifstream cf(t.sub("out/config.json"));
  const auto config = nlohmann::json::parse(cf, nullptr, false);
  ASSERT_TRUE(config.is_object());
  EXPECT_EQ(config["quantization_config"]["quant_method"], "exl2");
  EXPECT_EQ(config["quantization_config"]["bits"].get<double>(), bits);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "quantization_report.json"})
    EXPECT_TRUE(std::filesystem::is_regular_file(t.sub("out") + "/" + f)) << f;
  EXPECT_FALSE(std::filesystem::exists(t.sub("out/.nibble-job")));

  auto model = Model::load(t.sub("out"));
  ASSERT_TRUE(model) << model.error().to_string();
  auto p = perplexity_windows(**model, heldout_ids(), 64, 512);
  ASSERT_TRUE(p) << p.error().to_string();
  std::printf("%.1f bpw: achieved %.4f bpw (head %.3f), ppl_raw %.4f (limit %.2f), quantized in %.1f s\n", bits,
              a.decoder_bpw, a.head_bpw, p->perplexity, ppl_limit, seconds);
  EXPECT_LE(p->perplexity, ppl_limit);
}

TEST(QuantDictlm, Bits4PerplexityAtMostExLlamaV2) { run_target(4.0, 22.29); }

TEST(QuantDictlm, Bits3PerplexityAtMostExLlamaV2) { run_target(3.0, 24.31); }

}  // namespace
}  // namespace nibble
