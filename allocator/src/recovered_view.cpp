// recovered_view.cpp -- a crashed file recovered on a private copy (see recovered_view.hpp).
#include "recovered_view.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "format.hpp"
#include "recovery.hpp"

#include "lfarena/detail/atomic.hpp"
#include "lfarena/detail/memory.hpp"

namespace lfarena::detail {

namespace {
std::mutex g_views_without_proc; // see the banner: views on a shared descriptor take turns

Error sys_error(errc code, const std::string &path, const char *what) {
  return Error(code, path + ": check: " + what + ": " + std::strerror(errno));
}
} // namespace

RecoveredView::Descriptor::~Descriptor() {
  if (fd >= 0)
    ::close(fd);
}

RecoveredView::~RecoveredView() {
  if (base_ != nullptr)
    ::munmap(base_, length_);
}

Status RecoveredView::open(const FileBacking &f, const Options &options, const std::string &path) {
  const std::string self = "/proc/self/fd/" + std::to_string(f.fd());
  own_.fd = ::open(self.c_str(), O_RDONLY | O_CLOEXEC);
  if (own_.fd < 0)
    turn_.emplace(g_views_without_proc);
  const int fd = own_.fd >= 0 ? own_.fd : f.fd();
  join_.emplace(fd, false);
  if (!join_->held())
    return sys_error(errc::io_error, path, "join lock");
  // The opener lock first, then the count: a writer that closes in between lowers the count
  // before its lock goes (the descriptor is closed after the count, §5.9), and no writer joins
  // while we hold the join lock. (The other order could take a clean close for a crash.)
  // Acquire: the dead opener's last writes (the count is its first and last write).
  if (opener_lock_held(fd) || load_acquire(RegionWords{f.base()}.word(hdr::open_count)) == 0)
    return {};
  // The header as the file holds it now, as a read-write open validates it.
  unsigned char header[kHeaderSize] = {};
  struct stat st {};
  if (::fstat(fd, &st) != 0 ||
      ::pread(fd, header, sizeof header, 0) != static_cast<ssize_t>(sizeof header))
    return sys_error(errc::io_error, path, "read header");
  Options stored;
  Result<Layout> layout =
      validate_header(header, static_cast<std::uint64_t>(st.st_size), options, path, stored);
  if (!layout)
    return layout.error();
  geometry_ = layout->geometry;
  void *p = ::mmap(nullptr, geometry_.capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED)
    return Error(errc::map_failed, path + ": check: a private copy of " +
                                       std::to_string(geometry_.capacity) +
                                       " bytes to recover: mmap: " + std::strerror(errno));
  base_ = static_cast<std::byte *>(p);
  length_ = geometry_.capacity;
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
