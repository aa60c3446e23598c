// backing.cpp -- heap, anonymous-mmap and file-mmap backings (see detail/backing.hpp).
// Thread-safety: each backing is created and released by a single thread.
#include "lfarena/detail/backing.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#include "process.hpp"

namespace lfarena::detail {

namespace {
std::string sys_error(const char *what, const std::string &name, std::uint64_t n) {
  return std::string(what) + " of " + std::to_string(n) + " bytes for " + name +
         " failed: " + std::strerror(errno);
}
constexpr std::size_t kHugePage = 2u << 20; // the x86-64 transparent huge page

std::string read_first_line(const char *path) {
  std::FILE *f = std::fopen(path, "r");
  if (f == nullptr)
    return "unreadable";
  char buf[64] = {};
  const bool got = std::fgets(buf, sizeof buf, f) != nullptr;
  std::fclose(f);
  std::string s = got ? buf : "unreadable";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s;
}

// The default huge page size MAP_HUGETLB uses (/proc/meminfo Hugepagesize), 2 MiB if unknown.
std::size_t huge_page_size() {
  std::FILE *f = std::fopen("/proc/meminfo", "r");
  std::size_t kib = 0;
  if (f != nullptr) {
    char line[128];
    while (std::fgets(line, sizeof line, f) != nullptr)
      if (std::sscanf(line, "Hugepagesize: %zu kB", &kib) == 1)
        break;
    std::fclose(f);
  }
  return kib != 0 ? kib << 10 : kHugePage;
}
} // namespace

// ---- heap ------------------------------------------------------------------------------------
Result<HeapBacking> HeapBacking::create(std::uint32_t size, MapHints hints) {
  // Transparent huge pages need 2 MiB-aligned 2 MiB extents: align the buffer so (the hint is
  // then given before the zeroing touches the pages). The zeroing populates it anyway.
  const std::size_t align = hints.transparent_huge && size >= kHugePage ? kHugePage : kPageSize;
  const std::size_t bytes = (std::size_t{size} + align - 1) / align * align;
  void *p = std::aligned_alloc(align, bytes);
  if (p == nullptr)
    return Error(errc::map_failed, sys_error("aligned_alloc", "heap arena", size));
  if (hints.transparent_huge)
    (void)::madvise(p, bytes, MADV_HUGEPAGE); // a hint: without THP the buffer keeps small pages
  std::memset(p, 0, bytes);
  HeapBacking b;
  b.base_ = static_cast<std::byte *>(p);
  b.size_ = size;
  return b;
}
HeapBacking &HeapBacking::operator=(HeapBacking &&o) noexcept {
  if (this != &o) {
    release();
    base_ = std::exchange(o.base_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}
void HeapBacking::release() {
  std::free(base_);
  base_ = nullptr;
  size_ = 0;
}

// ---- anonymous ---------------------------------------------------------------------------
Result<AnonymousBacking> AnonymousBacking::create(std::uint32_t size, MapHints hints) {
  const std::size_t page = hints.hugetlb ? huge_page_size() : kPageSize;
  const std::size_t bytes = (std::size_t{size} + page - 1) / page * page;
  const int flags = MAP_PRIVATE | MAP_ANONYMOUS | (hints.populate ? MAP_POPULATE : 0) |
                    (hints.hugetlb ? MAP_HUGETLB : 0);
  void *p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (p == MAP_FAILED && hints.hugetlb)
    return Error(errc::map_failed, sys_error("mmap with MAP_HUGETLB", "anonymous arena", bytes) +
                                       " (huge_pages hugetlb needs reserved huge pages of " +
                                       std::to_string(page >> 10) +
                                       " KiB: /proc/sys/vm/nr_hugepages is " +
                                       read_first_line("/proc/sys/vm/nr_hugepages") +
                                       "; reserve more, or use HugePages::transparent)");
  if (p == MAP_FAILED)
    return Error(errc::map_failed, sys_error("mmap", "anonymous arena", size));
  if (hints.transparent_huge)
    (void)::madvise(p, bytes, MADV_HUGEPAGE); // a hint: without THP the region has small pages
  AnonymousBacking b;
  b.base_ = static_cast<std::byte *>(p);
  b.size_ = size;
  b.mapped_ = bytes;
  return b;
}
AnonymousBacking &AnonymousBacking::operator=(AnonymousBacking &&o) noexcept {
  if (this != &o) {
    release();
    base_ = std::exchange(o.base_, nullptr);
    size_ = std::exchange(o.size_, 0);
    mapped_ = std::exchange(o.mapped_, 0);
  }
  return *this;
}
void AnonymousBacking::release() {
  if (base_ != nullptr)
    ::munmap(base_, mapped_);
  base_ = nullptr;
  size_ = 0;
  mapped_ = 0;
}

// ---- file --------------------------------------------------------------------------------
Result<FileBacking> FileBacking::map(int fd, std::string path, std::uint32_t size, bool read_only,
                                     MapHints hints) {
  const int prot = read_only ? PROT_READ : PROT_READ | PROT_WRITE;
  // Not inherited by fork children until a registered arena owns it (process.hpp). No
  // MAP_POPULATE: map_file() holds the fork handlers' lock, and reading a big file in would
  // hold every fork and every other open meanwhile; the populate hint follows, outside it.
  void *p = map_file(fd, size, prot, MAP_SHARED);
  if (p == MAP_FAILED) {
    Error e(errc::map_failed, sys_error("mmap", path, size));
    close_file_descriptor(fd);
    return e;
  }
  // Hints: read the file in (what MAP_POPULATE does for a shared mapping: read faults; kernels
  // before 5.14 lack MADV_POPULATE_READ and only read ahead); huge pages where the file system
  // has them (tmpfs). None changes what the mapping holds, so a refusal is ignored.
  if (hints.populate) {
    (void)::madvise(p, size, MADV_WILLNEED);
#ifdef MADV_POPULATE_READ
    (void)::madvise(p, size, MADV_POPULATE_READ);
#endif
  }
  if (hints.transparent_huge)
    (void)::madvise(p, size, MADV_HUGEPAGE);
  FileBacking b;
  b.base_ = static_cast<std::byte *>(p);
  b.size_ = size;
  b.fd_ = fd;
  b.read_only_ = read_only;
  b.path_ = std::move(path);
  return b;
}
FileBacking &FileBacking::operator=(FileBacking &&o) noexcept {
  if (this != &o) {
    release();
    base_ = std::exchange(o.base_, nullptr);
    size_ = std::exchange(o.size_, 0);
    fd_ = std::exchange(o.fd_, -1);
    read_only_ = o.read_only_;
    path_ = std::move(o.path_);
  }
  return *this;
}
Status FileBacking::flush(std::uint32_t offset, std::uint32_t length, bool async) {
  if (read_only_ || base_ == nullptr)
    return {};
  const std::size_t first = offset / kPageSize * kPageSize;
  std::size_t end = std::size_t{offset} + length;
  if (end > size_)
    end = size_;
  if (end <= first)
    return {};
  if (::msync(base_ + first, end - first, async ? MS_ASYNC : MS_SYNC) != 0)
    return Error(errc::io_error, sys_error("msync", path_, end - first));
  return {};
}
void FileBacking::release() {
  if (base_ != nullptr) {
    if (!read_only_)
      ::msync(base_, size_, MS_SYNC);
    unmap_file(base_, size_);
  }
  if (fd_ >= 0)
    close_file_descriptor(fd_);
  base_ = nullptr;
  size_ = 0;
  fd_ = -1;
}

} // namespace lfarena::detail
