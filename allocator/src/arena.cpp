// arena.cpp -- assembling an arena: backings + header + core; files opened with validation
// before any byte is written or any data page touched. Also the non-hot Arena members.
//
// Thread-safety: factories are independent; members follow arena.hpp's contract.
#include "lfarena/arena.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "format.hpp"
#include "recovery.hpp"

namespace lfarena {

struct ArenaFactory {
  static Arena make(detail::AnyBacking backing, std::byte *base, bool read_only,
                    const detail::Layout &l, const Options &o, std::string name) {
    return Arena(std::make_shared<detail::ArenaState>(std::move(backing), base, read_only,
                                                      l.geometry, o, std::move(name)));
  }
  static void set_recovery(Arena &a, const RecoveryReport &r) { a.state_->recovery = r; }
};

namespace detail {

namespace {
std::atomic<std::uint64_t> g_next_arena_id{1};
} // namespace

ArenaState::ArenaState(AnyBacking b, std::byte *base_, bool ro, const Geometry &g, Options o,
                       std::string n)
    : backing(std::move(b)), base(base_), read_only(ro), core(RegionWords{base_}, g), options(o),
      name(std::move(n)), id(g_next_arena_id.fetch_add(1, std::memory_order_relaxed)),
      chunk_size(o.thread_chunk), fast_size_limit(ro ? 0 : g.capacity & ~(kGranule - 1)),
      fast_align_limit(ro ? 0 : g.max_alignment), chunk_limit(ro ? 0 : o.thread_chunk / 4) {}

ArenaState::~ArenaState() {
  if (read_only)
    return;
  // Our threads' chunk tails go back (threads that still cache this arena can no longer reach
  // it: their weak references are expired and arena ids are never reused).
  release_process_chunks(*this);
  // A clean close of a read-write file: uncount ourselves (acq_rel: all our writes to the
  // mapping come before the count drops), then the backing syncs, unmaps and closes the fd,
  // which drops our liveness lock (recovery.hpp).
  if (std::holds_alternative<FileBacking>(backing))
    fetch_add_acq_rel(RegionWords{base}.word(hdr::open_count), ~std::uint64_t{0});
}

Error core_error(const ArenaState &s, errc code, const char *op, std::uint64_t a, std::uint64_t b) {
  const std::string A = std::to_string(a), B = std::to_string(b);
  const Geometry &g = s.core.geometry();
  std::string what;
  switch (code) {
  case errc::zero_size:
    what = "size is 0";
    break;
  case errc::size_overflow:
    what = "size " + A + " with alignment " + B + " exceeds the capacity " +
           std::to_string(g.capacity);
    break;
  case errc::bad_alignment:
    what = "alignment " + B + " is not a power of two <= max_alignment " +
           std::to_string(g.max_alignment);
    break;
  case errc::out_of_memory:
    what = "no room for " + A + " bytes at alignment " + B + " (bump offset " +
           std::to_string(s.core.top()) + " of capacity " + std::to_string(g.capacity) + ")";
    break;
  case errc::null_offset:
    what = "offset 0 is the null handle";
    break;
  case errc::offset_out_of_range:
    what = "block [" + A + ", " + A + "+" + B + ") is outside the allocated range [" +
           std::to_string(g.data_offset) + ", " + std::to_string(s.core.top()) + ")";
    break;
  case errc::not_block_start:
    what = "offset " + A + " is not the start of a live block";
    break;
  case errc::double_free:
    what = "block at offset " + A + " was already freed";
    break;
  case errc::wrong_size:
    what = "size " + B + " is not the size of the block at offset " + A;
    break;
  default:
    what = "failed (" + A + ", " + B + ")";
    break;
  }
  return Error(code, s.name + ": " + op + ": " + what);
}

} // namespace detail

namespace {

template <class B>
Result<Arena> fresh(Result<B> backing, const detail::Layout &l, const Options &o,
                    const char *name) {
  if (!backing)
    return backing.error();
  std::byte *base = backing->base();
  detail::write_header(base, l, o);
  return ArenaFactory::make(std::move(*backing), base, false, l, o, name);
}

Error sys_error(errc code, const std::string &path, const char *what) {
  return Error(code, path + ": " + what + ": " + std::strerror(errno));
}

// Builds the whole arena file under a temporary name and links it into place only when its
// header is complete, so a concurrent opener never sees a half-written file: it finds either no
// file or a valid one (link() fails with EEXIST instead of replacing a file created meanwhile).
Result<Arena> create_file(const std::string &path, const detail::Layout &l, const Options &o) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) { // cheap early answer; link() below is the real test
    errno = EEXIST;
    return sys_error(errc::file_exists, path, "create");
  }
  const std::string tmp = path + ".creating." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return sys_error(errc::io_error, tmp, "create");
  auto fail = [&](Error e) {
    ::unlink(tmp.c_str());
    return e;
  };
  if (::ftruncate(fd, l.geometry.capacity) != 0) {
    Error e = sys_error(errc::io_error, path, "ftruncate");
    ::close(fd);
    return fail(std::move(e));
  }
  auto mapped = detail::FileBacking::map(fd, path, l.geometry.capacity, false);
  if (!mapped)
    return fail(mapped.error());
  std::byte *base = mapped->base();
  detail::write_header(base, l, o);
  if (Status s = mapped->flush(0, detail::kHeaderSize, false); !s)
    return fail(s.error());
  if (!detail::lock_shared(mapped->fd()))
    return fail(sys_error(errc::io_error, path, "lock"));
  detail::fetch_add_acq_rel(detail::RegionWords{base}.word(detail::hdr::open_count), 1);
  if (::link(tmp.c_str(), path.c_str()) != 0)
    return fail(sys_error(errno == EEXIST ? errc::file_exists : errc::io_error, path, "create"));
  ::unlink(tmp.c_str());
  return ArenaFactory::make(std::move(*mapped), base, false, l, o, path);
}

// Counts us as a read-write opener; if we are the only live one and an earlier opener died
// without closing, runs the recovery pass first (recovery.hpp).
Result<RecoveryReport> join_file(const detail::FileBacking &f, const detail::Geometry &g,
                                 const std::string &path) {
  RecoveryReport rep;
  if (!detail::lock_shared(f.fd()))
    return sys_error(errc::io_error, path, "lock");
  detail::atomic_u64 &openers = detail::RegionWords{f.base()}.word(detail::hdr::open_count);
  if (detail::try_lock_exclusive(f.fd())) {
    // Alone: nobody can be allocating, so the class heads can be checked against the bump
    // offset (with live openers a head may pass the bump value read a moment before: a
    // healthy file would be refused). Nothing is written before this.
    if (Status s = detail::validate_class_heads(f.base(), g, path); !s)
      return s.error();
    // Acquire: see the last closer's writes.
    if (detail::load_acquire(openers) != 0) {
      Result<RecoveryReport> r = detail::recover(f.base(), g, path);
      if (!r)
        return r;
      rep = *r;
      detail::store_release(openers, 0);
    }
    detail::fetch_add_acq_rel(openers, 1);
    if (!detail::downgrade_to_shared(f.fd()))
      return sys_error(errc::io_error, path, "lock");
  } else {
    detail::fetch_add_acq_rel(openers, 1);
  }
  return rep;
}

Result<Arena> open_existing(int fd, const std::string &path, const Options &o) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    Error e = sys_error(errc::io_error, path, "fstat");
    ::close(fd);
    return e;
  }
  // Validate from a private copy of the header: nothing is mapped or written yet.
  unsigned char header[detail::kHeaderSize] = {};
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size >= detail::kHeaderSize &&
      ::pread(fd, header, sizeof header, 0) != static_cast<ssize_t>(sizeof header)) {
    Error e = sys_error(errc::io_error, path, "read header");
    ::close(fd);
    return e;
  }
  Options stored;
  Result<detail::Layout> l = detail::validate_header(header, size, o, path, stored);
  if (!l) {
    ::close(fd);
    return l.error();
  }
  stored.open_mode = o.open_mode;
  stored.read_only = o.read_only;
  auto mapped = detail::FileBacking::map(fd, path, l->geometry.capacity, o.read_only);
  if (!mapped)
    return mapped.error();
  RecoveryReport rep;
  if (!o.read_only) {
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

} // namespace

Result<Arena> Arena::heap(const Options &o) {
  Result<detail::Layout> l = detail::plan_layout(o);
  if (!l)
    return l.error();
  return fresh(detail::HeapBacking::create(o.capacity), *l, o, "heap");
}

Result<Arena> Arena::anonymous(const Options &o) {
  Result<detail::Layout> l = detail::plan_layout(o);
  if (!l)
    return l.error();
  return fresh(detail::AnonymousBacking::create(o.capacity), *l, o, "anonymous");
}

Result<Arena> Arena::open_file(const std::string &path, const Options &o) {
  if (o.read_only && o.open_mode == OpenMode::create_new)
    return Error(errc::read_only, path + ": cannot create a new arena file read-only");
  if (o.open_mode != OpenMode::create_new) {
    const int fd = ::open(path.c_str(), (o.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
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
    // Lost a creation race with another process: open what it created.
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0)
      return sys_error(errc::io_error, path, "open");
    return open_existing(fd, path, o);
  }
  return created;
}

Result<Options> Arena::file_options(const std::string &path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return sys_error(errno == ENOENT ? errc::file_not_found : errc::io_error, path, "open");
  struct stat st {};
  unsigned char header[detail::kHeaderSize] = {};
  const bool sized = ::fstat(fd, &st) == 0;
  const auto size = sized ? static_cast<std::uint64_t>(st.st_size) : 0;
  const bool read = size >= detail::kHeaderSize &&
                    ::pread(fd, header, sizeof header, 0) == static_cast<ssize_t>(sizeof header);
  ::close(fd);
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

Result<Block> Arena::allocate_slow(std::uint32_t size, std::uint32_t align) const {
  detail::ArenaState &s = *state_;
  if (s.read_only)
    return read_only_error("allocate");
  if (s.chunk_size != 0 && size - 1 < s.chunk_limit && align != 0 && (align & (align - 1)) == 0 &&
      align <= s.core.geometry().max_alignment) {
    Block b;
    if (detail::chunk_refill_allocate(s, size, align, b.offset, b.size))
      return b;
  }
  detail::RawBlock b;
  if (errc e = s.core.allocate(size, align, b); e != errc::ok)
    return detail::core_error(s, e, "allocate", size, align);
  return Block{b.offset, b.size};
}

Error Arena::read_only_error(const char *op) const {
  return Error(errc::read_only, state_->name + ": " + op + ": the arena is open read-only");
}

Result<std::span<std::byte>> Arena::bytes(std::uint32_t offset, std::uint32_t length) const {
  const auto &g = state_->core.geometry();
  if (offset < g.data_offset || std::uint64_t{offset} + length > g.capacity)
    return Error(errc::offset_out_of_range,
                 state_->name + ": bytes [" + std::to_string(offset) + ", +" +
                     std::to_string(length) + ") are outside the data area [" +
                     std::to_string(g.data_offset) + ", " + std::to_string(g.capacity) + ")");
  return std::span<std::byte>(state_->base + offset, length);
}

Result<std::uint32_t> Arena::offset_of(const void *p) const {
  const auto &g = state_->core.geometry();
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  const auto base = reinterpret_cast<std::uintptr_t>(state_->base);
  if (addr < base + g.data_offset || addr >= base + g.capacity)
    return Error(errc::offset_out_of_range,
                 state_->name + ": pointer is not inside the data area of this arena");
  return static_cast<std::uint32_t>(addr - base);
}

std::span<std::byte> Arena::user_area() const {
  const auto *h = reinterpret_cast<const unsigned char *>(state_->base);
  return {state_->base + detail::get_le32(h + detail::hdr::user_reserved_offset),
          detail::get_le32(h + detail::hdr::user_reserved_size)};
}

Stats Arena::stats() const {
  const auto &g = state_->core.geometry();
  const std::uint64_t top = state_->core.top();
  Stats s;
  s.capacity = g.capacity;
  s.data_offset = g.data_offset;
  s.allocated = top - g.data_offset;
  s.remaining = g.capacity - top;
  s.discarded = state_->core.discarded();
  s.handle_count = static_cast<std::uint64_t>(state_.use_count());
  s.leaked = detail::load_relaxed(detail::RegionWords{state_->base}.word(detail::hdr::leaked));
  return s;
}

Status Arena::flush() const { return flush_range(0, state_->core.geometry().capacity); }

Status Arena::flush_range(std::uint32_t offset, std::uint32_t length) const {
  return std::visit([&](auto &b) { return b.flush(offset, length, false); }, state_->backing);
}

Status Arena::flush_async() const {
  return std::visit([&](auto &b) { return b.flush(0, state_->core.geometry().capacity, true); },
                    state_->backing);
}

} // namespace lfarena
