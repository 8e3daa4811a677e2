// The API server over HTTP on an ephemeral port, with httplib's client: listing, chat and
// completions (whole and streamed), every error status, auth, limits, CORS, 32 concurrent streams
// against sequential runs, and clients that disconnect mid-reply (streamed or not). Oracle for greedy text: the
// HF transformers greedy continuation of the demo model in tests/data/refs/dictlm-16m/greedy.json.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api_server.h"
#include "think_splitter.h"

namespace nibble::server {
namespace {

using json = nlohmann::json;
const std::string kDemo = std::string(NIBBLE_RESOURCES_DIR) + "/models/dictlm-16m";
const std::string kSystem = "You are a helpful dictionary assistant.";

struct Ref {
  std::string question;
  std::vector<int> prompt_ids;
  std::string reply;  // greedy text up to the first <|im_end|>
  int reply_tokens;   // greedy ids up to and including <|im_end|> (id 2)
};

std::vector<Ref> load_refs() {
  std::ifstream in(std::string(NIBBLE_TEST_DATA_DIR) + "/refs/dictlm-16m/greedy.json");
  std::vector<Ref> out;
  for (const auto& r : json::parse(in)) {
    Ref ref;
    ref.question = r["question"];
    ref.prompt_ids = r["prompt_ids"].get<std::vector<int>>();
    const std::string text = r["greedy_text"];
    ref.reply = text.substr(0, text.find("<|im_end|>"));
    const auto ids = r["greedy_ids"].get<std::vector<int>>();
    ref.reply_tokens = static_cast<int>(std::find(ids.begin(), ids.end(), 2) - ids.begin()) + 1;
    out.push_back(ref);
  }
  return out;
}

json chat_body(const std::string& question, json extra = json::object()) {
  json body = {{"model", "dictlm-16m"},
               {"messages", {{{"role", "system"}, {"content", kSystem}}, {{"role", "user"}, {"content", question}}}},
               {"temperature", 0}};
  body.update(extra);
  return body;
}

const json kNoEos = {{"0", -100}, {"2", -100}};

// Parses an SSE body into its `data:` payloads.
std::vector<std::string> sse_events(const std::string& body) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while ((at = body.find("data: ", at)) != std::string::npos) {
    const std::size_t end = body.find("\n\n", at);
    out.push_back(body.substr(at + 6, end - at - 6));
    at = end;
  }
  return out;
}

class ApiServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto tok = Tokenizer::load(kDemo);
    ASSERT_TRUE(tok) << tok.error().to_string();
    tok_ = std::move(*tok).release();
    LoadOptions lo;
    lo.context = 4096;
    auto model = Model::load(kDemo, lo);
    ASSERT_TRUE(model) << model.error().to_string();
    model_ = std::move(*model).release();
    refs_ = new std::vector<Ref>(load_refs());
  }
  static void TearDownTestSuite() {
    delete model_;
    delete tok_;
    delete refs_;
  }
  void TearDown() override {
    if (server_) server_->stop();
  }

  // Starts a server on a free port; options.port is ignored.
  void start(ServerOptions o = {}) {
    o.port = 0;
    o.defaults.sampler.temperature = 0.7f;
    auto s = ApiServer::create(*model_, *tok_, kDemo, o);
    ASSERT_TRUE(s) << s.error().to_string();
    server_ = std::move(*s);
    auto st = server_->start();
    ASSERT_TRUE(st) << st.error().to_string();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_read_timeout(120);
    return c;
  }
  httplib::Result post(const std::string& path, const json& body, httplib::Headers h = {}) const {
    return client().Post(path.c_str(), h, body.dump(), "application/json");
  }
  // Checks an OpenAI error answer and returns its error object.
  static json expect_error(const httplib::Result& r, int status, const std::string& param = "") {
    EXPECT_TRUE(r);
    if (!r) return {};
    EXPECT_EQ(r->status, status) << r->body;
    auto j = json::parse(r->body, nullptr, false);
    EXPECT_TRUE(j.is_object() && j.contains("error")) << r->body;
    if (!j.is_object() || !j.contains("error")) return {};
    const json& e = j["error"];
    for (const char* key : {"message", "type", "param", "code"}) EXPECT_TRUE(e.contains(key)) << key << " in " << r->body;
    EXPECT_TRUE(e["message"].is_string() && !e["message"].get<std::string>().empty());
    if (!param.empty()) {
      EXPECT_EQ(e["param"], param) << r->body;
    }
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
    return e;
  }
  std::string stream_chat(const json& body) const {
    auto r = post("/v1/chat/completions", body);
    EXPECT_TRUE(r);
    if (!r) return {};
    EXPECT_EQ(r->status, 200) << r->body;
    std::string content;
    for (const auto& e : sse_events(r->body)) {
      if (e == "[DONE]") break;
      auto j = json::parse(e);
      if (!j["choices"].empty() && j["choices"][0]["delta"].contains("content"))
        content += j["choices"][0]["delta"]["content"].get<std::string>();
    }
    return content;
  }

  static Model* model_;
  static Tokenizer* tok_;
  static std::vector<Ref>* refs_;
  std::unique_ptr<ApiServer> server_;
};

Model* ApiServerTest::model_ = nullptr;
Tokenizer* ApiServerTest::tok_ = nullptr;
std::vector<Ref>* ApiServerTest::refs_ = nullptr;

TEST_F(ApiServerTest, ListsTheModel) {
  start();
  auto r = client().Get("/v1/models");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto j = json::parse(r->body);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_EQ(j["data"][0]["id"], "dictlm-16m");
  EXPECT_EQ(j["data"][0]["object"], "model");
  auto one = client().Get("/v1/models/dictlm-16m");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200);
  expect_error(client().Get("/v1/models/gpt-4"), 404, "model");
}

TEST_F(ApiServerTest, GreedyChatMatchesTransformers) {
  start();
  const Ref& ref = (*refs_)[0];
  auto r = post("/v1/chat/completions", chat_body(ref.question));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "dictlm-16m");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], ref.reply);
  EXPECT_FALSE(j["choices"][0]["message"].contains("reasoning_content"));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["prompt_tokens"], ref.prompt_ids.size());
  EXPECT_EQ(j["usage"]["completion_tokens"], ref.reply_tokens);
  EXPECT_EQ(j["usage"]["total_tokens"], ref.prompt_ids.size() + ref.reply_tokens);
}

TEST_F(ApiServerTest, StreamedChatSendsDeltasUsageAndDone) {
  start();
  const Ref& ref = (*refs_)[1];
  auto r = post("/v1/chat/completions",
                chat_body(ref.question, {{"stream", true}, {"stream_options", {{"include_usage", true}}}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
  auto events = sse_events(r->body);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  auto first = json::parse(events.front());
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  std::string content;
  std::string finish;
  json usage;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    auto j = json::parse(events[i]);
    if (j["choices"].empty()) {
      usage = j["usage"];
      continue;
    }
    const auto& c = j["choices"][0];
    if (c["delta"].contains("content")) content += c["delta"]["content"].get<std::string>();
    if (!c["finish_reason"].is_null()) finish = c["finish_reason"];
  }
  EXPECT_EQ(content, ref.reply);
  EXPECT_EQ(finish, "stop");
  ASSERT_TRUE(usage.is_object());
  EXPECT_EQ(usage["completion_tokens"], ref.reply_tokens);
  EXPECT_EQ(usage["prompt_tokens"], ref.prompt_ids.size());
}

TEST_F(ApiServerTest, CompletionsTakeARawPrompt) {
  start();
  const Ref& ref = (*refs_)[2];
  // The prompt as token ids: exactly the reference's, so the greedy reply is the reference's.
  auto r = post("/v1/completions", {{"model", "dictlm-16m"}, {"prompt", ref.prompt_ids}, {"temperature", 0}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], ref.reply);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["completion_tokens"], ref.reply_tokens);
  // Streamed, with a stop string: text ends before it.
  auto s = post("/v1/completions", {{"prompt", ref.prompt_ids}, {"temperature", 0}, {"stream", true}, {"stop", " "}});
  ASSERT_TRUE(s);
  ASSERT_EQ(s->status, 200) << s->body;
  auto events = sse_events(s->body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  for (std::size_t i = 0; i + 1 < events.size(); ++i) text += json::parse(events[i])["choices"][0]["text"].get<std::string>();
  EXPECT_EQ(text, ref.reply.substr(0, ref.reply.find(' ')));
}

TEST_F(ApiServerTest, StopStringsEndTheReply) {
  start();
  const Ref& ref = (*refs_)[0];
  auto r = post("/v1/chat/completions", chat_body(ref.question, {{"stop", {"member", "zzz"}}}));
  ASSERT_TRUE(r);
  auto j = json::parse(r->body);
  EXPECT_EQ(j["choices"][0]["message"]["content"], ref.reply.substr(0, ref.reply.find("member")));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
}

TEST_F(ApiServerTest, MalformedRequestsGet400WithTheField) {
  start();
  auto c = client();
  expect_error(c.Post("/v1/chat/completions", "{\"messages\": [", "application/json"), 400);
  expect_error(c.Post("/v1/chat/completions", "[1, 2]", "application/json"), 400);
  expect_error(post("/v1/chat/completions", {{"model", "dictlm-16m"}}), 400, "messages");
  expect_error(post("/v1/chat/completions", {{"messages", json::array()}}), 400, "messages");
  expect_error(post("/v1/chat/completions", {{"messages", {{{"role", "wizard"}, {"content", "hi"}}}}}), 400, "messages");
  expect_error(post("/v1/chat/completions", chat_body("hi", {{"temperature", "hot"}})), 400, "temperature");
  expect_error(post("/v1/chat/completions", chat_body("hi", {{"temperature", 3}})), 400, "temperature");
  expect_error(post("/v1/chat/completions", chat_body("hi", {{"top_p", 1.5}})), 400, "top_p");
  expect_error(post("/v1/chat/completions", chat_body("hi", {{"n", 2}})), 400, "n");
  expect_error(post("/v1/chat/completions", chat_body("hi", {{"max_tokens", 0}})), 400, "max_tokens");
  expect_error(post("/v1/chat/completions", chat_body("hi", {{"max_tokens", 1.5}})), 400, "max_tokens");
  expect_error(post("/v1/chat/completions", chat_body("hi", {{"stop", 5}})), 400, "stop");
  expect_error(post("/v1/chat/completions", chat_body("hi", {{"presence_penalty", 9}})), 400, "presence_penalty");
  expect_error(post("/v1/chat/completions", chat_body("hi", {{"logit_bias", {{"abc", 1}}}})), 400, "logit_bias");
  expect_error(post("/v1/chat/completions", chat_body("hi", {{"logit_bias", {{"99999999", 1}}}})), 400, "logit_bias");
  expect_error(post("/v1/chat/completions", chat_body("hi", {{"logprobs", true}})), 400, "logprobs");
  expect_error(post("/v1/chat/completions", chat_body("hi", {{"stream", "yes"}})), 400, "stream");
  expect_error(post("/v1/chat/completions",
                    {{"messages", {{{"role", "user"}, {"content", {{{"type", "image_url"}, {"image_url", "x"}}}}}}}}),
               400, "messages");
  expect_error(post("/v1/completions", {{"prompt", 42}}), 400, "prompt");
  expect_error(post("/v1/completions", {{"prompt", {"a", "b"}}}), 400, "prompt");
  expect_error(post("/v1/completions", {{"temperature", 0}}), 400, "prompt");
  // A prompt longer than the context: 400 with OpenAI's code.
  std::string longer;
  for (int i = 0; i < 3000; ++i) longer += "harbor kettle ";
  auto e = expect_error(post("/v1/completions", {{"prompt", longer}}), 400, "prompt");
  EXPECT_EQ(e["code"], "context_length_exceeded");
}

TEST_F(ApiServerTest, UnknownModelAndRouteGet404) {
  start();
  auto e = expect_error(post("/v1/chat/completions", chat_body("hi", {{"model", "gpt-4o"}})), 404, "model");
  EXPECT_EQ(e["code"], "model_not_found");
  expect_error(client().Get("/v1/nothing-here"), 404);
  expect_error(client().Post("/v1/embeddings", "{}", "application/json"), 404);
  expect_error(client().Get("/v1/chat/completions"), 404);
}

TEST_F(ApiServerTest, ApiKeyIsChecked) {
  ServerOptions o;
  o.api_key = "s3cret";
  start(o);
  auto e = expect_error(client().Get("/v1/models"), 401);
  EXPECT_EQ(e["code"], "invalid_api_key");
  expect_error(client().Get("/v1/models", {{"Authorization", "Bearer wrong"}}), 401);
  expect_error(post("/v1/chat/completions", chat_body("hi"), {{"Authorization", "Bearer s3cre"}}), 401);
  auto ok = client().Get("/v1/models", {{"Authorization", "Bearer s3cret"}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  auto gen = post("/v1/chat/completions", chat_body("hi", {{"max_tokens", 2}}), {{"Authorization", "Bearer s3cret"}});
  ASSERT_TRUE(gen);
  EXPECT_EQ(gen->status, 200) << gen->body;
}

TEST_F(ApiServerTest, NoKeyMeansOpenOnLoopback) {
  start();
  auto r = client().Get("/v1/models", {{"Authorization", "Bearer anything"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(ApiServerTest, NonLoopbackNeedsAKey) {
  ServerOptions o;
  o.host = "0.0.0.0";
  auto s = ApiServer::create(*model_, *tok_, kDemo, o);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().kind, ErrorKind::invalid_argument);
  EXPECT_NE(s.error().message.find("API key"), std::string::npos) << s.error().message;
  o.api_key = "k";
  EXPECT_TRUE(ApiServer::create(*model_, *tok_, kDemo, o));
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_FALSE(is_loopback_host("192.168.1.2"));
  EXPECT_FALSE(is_loopback_host("::"));
}

TEST_F(ApiServerTest, BodyLargerThanTheLimitGets413) {
  ServerOptions o;
  o.max_body_bytes = 4096;
  start(o);
  auto e = expect_error(post("/v1/chat/completions", chat_body(std::string(8000, 'a'))), 413);
  EXPECT_EQ(e["code"], "request_too_large");
  auto ok = post("/v1/chat/completions", chat_body("hi", {{"max_tokens", 1}}));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(ApiServerTest, MaxTokensIsCapped) {
  ServerOptions o;
  o.max_tokens_cap = 8;
  start(o);
  auto r = post("/v1/chat/completions", chat_body("Define kettle.", {{"max_tokens", 1000}, {"logit_bias", kNoEos}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  EXPECT_EQ(j["usage"]["completion_tokens"], 8);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  // Below the cap the request's own limit holds (max_completion_tokens wins over max_tokens).
  auto r2 = post("/v1/chat/completions",
                 chat_body("Define kettle.", {{"max_tokens", 7}, {"max_completion_tokens", 3}, {"logit_bias", kNoEos}}));
  ASSERT_TRUE(r2);
  EXPECT_EQ(json::parse(r2->body)["usage"]["completion_tokens"], 3);
}

TEST_F(ApiServerTest, NoCorsHeadersUnlessEnabled) {
  start();
  auto r = client().Get("/v1/models", {{"Origin", "https://example.com"}});
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_header("Access-Control-Allow-Origin"));
  auto pre = client().Options("/v1/chat/completions", {{"Origin", "https://example.com"}});
  ASSERT_TRUE(pre);
  EXPECT_FALSE(pre->has_header("Access-Control-Allow-Origin"));
  server_->stop();
  ServerOptions o;
  o.cors = true;
  start(o);
  auto r2 = client().Get("/v1/models", {{"Origin", "https://example.com"}});
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->get_header_value("Access-Control-Allow-Origin"), "*");
  auto pre2 = client().Options("/v1/chat/completions", {{"Origin", "https://example.com"}});
  ASSERT_TRUE(pre2);
  EXPECT_EQ(pre2->status, 204);
  EXPECT_EQ(pre2->get_header_value("Access-Control-Allow-Origin"), "*");
}

TEST_F(ApiServerTest, TooManyRequestsGet503) {
  ServerOptions o;
  o.max_requests = 1;
  start(o);
  // One long request holds the only slot.
  std::thread hog([&] {
    post("/v1/chat/completions", chat_body("Define kettle.", {{"max_tokens", 400}, {"logit_bias", kNoEos}}));
  });
  for (int i = 0; i < 500 && server_->stats().requests_active == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto e = expect_error(post("/v1/chat/completions", chat_body("hi")), 503);
  EXPECT_EQ(e["code"], "overloaded");
  hog.join();
}

TEST_F(ApiServerTest, ConcurrentStreamsMatchSequentialGreedy) {
  ServerOptions o;
  o.max_jobs = 64;
  start(o);
  constexpr int kClients = 32;
  std::vector<json> bodies;
  for (int i = 0; i < kClients; ++i) {
    const Ref& ref = (*refs_)[i % refs_->size()];
    json extra = {{"stream", true}, {"max_tokens", i % 2 ? 12 + i % 9 : 64}};
    if (i % 2) extra["logit_bias"] = kNoEos;
    bodies.push_back(chat_body(ref.question + (i % 3 == 2 ? " Please." : ""), extra));
  }
  std::vector<std::string> sequential;
  for (const auto& b : bodies) sequential.push_back(stream_chat(b));
  // The oracle for the requests that may stop at <|im_end|> on the reference prompts.
  for (int i = 0; i < kClients; i += 2)
    if (i % 3 != 2) {
      EXPECT_EQ(sequential[i], (*refs_)[i % refs_->size()].reply) << "request " << i;
    }
  std::vector<std::string> concurrent(kClients);
  std::vector<std::thread> threads;
  std::atomic<int> max_active{0};
  server_->set_activity_hook([&](int a) {
    int prev = max_active.load();
    while (a > prev && !max_active.compare_exchange_weak(prev, a)) {
    }
  });
  for (int i = 0; i < kClients; ++i) threads.emplace_back([&, i] { concurrent[i] = stream_chat(bodies[i]); });
  for (auto& t : threads) t.join();
  for (int i = 0; i < kClients; ++i) EXPECT_EQ(concurrent[i], sequential[i]) << "request " << i;
  EXPECT_GT(max_active.load(), kClients / 2) << "the requests did not overlap";
  for (int i = 0; i < 500 && server_->stats().requests_active != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(server_->stats().requests_active, 0);
}

TEST_F(ApiServerTest, DisconnectedClientIsCancelledWithinOneStep) {
  start();
  std::atomic<int> chunks{0};
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.body = chat_body("Define kettle.", {{"stream", true}, {"max_tokens", 4000}, {"logit_bias", kNoEos}}).dump();
  req.set_header("Content-Type", "application/json");
  std::uint64_t steps_at_close = 0;
  req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
    if (std::string(data, n).find("\"content\"") != std::string::npos) ++chunks;
    if (chunks < 5) return true;
    steps_at_close = server_->stats().steps;
    return false;  // the client closes the connection
  };
  auto c = client();
  auto r = c.send(req);
  EXPECT_FALSE(r);  // the client gave up
  for (int i = 0; i < 1000 && server_->stats().disconnect_cancels == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const ServerStats s = server_->stats();
  EXPECT_EQ(s.disconnect_cancels, 1u);
  // Between the server noticing (a failed write) and the job's end: at most one step.
  EXPECT_LE(s.max_disconnect_steps, 1u);
  // And the job stopped long before its 4000 tokens: a few steps after the client closed.
  EXPECT_LT(s.completion_tokens, 40u);
  std::printf("[disconnect] tokens generated %llu, steps after the client closed %llu, steps from noticing to end %llu\n",
              static_cast<unsigned long long>(s.completion_tokens),
              static_cast<unsigned long long>(s.steps - steps_at_close),
              static_cast<unsigned long long>(s.max_disconnect_steps));
  for (int i = 0; i < 500 && server_->stats().requests_active != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(server_->stats().requests_active, 0);
}

// A client of a whole (non-streamed) answer that closes its socket while the reply is being
// generated: the server notices the closed connection while it waits for the job and frees the
// job within about one step, long before its 4000 tokens.
TEST_F(ApiServerTest, DisconnectedNonStreamedClientIsCancelledWithinOneStep) {
  start();
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(server_->port()));
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string body = chat_body("Define kettle.", {{"max_tokens", 4000}, {"logit_bias", kNoEos}}).dump();
  const std::string request = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                              "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  ASSERT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  // The job is decoding: a few steps taken, nothing answered yet.
  for (int i = 0; i < 2000 && server_->stats().steps < 8; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_GE(server_->stats().steps, 8u);
  EXPECT_EQ(server_->stats().requests_active, 1);
  const std::uint64_t steps_at_close = server_->stats().steps;
  const auto closed_at = std::chrono::steady_clock::now();
  ::close(fd);  // the client gives up
  while (server_->stats().requests_active != 0 && std::chrono::steady_clock::now() - closed_at < std::chrono::seconds(5))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const double freed_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - closed_at).count();
  const ServerStats s = server_->stats();
  EXPECT_EQ(s.requests_active, 0);
  EXPECT_EQ(s.disconnect_cancels, 1u);
  // From the server noticing the closed socket to the job's end: at most one step.
  EXPECT_LE(s.max_disconnect_steps, 1u);
  // The job was freed long before its 4000 tokens, within a bound of the close.
  EXPECT_LT(s.completion_tokens, 1000u);
  EXPECT_LT(freed_ms, 2000.0);
  std::printf("[disconnect, whole answer] tokens generated %llu, steps after the client closed %llu, steps from "
              "noticing to end %llu, freed %.1f ms after the close\n",
              static_cast<unsigned long long>(s.completion_tokens), static_cast<unsigned long long>(s.steps - steps_at_close),
              static_cast<unsigned long long>(s.max_disconnect_steps), freed_ms);
}

// A client that stays gets its whole answer although the server looks at its socket meanwhile.
TEST_F(ApiServerTest, WholeAnswerReachesAPatientClient) {
  start();
  auto r = post("/v1/chat/completions", chat_body("Define kettle.", {{"max_tokens", 120}, {"logit_bias", kNoEos}}));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json j = json::parse(r->body);
  EXPECT_EQ(j["usage"]["completion_tokens"], 120);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(server_->stats().disconnect_cancels, 0u);
}

// The completion hook sees each chat completion that ended normally, with the request's messages
// and the reply the client got; raw completions and failed requests are not reported.
TEST_F(ApiServerTest, CompletionHookReportsFinishedChats) {
  start();
  std::mutex m;
  std::vector<CompletedChat> seen;
  server_->set_completion_hook([&](const CompletedChat& c) {
    std::lock_guard lock(m);
    seen.push_back(c);
  });
  const Ref& ref = refs_->front();
  auto whole = post("/v1/chat/completions", chat_body(ref.question));
  ASSERT_TRUE(whole);
  ASSERT_EQ(whole->status, 200) << whole->body;
  const json wj = json::parse(whole->body);
  const std::string streamed = stream_chat(chat_body(ref.question, {{"stream", true}, {"max_tokens", 5}}));
  auto completion = post("/v1/completions", json{{"prompt", "A kettle is"}, {"max_tokens", 3}});
  ASSERT_TRUE(completion);
  EXPECT_EQ(completion->status, 200);
  expect_error(post("/v1/chat/completions", json{{"messages", "nope"}}), 400, "messages");
  std::lock_guard lock(m);
  ASSERT_EQ(seen.size(), 2u);
  const CompletedChat& a = seen[0];
  ASSERT_EQ(a.messages.size(), 2u);
  EXPECT_EQ(a.messages[0].role, "system");
  EXPECT_EQ(a.messages[0].content, kSystem);
  EXPECT_EQ(a.messages[1].role, "user");
  EXPECT_EQ(a.messages[1].content, ref.question);
  EXPECT_EQ(a.content, ref.reply);  // the transformers greedy reply, as the client got it
  EXPECT_EQ(a.content, wj["choices"][0]["message"]["content"].get<std::string>());
  EXPECT_EQ(a.finish_reason, "stop");
  EXPECT_EQ(a.prompt_tokens, static_cast<int>(ref.prompt_ids.size()));
  EXPECT_EQ(a.completion_tokens, wj["usage"]["completion_tokens"].get<int>());
  EXPECT_FALSE(a.streamed);
  const CompletedChat& b = seen[1];
  EXPECT_TRUE(b.streamed);
  EXPECT_EQ(b.content, streamed);
  EXPECT_EQ(b.finish_reason, "length");
  EXPECT_EQ(b.completion_tokens, 5);
}

TEST_F(ApiServerTest, StopWhileStreamingEndsCleanly) {
  start();
  std::thread t([&] {
    post("/v1/chat/completions", chat_body("Define kettle.", {{"stream", true}, {"max_tokens", 3000}, {"logit_bias", kNoEos}}));
  });
  for (int i = 0; i < 500 && server_->stats().completion_tokens == 0 && server_->stats().steps < 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  server_->stop();
  t.join();
  EXPECT_FALSE(server_->running());
}

TEST(ThinkSplitter, SplitsTagsAcrossDeltas) {
  ThinkSplitter s;
  std::string content, reasoning;
  for (const char* piece : {"Hi <th", "ink>plan", " it</thi", "nk>answer <", "b>"}) s.push(piece, content, reasoning);
  s.flush(content, reasoning);
  EXPECT_EQ(content, "Hi answer <b>");
  EXPECT_EQ(reasoning, "plan it");
  ThinkSplitter pre(true);
  std::string c2, r2;
  pre.push("because</think>yes", c2, r2);
  EXPECT_EQ(c2, "yes");
  EXPECT_EQ(r2, "because");
}

}  // namespace
}  // namespace nibble::server
