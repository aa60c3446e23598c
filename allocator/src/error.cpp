// error.cpp -- the lfarena error category and code names. Thread-safety: immutable data.
#include "lfarena/error.hpp"

namespace lfarena {

const char *to_string(errc e) noexcept {
  switch (e) {
  case errc::ok:
    return "ok";
  case errc::invalid_capacity:
    return "invalid_capacity";
  case errc::invalid_alignment_option:
    return "invalid_alignment_option";
  case errc::invalid_min_segment:
    return "invalid_min_segment";
  case errc::invalid_reserved:
    return "invalid_reserved";
  case errc::invalid_freelist_kind:
    return "invalid_freelist_kind";
  case errc::invalid_thread_chunk:
    return "invalid_thread_chunk";
  case errc::invalid_open_mode:
    return "invalid_open_mode";
  case errc::invalid_huge_pages:
    return "invalid_huge_pages";
  case errc::zero_size:
    return "zero_size";
  case errc::size_overflow:
    return "size_overflow";
  case errc::bad_alignment:
    return "bad_alignment";
  case errc::out_of_memory:
    return "out_of_memory";
  case errc::null_offset:
    return "null_offset";
  case errc::offset_out_of_range:
    return "offset_out_of_range";
  case errc::not_block_start:
    return "not_block_start";
  case errc::double_free:
    return "double_free";
  case errc::wrong_size:
    return "wrong_size";
  case errc::read_only:
    return "read_only";
  case errc::in_use:
    return "in_use";
  case errc::empty_handle:
    return "empty_handle";
  case errc::io_error:
    return "io_error";
  case errc::file_exists:
    return "file_exists";
  case errc::file_not_found:
    return "file_not_found";
  case errc::file_truncated:
    return "file_truncated";
  case errc::bad_magic:
    return "bad_magic";
  case errc::unsupported_version:
    return "unsupported_version";
  case errc::unknown_features:
    return "unknown_features";
  case errc::checksum_mismatch:
    return "checksum_mismatch";
  case errc::freelist_kind_mismatch:
    return "freelist_kind_mismatch";
  case errc::user_version_mismatch:
    return "user_version_mismatch";
  case errc::bad_geometry:
    return "bad_geometry";
  case errc::bump_out_of_range:
    return "bump_out_of_range";
  case errc::freelist_head_out_of_range:
    return "freelist_head_out_of_range";
  case errc::map_failed:
    return "map_failed";
  case errc::checked_mismatch:
    return "checked_mismatch";
  case errc::corrupt_freelist:
    return "corrupt_freelist";
  case errc::accounting_mismatch:
    return "accounting_mismatch";
  }
  return "unknown";
}

namespace {
class Category final : public std::error_category {
public:
  const char *name() const noexcept override { return "lfarena"; }
  std::string message(int code) const override { return to_string(static_cast<errc>(code)); }
};
} // namespace

const std::error_category &error_category() noexcept {
  static const Category category;
  return category;
}

} // namespace lfarena
