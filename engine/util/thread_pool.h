// A fixed pool of worker threads with a blocking parallel_for. Owned by whoever needs parallel
// CPU work (the CPU backend, the quantizer); not a global. parallel_for runs on the caller's
// thread too, and nested calls from inside a task run serially.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace nibble {

class ThreadPool {
 public:
  // threads == 0: one per hardware thread.
  explicit ThreadPool(unsigned threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  unsigned size() const { return static_cast<unsigned>(workers_.size()) + 1; }

  // Calls fn(begin, end) over [0, n) split into chunks of at least `grain` items; returns when
  // every chunk has run. fn must not throw.
  void parallel_for(std::size_t n, std::size_t grain,
                    const std::function<void(std::size_t, std::size_t)>& fn);

 private:
  void worker_loop(unsigned index);
  void run_chunks();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  const std::function<void(std::size_t, std::size_t)>* job_ = nullptr;
  std::size_t job_n_ = 0;
  std::size_t job_chunk_ = 0;
  std::size_t next_chunk_ = 0;
  std::size_t chunks_total_ = 0;
  std::size_t chunks_done_ = 0;
  std::size_t generation_ = 0;
  bool stop_ = false;
  bool busy_ = false;
};

}  // namespace nibble
