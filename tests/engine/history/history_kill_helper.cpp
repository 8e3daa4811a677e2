// Child process of the kill test: opens the history, starts a conversation, and streams a reply
// into it, flushing every few chunks. Prints "ready C U A" once the conversation exists and
// "flushed N" after each committed flush (N = bytes of reply text committed so far), so that the
// parent, which SIGKILLs it at a random moment, knows what must have survived.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "nibble/history.h"
#include "stream_text.h"

using namespace nibble::history;
using namespace nibble::history::testing;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: history_kill_helper DB SEED\n");
    return 2;
  }
  const std::string path = argv[1];
  const unsigned seed = static_cast<unsigned>(std::strtoul(argv[2], nullptr, 10));
  auto store = HistoryStore::open(path);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.error().to_string().c_str());
    return 1;
  }
  NewConversation nc;
  nc.title = "run " + std::to_string(seed);
  auto c = (*store)->create_conversation(nc).get();
  if (!c.ok()) return 1;
  NewMessage user;
  user.conversation_id = *c;
  user.role = Role::user;
  user.content = "question " + std::to_string(seed);
  auto u = (*store)->add_message(user).get();
  if (!u.ok()) return 1;
  NewMessage reply;
  reply.conversation_id = *c;
  reply.parent_id = *u;
  reply.role = Role::assistant;
  reply.status = MessageStatus::streaming;
  auto a = (*store)->add_message(reply).get();
  if (!a.ok()) return 1;
  std::printf("ready %lld %lld %lld\n", static_cast<long long>(*c), static_cast<long long>(*u),
              static_cast<long long>(*a));
  std::fflush(stdout);

  std::size_t total = 0;
  for (int i = 0; i < kStreamChunks; ++i) {
    const std::string chunk = stream_chunk(seed, i);
    (*store)->append_delta(*a, chunk);
    total += chunk.size();
    if (i % kChunksPerFlush == kChunksPerFlush - 1) {
      if ((*store)->flush().get().ok()) {
        std::printf("flushed %zu\n", total);
        std::fflush(stdout);
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  if (!(*store)->finish_message(*a, {}).get().ok()) return 1;
  std::printf("done\n");
  std::fflush(stdout);
  return (*store)->close().ok() ? 0 : 1;
}
