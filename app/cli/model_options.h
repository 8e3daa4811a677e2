// Options shared by the nibble-cli commands that load a model (--device, --threads, --context):
// parsing into LoadOptions with usage errors, and the placement flags (--gpu-split, --cpu-layers,
// --reserve) through engine/plan. Used by the commands that load a model and by `info --plan`.
#pragma once

#include <set>
#include <string>

#include "args.h"
#include "nibble/model.h"
#include "nibble/plan.h"

namespace nibble::cli {

// The value options these flags add to a command's parser.
inline const std::set<std::string> kModelValueOptions = {"device", "threads", "context", "gpu-split", "cpu-layers",
                                                          "reserve", "tensor-parallel"};
inline constexpr const char* kModelOptionsUsage =
    "  --device cpu|cuda:N   where the model runs (default cpu)\n"
    "  --threads N           CPU threads (default: all cores)\n"
    "  --context N           KV cache capacity in tokens (default: the model's, at most 8192)\n"
    "  --gpu-split auto|GB,GB,...  spread the layers over the GPUs: fill them in order (auto), or at\n"
    "                        most these GiB on GPU 0, 1, ... (the CUDA runtime's share included)\n"
    "  --cpu-layers N|auto   run the first N layers on the CPU (auto: as many as the GPUs need)\n"
    "  --reserve GB          GiB to leave free on each GPU (default 0)\n"
    "  --tensor-parallel auto|cuda:0,cuda:1,...  share every layer among these GPUs (attention heads and\n"
    "                        MLP columns per GPU, NCCL between them; auto: every GPU) instead of\n"
    "                        splitting the layers\n";

// Fills `out`; false with a message in `error` on a malformed value.
bool parse_model_options(const Args& args, LoadOptions& out, std::string& error);

// With --gpu-split, --cpu-layers or --reserve: plans the placement of `model_dir` (with `load`'s
// context and KV cache; GPUs from list_gpus(), or --device's GPU only) and sets load.placement
// and load.reserve_bytes. 0 = done (or nothing asked), 2 = a usage error, 1 = the model does not
// fit (the message carries the planner's advice). Call after every other option is parsed.
int place_model(const Args& args, const std::string& model_dir, LoadOptions& load, std::string& error);

// The placement flags into `out` (GPUs as above, or `fake_gpus` GiB sizes when given); usage error text.
bool parse_placement_flags(const Args& args, const LoadOptions& load, const std::vector<double>& fake_gpus,
                           PlacementOptions& out, std::string& error);

}  // namespace nibble::cli
