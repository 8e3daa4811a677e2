// bench_server: aggregate decode throughput through the API server next to the runtime's own
// batched generation on the same model. For each client count C: (1) the runtime: C jobs
// submitted to one Generator, run to completion; (2) the server: C HTTP clients, each streaming
// one /v1/completions request (the same prompts and lengths, greedy, end-of-sequence ids banned
// so every job makes exactly N tokens). Every round uses fresh prompts, so neither path gains from
// the prefix cache of an earlier round. Tokens/s = C * N / wall time from the first submit (or
// request) to the last token (or [DONE]); the best of --repeats runs.
// Usage: bench_server MODEL_DIR [--device cpu|cuda:0] [--clients 1,8,32] [--tokens 128]
//                              [--repeats 3] [--context 8192] [--threads N] [--tokenizer DIR]
// --tokenizer: where the tokenizer comes from when the model folder has none (the synthetic 7B of
// `nibble-cli bench --keep` has none: use the demo model's; its ids fit the 7B's vocabulary).
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "api_server.h"

using namespace nibble;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<std::int32_t> prompt_for(const Tokenizer& tok, int i) {
  static const char* kWords[] = {"harbor", "kettle", "lantern", "river", "meadow", "anchor", "violin", "candle"};
  std::string text = "<|im_start|>user\nDefine " + std::string(kWords[i % 8]) + " (" + std::to_string(i) +
                     ").<|im_end|>\n<|im_start|>assistant\n";
  auto ids = tok.encode(text, false);
  return ids ? *ids : std::vector<std::int32_t>{1};
}

double runtime_tps(Model& model, const Tokenizer& tok, int clients, int tokens, int round) {
  GeneratorOptions go;
  go.tokenizer = &tok;
  go.max_jobs = std::max(64, clients);
  auto gen = Generator::create(model, go);
  if (!gen) {
    std::fprintf(stderr, "%s\n", gen.error().to_string().c_str());
    std::exit(1);
  }
  const auto t0 = Clock::now();
  for (int i = 0; i < clients; ++i) {
    JobSettings j;
    j.prompt = prompt_for(tok, i + 1000 * round);
    j.max_new_tokens = tokens;
    j.sampler.temperature = 0;
    j.sampler.banned_ids = {0, 2};  // what the server's requests ask with logit_bias -100
    if (!(*gen)->submit(std::move(j))) std::exit(1);
  }
  if (!(*gen)->run_until_idle()) std::exit(1);
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  long long made = 0;
  for (std::uint64_t id = 1; id <= static_cast<std::uint64_t>(clients) + 64; ++id)
    if (auto r = (*gen)->take_result(id)) made += r->timings.generated_tokens;
  if (made != static_cast<long long>(clients) * tokens)
    std::fprintf(stderr, "runtime: %lld tokens generated, %lld expected\n", made, static_cast<long long>(clients) * tokens);
  return made / s;
}

double server_tps(server::ApiServer& srv, const Tokenizer& tok, int clients, int tokens, int round) {
  std::vector<std::thread> threads;
  std::vector<int> got(clients, 0);
  std::vector<std::string> bodies;
  for (int i = 0; i < clients; ++i)
    bodies.push_back(json{{"prompt", prompt_for(tok, i + 1000 * round)}, {"max_tokens", tokens}, {"temperature", 0}, {"stream", true},
                          {"logit_bias", {{"0", -100}, {"2", -100}}}}
                         .dump());
  const std::uint64_t before = srv.stats().completion_tokens;
  const auto t0 = Clock::now();
  for (int i = 0; i < clients; ++i)
    threads.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", srv.port());
      c.set_read_timeout(600);
      httplib::Request req;
      req.method = "POST";
      req.path = "/v1/completions";
      req.body = bodies[i];
      req.set_header("Content-Type", "application/json");
      std::string buf;
      req.content_receiver = [&](const char* d, std::size_t n, std::uint64_t, std::uint64_t) {
        buf.append(d, n);
        return true;
      };
      auto r = c.send(req);
      if (!r || r->status != 200 || buf.find("[DONE]") == std::string::npos) {
        std::fprintf(stderr, "request %d failed: %s %d %s\n", i, r ? "" : httplib::to_string(r.error()).c_str(),
                     r ? r->status : 0, buf.substr(0, 300).c_str());
        std::exit(1);
      }
      got[i] = tokens;
    });
  for (auto& t : threads) t.join();
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  // The engine thread counts a job's tokens when it ends, which may be just after its [DONE].
  for (int w = 0; w < 100 && srv.stats().completion_tokens - before < static_cast<std::uint64_t>(clients) * tokens; ++w)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const long long made = static_cast<long long>(srv.stats().completion_tokens - before);
  if (made != static_cast<long long>(clients) * tokens)
    std::fprintf(stderr, "server: %lld tokens generated, %lld expected\n", made, static_cast<long long>(clients) * tokens);
  return made / s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') {
    std::fprintf(stderr, "Usage: bench_server MODEL_DIR [--device D] [--clients 1,8,32] [--tokens N] [--repeats R] "
                         "[--context N] [--threads N]\n");
    return 2;
  }
  const std::string dir = argv[1];
  LoadOptions lo;
  lo.context = 8192;
  std::vector<int> counts = {1, 8, 32};
  int tokens = 128, repeats = 3;
  std::string tok_dir = dir;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--device") lo.device = v;
    else if (k == "--tokens") tokens = std::atoi(v.c_str());
    else if (k == "--repeats") repeats = std::atoi(v.c_str());
    else if (k == "--context") lo.context = std::atoi(v.c_str());
    else if (k == "--tokenizer") tok_dir = v;
    else if (k == "--threads") lo.threads = static_cast<unsigned>(std::atoi(v.c_str()));
    else if (k == "--clients") {
      counts.clear();
      std::stringstream ss(v);
      std::string item;
      while (std::getline(ss, item, ',')) counts.push_back(std::atoi(item.c_str()));
    } else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  auto tok = Tokenizer::load(tok_dir);
  if (!tok) return std::fprintf(stderr, "%s\n", tok.error().to_string().c_str()), 1;
  auto model = Model::load(dir, lo);
  if (!model) return std::fprintf(stderr, "%s\n", model.error().to_string().c_str()), 1;
  std::printf("model %s on %s, %d tokens per client, best of %d\n", dir.c_str(), lo.device.c_str(), tokens, repeats);
  std::printf("%8s %14s %14s %10s\n", "clients", "runtime tok/s", "server tok/s", "overhead");
  runtime_tps(**model, **tok, 1, 8, 99);  // warm-up
  for (int c : counts) {
    double rt = 0, sv = 0;
    for (int r = 0; r < repeats; ++r) rt = std::max(rt, runtime_tps(**model, **tok, c, tokens, r));
    {
      server::ServerOptions so;
      so.port = 0;
      so.max_jobs = std::max(64, c);
      so.max_tokens_cap = tokens;
      auto srv = server::ApiServer::create(**model, **tok, dir, so);
      if (!srv || !(*srv)->start()) return std::fprintf(stderr, "server failed to start\n"), 1;
      for (int r = 0; r < repeats; ++r) sv = std::max(sv, server_tps(**srv, **tok, c, tokens, r));
      (*srv)->stop();
    }
    std::printf("%8d %14.1f %14.1f %9.1f%%\n", c, rt, sv, 100.0 * (rt - sv) / rt);
    std::fflush(stdout);
  }
  return 0;
}
