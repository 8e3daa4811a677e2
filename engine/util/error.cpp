// Names of error kinds and the printable form of an Error.
#include "nibble/error.h"

namespace nibble {

std::string_view error_kind_name(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::io: return "io";
    case ErrorKind::format: return "format";
    case ErrorKind::unsupported: return "unsupported";
    case ErrorKind::out_of_memory: return "out_of_memory";
    case ErrorKind::device: return "device";
    case ErrorKind::device_lost: return "device_lost";
    case ErrorKind::cancelled: return "cancelled";
    case ErrorKind::invalid_argument: return "invalid_argument";
    case ErrorKind::not_found: return "not_found";
    case ErrorKind::busy: return "busy";
    case ErrorKind::read_only: return "read_only";
    case ErrorKind::internal: return "internal";
  }
  return "internal";
}

std::string Error::to_string() const {
  std::string out(error_kind_name(kind));
  out += ": ";
  out += message;
  return out;
}

}  // namespace nibble
