// Bad input to the quantizer: each case must fail with a typed error that names the problem before
// any work starts (no output folder, no job record), whatever the input lies about.
#include <gtest/gtest.h>

#include <fstream>

#include "nibble/quant.h"
#include "quant/validate.h"
#include "quant_test_util.h"
#include "util/half.h"

namespace nibble {
namespace {

using test::TempDir;

QuantOptions options_for(const std::string& in, const std::string& out) {
  QuantOptions o;
  o.input_dir = in;
  o.output_dir = out;
  o.bits = 4.0;
  o.rows = 2;
  o.length = 64;
  o.threads = 2;
  return o;
}

// Runs the job, expects `kind` with `needle` in the message and nothing written to the output.
void expect_rejected(const QuantOptions& o, ErrorKind kind, const std::string& needle) {
  const bool existed = std::filesystem::exists(o.output_dir);
  const auto before = existed ? test::files_in(o.output_dir) : std::vector<std::string>{};
  auto r = quantize_model(o);
  ASSERT_FALSE(r) << "expected an error containing '" << needle << "'";
  EXPECT_EQ(r.error().kind, kind) << r.error().to_string();
  EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().to_string();
  if (!existed) EXPECT_FALSE(std::filesystem::exists(o.output_dir)) << "output created before the error";
  else EXPECT_EQ(test::files_in(o.output_dir), before) << "output folder changed before the error";
}

TEST(QuantValidate, BitsOutOfRange) {
  TempDir t("bpw");
  for (double bits : {1.99, 8.01, -1.0, 0.0}) {
    auto o = options_for(test::demo_dir(), t.sub("out"));
    o.bits = bits;
    expect_rejected(o, ErrorKind::invalid_argument, "--bpw");
  }
  auto o = options_for(test::demo_dir(), t.sub("out"));
  o.head_bits = 7;
  expect_rejected(o, ErrorKind::invalid_argument, "--head-bits");
}

TEST(QuantValidate, UnsupportedArchitecture) {
  TempDir t("arch");
  ASSERT_TRUE(test::copy_demo_model(t.sub("in")));
  std::ifstream in(t.sub("in/config.json"));
  std::string text((std::istreambuf_iterator<char>(in)), {});
  in.close();
  const auto at = text.find("LlamaForCausalLM");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 16, "MambaForCausalLM");
  const auto mt = text.find("\"llama\"");
  ASSERT_NE(mt, std::string::npos);
  text.replace(mt, 7, "\"mamba\"");
  const auto act = text.find("\"silu\"");
  ASSERT_NE(act, std::string::npos);
  text.replace(act, 6, "\"gelu\"");
  std::ofstream(t.sub("in/config.json")) << text;
  auto o = options_for(t.sub("in"), t.sub("out"));
  auto r = quantize_model(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::unsupported) << r.error().to_string();
  EXPECT_NE(r.error().message.find("Mamba"), std::string::npos) << r.error().to_string();
  EXPECT_FALSE(std::filesystem::exists(t.sub("out")));
}

TEST(QuantValidate, MissingTensor) {
  TempDir t("missing");
  ASSERT_TRUE(test::copy_demo_model(t.sub("in"), [](const TensorView& v, std::vector<std::uint8_t>&) {
    return v.name != "model.layers.5.mlp.up_proj.weight";
  }));
  auto r = quantize_model(options_for(t.sub("in"), t.sub("out")));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("model.layers.5.mlp.up_proj"), std::string::npos) << r.error().to_string();
  EXPECT_FALSE(std::filesystem::exists(t.sub("out")));
}

TEST(QuantValidate, NonFiniteWeights) {
  for (std::uint16_t bad : {std::uint16_t{0x7e00}, std::uint16_t{0x7c00}, std::uint16_t{0xfc00}}) {
    TempDir t("nan");
    ASSERT_TRUE(test::copy_demo_model(t.sub("in"), [&](const TensorView& v, std::vector<std::uint8_t>& b) {
      if (v.name == "model.layers.3.self_attn.v_proj.weight") {
        b[2 * 1000] = static_cast<std::uint8_t>(bad & 0xff);
        b[2 * 1000 + 1] = static_cast<std::uint8_t>(bad >> 8);
      }
      return true;
    }));
    auto o = options_for(t.sub("in"), t.sub("out"));
    expect_rejected(o, ErrorKind::format, "model.layers.3.self_attn.v_proj.weight");
  }
}

TEST(QuantValidate, OutputFolderNotEmpty) {
  TempDir t("notempty");
  std::filesystem::create_directories(t.sub("out"));
  std::ofstream(t.sub("out/notes.txt")) << "mine";
  auto o = options_for(test::demo_dir(), t.sub("out"));
  expect_rejected(o, ErrorKind::invalid_argument, "not empty");
  std::ifstream in(t.sub("out/notes.txt"));
  std::string s;
  in >> s;
  EXPECT_EQ(s, "mine");
}

TEST(QuantValidate, OutputIsInput) {
  auto o = options_for(test::demo_dir(), test::demo_dir());
  auto r = quantize_model(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::invalid_argument);
}

TEST(QuantValidate, NoDiskSpace) {
  TempDir t("disk");
  // More than any disk holds: the check must refuse and say how much is needed and free.
  auto s = quant::check_disk_space(t.sub("out/deeper"), std::int64_t{1} << 60);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().kind, ErrorKind::io);
  EXPECT_NE(s.error().message.find("not enough disk space"), std::string::npos) << s.error().to_string();
  EXPECT_TRUE(quant::check_disk_space(t.sub("out/deeper"), 1 << 20));
  EXPECT_FALSE(quant::check_memory(std::int64_t{1} << 60));
}

TEST(QuantValidate, CalibrationFileProblems) {
  TempDir t("calib");
  auto o = options_for(test::demo_dir(), t.sub("out"));
  o.calibration_file = t.sub("absent.txt");
  expect_rejected(o, ErrorKind::not_found, "absent.txt");
  std::ofstream(t.sub("bad.jsonl")) << "{\"text\": \"fine\"}\n{\"txt\": 3}\n";
  o.calibration_file = t.sub("bad.jsonl");
  expect_rejected(o, ErrorKind::format, "line 2");
  std::ofstream(t.sub("short.txt")) << "too short";
  o.calibration_file = t.sub("short.txt");
  expect_rejected(o, ErrorKind::invalid_argument, "tokens");
}

TEST(QuantValidate, QuantizedInputRefused) {
  auto o = options_for(std::string(NIBBLE_TEST_DATA_DIR) + "/models/dictlm-16m-exl2-4.0", "/nonexistent/out");
  auto r = quantize_model(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::unsupported) << r.error().to_string();
}

TEST(QuantValidate, DefaultCalibrationSetIsBundled) {
  const std::string path = default_calibration_file();
  ASSERT_FALSE(path.empty());
  EXPECT_TRUE(std::filesystem::is_regular_file(path));
}

}  // namespace
}  // namespace nibble
