// A quantization job killed with SIGKILL at random points (measurement, quantization, head or
// writing) and started again with the same options must finish with files identical, byte for
// byte, to those of a job that ran through. Also: cancel through the flag and through the
// progress callback leaves a record that resumes, and progress reports stages with an ETA.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <random>
#include <thread>

#include "nibble/quant.h"
#include "quant_test_util.h"

namespace nibble {
namespace {

using test::TempDir;

// The demo model cut to its first two decoder layers (a valid model of its own), so that a job
// takes seconds and the test can kill it several times.
const std::string& two_layer_model() {
  static TempDir dir("two-layers");
  static const bool made = [] {
    if (!test::copy_demo_model(dir.sub("m"), [](const TensorView& v, std::vector<std::uint8_t>&) {
          return v.name.rfind("model.layers.", 0) != 0 || v.name.rfind("model.layers.0.", 0) == 0 ||
                 v.name.rfind("model.layers.1.", 0) == 0;
        }))
      return false;
    std::ifstream in(dir.sub("m/config.json"));
    std::string text((std::istreambuf_iterator<char>(in)), {});
    in.close();
    const auto at = text.find("\"num_hidden_layers\": 8");
    if (at == std::string::npos) return false;
    text.replace(at, 22, "\"num_hidden_layers\": 2");
    std::ofstream(dir.sub("m/config.json")) << text;
    return true;
  }();
  EXPECT_TRUE(made);
  static const std::string path = dir.sub("m");
  return path;
}

QuantOptions small_job(const std::string& out) {
  QuantOptions o;
  o.input_dir = two_layer_model();
  o.output_dir = out;
  o.bits = 4.0;
  o.rows = 6;
  o.length = 128;
  o.measurement_rows = 2;
  o.threads = 2;
  return o;
}

// Output files except the report (which holds timings and resume details).
std::vector<std::string> model_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& f : test::files_in(dir))
    if (f != "quantization_report.json") out.push_back(f);
  return out;
}

// The child reports each progress event on one pipe and, at the final "done" event, waits on a
// second pipe that the parent never writes: the job cannot finish before the parent kills it, so
// every attempt is a kill at a random time (or, at the latest, just before the job record goes),
// however fast or slow the machine is at that moment.
TEST(QuantResume, KilledJobsResumeToIdenticalFiles) {
  TempDir t("resume");
  const auto t0 = std::chrono::steady_clock::now();
  auto ref = quantize_model(small_job(t.sub("ref")));
  ASSERT_TRUE(ref) << ref.error().to_string();
  const double ref_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  const auto seed = static_cast<std::uint32_t>(std::chrono::system_clock::now().time_since_epoch().count());
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> when(0.05, 0.95);
  int kills = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    int events[2], hold[2];
    ASSERT_EQ(::pipe(events), 0);
    ASSERT_EQ(::pipe(hold), 0);
    const double delay = when(rng) * ref_s;
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(events[0]);
      ::close(hold[1]);
      QuantOptions o = small_job(t.sub("killed"));
      o.progress = [&](const QuantProgress& p) {
        const char stage = static_cast<char>('0' + static_cast<int>(p.stage));
        if (::write(events[1], &stage, 1) != 1) ::_exit(3);
        if (p.stage == QuantStage::done) {
          char c;
          while (::read(hold[0], &c, 1) < 0) {
          }
        }
        return true;
      };
      auto r = quantize_model(o);
      ::_exit(r ? 0 : 1);
    }
    ::close(events[1]);
    ::close(hold[0]);
    // Wait for the chosen moment or for the "done" event, whichever comes first.
    const auto start = std::chrono::steady_clock::now();
    char last = '?';
    bool at_done = false, eof = false;
    for (;;) {
      const double left = delay - std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (left <= 0) break;
      pollfd pfd{events[0], POLLIN, 0};
      const int n = ::poll(&pfd, 1, static_cast<int>(left * 1000) + 1);
      if (n <= 0) continue;
      char c;
      const auto got = ::read(events[0], &c, 1);
      if (got <= 0) {
        eof = true;
        break;
      }
      last = c;
      if (c == static_cast<char>('0' + static_cast<int>(QuantStage::done))) {
        at_done = true;
        break;
      }
    }
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(events[0]);
    ::close(hold[1]);
    EXPECT_FALSE(eof && !WIFSIGNALED(status)) << "the job ended on its own (exit status " << status << ")";
    if (WIFSIGNALED(status)) ++kills;
    std::printf("seed %u: kill after %.2f s of %.2f s, last progress event: %s%s\n", seed, delay, ref_s,
                last == '?' ? "none" : quant_stage_name(static_cast<QuantStage>(last - '0')),
                at_done ? " (the child waited there)" : "");
  }
  EXPECT_EQ(kills, 3);
  auto r = quantize_model(small_job(t.sub("killed")));
  ASSERT_TRUE(r) << r.error().to_string();
  const auto want = model_files(t.sub("ref"));
  ASSERT_EQ(model_files(t.sub("killed")), want);
  for (const auto& f : want)
    EXPECT_TRUE(test::read_bytes(t.sub("ref/" + f)) == test::read_bytes(t.sub("killed/" + f))) << f << " differs after kill and resume";
}

TEST(QuantResume, CancelThenResumeAndProgress) {
  TempDir t("cancel");
  std::atomic<bool> cancel{false};
  std::vector<QuantProgress> seen;
  QuantOptions o = small_job(t.sub("out"));
  o.cancel = &cancel;
  // The measurement is saved when its stage ends: the resumed job finds the file it wrote itself.
  o.measurement_file = t.sub("measurement.json");
  o.progress = [&](const QuantProgress& p) {
    seen.push_back(p);
    if (p.stage == QuantStage::quantize && p.layer == 1) cancel = true;
    return true;
  };
  auto r = quantize_model(o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::cancelled);
  EXPECT_TRUE(std::filesystem::exists(t.sub("out/.nibble-job")));
  EXPECT_TRUE(std::filesystem::exists(t.sub("measurement.json")));
  EXPECT_FALSE(std::filesystem::exists(t.sub("out/output.safetensors")));
  bool measured = false, eta = false;
  double last = 0;
  for (const auto& p : seen) {
    measured |= p.stage == QuantStage::measure && p.layers == 2;
    eta |= p.eta_s > 0;
    EXPECT_GE(p.fraction, last - 1e-12);
    last = p.fraction;
  }
  EXPECT_TRUE(measured);
  EXPECT_TRUE(eta);

  // A callback returning false cancels too; then the job goes on from where it stopped.
  cancel = false;
  int calls = 0;
  o.progress = [&](const QuantProgress&) { return ++calls < 2; };
  auto r2 = quantize_model(o);
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().kind, ErrorKind::cancelled);
  o.progress = {};
  auto r3 = quantize_model(o);
  ASSERT_TRUE(r3) << r3.error().to_string();
  EXPECT_EQ(r3->resumed_stage, "quantize");
  EXPECT_EQ(r3->resumed_at_layer, 1);
  EXPECT_FALSE(std::filesystem::exists(t.sub("out/.nibble-job")));

  // Other settings on the same unfinished folder are refused, not mixed.
  TempDir t2("other");
  QuantOptions a = small_job(t2.sub("out"));
  std::atomic<bool> stop{true};
  a.cancel = &stop;
  ASSERT_FALSE(quantize_model(a));
  a.cancel = nullptr;
  a.bits = 5.0;
  auto mixed = quantize_model(a);
  ASSERT_FALSE(mixed);
  EXPECT_EQ(mixed.error().kind, ErrorKind::invalid_argument) << mixed.error().to_string();
}

}  // namespace
}  // namespace nibble
