// safetensors parsing: u64 little-endian header length N, N bytes of JSON, then the data section.
// Every check names the file and, where there is one, the tensor.
#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

namespace nibble {
namespace {

using json = nlohmann::json;

Error bad(const std::string& file, const std::string& what) {
  return make_error(ErrorKind::format, file, ": ", what);
}

Error bad_tensor(const std::string& file, const std::string& name, const std::string& what) {
  return make_error(ErrorKind::format, file, ": tensor '", name, "': ", what);
}

// Reads a JSON number that must be a non-negative integer.
bool get_u64(const json& v, std::uint64_t& out) {
  if (v.is_number_unsigned()) {
    out = v.get<std::uint64_t>();
    return true;
  }
  if (v.is_number_integer()) {
    const auto s = v.get<std::int64_t>();
    if (s < 0) return false;
    out = static_cast<std::uint64_t>(s);
    return true;
  }
  return false;
}

Result<TensorView> parse_entry(const std::string& file, const std::string& name, const json& e,
                               const std::uint8_t* data, std::uint64_t data_size) {
  if (!e.is_object()) return bad_tensor(file, name, "entry is not an object");
  auto dt = e.find("dtype");
  auto sh = e.find("shape");
  auto off = e.find("data_offsets");
  if (dt == e.end() || !dt->is_string()) return bad_tensor(file, name, "missing or non-string 'dtype'");
  if (sh == e.end() || !sh->is_array()) return bad_tensor(file, name, "missing or non-array 'shape'");
  if (off == e.end() || !off->is_array() || off->size() != 2)
    return bad_tensor(file, name, "'data_offsets' must be an array of two integers");

  const std::string dtype_str = dt->get<std::string>();
  auto dtype = dtype_from_name(dtype_str);
  if (!dtype) {
    static const char* known[] = {"F64", "I64", "U64", "U32", "U16", "BOOL", "F8_E4M3", "F8_E5M2", "C64"};
    for (const char* k : known)
      if (dtype_str == k)
        return make_error(ErrorKind::unsupported, file, ": tensor '", name, "': dtype ", dtype_str,
                          " is not supported (Nibble reads F32, F16, BF16, I32, I16, I8, U8)");
    return bad_tensor(file, name, "unknown dtype '" + dtype_str + "'");
  }

  TensorView t;
  t.name = name;
  t.dtype = *dtype;
  t.file = file;
  if (sh->size() > 8) return bad_tensor(file, name, "shape has more than 8 dimensions");
  std::uint64_t numel = 1;
  for (const auto& d : *sh) {
    std::uint64_t v;
    if (!get_u64(d, v) || v > (std::uint64_t{1} << 48))
      return bad_tensor(file, name, "shape entries must be non-negative integers");
    t.shape.push_back(static_cast<std::int64_t>(v));
    if (v != 0 && numel > std::numeric_limits<std::uint64_t>::max() / v)
      return bad_tensor(file, name, "shape overflows");
    numel *= v;
  }
  std::uint64_t begin, end;
  if (!get_u64((*off)[0], begin) || !get_u64((*off)[1], end))
    return bad_tensor(file, name, "'data_offsets' must be non-negative integers");
  if (begin > end) return bad_tensor(file, name, "data_offsets begin > end");
  if (end > data_size)
    return bad_tensor(file, name, "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                                      ") run past the end of the data section (" + std::to_string(data_size) +
                                      " bytes): the file is truncated or the header lies");
  const std::uint64_t esize = dtype_size(*dtype);
  if (numel > std::numeric_limits<std::uint64_t>::max() / esize || numel * esize != end - begin)
    return bad_tensor(file, name, "shape " + t.shape_string() + " x " + dtype_str + " needs " +
                                      std::to_string(numel * esize) + " bytes but data_offsets span " +
                                      std::to_string(end - begin));
  t.data = data + begin;
  t.nbytes = static_cast<std::size_t>(end - begin);
  return t;
}

}  // namespace

Result<SafetensorsContents> parse_safetensors(std::span<const std::uint8_t> bytes, const std::string& file) {
  if (bytes.size() < 8) return bad(file, "too short to be a safetensors file (" + std::to_string(bytes.size()) + " bytes)");
  std::uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  if (n > kSafetensorsMaxHeader)
    return bad(file, "header length " + std::to_string(n) + " exceeds the " + std::to_string(kSafetensorsMaxHeader) +
                         "-byte limit (not a safetensors file?)");
  if (n > bytes.size() - 8)
    return bad(file, "header length " + std::to_string(n) + " runs past the end of the file (" +
                         std::to_string(bytes.size()) + " bytes): truncated file");
  const auto* hbeg = bytes.data() + 8;
  json header = json::parse(hbeg, hbeg + n, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded()) return bad(file, "header is not well-formed JSON");
  if (!header.is_object()) return bad(file, "header is not a JSON object");

  const std::uint8_t* data = hbeg + n;
  const std::uint64_t data_size = bytes.size() - 8 - n;
  SafetensorsContents out;
  try {
    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() == "__metadata__") {
        if (!it->is_object()) return bad(file, "__metadata__ is not an object");
        for (auto m = it->begin(); m != it->end(); ++m) {
          if (!m->is_string()) return bad(file, "__metadata__ value '" + m.key() + "' is not a string");
          out.metadata[m.key()] = m->get<std::string>();
        }
        continue;
      }
      if (it.key().empty()) return bad(file, "a tensor has an empty name");
      auto t = parse_entry(file, it.key(), *it, data, data_size);
      if (!t) return std::move(t).error();
      out.tensors.push_back(std::move(t).value());
    }
  } catch (const std::exception& e) {
    return bad(file, std::string("header: ") + e.what());
  }

  // Non-overlap: sort the byte ranges; each non-empty range starts at or after the previous end.
  std::vector<const TensorView*> by_offset;
  by_offset.reserve(out.tensors.size());
  for (const auto& t : out.tensors)
    if (t.nbytes) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->data < b->data; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const auto* prev = by_offset[i - 1];
    if (by_offset[i]->data < prev->data + prev->nbytes)
      return make_error(ErrorKind::format, file, ": tensors '", prev->name, "' and '", by_offset[i]->name,
                        "' overlap in the data section");
  }
  return out;
}

Result<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  NIBBLE_ASSIGN_OR_RETURN(auto map, MappedFile::open(path));
  NIBBLE_ASSIGN_OR_RETURN(auto contents, parse_safetensors(map->bytes(), path));
  SafetensorsFile f;
  f.map_ = std::move(map);
  f.contents_ = std::move(contents);
  return f;
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
  auto it = std::lower_bound(contents_.tensors.begin(), contents_.tensors.end(), name,
                             [](const TensorView& t, const std::string& n) { return t.name < n; });
  if (it == contents_.tensors.end() || it->name != name) return nullptr;
  return &*it;
}

}  // namespace nibble
