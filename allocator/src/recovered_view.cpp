// recovered_view.cpp -- a crashed file recovered on a private copy (see recovered_view.hpp).
#include "recovered_view.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "format.hpp"
#include "recovery.hpp"

#include "lfarena/detail/atomic.hpp"
#include "lfarena/detail/memory.hpp"

namespace lfarena::detail {

RecoveredView::~RecoveredView() {
  if (base_ != nullptr)
    ::munmap(base_, length_);
}

Status RecoveredView::open(const FileBacking &f, const Geometry &g, const std::string &path) {
  join_.emplace(f.fd(), false);
  if (!join_->held())
    return Error(errc::io_error, path + ": check: join lock: " + std::strerror(errno));
  // Acquire: the dead opener's last writes (the count is its own first and last write).
  const bool crashed =
      load_acquire(RegionWords{f.base()}.word(hdr::open_count)) != 0 && !opener_lock_held(f.fd());
  if (!crashed)
    return {};
  void *p = ::mmap(nullptr, f.size(), PROT_READ | PROT_WRITE, MAP_PRIVATE, f.fd(), 0);
  if (p == MAP_FAILED)
    return Error(errc::map_failed, path + ": check: a private copy of " + std::to_string(f.size()) +
                                       " bytes to recover: mmap: " + std::strerror(errno));
  base_ = static_cast<std::byte *>(p);
  length_ = f.size();
  geometry_ = g;
  // A reset() before the crash drew a new key (reset.cpp): the header's, if it checks out;
  // else the nodes are read under the key this opener validated, and their damage reported.
  if (const HeaderKey k = read_node_key(base_); g.node_key != 0 && k.valid())
    geometry_.node_key = k.key;
  Result<RecoveryReport> r = recover(base_, geometry_, path);
  if (!r)
    return Error(r.code(), r.message() +
                               " (check() of a read-only opener: the file was left by a read-write "
                               "opener that died, and this is how the crash recovery of the next "
                               "read-write open fails)");
  recovery_ = *r;
  return {};
}

} // namespace lfarena::detail
