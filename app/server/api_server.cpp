// ApiServer implementation: httplib routes -> request parsing (OpenAI field rules, typed errors)
// -> prompt (chat template or raw text) -> a runtime job whose updates feed a per-request Stream;
// the HTTP thread turns the Stream into one JSON answer or server-sent events. One engine thread
// steps the Generator whenever jobs are pending.
#include "api_server.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include <dirent.h>
#include <netdb.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <sys/socket.h>

#include "nibble/chat_template.h"
#include "think_splitter.h"

namespace nibble::server {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

bool is_loopback_host(const std::string& host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  return host.rfind("127.", 0) == 0;
}

namespace {

// An OpenAI-style error answer.
struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // "" = null
  std::string code;   // "" = null
};

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json error_body(const ApiError& e) {
  json err = {{"message", e.message}, {"type", e.type}, {"param", nullptr}, {"code", nullptr}};
  if (!e.param.empty()) err["param"] = e.param;
  if (!e.code.empty()) err["code"] = e.code;
  return json{{"error", err}};
}

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(dump(error_body(e)), "application/json");
}

ApiError bad_field(const std::string& param, const std::string& message) {
  return ApiError{400, message, "invalid_request_error", param, "invalid_value"};
}

// The state one request shares with its job's callback (engine thread) and its HTTP thread.
struct Stream {
  std::mutex m;
  std::condition_variable cv;
  std::string text;              // text not yet taken by the HTTP thread
  bool finished = false;
  StopReason reason = StopReason::none;
  JobTimings timings;
  std::optional<Error> error;
  std::atomic<bool> gone{false};  // the client went away: cancel
  std::atomic<std::uint64_t> gone_step{0};
  std::uint64_t job = 0;
};

// What one request asks for, after validation.
struct Parsed {
  bool chat = true;
  bool stream = false;
  bool include_usage = false;
  bool start_in_reasoning = false;
  JobSettings job;
  std::vector<CompletedChat::Message> messages;  // chat: the request's messages as rendered
  std::chrono::steady_clock::time_point arrived = std::chrono::steady_clock::now();
};

// cpp-httplib 0.11 does not hand a handler its connection's socket. The connection is found by
// its address pair (our address and port, the client's address and port: unique among open TCP
// connections) among this process's descriptors. Its owner, the httplib thread running the
// handler, keeps it open until the handler returns. -1 when it cannot be found (not Linux, or
// /proc unreadable): the request then runs to its end, as if the client had stayed.
std::string numeric_host(const sockaddr_storage& a, socklen_t len, int& port) {
  char host[NI_MAXHOST] = {0};
  char serv[NI_MAXSERV] = {0};
  if (::getnameinfo(reinterpret_cast<const sockaddr*>(&a), len, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return {};
  port = std::atoi(serv);
  return host;
}

int connection_socket(const httplib::Request& req) {
  if (req.remote_port <= 0 || req.local_port <= 0) return -1;
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return -1;
  int found = -1;
  int matches = 0;
  while (const dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd < 0 || fd == ::dirfd(dir)) continue;
    sockaddr_storage local{}, peer{};
    socklen_t local_len = sizeof local, peer_len = sizeof peer;
    if (::getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local), &local_len) != 0) continue;
    if (::getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) continue;
    int local_port = -1, peer_port = -1;
    const std::string local_host = numeric_host(local, local_len, local_port);
    const std::string peer_host = numeric_host(peer, peer_len, peer_port);
    if (local_port != req.local_port || peer_port != req.remote_port || peer_host != req.remote_addr) continue;
    if (!req.local_addr.empty() && local_host != req.local_addr) continue;
    found = static_cast<int>(fd);
    ++matches;
  }
  ::closedir(dir);
  return matches == 1 ? found : -1;
}

// The client closed its end (or the connection broke). Data it sent ahead (a pipelined request)
// is left unread and does not count.
bool peer_closed(int fd) {
  pollfd p{};
  p.fd = fd;
  p.events = POLLRDHUP;
  if (::poll(&p, 1, 0) <= 0) return false;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

const char* finish_reason(StopReason r) {
  switch (r) {
    case StopReason::length: return "length";
    default: return "stop";
  }
}

class ApiServerImpl final : public ApiServer {
 public:
  ApiServerImpl(Model& model, const Tokenizer& tok, std::string dir, ServerOptions opts)
      : model_(model), tok_(tok), dir_(std::move(dir)), opts_(std::move(opts)) {
    model_id_ = opts_.model_id;
    if (model_id_.empty()) {
      std::filesystem::path p(dir_);
      model_id_ = p.filename().string();
      if (model_id_.empty()) model_id_ = p.parent_path().filename().string();
      if (model_id_.empty()) model_id_ = "model";
    }
    std::random_device rd;
    seed_base_ = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    created_ = static_cast<std::int64_t>(std::time(nullptr));
  }

  ~ApiServerImpl() override { stop(); }

  Status init() {
    GeneratorOptions go;
    go.tokenizer = &tok_;
    go.max_jobs = opts_.max_jobs;
    NIBBLE_ASSIGN_OR_RETURN(gen_, Generator::create(model_, go));
    auto templates = load_chat_templates(dir_);
    if (!templates) return templates.error();
    bos_ = templates->bos_token;
    eos_ = templates->eos_token;
    for (bool tools : {false, true}) {
      const std::string* source = select_chat_template(templates->templates, tools);
      if (!source) continue;
      auto parsed = ChatTemplate::parse(*source);
      if (!parsed) return make_error(parsed.error().kind, "chat template of ", dir_, ": ", parsed.error().message);
      (tools ? tool_template_ : template_) = *parsed;
    }
    return {};
  }

  Status start() override {
    try {
      return start_impl();
    } catch (const std::exception& e) {
      return make_error(ErrorKind::internal, "server: cannot start: ", e.what());
    }
  }

  Status start_impl() {
    if (running_) return {};
    // A client closing its socket must not end the process with SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    http_ = std::make_unique<httplib::Server>();
    setup_routes();
    const int threads = opts_.max_requests + 16;
    http_->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
    http_->set_payload_max_length(opts_.max_body_bytes);
    http_->set_keep_alive_timeout(5);
    // httplib listens with a backlog of 5: a burst of clients would wait for TCP's retransmission
    // (a second or more). The listening socket is remembered here and its backlog raised below.
    listen_fd_ = -1;
    http_->set_socket_options([this](socket_t sock) {
      httplib::default_socket_options(sock);
      listen_fd_ = static_cast<int>(sock);
    });
    int port = 0;
    if (opts_.port == 0) port = http_->bind_to_any_port(opts_.host);
    else port = http_->bind_to_port(opts_.host, opts_.port) ? opts_.port : -1;
    if (port <= 0)
      return make_error(ErrorKind::io, "server: cannot listen on ", opts_.host, ":", opts_.port,
                        " (the port is in use or the address is not this machine's; pick another with --port/--host)");
    port_ = port;
    if (listen_fd_ >= 0) ::listen(listen_fd_, SOMAXCONN);
    stopping_ = false;
    engine_ = std::thread([this] { engine_loop(); });
    listener_ = std::thread([this] { http_->listen_after_bind(); });
    running_ = true;
    return {};
  }

  void stop() override {
    std::lock_guard stop_lock(stop_mutex_);
    if (!running_) return;
    stopping_ = true;
    {
      // Cancel every job; their streams end at the next step and the handlers return.
      std::lock_guard lock(jobs_mutex_);
      for (auto& [id, s] : streams_)
        if (auto sp = s.lock()) {
          sp->gone = true;
          gen_->cancel(id);
        }
    }
    wake_engine();
    // Give the handlers a moment to finish their answers before the sockets close.
    for (int i = 0; i < 200 && active_.load() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    http_->stop();
    if (listener_.joinable()) listener_.join();
    engine_stop_ = true;
    wake_engine();
    if (engine_.joinable()) engine_.join();
    running_ = false;
  }

  bool running() const override { return running_; }
  int port() const override { return port_; }
  std::string url() const override {
    const std::string host = opts_.host.find(':') != std::string::npos ? "[" + opts_.host + "]" : opts_.host;
    return "http://" + host + ":" + std::to_string(port_);
  }
  const std::string& model_id() const override { return model_id_; }

  ServerStats stats() const override {
    ServerStats s;
    s.requests_total = requests_total_.load();
    s.requests_active = active_.load();
    s.completion_tokens = completion_tokens_.load();
    s.steps = steps_.load();
    s.disconnect_cancels = disconnect_cancels_.load();
    s.max_disconnect_steps = max_disconnect_steps_.load();
    return s;
  }

  void set_step_hook(std::function<void(std::uint64_t)> hook) override {
    std::lock_guard lock(hook_mutex_);
    step_hook_ = std::move(hook);
  }
  void set_activity_hook(std::function<void(int)> hook) override {
    std::lock_guard lock(hook_mutex_);
    activity_hook_ = std::move(hook);
  }
  void set_completion_hook(std::function<void(const CompletedChat&)> hook) override {
    std::lock_guard lock(hook_mutex_);
    completion_hook_ = std::move(hook);
  }

 private:
  // ---- engine thread ---------------------------------------------------------------------------
  void wake_engine() {
    std::lock_guard lock(engine_mutex_);
    engine_wake_ = true;
    engine_cv_.notify_one();
  }

  void engine_loop() {
    while (true) {
      if (gen_->jobs_pending() == 0) {
        if (engine_stop_) return;
        std::unique_lock lock(engine_mutex_);
        engine_cv_.wait_for(lock, std::chrono::milliseconds(100), [&] { return engine_wake_ || engine_stop_.load(); });
        engine_wake_ = false;
        continue;
      }
      ++steps_started_;
      auto r = gen_->step();  // a model error fails that step's jobs (their streams get the error)
      const std::uint64_t n = ++steps_;
      std::function<void(std::uint64_t)> hook;
      {
        std::lock_guard lock(hook_mutex_);
        hook = step_hook_;
      }
      if (hook) hook(n);
      for (auto id : finished_jobs_) gen_->take_result(id);
      finished_jobs_.clear();
      if (r && !*r) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  // ---- requests --------------------------------------------------------------------------------
  void setup_routes() {
    http_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      ++requests_total_;
      if (opts_.cors) {
        res.set_header("Access-Control-Allow-Origin", "*");
        if (req.method == "OPTIONS") {
          res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
          res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
          res.set_header("Access-Control-Max-Age", "600");
          res.status = 204;
          return httplib::Server::HandlerResponse::Handled;
        }
      }
      if (!opts_.api_key.empty()) {
        const std::string auth = req.get_header_value("Authorization");
        const std::string expected = "Bearer " + opts_.api_key;
        if (!constant_time_equal(auth, expected)) {
          send_error(res, ApiError{401,
                                   auth.empty() ? "missing API key: send the header 'Authorization: Bearer <key>'"
                                                : "incorrect API key",
                                   "invalid_request_error", "", "invalid_api_key"});
          res.set_header("WWW-Authenticate", "Bearer");
          return httplib::Server::HandlerResponse::Handled;
        }
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    http_->set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      ApiError e;
      e.status = res.status;
      if (res.status == 404) {
        e.message = "unknown route " + req.method + " " + req.path + " (see GET /v1/models, POST /v1/chat/completions, "
                    "POST /v1/completions)";
        e.code = "not_found";
      } else if (res.status == 413) {
        e.message = "the request body is larger than the server's limit (--max-body)";
        e.code = "request_too_large";
      } else {
        e.message = std::string("HTTP error ") + std::to_string(res.status);
      }
      send_error(res, e);
      return httplib::Server::HandlerResponse::Handled;
    }));
    http_->set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
      send_error(res, ApiError{500, "internal server error", "server_error", "", ""});
    });
    http_->Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      json list = {{"object", "list"}, {"data", json::array({model_object()})}};
      res.set_content(dump(list), "application/json");
    });
    http_->Get(R"(/v1/models/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
      if (req.matches[1] != model_id_) return send_error(res, unknown_model(req.matches[1]));
      res.set_content(dump(model_object()), "application/json");
    });
    http_->Post("/v1/chat/completions",
                [this](const httplib::Request& req, httplib::Response& res) { handle_generation(req, res, true); });
    http_->Post("/v1/completions",
                [this](const httplib::Request& req, httplib::Response& res) { handle_generation(req, res, false); });
  }

  static bool constant_time_equal(const std::string& a, const std::string& b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < b.size(); ++i) diff |= static_cast<unsigned char>(b[i] ^ (i < a.size() ? a[i] : 0));
    return diff == 0;
  }

  json model_object() const {
    return json{{"id", model_id_}, {"object", "model"}, {"created", created_}, {"owned_by", "nibble"}};
  }

  ApiError unknown_model(const std::string& name) const {
    return ApiError{404, "the model '" + name + "' does not exist; this server serves '" + model_id_ + "'",
                    "invalid_request_error", "model", "model_not_found"};
  }

  // Reads the fields shared by both endpoints into `p.job`; the prompt is set by the caller.
  std::optional<ApiError> parse_common(const json& body, Parsed& p) const {
    if (auto m = body.find("model"); m != body.end() && !m->is_null()) {
      if (!m->is_string()) return bad_field("model", "'model' must be a string");
      if (m->get<std::string>() != model_id_) return unknown_model(m->get<std::string>());
    }
    JobSettings& j = p.job;
    j = opts_.defaults;
    j.prompt.clear();
    j.on_update = nullptr;
    SamplerSettings& s = j.sampler;
    auto number = [&](const char* name, float lo, float hi, float& dst) -> std::optional<ApiError> {
      auto it = body.find(name);
      if (it == body.end() || it->is_null()) return std::nullopt;
      if (!it->is_number()) return bad_field(name, std::string("'") + name + "' must be a number");
      const double v = it->get<double>();
      if (!(v >= lo && v <= hi))
        return bad_field(name, std::string("'") + name + "' must be between " + json(lo).dump() + " and " + json(hi).dump());
      dst = static_cast<float>(v);
      return std::nullopt;
    };
    auto integer = [&](const char* name, long long lo, long long hi, std::optional<long long>& dst) -> std::optional<ApiError> {
      auto it = body.find(name);
      if (it == body.end() || it->is_null()) return std::nullopt;
      if (!it->is_number_integer()) return bad_field(name, std::string("'") + name + "' must be an integer");
      const long long v = it->get<long long>();
      if (v < lo || v > hi)
        return bad_field(name, std::string("'") + name + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi));
      dst = v;
      return std::nullopt;
    };
    if (auto e = number("temperature", 0.0f, 2.0f, s.temperature)) return e;
    if (auto e = number("top_p", 0.0f, 1.0f, s.top_p)) return e;
    if (s.top_p <= 0.0f) return bad_field("top_p", "'top_p' must be greater than 0");
    if (auto e = number("min_p", 0.0f, 1.0f, s.min_p)) return e;
    if (auto e = number("presence_penalty", -2.0f, 2.0f, s.presence_penalty)) return e;
    if (auto e = number("frequency_penalty", -2.0f, 2.0f, s.frequency_penalty)) return e;
    if (auto e = number("repetition_penalty", 0.01f, 10.0f, s.repetition_penalty)) return e;
    std::optional<long long> top_k, n, seed, max_tokens, max_completion_tokens;
    if (auto e = integer("top_k", 0, 1 << 24, top_k)) return e;
    if (top_k) s.top_k = static_cast<int>(*top_k);
    if (auto e = integer("n", 1, 1 << 20, n)) return e;
    if (n && *n != 1) return bad_field("n", "only n = 1 is supported: send separate requests for more choices");
    if (auto e = integer("seed", INT64_MIN, INT64_MAX, seed)) return e;
    j.seed = seed ? static_cast<std::uint64_t>(*seed) : seed_base_ ^ (0x9E3779B97F4A7C15ull * ++request_counter_);
    if (auto e = integer("max_tokens", 1, INT32_MAX, max_tokens)) return e;
    if (auto e = integer("max_completion_tokens", 1, INT32_MAX, max_completion_tokens)) return e;
    long long limit = max_completion_tokens ? *max_completion_tokens : max_tokens ? *max_tokens : j.max_new_tokens;
    j.max_new_tokens = static_cast<int>(std::min<long long>(std::max<long long>(limit, 1), opts_.max_tokens_cap));
    if (auto it = body.find("stream"); it != body.end() && !it->is_null()) {
      if (!it->is_boolean()) return bad_field("stream", "'stream' must be true or false");
      p.stream = it->get<bool>();
    }
    if (auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
      if (!it->is_object()) return bad_field("stream_options", "'stream_options' must be an object");
      if (auto u = it->find("include_usage"); u != it->end() && !u->is_null()) {
        if (!u->is_boolean()) return bad_field("stream_options", "'stream_options.include_usage' must be true or false");
        p.include_usage = u->get<bool>();
      }
    }
    j.stop_strings.clear();
    if (auto it = body.find("stop"); it != body.end() && !it->is_null()) {
      std::vector<json> stops;
      if (it->is_string()) stops.push_back(*it);
      else if (it->is_array()) stops.assign(it->begin(), it->end());
      else return bad_field("stop", "'stop' must be a string or a list of strings");
      if (stops.size() > 16) return bad_field("stop", "at most 16 stop strings");
      for (const auto& st : stops) {
        if (!st.is_string() || st.get<std::string>().empty())
          return bad_field("stop", "'stop' must be a string or a list of non-empty strings");
        j.stop_strings.push_back(st.get<std::string>());
      }
    }
    s.logit_bias.clear();
    if (auto it = body.find("logit_bias"); it != body.end() && !it->is_null()) {
      if (!it->is_object()) return bad_field("logit_bias", "'logit_bias' must be an object of token id -> bias");
      for (auto& [key, value] : it->items()) {
        long long id = -1;
        std::size_t used = 0;
        try {
          id = std::stoll(key, &used);
        } catch (...) {
          used = 0;
        }
        if (used != key.size() || key.empty() || id < 0 || id >= tok_.vocab_size())
          return bad_field("logit_bias", "logit_bias key '" + key + "' is not a token id of this model (0 to " +
                                             std::to_string(tok_.vocab_size() - 1) + ")");
        if (!value.is_number() || value.get<double>() < -100.0 || value.get<double>() > 100.0)
          return bad_field("logit_bias", "logit_bias values must be numbers between -100 and 100");
        const float b = value.get<float>();
        if (b <= -100.0f) s.banned_ids.push_back(static_cast<std::int32_t>(id));
        else s.logit_bias.push_back({static_cast<std::int32_t>(id), b});
      }
    }
    if (auto it = body.find("logprobs"); it != body.end() && !it->is_null() && *it != false && *it != 0)
      return ApiError{400, "logprobs are not supported by this server", "invalid_request_error", "logprobs", "unsupported"};
    if (auto it = body.find("top_logprobs"); it != body.end() && !it->is_null())
      return ApiError{400, "top_logprobs are not supported by this server", "invalid_request_error", "top_logprobs", "unsupported"};
    if (auto st = s.validate(tok_.vocab_size()); !st) return bad_field("", st.error().message);
    return std::nullopt;
  }

  // Chat: messages (and tools) through the model's template.
  std::optional<ApiError> chat_prompt(const json& body, Parsed& p) const {
    auto it = body.find("messages");
    if (it == body.end() || !it->is_array() || it->empty())
      return bad_field("messages", "'messages' must be a non-empty list of {role, content}");
    ChatRenderInput in;
    in.add_generation_prompt = true;
    in.bos_token = bos_;
    in.eos_token = eos_;
    for (const auto& m : *it) {
      if (!m.is_object()) return bad_field("messages", "each message must be an object with 'role' and 'content'");
      auto role = m.find("role");
      if (role == m.end() || !role->is_string()) return bad_field("messages", "each message needs a 'role' string");
      std::string r = role->get<std::string>();
      if (r == "developer") r = "system";
      if (r != "system" && r != "user" && r != "assistant" && r != "tool")
        return bad_field("messages", "unknown message role '" + r + "' (system, developer, user, assistant, tool)");
      ojson out = ojson::parse(m.dump());
      out["role"] = r;
      auto content = m.find("content");
      if (content == m.end() || content->is_null()) {
        if (r != "assistant") return bad_field("messages", "a '" + r + "' message needs 'content'");
        out["content"] = "";
      } else if (content->is_array()) {
        std::string text;
        for (const auto& part : *content) {
          if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
            return ApiError{400, "only text content parts are supported (no images or audio)", "invalid_request_error",
                            "messages", "unsupported"};
          text += part["text"].get<std::string>();
        }
        out["content"] = text;
      } else if (!content->is_string()) {
        return bad_field("messages", "message 'content' must be a string or a list of text parts");
      }
      p.messages.push_back({r, out["content"].get<std::string>()});
      in.messages.push_back(std::move(out));
    }
    bool has_tools = false;
    if (auto t = body.find("tools"); t != body.end() && !t->is_null()) {
      if (!t->is_array()) return bad_field("tools", "'tools' must be a list of tool definitions");
      if (!t->empty()) {
        in.tools = ojson::parse(t->dump());
        has_tools = true;
      }
    }
    if (auto k = body.find("chat_template_kwargs"); k != body.end() && !k->is_null()) {
      if (!k->is_object()) return bad_field("chat_template_kwargs", "'chat_template_kwargs' must be an object");
      in.extra = ojson::parse(k->dump());
    }
    std::string rendered;
    const auto& tmpl = has_tools && tool_template_ ? tool_template_ : template_;
    if (tmpl) {
      auto r = tmpl->render(in);
      if (!r) return ApiError{400, "the model's chat template refused the conversation: " + r.error().message,
                              "invalid_request_error", "messages", "template_error"};
      rendered = std::move(*r);
    } else {
      rendered = render_chatml(json::parse(in.messages.dump()), true);
    }
    std::string tail = rendered;
    while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' ')) tail.pop_back();
    p.start_in_reasoning = tail.size() >= 7 && tail.compare(tail.size() - 7, 7, "<think>") == 0;
    auto ids = tok_.encode(rendered, false);
    if (!ids) return bad_field("messages", ids.error().message);
    p.job.prompt = std::move(*ids);
    return std::nullopt;
  }

  std::optional<ApiError> completion_prompt(const json& body, Parsed& p) const {
    auto it = body.find("prompt");
    if (it == body.end()) return bad_field("prompt", "'prompt' is required");
    const json* prompt = &*it;
    if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) prompt = &(*prompt)[0];
    if (prompt->is_string()) {
      auto ids = tok_.encode(prompt->get<std::string>(), true);
      if (!ids) return bad_field("prompt", ids.error().message);
      p.job.prompt = std::move(*ids);
    } else if (prompt->is_array() && !prompt->empty() && std::all_of(prompt->begin(), prompt->end(), [&](const json& v) {
                 return v.is_number_integer() && v.get<long long>() >= 0 && v.get<long long>() < tok_.vocab_size();
               })) {
      for (const auto& v : *prompt) p.job.prompt.push_back(v.get<std::int32_t>());
    } else {
      return bad_field("prompt", "'prompt' must be a string, a list of one string or a list of token ids (several "
                                 "prompts in one request are not supported)");
    }
    if (auto e = body.find("echo"); e != body.end() && e->is_boolean() && e->get<bool>())
      return ApiError{400, "echo is not supported by this server", "invalid_request_error", "echo", "unsupported"};
    if (auto e = body.find("suffix"); e != body.end() && !e->is_null())
      return ApiError{400, "suffix is not supported by this server", "invalid_request_error", "suffix", "unsupported"};
    if (auto e = body.find("best_of"); e != body.end() && !e->is_null() && *e != 1)
      return bad_field("best_of", "only best_of = 1 is supported");
    if (p.job.prompt.empty()) return bad_field("prompt", "the prompt is empty");
    return std::nullopt;
  }

  // Hands a normally ended chat completion to the completion hook, if any.
  void completed(const Parsed& p, const std::string& content, const std::string& reasoning, StopReason reason,
                 const JobTimings& t) {
    if (!p.chat || (reason != StopReason::eos && reason != StopReason::stop_string && reason != StopReason::length)) return;
    std::function<void(const CompletedChat&)> hook;
    {
      std::lock_guard lock(hook_mutex_);
      hook = completion_hook_;
    }
    if (!hook) return;
    CompletedChat c;
    c.messages = p.messages;
    c.content = content;
    c.reasoning = reasoning;
    c.finish_reason = finish_reason(reason);
    c.prompt_tokens = static_cast<int>(p.job.prompt.size());
    c.completion_tokens = t.generated_tokens;
    c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - p.arrived).count();
    c.streamed = p.stream;
    try {
      hook(c);
    } catch (...) {
      // A hook's failure is its own; the client's answer goes out regardless.
    }
  }

  void activity_changed(int active) {
    std::function<void(int)> hook;
    {
      std::lock_guard lock(hook_mutex_);
      hook = activity_hook_;
    }
    if (hook) hook(active);
  }

  // Counts a generation request in and out of requests_active.
  struct ActiveGuard {
    ApiServerImpl* s;
    explicit ActiveGuard(ApiServerImpl* server) : s(server) { s->activity_changed(++s->active_); }
    ~ActiveGuard() { s->activity_changed(--s->active_); }
  };

  void handle_generation(const httplib::Request& req, httplib::Response& res, bool chat) {
    if (stopping_) return send_error(res, ApiError{503, "the server is shutting down", "server_error", "", "unavailable"});
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded())
      return send_error(res, ApiError{400, "the request body is not valid JSON", "invalid_request_error", "", "invalid_json"});
    if (!body.is_object())
      return send_error(res, ApiError{400, "the request body must be a JSON object", "invalid_request_error", "", "invalid_json"});
    auto p = std::make_shared<Parsed>();
    p->chat = chat;
    if (auto e = parse_common(body, *p)) return send_error(res, *e);
    if (auto e = chat ? chat_prompt(body, *p) : completion_prompt(body, *p)) return send_error(res, *e);
    // Room: the reply never runs past the model's context or the KV cache.
    const long long capacity = std::min<long long>(static_cast<long long>(model_.pages_total()) * model_.page_size(),
                                                   model_.info().context_length > 0 ? model_.info().context_length : INT32_MAX);
    const long long prompt_n = static_cast<long long>(p->job.prompt.size());
    if (prompt_n + 1 > capacity)
      return send_error(res, ApiError{400,
                                      "the prompt is " + std::to_string(prompt_n) + " tokens and the model's context holds " +
                                          std::to_string(capacity) + ": shorten it",
                                      "invalid_request_error", chat ? "messages" : "prompt", "context_length_exceeded"});
    p->job.max_new_tokens = static_cast<int>(std::min<long long>(p->job.max_new_tokens, capacity - prompt_n));

    if (active_.load() >= opts_.max_requests)
      return send_error(res, ApiError{503, "the server is busy (" + std::to_string(opts_.max_requests) +
                                               " requests in flight); retry shortly",
                                      "server_error", "", "overloaded"});
    auto guard = std::make_shared<ActiveGuard>(this);
    auto stream = std::make_shared<Stream>();
    JobSettings job = p->job;
    job.on_update = [this, stream](const JobUpdate& u) {
      std::lock_guard lock(stream->m);
      stream->text += u.text;
      if (u.finished) {
        finished_jobs_.push_back(u.job);  // engine thread only
        stream->finished = true;
        stream->reason = u.reason;
        stream->timings = u.timings;
        stream->error = u.error;
        completion_tokens_ += static_cast<std::uint64_t>(u.timings.generated_tokens);
        if (stream->gone && u.reason == StopReason::cancelled && !stopping_) {
          // Steps begun since the client was noticed, this one (which drops the job) included.
          const std::uint64_t took = steps_started_.load() - stream->gone_step.load();
          ++disconnect_cancels_;
          std::uint64_t prev = max_disconnect_steps_.load();
          while (took > prev && !max_disconnect_steps_.compare_exchange_weak(prev, took)) {
          }
        }
      }
      stream->cv.notify_all();
      return !stream->gone.load();
    };
    std::uint64_t id = 0;
    {
      std::lock_guard lock(jobs_mutex_);
      auto submitted = gen_->submit(std::move(job));
      if (!submitted) return send_error(res, bad_field(chat ? "messages" : "prompt", submitted.error().message));
      id = *submitted;
      stream->job = id;
      streams_[id] = stream;
    }
    wake_engine();
    const std::string rid = std::string(chat ? "chatcmpl-" : "cmpl-") + std::to_string(seed_base_ % 1000000) + "-" + std::to_string(id);
    const std::int64_t created = static_cast<std::int64_t>(std::time(nullptr));
    if (p->stream) stream_answer(res, p, stream, guard, rid, created);
    else whole_answer(req, res, p, stream, rid, created);
  }

  // The result itself is dropped by the engine thread (the Generator is not thread-safe).
  void forget(std::uint64_t id) {
    std::lock_guard lock(jobs_mutex_);
    streams_.erase(id);
  }

  void client_gone(const std::shared_ptr<Stream>& s) {
    if (s->gone.exchange(true)) return;
    s->gone_step = steps_started_.load();
    gen_->cancel(s->job);
    wake_engine();
  }

  json usage_of(const Parsed& p, const JobTimings& t) const {
    const int prompt = static_cast<int>(p.job.prompt.size());
    return json{{"prompt_tokens", prompt}, {"completion_tokens", t.generated_tokens},
                {"total_tokens", prompt + t.generated_tokens},
                {"prompt_tokens_details", {{"cached_tokens", t.cached_tokens}}}};
  }

  void whole_answer(const httplib::Request& req, httplib::Response& res, const std::shared_ptr<Parsed>& p, const std::shared_ptr<Stream>& s,
                    const std::string& rid, std::int64_t created) {
    std::unique_lock lock(s->m);
    // While the job runs, look every few milliseconds (well under a decode step of a real model)
    // whether the client is still there; a closed connection cancels the job at the next step.
    if (!s->cv.wait_for(lock, std::chrono::milliseconds(5), [&] { return s->finished; })) {
      lock.unlock();
      const int fd = connection_socket(req);
      lock.lock();
      while (!s->finished) {
        if (s->cv.wait_for(lock, std::chrono::milliseconds(5), [&] { return s->finished; })) break;
        if (fd >= 0 && !s->gone && peer_closed(fd)) {
          lock.unlock();
          client_gone(s);
          lock.lock();
        }
      }
    }
    const std::string text = s->text;
    const StopReason reason = s->reason;
    const JobTimings timings = s->timings;
    const auto error = s->error;
    lock.unlock();
    forget(s->job);
    if (reason == StopReason::error)
      return send_error(res, ApiError{500, "generation failed: " + (error ? error->to_string() : std::string("unknown error")),
                                      "server_error", "", "generation_failed"});
    if (reason == StopReason::cancelled)
      return send_error(res, ApiError{503,
                                      stopping_ ? "the request was cancelled (the server is shutting down)"
                                                : "the request was cancelled (the client closed the connection)",
                                      "server_error", "", "cancelled"});
    json out;
    if (p->chat) {
      ThinkSplitter split(p->start_in_reasoning);
      std::string content, reasoning;
      split.push(text, content, reasoning);
      split.flush(content, reasoning);
      completed(*p, content, reasoning, reason, timings);
      json message = {{"role", "assistant"}, {"content", content}};
      if (!reasoning.empty()) message["reasoning_content"] = reasoning;
      out = {{"id", rid}, {"object", "chat.completion"}, {"created", created}, {"model", model_id_},
             {"choices", json::array({{{"index", 0}, {"message", message}, {"logprobs", nullptr},
                                       {"finish_reason", finish_reason(reason)}}})}};
    } else {
      out = {{"id", rid}, {"object", "text_completion"}, {"created", created}, {"model", model_id_},
             {"choices", json::array({{{"index", 0}, {"text", text}, {"logprobs", nullptr},
                                       {"finish_reason", finish_reason(reason)}}})}};
    }
    out["usage"] = usage_of(*p, timings);
    res.set_content(dump(out), "application/json");
  }

  // Server-sent events: one `data: {chunk}` per delta, the finish chunk, the usage chunk when asked,
  // then `data: [DONE]`.
  struct StreamCtx {
    std::shared_ptr<Parsed> p;
    std::shared_ptr<Stream> s;
    std::shared_ptr<ActiveGuard> guard;
    std::string rid;
    std::int64_t created = 0;
    ThinkSplitter split;
    bool sent_role = false;
    bool done = false;
    std::string all_content, all_reasoning;  // the whole reply, for the completion hook
    std::chrono::steady_clock::time_point last_write = std::chrono::steady_clock::now();
  };

  json chunk(const StreamCtx& c, json choice) const {
    json out = {{"id", c.rid}, {"object", c.p->chat ? "chat.completion.chunk" : "text_completion"}, {"created", c.created},
                {"model", model_id_}, {"choices", json::array({std::move(choice)})}};
    if (c.p->include_usage) out["usage"] = nullptr;
    return out;
  }

  void stream_answer(httplib::Response& res, const std::shared_ptr<Parsed>& p, const std::shared_ptr<Stream>& s,
                     const std::shared_ptr<ActiveGuard>& guard, const std::string& rid, std::int64_t created) {
    auto ctx = std::make_shared<StreamCtx>(StreamCtx{p, s, guard, rid, created, ThinkSplitter(p->start_in_reasoning)});
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, ctx](std::size_t, httplib::DataSink& sink) { return stream_step(*ctx, sink); },
        [this, ctx](bool success) {
          if (!success || !ctx->done) client_gone(ctx->s);
          // The job's final update may still be on its way; the stream is forgotten once it ends.
          std::unique_lock lock(ctx->s->m);
          ctx->s->cv.wait_for(lock, std::chrono::seconds(30), [&] { return ctx->s->finished; });
          lock.unlock();
          forget(ctx->s->job);
          ctx->guard.reset();
        });
  }

  bool send_event(StreamCtx& c, httplib::DataSink& sink, const std::string& data) {
    const std::string event = "data: " + data + "\n\n";
    c.last_write = std::chrono::steady_clock::now();
    if (!sink.write(event.data(), event.size())) {
      client_gone(c.s);
      return false;
    }
    return true;
  }

  bool stream_step(StreamCtx& c, httplib::DataSink& sink) {
    std::string text;
    bool finished = false;
    StopReason reason = StopReason::none;
    JobTimings timings;
    std::optional<Error> error;
    {
      std::unique_lock lock(c.s->m);
      c.s->cv.wait_for(lock, std::chrono::milliseconds(500), [&] { return c.s->finished || !c.s->text.empty(); });
      text.swap(c.s->text);
      finished = c.s->finished;
      reason = c.s->reason;
      timings = c.s->timings;
      error = c.s->error;
    }
    if (c.s->gone) return false;
    if (!c.sent_role && c.p->chat) {
      c.sent_role = true;
      if (!send_event(c, sink, dump(chunk(c, {{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}},
                                              {"logprobs", nullptr}, {"finish_reason", nullptr}}))))
        return false;
    }
    std::string content, reasoning;
    if (c.p->chat) {
      c.split.push(text, content, reasoning);
      if (finished) c.split.flush(content, reasoning);
      c.all_content += content;
      c.all_reasoning += reasoning;
    } else {
      content = std::move(text);
    }
    if (!content.empty() || !reasoning.empty()) {
      json choice;
      if (c.p->chat) {
        json delta = json::object();
        if (!reasoning.empty()) delta["reasoning_content"] = reasoning;
        if (!content.empty()) delta["content"] = content;
        choice = {{"index", 0}, {"delta", delta}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
      } else {
        choice = {{"index", 0}, {"text", content}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
      }
      if (!send_event(c, sink, dump(chunk(c, choice)))) return false;
    }
    if (!finished) {
      // Keep-alive comment while the job waits: also how a client gone during the wait is noticed.
      if (std::chrono::steady_clock::now() - c.last_write > std::chrono::seconds(2)) {
        const std::string ping = ": keep-alive\n\n";
        c.last_write = std::chrono::steady_clock::now();
        if (!sink.write(ping.data(), ping.size())) {
          client_gone(c.s);
          return false;
        }
      }
      return true;
    }
    if (reason == StopReason::error || reason == StopReason::cancelled) {
      ApiError e = reason == StopReason::error
                       ? ApiError{500, "generation failed: " + (error ? error->to_string() : std::string("unknown error")),
                                  "server_error", "", "generation_failed"}
                       : ApiError{503, "the request was cancelled (the server is shutting down)", "server_error", "", "cancelled"};
      send_event(c, sink, dump(error_body(e)));
    } else {
      completed(*c.p, c.all_content, c.all_reasoning, reason, timings);
      json choice = c.p->chat ? json{{"index", 0}, {"delta", json::object()}, {"logprobs", nullptr},
                                     {"finish_reason", finish_reason(reason)}}
                              : json{{"index", 0}, {"text", ""}, {"logprobs", nullptr}, {"finish_reason", finish_reason(reason)}};
      if (!send_event(c, sink, dump(chunk(c, choice)))) return false;
      if (c.p->include_usage) {
        json u = chunk(c, json::object());
        u["choices"] = json::array();
        u["usage"] = usage_of(*c.p, timings);
        if (!send_event(c, sink, dump(u))) return false;
      }
    }
    if (!send_event(c, sink, "[DONE]")) return false;
    c.done = true;
    sink.done();
    return true;
  }

  Model& model_;
  const Tokenizer& tok_;
  std::string dir_;
  ServerOptions opts_;
  std::string model_id_;
  std::string bos_, eos_;
  std::shared_ptr<const ChatTemplate> template_, tool_template_;
  std::unique_ptr<Generator> gen_;
  std::unique_ptr<httplib::Server> http_;
  std::thread engine_, listener_;
  std::mutex engine_mutex_, jobs_mutex_, hook_mutex_, stop_mutex_;
  std::condition_variable engine_cv_;
  bool engine_wake_ = false;
  std::atomic<bool> engine_stop_{false}, stopping_{false}, running_{false};
  std::map<std::uint64_t, std::weak_ptr<Stream>> streams_;
  std::vector<std::uint64_t> finished_jobs_;  // engine thread: results to drop after the step
  std::function<void(std::uint64_t)> step_hook_;
  std::function<void(int)> activity_hook_;
  std::function<void(const CompletedChat&)> completion_hook_;
  std::atomic<int> active_{0};
  std::atomic<std::uint64_t> requests_total_{0}, completion_tokens_{0}, steps_{0}, steps_started_{0}, disconnect_cancels_{0},
      max_disconnect_steps_{0};
  mutable std::atomic<std::uint64_t> request_counter_{0};
  std::uint64_t seed_base_ = 0;
  std::int64_t created_ = 0;
  int port_ = 0;
  int listen_fd_ = -1;
};

}  // namespace

Result<std::unique_ptr<ApiServer>> ApiServer::create(Model& model, const Tokenizer& tokenizer, std::string model_dir,
                                                     ServerOptions options) {
  if (!is_loopback_host(options.host) && options.api_key.empty())
    return make_error(ErrorKind::invalid_argument, "server: refusing to listen on ", options.host,
                      " without an API key: anyone on the network could use the model. Give --api-key KEY, or bind "
                      "127.0.0.1");
  if (options.port < 0 || options.port > 65535)
    return make_error(ErrorKind::invalid_argument, "server: port ", options.port, " is not in 0..65535");
  if (options.max_tokens_cap < 1 || options.max_body_bytes < 1 || options.max_jobs < 1 || options.max_requests < 1)
    return make_error(ErrorKind::invalid_argument, "server: max tokens, body size, jobs and requests limits must be positive");
  try {
    auto server = std::make_unique<ApiServerImpl>(model, tokenizer, std::move(model_dir), std::move(options));
    NIBBLE_TRY(server->init());
    return std::unique_ptr<ApiServer>(std::move(server));
  } catch (const std::exception& e) {
    return make_error(ErrorKind::internal, "server: ", e.what());
  }
}

}  // namespace nibble::server
