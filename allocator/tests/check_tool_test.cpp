// check_tool_test.cpp -- the lfarena-check command-line tool on healthy, truncated, corrupted,
// newer-format and crashed files: exit status, message, --json, --repair, and that it never
// writes to a file unless asked to repair.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <lfarena/arena.hpp>
#include <lfarena/detail/chunk.hpp>
#include <lfarena/detail/header.hpp>
#include <lfarena/detail/tagged.hpp>

#include "opener_wait.hpp"

namespace {

using lfarena::Arena;
using lfarena::FreelistKind;
using lfarena::OpenMode;
using lfarena::Options;

struct ToolRun {
  int status = -1;
  std::string out;
};

ToolRun run_tool(const std::string &args) {
  ToolRun r;
  const std::string cmd = std::string(LFARENA_CHECK_TOOL) + " " + args + " 2>&1";
  FILE *p = ::popen(cmd.c_str(), "r");
  if (p == nullptr)
    return r;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr)
    r.out += buf;
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::vector<char> slurp(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void spit(const std::string &path, const std::vector<char> &bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

class CheckTool : public ::testing::Test {
protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "lfarena_check_tool_" + std::to_string(::getpid()) + ".arena";
    std::remove(path_.c_str());
    Options o;
    o.capacity = 64 << 10;
    o.freelist = FreelistKind::pessimistic;
    o.checked = true;
    o.user_version = 7;
    o.open_mode = OpenMode::create_new;
    auto a = Arena::open_file(path_, o);
    ASSERT_TRUE(a) << a.message();
    auto x = a->allocate(100), y = a->allocate(200), z = a->allocate(50);
    ASSERT_TRUE(x && y && z);
    ASSERT_TRUE(a->deallocate(y->offset, y->size)); // one free segment of 200
    first_free_ = y->offset;
  }
  void TearDown() override { std::remove(path_.c_str()); }
  std::string path_;
  std::uint32_t first_free_ = 0;
};

TEST_F(CheckTool, HealthyFilePrintsHeaderAndExitsZero) {
  const auto before = slurp(path_);
  const ToolRun r = run_tool(path_);
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("ok"), std::string::npos);
  EXPECT_NE(
      r.out.find("lfarena v4, freelist pessimistic, size-indexed, checked mode, user version 7"),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("200 bytes in 1 segments"), std::string::npos) << r.out;
  EXPECT_EQ(slurp(path_), before) << "a read-only check wrote to the file";
}

TEST_F(CheckTool, JsonReportsTheCounters) {
  const ToolRun r = run_tool("--json " + path_);
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("\"ok\": true"), std::string::npos) << r.out;
  EXPECT_NE(
      r.out.find("\"format_version\": 4, \"freelist\": \"pessimistic\", \"size_index\": true"),
      std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\"free_bytes\": 200"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"live_bytes\": 160"), std::string::npos) << r.out; // 104 + 56
}

TEST_F(CheckTool, TruncatedFileIsDamage) {
  auto bytes = slurp(path_);
  bytes.resize(bytes.size() - 1);
  spit(path_, bytes);
  const ToolRun r = run_tool(path_);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("file_truncated"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(path_), std::string::npos) << r.out;
  EXPECT_EQ(slurp(path_), bytes);
}

TEST_F(CheckTool, ChecksumMismatchIsDamage) {
  auto bytes = slurp(path_);
  bytes[lfarena::detail::hdr::capacity + 1] ^= 0x10; // an immutable field, not re-checksummed
  spit(path_, bytes);
  const ToolRun r = run_tool("--json " + path_);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("\"error\": \"checksum_mismatch\""), std::string::npos) << r.out;
  EXPECT_EQ(slurp(path_), bytes);
}

TEST_F(CheckTool, NewerFormatIsReported) {
  auto bytes = slurp(path_);
  bytes[lfarena::detail::hdr::format_version] = lfarena::detail::kFormatVersion + 1;
  spit(path_, bytes);
  const ToolRun r = run_tool(path_);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("unsupported_version"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("newer"), std::string::npos) << r.out;
}

TEST_F(CheckTool, MissingFileIsAnIoError) {
  const ToolRun r = run_tool(path_ + ".missing");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("file_not_found"), std::string::npos) << r.out;
}

TEST_F(CheckTool, CrashLeftoversAreReportedThenRepaired) {
  // What a process killed between mark and unlink leaves: the node marked, the opener counted.
  auto bytes = slurp(path_);
  auto *node = reinterpret_cast<unsigned char *>(bytes.data()) + first_free_;
  // Free-node link words are stored xor the file's node key (lfarena/detail/node.hpp).
  const std::uint64_t key = lfarena::detail::get_le64(
      reinterpret_cast<unsigned char *>(bytes.data()) + lfarena::detail::hdr::node_key);
  const lfarena::detail::Link link{lfarena::detail::get_le64(node) ^ key};
  lfarena::detail::put_le64(node, link.with_mark().raw ^ key);
  lfarena::detail::put_le64(
      reinterpret_cast<unsigned char *>(bytes.data()) + lfarena::detail::hdr::open_count, 1);
  spit(path_, bytes);

  // Not damage: the next read-write open recovers it. The check says so, and what it will do
  // (before the read-only check ran recovery on a private copy it called this corrupt_freelist).
  const ToolRun check = run_tool(path_);
  EXPECT_EQ(check.status, 0) << check.out;
  EXPECT_NE(check.out.find("pending"), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("1 nodes unmarked"), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("200 bytes in 1 segments"), std::string::npos) << check.out;
  EXPECT_EQ(slurp(path_), bytes) << "only --repair may write";
  const ToolRun json = run_tool("--json " + path_);
  EXPECT_NE(json.out.find("\"recovery_pending\": true"), std::string::npos) << json.out;

  const ToolRun repair = run_tool("--repair " + path_);
  EXPECT_EQ(repair.status, 0) << repair.out;
  EXPECT_NE(repair.out.find("1 nodes unmarked"), std::string::npos) << repair.out;
  const ToolRun again = run_tool(path_);
  EXPECT_EQ(again.status, 0) << again.out;
  EXPECT_NE(again.out.find("200 bytes in 1 segments"), std::string::npos) << again.out;
  EXPECT_EQ(again.out.find("pending"), std::string::npos) << again.out;
}

// The line of `out` that starts with `label` (after the indent), or "" if none.
std::string line_of(const std::string &out, const std::string &label) {
  const std::size_t at = out.find("  " + label);
  return at == std::string::npos ? "" : out.substr(at, out.find('\n', at) - at);
}

// Options for a new file at `path` (removed first) with 4 KiB thread chunks.
Options chunked(const std::string &path, std::uint32_t capacity, lfarena::FreelistKind kind,
                bool checked) {
  std::remove(path.c_str());
  Options o;
  o.capacity = capacity;
  o.freelist = kind;
  o.checked = checked;
  o.thread_chunk = 4096;
  o.open_mode = lfarena::OpenMode::open_or_create;
  return o;
}

// A writer that died holding a thread chunk: the tool reports the file as its recovery will
// leave it, every number included (helper-27: allocated, discarded and leaked came from the
// file as it was, live and free from the recovered copy, so they did not add up).
TEST_F(CheckTool, CrashedFileNumbersAreTheRecoveredFiles) {
  const std::string path = path_ + ".chunks";
  const Options o = chunked(path, 64 << 10, lfarena::FreelistKind::pessimistic, true);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto a = Arena::open_file(path, o);
    ::_exit(a && a->allocate(64) ? 0 : 1); // dies holding its chunk's tail and its open count
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // The tool foresees the recovery only once the dead child's lock is gone, which may be
  // after waitpid() (opener_wait.hpp).
  ASSERT_TRUE(lfarena_test::wait_until_no_opener(path)) << std::strerror(errno);
  const ToolRun check = run_tool(path);
  EXPECT_EQ(check.status, 0) << check.out;
  EXPECT_NE(check.out.find("pending"), std::string::npos) << check.out;
  const ToolRun repair = run_tool("--repair " + path);
  EXPECT_EQ(repair.status, 0) << repair.out;
  for (const char *label : {"allocated", "live", "free", "discarded"})
    EXPECT_EQ(line_of(check.out, label), line_of(repair.out, label))
        << label << ": the read-only report and the recovered file disagree\n"
        << check.out << repair.out;
  EXPECT_NE(line_of(check.out, "discarded").find("leaked by crashes: 4032"), std::string::npos)
      << check.out;
  std::remove(path.c_str());
}

// The first number on the line of `label`.
std::uint64_t number_of(const std::string &out, const std::string &label) {
  const std::string line = line_of(out, label);
  const std::size_t at = line.find_first_of("0123456789");
  return at == std::string::npos ? ~std::uint64_t{0} : std::stoull(line.substr(at));
}

// Thread-chunk slots hold bytes too (a segregated file keeps each slot's free cache block):
// the tool shows them, so that its numbers add up (helper-28: 1024 bytes were missing, and the
// unchecked "live" said it was allocated - free - discarded).
TEST_F(CheckTool, ItsNumbersAddUpWithThreadChunksAndCaches) {
  const std::string path = path_ + ".cached";
  const Options o = chunked(path, 1 << 20, lfarena::FreelistKind::segregated, false);
  {
    auto a = Arena::open_file(path, o);
    ASSERT_TRUE(a) << a.message();
    for (int i = 0; i < 100; ++i) {
      auto b = a->allocate(48);
      ASSERT_TRUE(b);
      if (i % 3 == 0) {
        ASSERT_TRUE(a->deallocate(b->offset, b->size));
      }
    }
  }
  const ToolRun r = run_tool(path);
  ASSERT_EQ(r.status, 0) << r.out;
  const std::uint64_t reserved = number_of(r.out, "reserved");
  EXPECT_GT(reserved, 0u) << r.out;
  EXPECT_EQ(number_of(r.out, "allocated"), number_of(r.out, "live") + number_of(r.out, "free") +
                                               number_of(r.out, "discarded") + reserved)
      << r.out;
  std::remove(path.c_str());
}

// A write into a freed block of a closed file: reported as damage, salvaged by --repair.
TEST_F(CheckTool, DamagedFreeListIsSalvagedByRepair) {
  auto bytes = slurp(path_);
  std::memset(bytes.data() + first_free_, 0, 16); // zeros over the free node
  spit(path_, bytes);

  const ToolRun check = run_tool(path_);
  EXPECT_EQ(check.status, 1) << check.out;
  EXPECT_NE(check.out.find("corrupt_freelist"), std::string::npos) << check.out;
  EXPECT_NE(check.out.find(std::to_string(first_free_)), std::string::npos) << check.out;
  EXPECT_EQ(slurp(path_), bytes) << "only --repair may write";

  const ToolRun repair = run_tool("--repair " + path_);
  EXPECT_EQ(repair.status, 0) << repair.out;
  EXPECT_NE(repair.out.find("salvaged"), std::string::npos) << repair.out;
  EXPECT_NE(repair.out.find("1 lists cut"), std::string::npos) << repair.out;
  const ToolRun again = run_tool(path_);
  EXPECT_EQ(again.status, 0) << again.out;
  EXPECT_NE(again.out.find("0 bytes in 0 segments"), std::string::npos) << again.out;
}

// The bump word lowered to the free segment (a live block above it): the list head is then out
// of range, and --repair neither salvaged that error nor could salvage repair the bump word
// (the file stayed unopenable). It now raises the bump offset back and says so.
TEST_F(CheckTool, LoweredBumpWordIsRaisedByRepair) {
  auto bytes = slurp(path_);
  auto *image = reinterpret_cast<unsigned char *>(bytes.data());
  const std::uint64_t bump = lfarena::detail::get_le64(image + lfarena::detail::hdr::bump);
  lfarena::detail::put_le64(image + lfarena::detail::hdr::bump, first_free_);
  spit(path_, bytes);

  const ToolRun check = run_tool(path_);
  EXPECT_EQ(check.status, 1) << check.out;
  EXPECT_NE(check.out.find("freelist_head_out_of_range"), std::string::npos) << check.out;

  const ToolRun repair = run_tool("--repair " + path_);
  EXPECT_EQ(repair.status, 0) << repair.out;
  EXPECT_NE(
      repair.out.find("raised from " + std::to_string(first_free_) + " to " + std::to_string(bump)),
      std::string::npos)
      << repair.out;
  const ToolRun again = run_tool(path_);
  EXPECT_EQ(again.status, 0) << again.out;
  EXPECT_NE(again.out.find("200 bytes in 1 segments"), std::string::npos) << again.out;
}

// The bump word raised by one flipped bit: the file opens (nothing is marked above the bump),
// then check() fails (accounting_mismatch), and --repair exited 1: it salvaged only when the
// open failed (helper-33). It now salvages: the 4096 bytes are counted as leaked.
TEST_F(CheckTool, RaisedBumpWordFailsCheckAndIsSalvagedByRepair) {
  auto bytes = slurp(path_);
  auto *image = reinterpret_cast<unsigned char *>(bytes.data());
  const std::uint64_t bump = lfarena::detail::get_le64(image + lfarena::detail::hdr::bump);
  lfarena::detail::put_le64(image + lfarena::detail::hdr::bump, bump + 4096);
  spit(path_, bytes);

  const ToolRun check = run_tool(path_);
  EXPECT_EQ(check.status, 1) << check.out;
  EXPECT_NE(check.out.find("accounting_mismatch"), std::string::npos) << check.out;

  const ToolRun repair = run_tool("--repair " + path_);
  EXPECT_EQ(repair.status, 0) << repair.out;
  EXPECT_NE(repair.out.find("salvaged"), std::string::npos) << repair.out;
  EXPECT_NE(repair.out.find("leaked"), std::string::npos) << repair.out;
  const ToolRun again = run_tool(path_);
  EXPECT_EQ(again.status, 0) << again.out;
  EXPECT_NE(again.out.find("200 bytes in 1 segments"), std::string::npos) << again.out;
}

// A damaged thread-chunk slot (a free slot holding a tail over a live block) is refused with
// accounting_mismatch; --repair clears it (it used to exit 1: it salvaged corrupt_freelist only).
TEST_F(CheckTool, DamagedSlotIsClearedByRepair) {
  auto bytes = slurp(path_);
  const std::uint32_t slot = lfarena::detail::slot_owner_at(3);
  lfarena::detail::put_le64(reinterpret_cast<unsigned char *>(bytes.data()) + slot + 8,
                            first_free_ | std::uint64_t{first_free_ + 200} << 32);
  spit(path_, bytes);

  const ToolRun check = run_tool(path_);
  EXPECT_EQ(check.status, 1) << check.out;
  EXPECT_NE(check.out.find("accounting_mismatch"), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("slot 3"), std::string::npos) << check.out;
  EXPECT_EQ(slurp(path_), bytes) << "only --repair may write";

  const ToolRun repair = run_tool("--repair " + path_);
  EXPECT_EQ(repair.status, 0) << repair.out;
  EXPECT_NE(repair.out.find("salvaged"), std::string::npos) << repair.out;
  EXPECT_NE(repair.out.find("slots cleared 1"), std::string::npos) << repair.out;
  const ToolRun again = run_tool(path_);
  EXPECT_EQ(again.status, 0) << again.out;
}

TEST_F(CheckTool, UsageErrors) {
  EXPECT_EQ(run_tool("").status, 2);
  EXPECT_EQ(run_tool("--bogus " + path_).status, 2);
  EXPECT_EQ(run_tool("--help").status, 0);
}

} // namespace
