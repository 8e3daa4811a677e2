// Whole-file reads with optional gzip decoding (zlib, when the build found it).
#include "io/text_file.h"

#include <fstream>
#include <sstream>

#ifdef NIBBLE_HAVE_ZLIB
#include <zlib.h>
#endif

namespace nibble {
namespace {

bool is_gzip(const std::string& bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

#ifdef NIBBLE_HAVE_ZLIB
Result<std::string> gunzip(const std::string& in, const std::string& path) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return make_error(ErrorKind::internal, path, ": zlib init failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[1 << 16];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      return make_error(ErrorKind::format, path, ": corrupt gzip data");
    }
    out.append(buf, sizeof buf - zs.avail_out);
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      return make_error(ErrorKind::format, path, ": truncated gzip data");
    }
  }
  inflateEnd(&zs);
  return out;
}
#endif

}  // namespace

Result<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorKind::io, path, ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return make_error(ErrorKind::io, path, ": read failed");
  std::string bytes = ss.str();
  if (!is_gzip(bytes)) return bytes;
#ifdef NIBBLE_HAVE_ZLIB
  return gunzip(bytes, path);
#else
  return make_error(ErrorKind::unsupported, path, ": gzip input needs a build with zlib; decompress it first");
#endif
}

}  // namespace nibble
