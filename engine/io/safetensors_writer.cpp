// safetensors serialization and the atomic file write.
#include "io/safetensors_writer.h"

#include "io/atomic_file.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

namespace nibble {

Result<std::vector<std::uint8_t>> serialize_safetensors(const std::vector<TensorToWrite>& tensors,
                                                        const std::map<std::string, std::string>& metadata) {
  std::set<std::string> names;
  for (const auto& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__")
      return make_error(ErrorKind::invalid_argument, "safetensors writer: invalid tensor name '", t.name, "'");
    if (!names.insert(t.name).second)
      return make_error(ErrorKind::invalid_argument, "safetensors writer: tensor '", t.name, "' given twice");
    std::uint64_t numel = 1;
    for (auto d : t.shape) {
      if (d < 0) return make_error(ErrorKind::invalid_argument, "safetensors writer: tensor '", t.name, "': negative dim");
      numel *= static_cast<std::uint64_t>(d);
    }
    if (numel * dtype_size(t.dtype) != t.bytes.size())
      return make_error(ErrorKind::invalid_argument, "safetensors writer: tensor '", t.name, "': ", t.bytes.size(),
                        " bytes do not match its shape and dtype");
  }
  // Largest element first keeps every tensor aligned to its element size after an 8-byte header.
  std::vector<const TensorToWrite*> order;
  for (const auto& t : tensors) order.push_back(&t);
  std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) {
    if (dtype_size(a->dtype) != dtype_size(b->dtype)) return dtype_size(a->dtype) > dtype_size(b->dtype);
    return a->name < b->name;
  });

  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto* t : order) {
    header[t->name] = {{"dtype", std::string(dtype_name(t->dtype))},
                       {"shape", t->shape},
                       {"data_offsets", {offset, offset + t->bytes.size()}}};
    offset += t->bytes.size();
  }
  std::string text = header.dump();
  while (text.size() % 8) text.push_back(' ');

  std::vector<std::uint8_t> out(8 + text.size() + offset);
  const std::uint64_t n = text.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, text.data(), text.size());
  std::uint8_t* data = out.data() + 8 + text.size();
  for (const auto* t : order) {
    if (!t->bytes.empty()) std::memcpy(data, t->bytes.data(), t->bytes.size());
    data += t->bytes.size();
  }
  return out;
}

Status write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                         const std::map<std::string, std::string>& metadata) {
  NIBBLE_ASSIGN_OR_RETURN(auto bytes, serialize_safetensors(tensors, metadata));
  return write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace nibble
