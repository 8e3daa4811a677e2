// nibble-cli quantize: argument errors are usage errors (exit 2) with the usage text, bad values
// that reach the quantizer come back as its typed error (exit 1) before anything is written.
#include <gtest/gtest.h>

#include <filesystem>

#include "cli_run.h"

namespace nibble::cli {
namespace {

using test::run_cli_args;

const std::string kDemo = std::string(NIBBLE_RESOURCES_DIR) + "/models/dictlm-16m";

std::string temp_out(const char* tag) {
  return (std::filesystem::temp_directory_path() / ("nibble-cli-quantize-" + std::string(tag))).string();
}

TEST(CliQuantize, Help) {
  auto r = run_cli_args({"quantize", "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--bpw"), std::string::npos);
  EXPECT_NE(r.out.find("--measurement"), std::string::npos);
}

TEST(CliQuantize, UsageErrors) {
  const std::string out = temp_out("usage");
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"quantize", kDemo},
           {"quantize", kDemo, out, "--bpw", "four"},
           {"quantize", kDemo, out, "--head-bits", "9"},
           {"quantize", kDemo, out, "--rows", "0"},
           {"quantize", kDemo, out, "--frobnicate"}}) {
    auto r = run_cli_args(args);
    EXPECT_EQ(r.code, 2) << args.back();
    EXPECT_NE(r.err.find("Usage"), std::string::npos) << args.back();
  }
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(CliQuantize, QuantizerErrorsBeforeWork) {
  const std::string out = temp_out("errors");
  std::filesystem::remove_all(out);
  auto r = run_cli_args({"quantize", kDemo, out, "--bpw", "9.5"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--bpw"), std::string::npos) << r.err;
  r = run_cli_args({"quantize", kDemo, out, "--device", "tpu:0"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("tpu:0"), std::string::npos) << r.err;
  r = run_cli_args({"quantize", kDemo, out, "--measure-only"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("measurement"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace nibble::cli
