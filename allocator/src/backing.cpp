// backing.cpp -- heap, anonymous-mmap and file-mmap backings (see detail/backing.hpp).
// Thread-safety: each backing is created and released by a single thread.
#include "lfarena/detail/backing.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace lfarena::detail {

namespace {
std::string sys_error(const char *what, const std::string &name, std::uint64_t n) {
  return std::string(what) + " of " + std::to_string(n) + " bytes for " + name +
         " failed: " + std::strerror(errno);
}
std::size_t page_round(std::uint32_t size) {
  return (std::size_t{size} + kPageSize - 1) / kPageSize * kPageSize;
}
} // namespace

// ---- heap ------------------------------------------------------------------------------------
Result<HeapBacking> HeapBacking::create(std::uint32_t size) {
  void *p = std::aligned_alloc(kPageSize, page_round(size));
  if (p == nullptr)
    return Error(errc::map_failed, sys_error("aligned_alloc", "heap arena", size));
  std::memset(p, 0, page_round(size));
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
Result<AnonymousBacking> AnonymousBacking::create(std::uint32_t size) {
  void *p =
      ::mmap(nullptr, page_round(size), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return Error(errc::map_failed, sys_error("mmap", "anonymous arena", size));
  AnonymousBacking b;
  b.base_ = static_cast<std::byte *>(p);
  b.size_ = size;
  return b;
}
AnonymousBacking &AnonymousBacking::operator=(AnonymousBacking &&o) noexcept {
  if (this != &o) {
    release();
    base_ = std::exchange(o.base_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}
void AnonymousBacking::release() {
  if (base_ != nullptr)
    ::munmap(base_, page_round(size_));
  base_ = nullptr;
  size_ = 0;
}

// ---- file --------------------------------------------------------------------------------
Result<FileBacking> FileBacking::map(int fd, std::string path, std::uint32_t size, bool read_only) {
  const int prot = read_only ? PROT_READ : PROT_READ | PROT_WRITE;
  void *p = ::mmap(nullptr, size, prot, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    Error e(errc::map_failed, sys_error("mmap", path, size));
    ::close(fd);
    return e;
  }
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
    ::munmap(base_, size_);
  }
  if (fd_ >= 0)
    ::close(fd_);
  base_ = nullptr;
  size_ = 0;
  fd_ = -1;
}

} // namespace lfarena::detail
