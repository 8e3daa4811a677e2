// TensorParallelSegment: shares of every layer on several GPUs, stepped layer by layer from one
// thread with NCCL collectives between the halves of each layer (see the header).
#include "backend/cuda/cuda_tensor_parallel.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "backend/cuda/cuda_backend.h"

namespace nibble::cuda {
namespace {

Status select(int device) { return check(static_cast<int>(cudaSetDevice(device)), "selecting the GPU"); }

}  // namespace

TensorParallelSegment::~TensorParallelSegment() {
  for (auto& [key, execs] : graphs_)
    for (std::size_t r = 0; r < execs.size(); ++r) {
      cudaSetDevice(shards_[r]->device_);
      if (execs[r]) cudaGraphExecDestroy(execs[r]);
    }
  nccl_.reset();
  shards_.clear();
}

Result<std::unique_ptr<Segment>> TensorParallelSegment::create(const std::vector<int>& devices, const ModelSpec& spec,
                                                               const WeightSource& weights, const SegmentOptions& opts,
                                                               const LoadProgressFn& progress) {
  const int n = static_cast<int>(devices.size());
  if (n < 2) return make_error(ErrorKind::invalid_argument, "tensor parallelism needs at least two GPUs");
  if (spec.n_heads % n != 0 || spec.n_kv_heads % n != 0)
    return make_error(ErrorKind::unsupported, "tensor parallelism over ", n, " GPUs needs the attention heads (", spec.n_heads,
                      ") and KV heads (", spec.n_kv_heads, ") to divide evenly among them: use a GPU count that divides ",
                      spec.n_kv_heads, ", or split the layers across the GPUs instead (--gpu-split)");
  if (opts.first_layer != 0 || opts.last_layer != spec.n_layers || !opts.has_embedding || !opts.has_head)
    return make_error(ErrorKind::invalid_argument, "tensor parallelism takes every layer with the embedding and the head");
  for (int d : devices) {
    auto b = make_cuda_backend(d);  // a missing GPU, or no driver, reported as for a single GPU
    if (!b.ok()) return std::move(b).error();
  }
  if (n > kernels::kPeerMaxRanks)
    return make_error(ErrorKind::unsupported, "tensor parallelism over ", n, " GPUs: at most ", kernels::kPeerMaxRanks);
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j)
      if (devices[static_cast<std::size_t>(i)] == devices[static_cast<std::size_t>(j)])
        return make_error(ErrorKind::invalid_argument, "tensor parallelism: cuda:", devices[static_cast<std::size_t>(i)],
                          " is named twice (each GPU holds one share of every layer)");
  std::unique_ptr<TensorParallelSegment> t(new TensorParallelSegment());
  t->opts_ = opts;
  t->opts_.shards = n;
  // Peer-access kernels when every GPU can read every other's memory, else NCCL.
  bool peer = true;
  if (const char* e = std::getenv("NIBBLE_TP_NCCL"); e && e[0] == '1') peer = false;
  for (int i = 0; i < n && peer; ++i)
    for (int j = 0; j < n && peer; ++j)
      if (i != j) peer = peer_access(devices[static_cast<std::size_t>(i)], devices[static_cast<std::size_t>(j)]);
  if (peer) {
    for (int d : devices) {
      NIBBLE_TRY(select(d));
      NIBBLE_ASSIGN_OR_RETURN(DeviceBuffer b, DeviceBuffer::allocate(sizeof(kernels::PeerSignal), "tensor-parallel signals"));
      NIBBLE_TRY(check(static_cast<int>(cudaMemset(b.data(), 0, b.size())), "clearing tensor-parallel signals"));
      t->signals_.push_back(std::move(b));
    }
  } else {
    NIBBLE_ASSIGN_OR_RETURN(t->nccl_, NcclGroup::create(devices));
  }
  // The shares load in parallel, one thread per GPU (slicing the packed weights on the host is most
  // of a share's load time); progress is the sum over the shares, reported under one lock.
  std::mutex mu;
  std::vector<std::size_t> done(static_cast<std::size_t>(n), 0), total(static_cast<std::size_t>(n), 0);
  bool cancelled = false;
  std::vector<Result<std::unique_ptr<CudaSegment>>> made;
  for (int r = 0; r < n; ++r) made.emplace_back(make_error(ErrorKind::internal, "not loaded"));
  std::vector<std::thread> loaders;
  for (int r = 0; r < n; ++r)
    loaders.emplace_back([&, r] {
      SegmentOptions so = opts;
      so.shard = r;
      so.shards = n;
      so.has_embedding = true;  // every GPU embeds its own copy of the residual stream
      so.has_head = r == 0;
      LoadProgressFn p = [&, r](std::size_t d, std::size_t tot) {
        std::lock_guard<std::mutex> lock(mu);
        done[static_cast<std::size_t>(r)] = d;
        total[static_cast<std::size_t>(r)] = tot;
        std::size_t sd = 0, st = 0;
        for (int i = 0; i < n; ++i) {
          sd += done[static_cast<std::size_t>(i)];
          st += std::max(total[static_cast<std::size_t>(i)], total[static_cast<std::size_t>(r)]);
        }
        if (!cancelled && progress && !progress(sd, st)) cancelled = true;
        return !cancelled;
      };
      made[static_cast<std::size_t>(r)] = CudaSegment::create(devices[static_cast<std::size_t>(r)], spec, weights, so, p);
    });
  for (auto& th : loaders) th.join();
  for (int r = 0; r < n; ++r) {
    auto& m = made[static_cast<std::size_t>(r)];
    if (!m.ok()) return std::move(m).error();
    t->shards_.push_back(std::move(m).value());
    t->shards_.back()->peer_collectives_ = peer;
  }
  t->opts_.kv_type = t->shards_[0]->opts_.kv_type;
  if (peer) {
    for (auto& s : t->shards_) {  // the signal blocks are cleared before the first barrier
      NIBBLE_TRY(select(s->device_));
      NIBBLE_TRY(check(static_cast<int>(cudaDeviceSynchronize()), "clearing tensor-parallel signals"));
    }
    return std::unique_ptr<Segment>(std::move(t));
  }
  // One small collective of each kind up front: NCCL connects the GPUs on first use, which should
  // not happen inside a graph capture.
  NIBBLE_TRY(t->gather_attention(1));
  NIBBLE_TRY(t->reduce_hidden(1));
  NIBBLE_TRY(t->sync_others());
  NIBBLE_TRY(select(t->shards_[0]->device_));
  NIBBLE_TRY(check(static_cast<int>(cudaStreamSynchronize(t->shards_[0]->stream_)), "connecting the GPUs"));
  return std::unique_ptr<Segment>(std::move(t));
}

kernels::PeerCollectiveArgs TensorParallelSegment::peer_args(int rank) const {
  kernels::PeerCollectiveArgs a;
  a.rank = rank;
  a.ranks = static_cast<int>(shards_.size());
  for (std::size_t r = 0; r < signals_.size(); ++r) a.signals[r] = signals_[r].as<kernels::PeerSignal>();
  return a;
}

Status TensorParallelSegment::gather_attention(int rows) {
  if (!signals_.empty()) {
    const __half* src[kernels::kPeerMaxRanks] = {};
    for (std::size_t r = 0; r < shards_.size(); ++r) src[r] = shards_[r]->attn_.as<const __half>();
    for (std::size_t r = 0; r < shards_.size(); ++r) {
      CudaSegment& s = *shards_[r];
      NIBBLE_TRY(select(s.device_));
      NIBBLE_TRY(check(kernels::peer_all_gather_f16(peer_args(static_cast<int>(r)), src, s.attn_cat_.as<__half>(), rows, s.qd_,
                                                    s.spec_.q_dim(), s.stream_),
                       "gathering attention heads"));
    }
    return {};
  }
  std::vector<CollectiveRank> ranks;
  for (auto& s : shards_) ranks.push_back({s->attn_.data(), s->attn_all_.data(), s->stream_});
  return nccl_->all_gather(ranks, static_cast<std::size_t>(rows) * shards_[0]->qd_, CollectiveType::fp16);
}

Status TensorParallelSegment::reduce_hidden(int rows) {
  if (!signals_.empty()) {
    const float* src[kernels::kPeerMaxRanks] = {};
    for (std::size_t r = 0; r < shards_.size(); ++r) src[r] = shards_[r]->partial_.as<const float>();
    for (std::size_t r = 0; r < shards_.size(); ++r) {
      CudaSegment& s = *shards_[r];
      NIBBLE_TRY(select(s.device_));
      NIBBLE_TRY(check(kernels::peer_all_reduce_add_f32(peer_args(static_cast<int>(r)), src, s.hidden_.as<float>(),
                                                        static_cast<long>(rows) * s.spec_.hidden_size, s.stream_),
                       "summing the MLP shares"));
    }
    return {};
  }
  std::vector<CollectiveRank> ranks;
  for (auto& s : shards_) ranks.push_back({s->hidden_.data(), s->hidden_.data(), s->stream_});
  return nccl_->all_reduce(ranks, static_cast<std::size_t>(rows) * shards_[0]->spec_.hidden_size, CollectiveType::fp32);
}

Status TensorParallelSegment::sync_others() {
  for (std::size_t r = 1; r < shards_.size(); ++r) {
    NIBBLE_TRY(select(shards_[r]->device_));
    NIBBLE_TRY(shards_[r]->fail(check(static_cast<int>(cudaStreamSynchronize(shards_[r]->stream_)), "forward step")));
  }
  return {};
}

Status TensorParallelSegment::embed(const BatchPlan& plan) {
  for (auto& s : shards_) NIBBLE_TRY(s->embed(plan));
  return {};
}

Status TensorParallelSegment::enqueue_decode(int rows, int context) {
  const std::size_t layers = shards_[0]->layers_.size();
  for (std::size_t li = 0; li < layers; ++li) {
    for (auto& s : shards_) {
      NIBBLE_TRY(select(s->device_));
      NIBBLE_TRY(s->decode_attention(li, rows, context));
    }
    NIBBLE_TRY(gather_attention(rows));
    for (auto& s : shards_) {
      NIBBLE_TRY(select(s->device_));
      NIBBLE_TRY(s->decode_mlp(li, rows));
    }
    NIBBLE_TRY(reduce_hidden(rows));
  }
  return {};
}

Status TensorParallelSegment::enqueue_prefill(int rows) {
  for (auto& s : shards_) {
    NIBBLE_TRY(select(s->device_));
    NIBBLE_TRY(s->prefill_begin());
  }
  const std::size_t layers = shards_[0]->layers_.size();
  for (std::size_t li = 0; li < layers; ++li) {
    for (auto& s : shards_) {
      NIBBLE_TRY(select(s->device_));
      NIBBLE_TRY(s->prefill_attention(li, rows));
    }
    NIBBLE_TRY(gather_attention(rows));
    for (auto& s : shards_) {
      NIBBLE_TRY(select(s->device_));
      NIBBLE_TRY(s->prefill_mlp(li, rows));
    }
    NIBBLE_TRY(reduce_hidden(rows));
  }
  return {};
}

Status TensorParallelSegment::run_layers(const BatchPlan& plan) {
  int needed = 0;
  for (auto& s : shards_) {
    if (s->lost_) return make_error(ErrorKind::device_lost, "the GPU context was lost: reload the model");
    NIBBLE_TRY(select(s->device_));
    NIBBLE_ASSIGN_OR_RETURN(needed, s->upload_plan(plan, false, false));
  }
  const int rows = plan.n_rows();
  if (rows > shards_[0]->decode_rows()) return enqueue_prefill(rows);
  const int context = context_bucket(needed, opts_.kv_pages * opts_.page_size);
  const auto key = std::make_pair(rows, context);
  auto it = graphs_.find(key);
  if (it == graphs_.end() && graphs_ok_) {
    // One graph per GPU, captured together: the collectives' kernels land in each GPU's graph.
    std::vector<cudaGraph_t> graphs(shards_.size(), nullptr);
    std::size_t begun = 0;
    Status st;
    for (; begun < shards_.size() && st.ok(); ++begun) {
      st = select(shards_[begun]->device_);
      if (st.ok())
        st = check(static_cast<int>(cudaStreamBeginCapture(shards_[begun]->stream_, cudaStreamCaptureModeRelaxed)),
                   "graph capture");
      if (!st.ok()) break;
    }
    if (st.ok()) st = enqueue_decode(rows, context);
    for (std::size_t r = 0; r < begun; ++r) {
      cudaSetDevice(shards_[r]->device_);
      const cudaError_t end = cudaStreamEndCapture(shards_[r]->stream_, &graphs[r]);
      if (st.ok() && end != cudaSuccess) st = check(static_cast<int>(end), "graph capture");
    }
    std::vector<cudaGraphExec_t> execs(shards_.size(), nullptr);
    for (std::size_t r = 0; r < shards_.size() && st.ok(); ++r) {
      cudaSetDevice(shards_[r]->device_);
      st = check(static_cast<int>(cudaGraphInstantiate(&execs[r], graphs[r], 0)), "graph instantiation");
    }
    for (std::size_t r = 0; r < shards_.size(); ++r)
      if (graphs[r]) {
        cudaSetDevice(shards_[r]->device_);
        cudaGraphDestroy(graphs[r]);
      }
    if (!st.ok()) {
      for (std::size_t r = 0; r < execs.size(); ++r)
        if (execs[r]) {
          cudaSetDevice(shards_[r]->device_);
          cudaGraphExecDestroy(execs[r]);
        }
      cudaGetLastError();
      if (st.error().kind == ErrorKind::device_lost) return st;
      // A runtime whose NCCL cannot be captured still works, one launch at a time.
      graphs_ok_ = false;
    } else {
      it = graphs_.emplace(key, std::move(execs)).first;
    }
  }
  if (it == graphs_.end()) return enqueue_decode(rows, context);
  for (std::size_t r = 0; r < shards_.size(); ++r) {
    NIBBLE_TRY(select(shards_[r]->device_));
    NIBBLE_TRY(shards_[r]->fail(check(static_cast<int>(cudaGraphLaunch(it->second[r], shards_[r]->stream_)), "decode step")));
  }
  return {};
}

Status TensorParallelSegment::head(const BatchPlan& plan, float* logits) {
  NIBBLE_TRY(shards_[0]->head(plan, logits));
  return sync_others();
}

Status TensorParallelSegment::head_sample(const BatchPlan& plan, std::span<const DeviceSampling> sampling,
                                          std::int32_t* ids) {
  NIBBLE_TRY(shards_[0]->head_sample(plan, sampling, ids));
  return sync_others();
}

Status TensorParallelSegment::hidden_to_host(float* dst, int rows) {
  NIBBLE_TRY(sync_others());
  return shards_[0]->hidden_to_host(dst, rows);
}

Status TensorParallelSegment::hidden_from_host(const float* src, int rows) {
  for (auto& s : shards_) NIBBLE_TRY(s->hidden_from_host(src, rows));
  return {};
}

Segment::MemoryUse TensorParallelSegment::memory_use() const {
  MemoryUse t;
  for (const auto& s : shards_) {
    const MemoryUse u = s->memory_use();
    t.weights += u.weights;
    t.kv_cache += u.kv_cache;
    t.scratch += u.scratch;
  }
  return t;
}

std::vector<std::pair<std::string, Segment::MemoryUse>> TensorParallelSegment::memory_by_device() const {
  std::vector<std::pair<std::string, MemoryUse>> out;
  for (const auto& s : shards_) out.emplace_back("cuda:" + std::to_string(s->device_), s->memory_use());
  return out;
}

}  // namespace nibble::cuda

namespace nibble {

Result<std::unique_ptr<Segment>> make_tensor_parallel_segment(const std::vector<int>& devices, const ModelSpec& spec,
                                                              const WeightSource& weights, const SegmentOptions& opts,
                                                              const LoadProgressFn& progress) {
  return cuda::TensorParallelSegment::create(devices, spec, weights, opts, progress);
}

}  // namespace nibble
