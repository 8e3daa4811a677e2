#include "io/atomic_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace nibble {

Status write_file_atomic(const std::string& path, const void* data, std::size_t n) {
  return write_file_atomic(path, {{data, n}});
}

Status write_file_atomic(const std::string& path, std::initializer_list<ByteRange> parts) {
  const std::string tmp = path + ".partial";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) return make_error(ErrorKind::io, tmp, ": cannot create: ", std::strerror(errno));
  bool wrote = true;
  for (const ByteRange& p : parts) wrote = wrote && (p.size == 0 || std::fwrite(p.data, 1, p.size, f) == p.size);
  const bool closed = std::fclose(f) == 0;
  if (!wrote || !closed) {
    std::remove(tmp.c_str());
    return make_error(ErrorKind::io, tmp, ": write failed (disk full?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    return make_error(ErrorKind::io, path, ": cannot rename into place: ", std::strerror(e));
  }
  return {};
}

Status write_text_atomic(const std::string& path, const std::string& text) {
  return write_file_atomic(path, text.data(), text.size());
}

}  // namespace nibble
