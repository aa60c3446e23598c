// lfarena/detail/backing.hpp -- where a region lives: heap buffer, anonymous mmap, file mmap.
//
// A backing is a small compile-time interface (the `Backing` concept): base(), size(),
// read_only(), flush(offset, length, async) and release(). Nothing above the arena's assembly
// code (src/arena.cpp) knows which one it has. Every base is page aligned (4096), which is what
// lets allocation alignment (at most 4096) hold for absolute addresses.
//
// Thread-safety: a backing is created and released by one thread; base()/size()/read_only() are
// immutable afterwards; flush() may be called concurrently (msync is thread-safe).
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>

#include "lfarena/error.hpp"

namespace lfarena::detail {

inline constexpr std::size_t kPageSize = 4096;

// How a backing maps its memory (Options::populate and Options::huge_pages, translated by the
// factories in src/: this layer does not see Options).
struct MapHints {
  bool populate = false;         // MAP_POPULATE (+ MADV_WILLNEED for files)
  bool transparent_huge = false; // madvise(MADV_HUGEPAGE), a hint
  bool hugetlb = false;          // MAP_HUGETLB (anonymous only)
};

template <class B>
concept Backing = requires(B &b, const B &cb, std::uint32_t off, std::uint32_t len, bool async) {
  { cb.base() } -> std::same_as<std::byte *>;
  { cb.size() } -> std::same_as<std::uint32_t>;
  { cb.read_only() } -> std::same_as<bool>;
  { b.flush(off, len, async) } -> std::same_as<Status>;
  b.release();
};

// A zeroed, page-aligned heap buffer.
class HeapBacking {
public:
  static Result<HeapBacking> create(std::uint32_t size, MapHints hints = {});
  HeapBacking() = default;
  HeapBacking(HeapBacking &&o) noexcept { *this = std::move(o); }
  HeapBacking &operator=(HeapBacking &&o) noexcept;
  ~HeapBacking() { release(); }
  std::byte *base() const { return base_; }
  std::uint32_t size() const { return size_; }
  bool read_only() const { return false; }
  Status flush(std::uint32_t, std::uint32_t, bool) { return {}; }
  void release();

private:
  std::byte *base_ = nullptr;
  std::uint32_t size_ = 0;
};

// A private anonymous mapping (zero pages on first touch).
class AnonymousBacking {
public:
  static Result<AnonymousBacking> create(std::uint32_t size, MapHints hints = {});
  AnonymousBacking() = default;
  AnonymousBacking(AnonymousBacking &&o) noexcept { *this = std::move(o); }
  AnonymousBacking &operator=(AnonymousBacking &&o) noexcept;
  ~AnonymousBacking() { release(); }
  std::byte *base() const { return base_; }
  std::uint32_t size() const { return size_; }
  bool read_only() const { return false; }
  Status flush(std::uint32_t, std::uint32_t, bool) { return {}; }
  void release();

private:
  std::byte *base_ = nullptr;
  std::uint32_t size_ = 0;
  std::size_t mapped_ = 0; // the mapping's length (a multiple of the huge page size for hugetlb)
};

// A MAP_SHARED mapping of a whole file. Opening and validation are src/file_open.cpp's and
// src/format.cpp's; this class only maps, syncs and unmaps.
class FileBacking {
public:
  // Maps `size` bytes of the already open `fd` (takes ownership of fd).
  static Result<FileBacking> map(int fd, std::string path, std::uint32_t size, bool read_only,
                                 MapHints hints = {});
  FileBacking() = default;
  FileBacking(FileBacking &&o) noexcept { *this = std::move(o); }
  FileBacking &operator=(FileBacking &&o) noexcept;
  ~FileBacking() { release(); }
  std::byte *base() const { return base_; }
  std::uint32_t size() const { return size_; }
  bool read_only() const { return read_only_; }
  const std::string &path() const { return path_; }
  int fd() const { return fd_; }
  // msync of the pages covering [offset, offset+length) (MS_SYNC, or MS_ASYNC if async).
  Status flush(std::uint32_t offset, std::uint32_t length, bool async);
  // Syncs (read-write), unmaps and closes.
  void release();

private:
  std::byte *base_ = nullptr;
  std::uint32_t size_ = 0;
  int fd_ = -1;
  bool read_only_ = false;
  std::string path_;
};

static_assert(Backing<HeapBacking> && Backing<AnonymousBacking> && Backing<FileBacking>);

} // namespace lfarena::detail
