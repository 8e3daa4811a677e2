// CpuBackend: device info from sysconf and segment creation.
#include "backend/cpu/cpu_backend.h"

#include <unistd.h>

#include "backend/cpu/cpu_segment.h"

namespace nibble {
namespace {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(ThreadPool& pool) : pool_(pool) {}

  DeviceInfo info() const override {
    DeviceInfo d;
    d.kind = DeviceKind::cpu;
    d.name = "CPU (" + std::to_string(pool_.size()) + " threads)";
    const long page = ::sysconf(_SC_PAGESIZE);
    d.total_bytes = static_cast<std::size_t>(::sysconf(_SC_PHYS_PAGES)) * static_cast<std::size_t>(page);
    d.free_bytes = static_cast<std::size_t>(::sysconf(_SC_AVPHYS_PAGES)) * static_cast<std::size_t>(page);
    return d;
  }

  Result<std::unique_ptr<Segment>> create_segment(const ModelSpec& spec, const WeightSource& weights,
                                                  const SegmentOptions& opts, const LoadProgressFn& progress) override {
    NIBBLE_ASSIGN_OR_RETURN(auto seg, CpuSegment::create(spec, weights, opts, progress, pool_));
    return std::unique_ptr<Segment>(std::move(seg));
  }

 private:
  ThreadPool& pool_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(ThreadPool& pool) { return std::make_unique<CpuBackend>(pool); }

}  // namespace nibble
