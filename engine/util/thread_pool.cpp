// ThreadPool: workers wait for a generation counter to change, then pull chunks of the current
// job from a shared counter until none remain.
#include "util/thread_pool.h"

#include <algorithm>

namespace nibble {

ThreadPool::ThreadPool(unsigned threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  workers_.reserve(threads - 1);
  for (unsigned i = 0; i + 1 < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  start_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_chunks() {
  for (;;) {
    std::size_t chunk;
    const std::function<void(std::size_t, std::size_t)>* job;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (next_chunk_ >= chunks_total_) return;
      chunk = next_chunk_++;
      job = job_;
    }
    const std::size_t begin = chunk * job_chunk_;
    const std::size_t end = std::min(job_n_, begin + job_chunk_);
    (*job)(begin, end);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (++chunks_done_ == chunks_total_) done_cv_.notify_all();
    }
  }
}

void ThreadPool::worker_loop(unsigned) {
  std::size_t seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      start_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    run_chunks();
  }
}

void ThreadPool::parallel_for(std::size_t n, std::size_t grain,
                              const std::function<void(std::size_t, std::size_t)>& fn) {
  if (n == 0) return;
  grain = std::max<std::size_t>(1, grain);
  const std::size_t max_chunks = static_cast<std::size_t>(size()) * 4;
  std::size_t chunk = std::max(grain, (n + max_chunks - 1) / max_chunks);
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (busy_ || workers_.empty() || n <= grain) {  // nested or trivial: run inline
      lock.unlock();
      fn(0, n);
      return;
    }
    busy_ = true;
    job_ = &fn;
    job_n_ = n;
    job_chunk_ = chunk;
    next_chunk_ = 0;
    chunks_total_ = (n + chunk - 1) / chunk;
    chunks_done_ = 0;
    ++generation_;
  }
  start_cv_.notify_all();
  run_chunks();
  std::unique_lock<std::mutex> lock(mutex_);
  done_cv_.wait(lock, [&] { return chunks_done_ == chunks_total_; });
  job_ = nullptr;
  busy_ = false;
}

}  // namespace nibble
