// lfarena/error.hpp -- error category, Error, Result<T> and Status.
//
// Every fallible call returns a Result<T> (or Status = Result<void>): either a value or an Error
// holding an lfarena::errc and a message that names the values involved (and the file, for
// file arenas). std::expected is not usable with clang-14/libstdc++-12, hence this small type.
// A successful Result carries no allocation (the error is behind a null pointer).
//
// Thread-safety: value types; no shared state.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

#include "lfarena/errc.hpp"

namespace lfarena {

const std::error_category &error_category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}
// The short, stable name of a code ("double_free", ...).
const char *to_string(errc e) noexcept;

class Error {
public:
  Error(errc code, std::string message) : code_(code), message_(std::move(message)) {}
  errc code() const { return code_; }
  const std::string &message() const { return message_; }

private:
  errc code_;
  std::string message_;
};

namespace detail {
[[noreturn]] inline void bad_result_access(const Error *e) {
  std::fprintf(stderr, "lfarena: value() of a failed Result: %s\n",
               e ? e->message().c_str() : "(no error)");
  std::abort();
}
} // namespace detail

template <class T> class [[nodiscard]] Result {
public:
  Result(T value) : value_(std::move(value)) {}
  Result(Error error) : error_(std::make_unique<Error>(std::move(error))) {}

  bool ok() const { return error_ == nullptr; }
  explicit operator bool() const { return ok(); }
  errc code() const { return error_ ? error_->code() : errc::ok; }
  const std::string &message() const {
    static const std::string empty;
    return error_ ? error_->message() : empty;
  }
  const Error &error() const {
    if (!error_)
      detail::bad_result_access(nullptr);
    return *error_;
  }

  T &value() & {
    if (error_)
      detail::bad_result_access(error_.get());
    return value_;
  }
  const T &value() const & {
    if (error_)
      detail::bad_result_access(error_.get());
    return value_;
  }
  T &&value() && {
    if (error_)
      detail::bad_result_access(error_.get());
    return std::move(value_);
  }
  T &operator*() & { return value(); }
  const T &operator*() const & { return value(); }
  T *operator->() { return &value(); }
  const T *operator->() const { return &value(); }

private:
  T value_{};
  std::unique_ptr<Error> error_;
};

template <> class [[nodiscard]] Result<void> {
public:
  Result() = default;
  Result(Error error) : error_(std::make_unique<Error>(std::move(error))) {}
  bool ok() const { return error_ == nullptr; }
  explicit operator bool() const { return ok(); }
  errc code() const { return error_ ? error_->code() : errc::ok; }
  const std::string &message() const {
    static const std::string empty;
    return error_ ? error_->message() : empty;
  }
  const Error &error() const {
    if (!error_)
      detail::bad_result_access(nullptr);
    return *error_;
  }

private:
  std::unique_ptr<Error> error_;
};

using Status = Result<void>;

} // namespace lfarena

template <> struct std::is_error_code_enum<lfarena::errc> : std::true_type {};
