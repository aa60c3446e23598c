// recovered_view.cpp -- a read-only opener's view of its file as it is now (see
// recovered_view.hpp).
#include "recovered_view.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "format.hpp"
#include "process.hpp"
#include "recovery.hpp"

namespace lfarena::detail {

namespace {
Error sys_error(errc code, const std::string &path, const char *what) {
  return Error(code, path + ": check: " + what + ": " + std::strerror(errno));
}
} // namespace

RecoveredView::Descriptor::~Descriptor() {
  if (fd >= 0)
    close_file_descriptor(fd);
}

RecoveredView::~RecoveredView() {
  if (base_ != nullptr)
    unmap_file(base_, length_);
}

Status RecoveredView::open(const FileBacking &f, const Options &options, const std::string &path) {
  own_.fd = open_check_descriptor(f.fd(), f.path().c_str());
  if (own_.fd < 0)
    return sys_error(errc::io_error, path, "reopen for the check");
  join_.emplace(own_.fd, false);
  if (!join_->held())
    return sys_error(errc::io_error, path, "join lock");
  // The opener lock first, then the count (in the header read below): a writer that closes in
  // between lowers the count before its lock goes (the descriptor is closed after the count,
  // §5.9), and no writer joins while we hold the join lock. (The other order could take a
  // clean close for a crash.)
  const bool writer = opener_lock_held(own_.fd);
  unsigned char header[kHeaderSize] = {};
  struct stat st {};
  if (::fstat(own_.fd, &st) != 0 ||
      ::pread(own_.fd, header, sizeof header, 0) != static_cast<ssize_t>(sizeof header))
    return sys_error(errc::io_error, path, "read header");
  Options stored;
  Result<Layout> layout =
      validate_header(header, static_cast<std::uint64_t>(st.st_size), options, path, stored);
  if (!layout)
    return layout.error();
  geometry_ = layout->geometry;
  const bool crashed = !writer && get_le64(header + hdr::open_count) != 0;
  // Writable (copy on write) only for recovery: a private writable mapping counts against
  // RLIMIT_DATA, a read-only one does not. Mapped through the arena's descriptor, not the
  // view's, and not inherited by fork children: a mapping holds its open file description, so
  // a child's copy of a mapping of the view's kept the join lock after the parent died
  // (helper-28: a writer waited until the child exited).
  void *p =
      map_file(f.fd(), geometry_.capacity, PROT_READ | (crashed ? PROT_WRITE : 0), MAP_PRIVATE);
  if (p == MAP_FAILED)
    return Error(errc::map_failed,
                 path + ": check: " + (crashed ? "a private copy of " : "a view of ") +
                     std::to_string(geometry_.capacity) + " bytes" +
                     (crashed ? " to recover" : "") + ": mmap: " + std::strerror(errno));
  base_ = static_cast<std::byte *>(p);
  length_ = geometry_.capacity;
  if (!crashed)
    return validate_mutable_fields(base_, geometry_, path, !writer);
  const char *how = " (check() of a read-only opener: the file was left by a read-write opener "
                    "that died, and this is how the next read-write open fails)";
  if (Status s = validate_mutable_fields(base_, geometry_, path, true); !s)
    return Error(s.code(), s.message() + how);
  Result<RecoveryReport> r = recover(base_, geometry_, path);
  if (!r)
    return Error(r.code(), r.message() + how);
  recovery_ = *r;
  return {};
}

} // namespace lfarena::detail
