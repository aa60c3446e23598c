// file_grow.cpp -- Options::grow (file_grow.hpp): the checks first, then the grow in steps a
// crash cannot leave unopenable.
#include "file_grow.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "file_checks.hpp"
#include "liveness_lock.hpp"
#include "process.hpp"

#include "lfarena/detail/cache_layout.hpp"

namespace lfarena::detail {

namespace {

// The checks a sole opener makes before it writes anything (join_file(): the mutable words,
// the free lists and the slot table), made on the file as it is now (header `h`, read under
// grow_file()'s locks) through a read-only mapping of its capacity, so that an open refused for
// damage is refused before its grow writes a byte (it used to leave the file grown). A crashed
// file is checked as a read-only opener checks one (nodes in flight allowed); what only its
// recovery can find still refuses the open after the grow.
Status validate_before_grow(int fd, const std::string &path, const unsigned char *h,
                            const Options &o) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return sys_error(errc::io_error, path, "grow: stat");
  Options stored;
  Result<Layout> l = validate_header(h, static_cast<std::uint64_t>(st.st_size), o, path, stored);
  if (!l)
    return l.error();
  // Mapped through fd itself (no copy of the descriptor: one made with dup() was neither
  // close-on-exec nor known to the fork handlers, and a child forked meanwhile kept it, and
  // with it this open file description's locks: helper-52), and like every mapping of an
  // arena file not inherited by fork children (map_file()).
  const std::uint32_t capacity = l->geometry.capacity;
  void *p = map_file(fd, capacity, PROT_READ, MAP_SHARED);
  if (p == MAP_FAILED) {
    const int e = errno; // before the message's allocations
    return Error(errc::map_failed, path + ": grow: a read-only view of " +
                                       std::to_string(capacity) +
                                       " bytes to check first: mmap: " + std::strerror(e));
  }
  // Unmapped on every return (and its ASan shadow cleared: unmap_file()).
  struct Unmap {
    std::byte *base;
    std::uint32_t capacity;
    ~Unmap() { unmap_file(base, capacity); }
  } view{static_cast<std::byte *>(p), capacity};
  Geometry g = l->geometry;
  if (Status s = refresh_node_key(view.base, g, path); !s)
    return s;
  return check_alone(view.base, g, path);
}

} // namespace

Status grow_file(int fd, const std::string &path, const Geometry &g, const Options &o) {
  const std::uint32_t from = g.capacity, to = o.capacity; // (from: for messages; a concurrent
                                                          // grower may have moved it since)
  const std::string sizes = "from " + std::to_string(from) + " to " + std::to_string(to) + " bytes";
  if (o.read_only)
    return Error(errc::read_only, path + ": cannot grow a file opened read-only (" + sizes + ")");
  if (g.bitmap_offset != 0)
    return Error(errc::invalid_capacity, path + ": options: cannot grow a checked file " + sizes +
                                             " (its bitmaps are sized when it is created)");
  const JoinLock join(fd, true);
  if (!join.held())
    return sys_error(errc::io_error, path, "lock");
  if (!ofd_lock(fd, kOpenerByte, F_WRLCK, false))
    return Error(errc::in_use, path + ": cannot grow the file " + sizes +
                                   " while other openers have it open (grow needs the only one)");
  struct Unlock {
    int fd;
    ~Unlock() { ofd_lock(fd, kOpenerByte, F_UNLCK, false); }
  } unlock{fd};
  unsigned char h[kHeaderSize] = {};
  if (::pread(fd, h, sizeof h, 0) != static_cast<ssize_t>(sizeof h))
    return sys_error(errc::io_error, path, "read header");
  if (get_le32(h + hdr::capacity) >= to) // another opener grew it meanwhile
    return {};
  if (Status s = validate_before_grow(fd, path, h, o); !s)
    return s;
  const std::uint32_t version = get_le32(h + hdr::format_version);
  auto write = [&](std::uint32_t at, std::size_t n, const char *what) -> Status {
    if (::pwrite(fd, h + at, n, at) != static_cast<ssize_t>(n))
      return sys_error(errc::io_error, path, what);
    return {};
  };
  // A file whose cache blocks hold arrays keeps the layout they were made for: it depends on
  // the class budget, which follows the capacity below 1 MiB (a grown file's blocks were
  // refused at the next open, their entries at other places: helper-48). Pinned first, as
  // the budget the file has now, so every step after a crash reads the same layout.
  if ((get_le32(h + hdr::feature_flags) & kFeatureCacheArray) != 0 &&
      get_le32(h + hdr::cache_budget) == 0) {
    put_le32(h + hdr::cache_budget, cache_class_budget(get_le32(h + hdr::capacity)));
    if (Status s = write(hdr::cache_budget, 4, "grow: pin the cache layout"); !s)
      return s;
  }
  // The record covers the file at every step: a file that an earlier grow, cut short, left
  // larger than this target keeps that size as the record until the header is written (the
  // ftruncate below shrinks it to the target; validate_header() accepts a file larger than its
  // capacity up to the record).
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return sys_error(errc::io_error, path, "grow: stat");
  const std::uint64_t now = static_cast<std::uint64_t>(st.st_size);
  put_le64(h + hdr::growing_to, now > to ? now : to);
  if (Status s = write(hdr::growing_to, 8, "grow: record the target size"); !s)
    return s;
  if (::ftruncate(fd, to) != 0)
    return sys_error(errc::io_error, path, "grow: ftruncate");
  put_le32(h + hdr::capacity, to);
  put_le64(h + hdr::checksum, header_checksum(h, version));
  if (Status s = write(0, hdr::checksum + 8, "grow: write the header"); !s)
    return s;
  put_le64(h + hdr::growing_to, 0);
  return write(hdr::growing_to, 8, "grow: clear the target size");
}

} // namespace lfarena::detail
