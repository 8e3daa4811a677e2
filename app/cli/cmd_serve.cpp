// nibble-cli serve: the OpenAI-compatible API server (app/server) over one model, headless. Runs
// until SIGINT/SIGTERM, then stops cleanly (running jobs are cancelled, threads joined).
#include <atomic>
#include <chrono>
#include <csignal>
#include <ostream>
#include <thread>

#include "api_server.h"
#include "args.h"
#include "commands.h"
#include "generation_options.h"
#include "model_options.h"
#include "nibble/runtime.h"

namespace nibble::cli {
namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_stop_signal(int) { g_stop = true; }

void print_usage(std::ostream& out) {
  out << "Usage: nibble-cli serve --model MODEL_DIR [options]\n"
         "  An OpenAI-compatible API (GET /v1/models, POST /v1/chat/completions, POST /v1/completions)\n"
         "  over the model; see docs/SERVER.md. Ctrl-C stops it.\n"
         "  --model MODEL_DIR     the model folder (or give it as the first argument)\n"
         "  --host ADDR           address to listen on (default 127.0.0.1; another needs --api-key)\n"
         "  --port N              port (default 5001; 0 = any free port, printed at start)\n"
         "  --api-key KEY         require 'Authorization: Bearer KEY' on every request\n"
         "  --max-tokens N        most tokens one request may generate; also the default (default 4096)\n"
         "  --max-body BYTES      largest request body (default 1048576)\n"
         "  --jobs N              requests decoding together in one batch (default 64)\n"
         "  --max-requests N      requests in flight before new ones get 503 (default 256)\n"
         "  --model-name NAME     the id /v1/models lists (default: the folder's name)\n"
         "  --cors                answer browsers from any origin (Access-Control-Allow-Origin: *)\n"
         "Sampling flags set the defaults for fields a request leaves out:\n"
      << kGenerationUsage << kModelOptionsUsage;
}

}  // namespace

int cmd_serve(int argc, char** argv, CommandIo io) {
  std::set<std::string> value_opts = {"model", "host", "port", "api-key", "max-body", "jobs", "max-requests", "model-name"};
  value_opts.insert(kModelValueOptions.begin(), kModelValueOptions.end());
  value_opts.insert(kGenerationValueOptions.begin(), kGenerationValueOptions.end());
  Args args(argc, argv, value_opts);
  if (args.flag("help")) {
    print_usage(io.out);
    return 0;
  }
  auto usage_error = [&](const std::string& what) {
    io.err << "nibble-cli serve: " << what << "\n";
    print_usage(io.err);
    return 2;
  };
  if (!args.error().empty()) return usage_error(args.error());
  std::set<std::string> flags = {"help", "cors"};
  flags.insert(kGenerationFlags.begin(), kGenerationFlags.end());
  if (auto bad = args.unknown(flags)) return usage_error("unknown option " + *bad);
  std::string dir;
  if (auto m = args.value("model")) dir = *m;
  if (args.positionals().size() > 1 || (!dir.empty() && !args.positionals().empty()))
    return usage_error("give the model once (--model MODEL_DIR)");
  if (dir.empty() && args.positionals().size() == 1) dir = args.positionals()[0];
  if (dir.empty()) return usage_error("expected --model MODEL_DIR");

  GenerationSetup setup;
  LoadOptions load;
  std::string error;
  if (!parse_model_options(args, load, error) || !parse_generation_options(args, dir, setup, load, error))
    return usage_error(error);
  if (const int rc = place_model(args, dir, load, error); rc == 2) return usage_error(error);
  else if (rc == 1) {
    io.err << "nibble-cli serve: " << error << "\n";
    return 1;
  }
  if (setup.job.draft == DraftMode::model) return usage_error("--draft is not supported by serve yet (use --ngram-draft)");

  server::ServerOptions so;
  so.host = args.value_or("host", "127.0.0.1");
  so.api_key = args.value_or("api-key", "");
  so.cors = args.flag("cors");
  so.model_id = args.value_or("model-name", "");
  long long v = 0;
  auto get = [&](const char* name, long long lo, long long hi, long long fallback) -> std::optional<long long> {
    auto t = args.value(name);
    if (!t) return fallback;
    if (!parse_int(*t, v) || v < lo || v > hi) return std::nullopt;
    return v;
  };
  auto port = get("port", 0, 65535, 5001);
  auto max_tokens = get("max-tokens", 1, 1 << 24, 4096);
  auto max_body = get("max-body", 1024, 1ll << 32, 1 << 20);
  auto jobs = get("jobs", 1, 4096, 64);
  auto max_requests = get("max-requests", 1, 100000, 256);
  if (!port) return usage_error("--port must be an integer in [0, 65535]");
  if (!max_tokens) return usage_error("--max-tokens must be an integer in [1, 16777216]");
  if (!max_body) return usage_error("--max-body must be at least 1024 bytes");
  if (!jobs) return usage_error("--jobs must be an integer in [1, 4096]");
  if (!max_requests) return usage_error("--max-requests must be an integer in [1, 100000]");
  so.port = static_cast<int>(*port);
  so.max_tokens_cap = static_cast<int>(*max_tokens);
  so.max_body_bytes = static_cast<std::size_t>(*max_body);
  so.max_jobs = static_cast<int>(*jobs);
  so.max_requests = static_cast<int>(*max_requests);
  so.defaults = setup.job;
  so.defaults.max_new_tokens = so.max_tokens_cap;
  if (!server::is_loopback_host(so.host) && so.api_key.empty())
    return usage_error("refusing to listen on " + so.host +
                       " without --api-key: anyone who can reach this machine could use the model. Give --api-key KEY "
                       "(clients send 'Authorization: Bearer KEY') or keep the default --host 127.0.0.1");

  auto fail = [&](const Error& e) {
    io.err << "nibble-cli serve: " << e.to_string() << "\n";
    return 1;
  };
  auto tok = Tokenizer::load(dir);
  if (!tok) return fail(tok.error());
  add_dry_breakers(**tok, setup);
  so.defaults.sampler = setup.job.sampler;
  auto model = Model::load(dir, load);
  if (!model) return fail(model.error());
  auto srv = server::ApiServer::create(**model, **tok, dir, so);
  if (!srv) return fail(srv.error());

  g_stop = false;
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int {}, old_term {};
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  if (auto st = (*srv)->start(); !st) {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    return fail(st.error());
  }
  io.out << "Serving '" << (*srv)->model_id() << "' at " << (*srv)->url() << "/v1"
         << (so.api_key.empty() ? "" : " (API key required)") << " - Ctrl-C stops" << std::endl;
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  io.out << "Stopping..." << std::endl;
  (*srv)->stop();
  const auto stats = (*srv)->stats();
  io.out << "Served " << stats.requests_total << " requests, " << stats.completion_tokens << " tokens generated"
         << std::endl;
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  return 0;
}

}  // namespace nibble::cli
