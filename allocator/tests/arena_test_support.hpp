// arena_test_support.hpp -- small helpers shared by the Arena unit tests (not a test itself: the
// CMake glob only picks up *_test.cpp). A scratch directory per test, whole-file read/write, the
// three backings as a test parameter, and readable printing of lfarena::errc in failures.
//
// Thread-safety: none needed; every helper is used from the test's main thread.
#pragma once

#include <lfarena/arena.hpp>
#include <lfarena/detail/checked.hpp>
#include <lfarena/detail/header.hpp>
#include <lfarena/error.hpp>

#include <gtest/gtest.h>

#include <stdlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <string>
#include <vector>

namespace lfarena {
// gtest prints an errc (a uint8_t enum) as a raw byte otherwise.
inline void PrintTo(errc e, std::ostream *os) {
  *os << to_string(e) << " (" << static_cast<int>(e) << ")";
}
} // namespace lfarena

namespace lfarena_test {

// A fresh directory under testing::TempDir(), removed with everything in it on destruction.
class ScratchDir {
public:
  ScratchDir() {
    std::string tmpl = testing::TempDir();
    if (tmpl.empty() || tmpl.back() != '/')
      tmpl += '/';
    tmpl += "lfarena_test_XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr)
      ADD_FAILURE() << "mkdtemp(" << tmpl << ") failed";
    path_ = buf.data();
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir &) = delete;
  ScratchDir &operator=(const ScratchDir &) = delete;

  std::string file(const std::string &name) const { return path_ + "/" + name; }
  const std::string &path() const { return path_; }

private:
  std::string path_;
};

inline std::vector<unsigned char> read_all(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_all(const std::string &path, const std::vector<unsigned char> &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char *>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

enum class BackingKind { heap, anonymous, file };

inline std::string backing_name(BackingKind k) {
  switch (k) {
  case BackingKind::heap:
    return "Heap";
  case BackingKind::anonymous:
    return "Anonymous";
  case BackingKind::file:
    return "File";
  }
  return "Unknown";
}
inline void PrintTo(BackingKind k, std::ostream *os) { *os << backing_name(k); }

// Opens a fresh arena of kind `k`; file arenas are created as `dir`/`name` (create_new).
inline lfarena::Result<lfarena::Arena> make_arena(BackingKind k, lfarena::Options o,
                                                  const ScratchDir &dir,
                                                  const std::string &name = "arena.bin") {
  switch (k) {
  case BackingKind::heap:
    return lfarena::Arena::heap(o);
  case BackingKind::anonymous:
    return lfarena::Arena::anonymous(o);
  case BackingKind::file:
    o.open_mode = lfarena::OpenMode::create_new;
    return lfarena::Arena::open_file(dir.file(name), o);
  }
  return lfarena::Error(lfarena::errc::io_error, "unknown backing");
}

inline const BackingKind kAllBackings[] = {BackingKind::heap, BackingKind::anonymous,
                                           BackingKind::file};

// The policy's public name, for test names and traces.
inline std::string kind_name(lfarena::FreelistKind k) { return lfarena::to_string(k); }

// Writes `n` bytes into arena memory the way a buggy user would (ASan builds: the bytes are
// poisoned while free, so the test unpoisons them first, as only a test may).
inline void scribble(const lfarena::Arena &a, std::uint32_t offset, const void *bytes,
                     std::size_t n) {
#if defined(LFARENA_ASAN)
  ASAN_UNPOISON_MEMORY_REGION(a.base() + offset, n);
#endif
  std::memcpy(a.base() + offset, bytes, n);
}
inline void scribble64(const lfarena::Arena &a, std::uint32_t offset, std::uint64_t word) {
  scribble(a, offset, &word, 8);
}
inline std::uint64_t read64(const lfarena::Arena &a, std::uint32_t offset) {
#if defined(LFARENA_ASAN)
  ASAN_UNPOISON_MEMORY_REGION(a.base() + offset, 8);
#endif
  std::uint64_t w;
  std::memcpy(&w, a.base() + offset, 8);
  return w;
}

// Options of a checked file arena of `capacity` bytes, opened or created.
inline lfarena::Options checked_file(lfarena::FreelistKind kind, std::uint32_t capacity) {
  lfarena::Options o;
  o.capacity = capacity;
  o.freelist = kind;
  o.checked = true;
  o.open_mode = lfarena::OpenMode::open_or_create;
  return o;
}

// Granule states and end marks of the checked-mode bitmaps in a file image of a region of
// `capacity` bytes (layout: detail/checked.hpp): how tests write damage into them by hand.
struct Bitmaps {
  std::vector<unsigned char> &b;
  std::uint32_t capacity;
  std::uint32_t state_at = lfarena::detail::get_le32(&b[lfarena::detail::hdr::bitmap_offset]);
  std::uint32_t end_at = state_at + lfarena::detail::state_map_bytes(capacity);
  void set_state(std::uint32_t offset, unsigned st) {
    const std::uint32_t g = offset / 8;
    unsigned char &byte = b[state_at + g / 4];
    byte = static_cast<unsigned char>((byte & ~(3u << (g % 4 * 2))) | st << (g % 4 * 2));
  }
  void set_end(std::uint32_t offset_of_last_granule, bool on) {
    const std::uint32_t g = offset_of_last_granule / 8;
    unsigned char &byte = b[end_at + g / 8];
    byte = static_cast<unsigned char>(on ? byte | 1u << (g % 8) : byte & ~(1u << (g % 8)));
  }
};

} // namespace lfarena_test
