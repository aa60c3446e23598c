// fuzz/reopen_fuzz.cpp -- fuzz target `reopen`: the input is a whole arena file image.
//
// The image is written to a unique temporary file and opened with Arena::open_file
// (open_existing) read-write and read-only, once per freelist policy with the user version stored
// in the image, plus once with a different user version and once with a policy chosen from the
// image's last byte. Each open must end in
//  - a clean error, and then the file is byte-for-byte unchanged (reopen validates before it
//    writes anything, DESIGN.md promise 5), or
//  - a valid arena. check() then either fails cleanly (a damaged freelist or accounting is
//    reported, not followed) or passes; when it passes on the read-write handle, a few
//    allocations and frees run and check() must still pass. A read-only arena refuses mutation
//    with errc::read_only and the file stays unchanged.
// A crash, hang or sanitizer report is a finding. When the image's last byte has bit 7 set, the
// harness first rewrites the header checksum to match, so the fuzzer gets past it to the
// geometry validation.
//
// Seeds: `reopen_replay --make-seeds DIR` (or reopen_fuzz) writes valid images the library
// produced itself (capacity 6..9 KiB, each of the four policies, checked and unchecked, a few
// allocations and frees each) into DIR and exits; they live in fuzz/corpus/reopen/.
#include <lfarena/arena.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

using lfarena::Arena;
using lfarena::errc;
using lfarena::FreelistKind;
using lfarena::Options;

[[noreturn]] void fail(const char *what, const std::string &detail = {}) {
  std::fprintf(stderr, "reopen_fuzz: FAILURE: %s %s\n", what, detail.c_str());
  std::fflush(stderr);
  std::abort();
}

std::filesystem::path temp_dir() {
  std::error_code ec;
  if (std::filesystem::is_directory("/dev/shm", ec))
    return "/dev/shm";
  return std::filesystem::temp_directory_path(ec);
}

std::string temp_path(const char *what) {
  static std::atomic<unsigned> counter{0};
  return (temp_dir() / ("lfarena-" + std::string(what) + "-" + std::to_string(::getpid()) + "-" +
                        std::to_string(counter++) + ".arena"))
      .string();
}

void write_file(const std::string &path, const std::uint8_t *data, std::size_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    fail("cannot create", path);
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n <= 0)
      fail("cannot write", path);
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

std::vector<std::uint8_t> read_file(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail("cannot read back", path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void expect_unchanged(const std::string &path, const std::uint8_t *data, std::size_t size,
                      const char *when) {
  const std::vector<std::uint8_t> now = read_file(path);
  if (now.size() != size || (size != 0 && std::memcmp(now.data(), data, size) != 0)) {
    std::size_t at = 0;
    while (at < size && at < now.size() && now[at] == data[at])
      ++at;
    fail("file changed", std::string(when) + ": first difference at byte " + std::to_string(at) +
                             " (size " + std::to_string(size) + " -> " +
                             std::to_string(now.size()) + ")");
  }
}

// A few allocations and frees on an arena whose check() passed; check() must still pass.
void exercise(const Arena &a, std::uint8_t seed) {
  struct B {
    std::uint32_t off, size;
  };
  std::vector<B> held;
  static constexpr std::uint32_t sizes[] = {8, 24, 100, 16, 520, 40, 1000, 8};
  for (int i = 0; i < 8; ++i) {
    const std::uint32_t align = 8u << ((seed + i) % 4);
    lfarena::Result<lfarena::Block> r = a.allocate(sizes[(seed + i) % 8], align);
    if (!r) {
      if (r.code() != errc::out_of_memory && r.code() != errc::bad_alignment &&
          r.code() != errc::size_overflow)
        fail("allocate on a checked arena failed", r.message());
      continue;
    }
    if (r->offset % align != 0)
      fail("misaligned block", std::to_string(r->offset));
    if (r->offset < a.stats().data_offset ||
        std::uint64_t{r->offset} + r->size > a.stats().capacity)
      fail("block outside the data area", std::to_string(r->offset));
    for (const B &b : held)
      if (r->offset < b.off + b.size && b.off < r->offset + r->size)
        fail("overlapping blocks", std::to_string(r->offset) + " and " + std::to_string(b.off));
    std::memset(a.base() + r->offset, 0xA5, r->size);
    held.push_back({r->offset, r->size});
    if (i % 3 == 2) { // free the one before
      const B b = held[held.size() - 2];
      held.erase(held.end() - 2);
      if (lfarena::Status s = a.deallocate(b.off, b.size); !s)
        fail("freeing a block we were given failed", s.message());
    }
  }
  lfarena::Result<lfarena::CheckReport> c = a.check();
  if (!c)
    fail("check() failed after allocations on an arena that passed check()", c.message());
  for (const B &b : held)
    if (lfarena::Status s = a.deallocate(b.off, b.size); !s)
      fail("freeing a block we were given failed", s.message());
  c = a.check();
  if (!c)
    fail("check() failed after freeing everything", c.message());
}

void try_open(const std::string &path, const std::uint8_t *data, std::size_t size,
              FreelistKind kind, std::uint16_t user_version, bool read_only) {
  Options o;
  o.freelist = kind;
  o.user_version = user_version;
  o.open_mode = lfarena::OpenMode::open_existing;
  o.read_only = read_only;
  {
    lfarena::Result<Arena> r = Arena::open_file(path, o);
    if (!r) {
      if (r.message().find(path) == std::string::npos)
        fail("error message does not name the file", r.message());
      if (r.code() == errc::ok)
        fail("failed open without an error code");
      expect_unchanged(path, data, size, "after a failed open");
      return;
    }
    const Arena a = *r;
    if (a.read_only() != read_only)
      fail("read_only flag wrong");
    lfarena::Result<lfarena::CheckReport> c = a.check();
    if (read_only) {
      if (a.allocate(8).code() != errc::read_only)
        fail("read-only arena allowed allocate");
      if (a.deallocate(a.stats().data_offset, 8).code() != errc::read_only)
        fail("read-only arena allowed deallocate");
    } else if (c) {
      exercise(a, size ? data[size - 1] : 0);
    }
  }
  if (read_only)
    expect_unchanged(path, data, size, "after a read-only open");
  else
    write_file(path, data, size); // restore the image for the next open
}

// ---- seed generator ----------------------------------------------------------------------
void make_seeds(const char *dir) {
  std::filesystem::create_directories(dir);
  int n = 0;
  for (int kind = 0; kind < 4; ++kind) {
    for (int checked = 0; checked < 2; ++checked) {
      for (int variant = 0; variant < 2; ++variant) {
        const std::string tmp = temp_path("seed");
        Options o;
        o.capacity = variant == 0 ? 6144 : 8192 + 8 * 37;
        o.freelist = static_cast<FreelistKind>(kind);
        o.checked = checked != 0;
        o.min_segment = variant == 0 ? 16 : 48;
        o.max_alignment = variant == 0 ? 64 : 256;
        o.user_reserved = variant == 0 ? 0 : 40;
        o.user_version = static_cast<std::uint16_t>(variant * 7);
        o.open_mode = lfarena::OpenMode::create_new;
        {
          lfarena::Result<Arena> r = Arena::open_file(tmp, o);
          if (!r)
            fail("seed: create failed", r.message());
          const Arena a = *r;
          std::vector<lfarena::Block> blocks;
          static constexpr std::uint32_t sizes[] = {24, 100, 64, 300, 16, 200, 40, 128};
          for (std::uint32_t s : sizes) {
            lfarena::Result<lfarena::Block> b = a.allocate(s, s >= 128 ? 64 : 8);
            if (!b)
              fail("seed: allocate failed", b.message());
            std::memset(a.base() + b->offset, 0x5A, b->size);
            blocks.push_back(*b);
          }
          // Free some in the middle (freelist or discarded) and the last one (rollback).
          for (std::size_t i : {1u, 3u, 5u, 7u}) {
            if (lfarena::Status s = a.deallocate(blocks[i].offset, blocks[i].size); !s)
              fail("seed: free failed", s.message());
          }
          if (kind != 0) { // a reuse from the freelist, with a split
            lfarena::Result<lfarena::Block> b = a.allocate(a.stats().remaining + 8, 8);
            (void)b;
            lfarena::Result<lfarena::Block> c = a.allocate(32, 8);
            (void)c;
          }
          if (!a.check())
            fail("seed: check failed");
        }
        const std::vector<std::uint8_t> img = read_file(tmp);
        std::filesystem::remove(tmp);
        char name[64];
        static const char *const kinds[] = {"none", "optimistic", "pessimistic", "segregated"};
        std::snprintf(name, sizeof name, "/valid-%s-%s-%d.arena", kinds[kind],
                      checked ? "checked" : "unchecked", variant);
        write_file(std::string(dir) + name, img.data(), img.size());
        ++n;
      }
    }
  }
  std::printf("reopen: wrote %d seed images to %s\n", n, dir);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv) {
  for (int i = 1; i + 1 < *argc; ++i) {
    if (std::strcmp((*argv)[i], "--make-seeds") == 0) {
      make_seeds((*argv)[i + 1]);
      std::exit(0);
    }
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *input, std::size_t size) {
  // Checksum fix-up mode (the image's last byte has bit 7 set): the harness recomputes the
  // header checksum first, so mutations of the immutable fields reach the geometry checks behind
  // it instead of all ending at checksum_mismatch.
  std::vector<std::uint8_t> image(input, input + size);
  if (size >= lfarena::detail::kHeaderSize && (image[size - 1] & 0x80) != 0)
    lfarena::detail::put_le64(
        image.data() + lfarena::detail::hdr::checksum,
        lfarena::detail::header_checksum(
            image.data(),
            lfarena::detail::get_le32(image.data() + lfarena::detail::hdr::format_version)));
  const std::uint8_t *data = image.data();
  const std::string path = temp_path("reopen-fuzz");
  write_file(path, data, size);
  const std::uint16_t stored_uv =
      size >= 22 ? static_cast<std::uint16_t>(data[20] | data[21] << 8) : 0;
  for (int kind = 0; kind < 4; ++kind) {
    for (bool ro : {false, true})
      try_open(path, data, size, static_cast<FreelistKind>(kind), stored_uv, ro);
  }
  const std::uint8_t sel = size ? data[size - 1] : 0;
  try_open(path, data, size, static_cast<FreelistKind>(sel % 4),
           static_cast<std::uint16_t>(stored_uv + 1 + (sel >> 2)), (sel & 1) != 0);
  std::error_code ec;
  std::filesystem::remove(path, ec);
  return 0;
}
