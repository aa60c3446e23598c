// file_open.cpp -- file arenas: create, open, join, and the liveness locks.
//
// Creating: the whole file is built unnamed (O_TMPFILE; where the file system has none, under a
// uniquely named temporary) and linked into place only when its header is complete, so a
// concurrent opener finds either no file or a valid one, and a creator killed midway leaves
// nothing that blocks a later create. Two creators racing for one path: link() lets exactly one
// win; with OpenMode::open_or_create the loser opens the winner's file.
//
// Opening: the opener's own options are checked first (each its own option error, naming the
// file); then the header's immutable part from a private copy (format.hpp: a fixed order, one
// error per failure), before anything is mapped; then the mutable words from the mapping. A
// failed open never writes a byte, but for a grow (Options::grow): it checks the mutable words
// and the free space first, but a crashed file's recovery comes after it, so an open refused by
// recovery alone leaves the file grown (docs/DESIGN.md §1.2; the grow itself: file_grow.cpp, and
// the checks of the mapped file: file_checks.cpp).
//
// Liveness locks (liveness_lock.hpp): byte 0, the opener lock, held shared by every read-write
// opener; byte 1, the join lock, held exclusive by a read-write opener while it joins.
// A joiner that can upgrade byte 0 to exclusive is alone: nobody else has the file open
// read-write, and nobody can join meanwhile. If it then finds open_count != 0, an earlier
// opener died without closing, and it runs crash recovery (recovery.hpp) before anything else
// touches the arena. A read-only opener is alone if no lock is held on byte 0 while it holds the
// join lock. Only an opener that is alone checks the mutable words against each other (a file
// in use changes under the reader); the others check what holds at every instant.
//
// Thread-safety: factories may run concurrently, in any threads and processes.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "arena_factory.hpp"
#include "file_checks.hpp"
#include "file_grow.hpp"
#include "format.hpp"
#include "liveness_lock.hpp"
#include "process.hpp"
#include "recovery.hpp"
#include "salvage.hpp"

namespace lfarena {

namespace {

using detail::check_alone;
using detail::refresh_node_key;
using detail::sys_error;
using detail::validate_free_space;

// The liveness locks (liveness_lock.hpp).
using detail::JoinLock;
using detail::kOpenerByte;
using detail::ofd_lock;
using detail::opener_lock_held;

} // namespace

Status detail::run_as_sole_opener(const FileBacking &f, const std::string &name,
                                  const std::function<Status()> &body) {
  const JoinLock join(f.fd(), true);
  if (!join.held())
    return sys_error(errc::io_error, name, "lock");
  // The upgrade, the body and the downgrade with no fork in between (none of them waits): a fork
  // child takes an opener lock of its own on a new description (process.cpp own_description()),
  // and one forked while ours was exclusive waited for it on a lock that its own copy of our
  // description held, for ever once we died (helper-32). And the body (reset) rewrites the open
  // count, which a fork in the middle raises for its child (helper-31).
  Status s;
  detail::without_fork([&] {
    if (!ofd_lock(f.fd(), kOpenerByte, F_WRLCK, false)) {
      s = Error(errc::in_use, name + ": other read-write openers (in this or another process) "
                                     "have the file open; this needs the only one");
      return;
    }
    s = body();
    if (!ofd_lock(f.fd(), kOpenerByte, F_RDLCK, false)) // downgrade in place (OFD locks)
      s = sys_error(errc::io_error, name, "lock");
  });
  return s;
}

namespace {

// ---- creating -------------------------------------------------------------------------------
// An unnamed file in path's directory (tmp stays empty), or, where O_TMPFILE or /proc is not
// available, a new file with a unique random name next to path (tmp is its name). -1 on error.
int open_temporary(const std::string &path, std::string &tmp) {
  tmp.clear();
  if (::access("/proc/self/fd", X_OK) == 0) {
    std::string dir = std::filesystem::path(path).parent_path().string();
    const int fd =
        detail::open_file_descriptor(dir.empty() ? "." : dir.c_str(), O_TMPFILE | O_RDWR, 0644);
    if (fd >= 0)
      return fd;
  }
  for (int attempt = 0; attempt < 64; ++attempt) {
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, ".creating.%016llx",
                  static_cast<unsigned long long>(detail::random_u64()));
    tmp = path + suffix;
    const int fd = detail::open_file_descriptor(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL, 0644);
    if (fd >= 0 || errno != EEXIST)
      return fd;
  }
  return -1;
}

// Gives the finished temporary the name `path`; fails with EEXIST if that name exists.
bool link_into_place(int fd, const std::string &tmp, const std::string &path) {
  if (!tmp.empty())
    return ::link(tmp.c_str(), path.c_str()) == 0;
  const std::string self = "/proc/self/fd/" + std::to_string(fd);
  return ::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) == 0;
}

Result<Arena> create_file(const std::string &path, const detail::Layout &l, const Options &o) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) { // cheap early answer; the link below is the real test
    errno = EEXIST;
    return sys_error(errc::file_exists, path, "create");
  }
  std::string tmp;
  const int fd = open_temporary(path, tmp);
  if (fd < 0)
    return sys_error(errc::io_error, path, "create a temporary file");
  auto fail = [&](Error e) {
    if (!tmp.empty())
      ::unlink(tmp.c_str());
    return e;
  };
  if (::ftruncate(fd, l.geometry.capacity) != 0) {
    Error e = sys_error(errc::io_error, path, "ftruncate");
    detail::close_file_descriptor(fd);
    return fail(std::move(e));
  }
  auto mapped =
      detail::FileBacking::map(fd, path, l.geometry.capacity, false, detail::map_hints(o));
  if (!mapped)
    return fail(mapped.error());
  std::byte *base = mapped->base();
  detail::write_header(base, l, o);
  if (Status s = mapped->flush(0, detail::kHeaderSize, false); !s)
    return fail(s.error());
  // Nobody can see the file yet: take the opener lock and count ourselves without joining.
  if (!ofd_lock(mapped->fd(), kOpenerByte, F_RDLCK, true))
    return fail(sys_error(errc::io_error, path, "lock"));
  detail::fetch_add_acq_rel(detail::RegionWords{base}.word(detail::hdr::open_count), 1);
  if (!link_into_place(mapped->fd(), tmp, path))
    return fail(sys_error(errno == EEXIST ? errc::file_exists : errc::io_error, path, "create"));
  if (!tmp.empty())
    ::unlink(tmp.c_str());
  return ArenaFactory::make(std::move(*mapped), base, false, l, o, path);
}

// ---- opening --------------------------------------------------------------------------------
// A read-write opener joins: validates the mutable words, recovers after a crash if it is
// alone, and counts itself (see the banner).
Result<RecoveryReport> join_file(const detail::FileBacking &f, detail::Geometry &g,
                                 const std::string &path) {
  RecoveryReport rep;
  const JoinLock join(f.fd(), true);
  if (!join.held() || !ofd_lock(f.fd(), kOpenerByte, F_RDLCK, true))
    return sys_error(errc::io_error, path, "lock");
  // A failed join drops the opener lock while it still holds the join lock: a reader that joins
  // next must not take this failed opener for a writer (it would make only the checks that hold
  // beside one). Left to the descriptor's close, the lock outlived the join lock, and a fork
  // child's copy of the descriptor kept it until the child's handler closed it (helper-54: 257
  // of 1446 read-only opens of a damaged file accepted while another thread forked). An unlock
  // through one descriptor drops the lock of the open file description, whoever shares it.
  struct DropOnFailure {
    int fd;
    bool joined = false;
    ~DropOnFailure() {
      if (!joined)
        ofd_lock(fd, kOpenerByte, F_UNLCK, false);
    }
  } opener{f.fd()};
  if (Status s = refresh_node_key(f.base(), g, path); !s)
    return s.error();
  detail::atomic_u64 &openers = detail::RegionWords{f.base()}.word(detail::hdr::open_count);
  const bool alone = ofd_lock(f.fd(), kOpenerByte, F_WRLCK, false);
  // Nothing is written before this.
  if (Status s = detail::validate_mutable_fields(f.base(), g, path, alone); !s)
    return s.error();
  if (alone) {
    // Acquire: see the last closer's writes.
    if (detail::load_acquire(openers) != 0) {
      // Recovery validates the lists itself before it writes anything.
      Result<RecoveryReport> r = detail::recover(f.base(), g, path);
      if (!r)
        return r;
      rep = *r;
      detail::store_release(openers, 0);
    } else if (Status s = validate_free_space(f.base(), g, path, false); !s) {
      return s.error();
    }
    detail::fetch_add_acq_rel(openers, 1);
    if (!ofd_lock(f.fd(), kOpenerByte, F_RDLCK, false)) // downgrade in place (OFD locks)
      return sys_error(errc::io_error, path, "lock");
  } else {
    detail::fetch_add_acq_rel(openers, 1);
  }
  opener.joined = true;
  return rep;
}

// A read-only opener validates the mutable words (consistently if no writer is live).
Status check_read_only(const detail::FileBacking &f, detail::Geometry &g, const std::string &path) {
  const JoinLock join(f.fd(), false);
  if (!join.held())
    return sys_error(errc::io_error, path, "lock");
  if (Status s = refresh_node_key(f.base(), g, path); !s)
    return s;
  if (opener_lock_held(f.fd()))
    return detail::validate_mutable_fields(f.base(), g, path, false);
  return check_alone(f.base(), g, path);
}

Result<Arena> open_existing(int fd, const std::string &path, const Options &o) {
  // Validate from a private copy of the header: nothing is mapped or written yet (but for a
  // grow the options ask for, after which everything is read and validated again).
  unsigned char header[detail::kHeaderSize] = {};
  Options stored;
  Result<detail::Layout> l = Error(errc::io_error, path);
  for (int pass = 0; pass < 2; ++pass) {
    struct stat st {};
    bool read = false;
    {
      // Shared join lock: a grow (which holds it exclusive) is never seen half done, its size
      // with the old header or the reverse.
      const JoinLock peek(fd, false);
      read = peek.held() && ::fstat(fd, &st) == 0 &&
             (static_cast<std::uint64_t>(st.st_size) < detail::kHeaderSize ||
              ::pread(fd, header, sizeof header, 0) == static_cast<ssize_t>(sizeof header));
    }
    if (!read) {
      Error e = sys_error(errc::io_error, path, "read header");
      detail::close_file_descriptor(fd);
      return e;
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    l = detail::validate_header(header, size, o, path, stored);
    // A grow checks thread_chunk against the capacity the file will have.
    const bool growing = l && pass == 0 && o.grow && o.capacity > l->geometry.capacity;
    Status wanted =
        l ? detail::check_thread_chunk(o, growing ? o.capacity : l->geometry.capacity) : Status{};
    if (l && wanted && o.checked && !stored.checked)
      wanted = Error(errc::checked_mismatch,
                     "options ask for checked mode, but the file was created unchecked (checked "
                     "mode needs bitmaps that only a new file can have)");
    if (!l || !wanted) {
      detail::close_file_descriptor(fd);
      if (!l)
        return l.error();
      return Error(wanted.code(), path + ": " + wanted.message());
    }
    if (pass == 1 || !o.grow || o.capacity <= l->geometry.capacity)
      break;
    if (Status s = detail::grow_file(fd, path, l->geometry, o); !s) {
      detail::close_file_descriptor(fd);
      return s.error();
    }
  }
  stored.open_mode = o.open_mode;
  stored.read_only = o.read_only;
  stored.thread_chunk = o.thread_chunk;
  stored.exact_sizes = o.exact_sizes;
  auto mapped =
      detail::FileBacking::map(fd, path, l->geometry.capacity, o.read_only, detail::map_hints(o));
  if (!mapped)
    return mapped.error();
  RecoveryReport rep;
  if (o.read_only) {
    if (Status s = check_read_only(*mapped, l->geometry, path); !s)
      return s.error();
  } else {
    Result<RecoveryReport> joined = join_file(*mapped, l->geometry, path);
    if (!joined)
      return joined.error();
    rep = *joined;
  }
  std::byte *base = mapped->base();
  Arena arena = ArenaFactory::make(std::move(*mapped), base, o.read_only, *l, stored, path);
  ArenaFactory::set_recovery(arena, rep);
  return arena;
}

bool valid_open_mode(OpenMode m) {
  return m == OpenMode::create_new || m == OpenMode::open_existing || m == OpenMode::open_or_create;
}

} // namespace

Result<Arena> Arena::open_file(const std::string &path, const Options &o) {
  if (!valid_open_mode(o.open_mode))
    return Error(errc::invalid_open_mode,
                 path + ": options: open_mode " +
                     std::to_string(static_cast<unsigned>(o.open_mode)) +
                     " is not create_new(0), open_existing(1) or open_or_create(2)");
  if (Status s = detail::check_option_values(o); !s)
    return Error(s.code(), path + ": " + s.message());
  if (Status s = detail::check_huge_pages(o, "file"); !s)
    return Error(s.code(), path + ": " + s.message());
  if (o.read_only && o.open_mode == OpenMode::create_new)
    return Error(errc::read_only, path + ": cannot create a new arena file read-only");
  if (o.open_mode != OpenMode::create_new) {
    const int fd = detail::open_file_descriptor(path.c_str(), (o.read_only ? O_RDONLY : O_RDWR));
    if (fd >= 0)
      return open_existing(fd, path, o);
    if (errno != ENOENT)
      return sys_error(errc::io_error, path, "open");
    if (o.open_mode == OpenMode::open_existing || o.read_only)
      return Error(errc::file_not_found, path + ": no such arena file");
  }
  Result<detail::Layout> l = detail::plan_layout(o);
  if (!l)
    return Error(l.code(), path + ": " + l.message());
  Result<Arena> created = create_file(path, *l, o);
  if (!created && created.code() == errc::file_exists && o.open_mode == OpenMode::open_or_create) {
    // Lost a creation race (another thread or process): open what the winner created.
    const int fd = detail::open_file_descriptor(path.c_str(), O_RDWR);
    if (fd < 0)
      return sys_error(errc::io_error, path, "open");
    return open_existing(fd, path, o);
  }
  return created;
}

Result<SalvageReport> Arena::salvage_file(const std::string &path) {
  Result<Options> o = file_options(path);
  if (!o)
    return o.error();
  const int fd = detail::open_file_descriptor(path.c_str(), O_RDWR);
  if (fd < 0)
    return sys_error(errno == ENOENT ? errc::file_not_found : errc::io_error, path, "open");
  unsigned char header[detail::kHeaderSize] = {};
  struct stat st {};
  if (::fstat(fd, &st) != 0 ||
      ::pread(fd, header, sizeof header, 0) != static_cast<ssize_t>(sizeof header)) {
    Error e = sys_error(errc::io_error, path, "read header");
    detail::close_file_descriptor(fd);
    return e;
  }
  Options stored;
  Result<detail::Layout> l =
      detail::validate_header(header, static_cast<std::uint64_t>(st.st_size), *o, path, stored);
  if (!l) {
    detail::close_file_descriptor(fd);
    return l.error();
  }
  auto mapped = detail::FileBacking::map(fd, path, l->geometry.capacity, false);
  if (!mapped)
    return mapped.error();
  const JoinLock join(mapped->fd(), true);
  if (!join.held() || !ofd_lock(mapped->fd(), kOpenerByte, F_WRLCK, false))
    return Error(errc::io_error, path + ": salvage: the file is in use by another opener");
  // A writer's reset() and close between the header read above and the lock (helper-26, by
  // reading): the lists are under the key the header holds now.
  if (Status s = refresh_node_key(mapped->base(), l->geometry, path); !s)
    return s.error();
  if (Status s = detail::validate_bump_word(mapped->base(), l->geometry, path); !s)
    return s.error();
  return detail::salvage_lists(mapped->base(), l->geometry, path);
}

Result<Options> Arena::file_options(const std::string &path) {
  const int fd = detail::open_file_descriptor(path.c_str(), O_RDONLY);
  if (fd < 0)
    return sys_error(errno == ENOENT ? errc::file_not_found : errc::io_error, path, "open");
  struct stat st {};
  unsigned char header[detail::kHeaderSize] = {};
  const bool sized = ::fstat(fd, &st) == 0;
  const auto size = sized ? static_cast<std::uint64_t>(st.st_size) : 0;
  const bool read = size >= detail::kHeaderSize &&
                    ::pread(fd, header, sizeof header, 0) == static_cast<ssize_t>(sizeof header);
  detail::close_file_descriptor(fd);
  if (!sized || (size >= detail::kHeaderSize && !read))
    return sys_error(errc::io_error, path, "read header");
  // Take the kind and user version from the file itself, so only those two go unchecked.
  Options probe;
  probe.freelist = static_cast<FreelistKind>(detail::get_le32(header + detail::hdr::freelist_kind));
  probe.user_version = detail::get_le16(header + detail::hdr::user_version);
  Options stored;
  Result<detail::Layout> l = detail::validate_header(header, size, probe, path, stored);
  if (!l)
    return l.error();
  return stored;
}

} // namespace lfarena
