// Error and Result<T>: the expected-style return type at every engine API edge.
// Owns the error kinds the UI maps to text and recovery actions; no exception crosses the API.
// Used by every engine module and by app/ (bridge, CLI).
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace nibble {

enum class ErrorKind : std::uint8_t {
  io,                // a file or directory could not be read/written (names the path)
  format,            // a file is malformed or lies about itself (names the file and field/tensor)
  unsupported,       // valid input we do not handle (architecture, dtype, bit width, ...)
  out_of_memory,     // host or device allocation failed
  device,            // a recoverable device error
  device_lost,       // the device context is poisoned: reload needed
  cancelled,         // the caller asked to stop
  invalid_argument,  // a setting or argument is out of range or contradictory
  not_found,         // a requested item (file, tensor, conversation, ...) does not exist
  busy,              // a resource (database, device) is locked by someone else
  read_only,         // the store is open read-only (e.g. newer schema)
  internal,          // a bug in Nibble: report it
};

std::string_view error_kind_name(ErrorKind kind) noexcept;

struct Error {
  ErrorKind kind = ErrorKind::internal;
  std::string message;

  // "format: model.safetensors: tensor 'x' ..." — the form the CLI prints.
  std::string to_string() const;
};

namespace detail {
template <class... Parts>
std::string concat(Parts&&... parts) {
  std::ostringstream out;
  (out << ... << std::forward<Parts>(parts));
  return out.str();
}
}  // namespace detail

// make_error(ErrorKind::format, "file ", path, ": bad header") — parts are streamed together.
template <class... Parts>
Error make_error(ErrorKind kind, Parts&&... parts) {
  return Error{kind, detail::concat(std::forward<Parts>(parts)...)};
}

template <class T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::decay_t<T>, Error>, "Result<Error> is ambiguous");

 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }

  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const Error& error() const& { return error_; }
  Error&& error() && { return std::move(error_); }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace nibble

// Propagates an error from an expression returning Result<...>/Status.
#define NIBBLE_TRY(expr)                                         \
  do {                                                           \
    auto&& nibble_try_result_ = (expr);                          \
    if (!nibble_try_result_.ok()) return nibble_try_result_.error(); \
  } while (0)

#define NIBBLE_CONCAT_INNER_(a, b) a##b
#define NIBBLE_CONCAT_(a, b) NIBBLE_CONCAT_INNER_(a, b)
// NIBBLE_ASSIGN_OR_RETURN(auto x, make_x()); — binds the value or returns the error.
#define NIBBLE_ASSIGN_OR_RETURN(decl, expr)                                  \
  auto NIBBLE_CONCAT_(nibble_aor_, __LINE__) = (expr);                       \
  if (!NIBBLE_CONCAT_(nibble_aor_, __LINE__).ok())                           \
    return std::move(NIBBLE_CONCAT_(nibble_aor_, __LINE__)).error();         \
  decl = std::move(NIBBLE_CONCAT_(nibble_aor_, __LINE__)).value()
