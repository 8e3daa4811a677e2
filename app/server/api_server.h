// ApiServer: a local OpenAI-compatible HTTP API over one loaded model (GET /v1/models,
// POST /v1/chat/completions, POST /v1/completions; see docs/SERVER.md). HTTP is cpp-httplib (one
// thread per open connection); generation is one runtime Generator driven by the server's engine
// thread, so concurrent requests are batched together (continuous batching). A client that goes
// away mid-stream has its job cancelled at the next step. Qt-free; used by `nibble-cli serve` and
// by the app's bridge (ServerController). No exception crosses this API.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nibble/error.h"
#include "nibble/model.h"
#include "nibble/runtime.h"
#include "nibble/tokenizer.h"

namespace nibble::server {

struct ServerOptions {
  std::string host = "127.0.0.1";  // a non-loopback address needs api_key
  int port = 5001;                 // 0 = any free port (see ApiServer::port())
  std::string api_key;             // "" = no key; else requests need "Authorization: Bearer <key>"
  int max_tokens_cap = 4096;       // max_tokens above this is lowered to it
  std::size_t max_body_bytes = 1u << 20;  // larger request bodies get 413
  bool cors = false;               // Access-Control-Allow-Origin: * and preflight answers
  int max_jobs = 64;               // jobs decoding together (the Generator's max_jobs)
  int max_requests = 256;          // generation requests in flight; more get 503
  std::string model_id;            // the name /v1/models lists ("" = the model folder's name)
  JobSettings defaults;            // sampler settings and max_new_tokens for fields a request omits
};

struct ServerStats {
  std::uint64_t requests_total = 0;       // HTTP requests answered or running
  int requests_active = 0;                // generation requests running now
  std::uint64_t completion_tokens = 0;    // tokens generated for clients
  std::uint64_t steps = 0;                // generator steps taken
  std::uint64_t disconnect_cancels = 0;   // jobs cancelled because their client went away
  // Most generator steps begun after a gone client was noticed until its job ended, the step that
  // dropped it included (1 = freed at the next step boundary).
  std::uint64_t max_disconnect_steps = 0;
};

// One chat completion that ran to its end (stop or length; not cancelled, not failed), for
// callers that keep a record of them (the app's history, when the user opts in).
struct CompletedChat {
  struct Message {
    std::string role;     // "system" ("developer" becomes "system"), "user", "assistant", "tool"
    std::string content;  // text parts joined
  };
  std::vector<Message> messages;  // the request's messages, in order
  std::string content;            // the reply, <think> blocks split off into reasoning
  std::string reasoning;
  std::string finish_reason;      // "stop" or "length"
  int prompt_tokens = 0;
  int completion_tokens = 0;
  double seconds = 0;             // from the request's arrival to the reply's end
  bool streamed = false;
};

class ApiServer {
 public:
  // The model and tokenizer must outlive the server; while it runs, the server's engine thread is
  // the model's only user. `model_dir` is read for chat templates. invalid_argument when the host
  // is not a loopback address and there is no api_key, or a limit is not positive.
  static Result<std::unique_ptr<ApiServer>> create(Model& model, const Tokenizer& tokenizer, std::string model_dir,
                                                   ServerOptions options);
  virtual ~ApiServer() = default;  // stops

  // Binds and starts answering (returns once listening). io when the address cannot be bound.
  virtual Status start() = 0;
  // Stops listening, cancels running jobs, joins threads. Idempotent; safe from any thread but a
  // request handler's.
  virtual void stop() = 0;
  virtual bool running() const = 0;
  virtual int port() const = 0;          // the bound port (after start)
  virtual std::string url() const = 0;   // "http://127.0.0.1:5001"
  virtual const std::string& model_id() const = 0;
  virtual ServerStats stats() const = 0;
  // Called on the engine thread after every generator step with the step count (tests, benchmarks).
  virtual void set_step_hook(std::function<void(std::uint64_t)> hook) = 0;
  // Called whenever requests_active changes (on an HTTP thread; keep it short).
  virtual void set_activity_hook(std::function<void(int active)> hook) = 0;
  // Called once for each chat completion that ends normally, on its HTTP thread, after the reply
  // is generated (streamed: before the final events are sent). Keep it short: hand the record on.
  virtual void set_completion_hook(std::function<void(const CompletedChat&)> hook) = 0;
};

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(const std::string& host);

}  // namespace nibble::server
