// NCCL loaded with dlopen: the handful of entry points the tensor-parallel segment uses, declared
// here by their stable C ABI (opaque communicator pointer, int enums) so the build needs no NCCL.
#include "backend/cuda/nccl_runtime.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <string>

#include "backend/cuda/cuda_check.h"

namespace nibble::cuda {
namespace {

// ncclDataType_t / ncclRedOp_t values of nccl.h (stable since NCCL 2.0).
constexpr int kNcclFloat16 = 6;
constexpr int kNcclFloat32 = 7;
constexpr int kNcclSum = 0;

using GetVersionFn = int (*)(int*);
using GetErrorStringFn = const char* (*)(int);
using CommInitAllFn = int (*)(void**, int, const int*);
using CommDestroyFn = int (*)(void*);
using AllReduceFn = int (*)(const void*, void*, std::size_t, int, int, void*, cudaStream_t);
using AllGatherFn = int (*)(const void*, void*, std::size_t, int, void*, cudaStream_t);
using GroupFn = int (*)();

struct Api {
  void* lib = nullptr;
  std::string error;  // why loading failed
  GetVersionFn get_version = nullptr;
  GetErrorStringFn error_string = nullptr;
  CommInitAllFn comm_init_all = nullptr;
  CommDestroyFn comm_destroy = nullptr;
  AllReduceFn all_reduce = nullptr;
  AllGatherFn all_gather = nullptr;
  GroupFn group_start = nullptr;
  GroupFn group_end = nullptr;
};

const Api& api() {
  static Api a;
  static std::once_flag once;
  std::call_once(once, [] {
    const char* env = std::getenv("NIBBLE_NCCL_LIBRARY");
    const std::string name = env && *env ? env : "libnccl.so.2";
    a.lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!a.lib) {
      const char* why = dlerror();
      a.error = "tensor parallelism needs NCCL, and " + name + " could not be loaded (" + (why ? why : "not found") +
                "): install NCCL 2 (Debian: libnccl2 from NVIDIA's CUDA repository), or set NIBBLE_NCCL_LIBRARY to "
                "its libnccl.so.2, or split the layers across the GPUs instead (--gpu-split)";
      return;
    }
    auto sym = [&](const char* s) { return dlsym(a.lib, s); };
    a.get_version = reinterpret_cast<GetVersionFn>(sym("ncclGetVersion"));
    a.error_string = reinterpret_cast<GetErrorStringFn>(sym("ncclGetErrorString"));
    a.comm_init_all = reinterpret_cast<CommInitAllFn>(sym("ncclCommInitAll"));
    a.comm_destroy = reinterpret_cast<CommDestroyFn>(sym("ncclCommDestroy"));
    a.all_reduce = reinterpret_cast<AllReduceFn>(sym("ncclAllReduce"));
    a.all_gather = reinterpret_cast<AllGatherFn>(sym("ncclAllGather"));
    a.group_start = reinterpret_cast<GroupFn>(sym("ncclGroupStart"));
    a.group_end = reinterpret_cast<GroupFn>(sym("ncclGroupEnd"));
    if (!a.get_version || !a.error_string || !a.comm_init_all || !a.comm_destroy || !a.all_reduce || !a.all_gather ||
        !a.group_start || !a.group_end) {
      a.error = name + " lacks NCCL 2 entry points (ncclCommInitAll, ncclAllReduce, ...): install NCCL 2.";
      dlclose(a.lib);
      a.lib = nullptr;
    }
  });
  return a;
}

Status nccl_check(int rc, const char* what) {
  if (rc == 0) return {};
  const Api& a = api();
  return make_error(ErrorKind::device, "NCCL ", what, ": ", a.error_string ? a.error_string(rc) : "error ",
                    a.error_string ? "" : std::to_string(rc));
}

}  // namespace

NcclGroup::~NcclGroup() {
  const Api& a = api();
  for (void* c : comms_)
    if (c && a.comm_destroy) a.comm_destroy(c);
}

Result<std::unique_ptr<NcclGroup>> NcclGroup::create(const std::vector<int>& devices) {
  if (devices.size() < 2) return make_error(ErrorKind::invalid_argument, "tensor parallelism needs at least two GPUs");
  for (std::size_t i = 0; i < devices.size(); ++i)
    for (std::size_t j = i + 1; j < devices.size(); ++j)
      if (devices[i] == devices[j])
        return make_error(ErrorKind::invalid_argument, "tensor parallelism: cuda:", devices[i],
                          " is named twice (each GPU holds one share of every layer)");
  // NVLink multicast (NVLS) buys nothing for the few kilobytes a decode step reduces, and its
  // buffers take memory on every GPU: off unless the user asks for it.
  setenv("NCCL_NVLS_ENABLE", "0", 0);
  const Api& a = api();
  if (!a.lib) return make_error(ErrorKind::unsupported, a.error);
  std::unique_ptr<NcclGroup> g(new NcclGroup());
  g->devices_ = devices;
  a.get_version(&g->version_);
  g->comms_.assign(devices.size(), nullptr);
  int current = 0;
  cudaGetDevice(&current);
  const int rc = a.comm_init_all(g->comms_.data(), static_cast<int>(devices.size()), devices.data());
  cudaSetDevice(current);
  if (rc != 0) {
    g->comms_.assign(devices.size(), nullptr);
    return nccl_check(rc, "communicator setup over the tensor-parallel GPUs").error();
  }
  return g;
}

std::string NcclGroup::version() const {
  return "NCCL " + std::to_string(version_ / 10000) + "." + std::to_string(version_ / 100 % 100) + "." +
         std::to_string(version_ % 100);
}

Status NcclGroup::collective(bool gather, std::span<const CollectiveRank> ranks, std::size_t count, CollectiveType type) {
  if (static_cast<int>(ranks.size()) != size())
    return make_error(ErrorKind::internal, "collective over ", ranks.size(), " of ", size(), " ranks");
  const Api& a = api();
  const int dt = type == CollectiveType::fp16 ? kNcclFloat16 : kNcclFloat32;
  NIBBLE_TRY(nccl_check(a.group_start(), "group start"));
  int rc = 0;
  for (std::size_t r = 0; r < ranks.size() && rc == 0; ++r) {
    const CollectiveRank& k = ranks[r];
    rc = gather ? a.all_gather(k.send, k.recv, count, dt, comms_[r], k.stream)
                : a.all_reduce(k.send, k.recv, count, dt, kNcclSum, comms_[r], k.stream);
  }
  const int end = a.group_end();
  NIBBLE_TRY(nccl_check(rc, gather ? "all-gather" : "all-reduce"));
  return nccl_check(end, gather ? "all-gather" : "all-reduce");
}

Status NcclGroup::all_reduce(std::span<const CollectiveRank> ranks, std::size_t count, CollectiveType type) {
  return collective(false, ranks, count, type);
}

Status NcclGroup::all_gather(std::span<const CollectiveRank> ranks, std::size_t count, CollectiveType type) {
  return collective(true, ranks, count, type);
}

}  // namespace nibble::cuda
