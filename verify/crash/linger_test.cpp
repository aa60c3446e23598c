// verify/crash/linger_test.cpp -- a killed opener whose last reference outlives waitpid().
//
// The kernel drops an opener's locks when the last reference to its open file description goes;
// its mapping is one. A task that holds the dead process's memory when it dies (a reader of its
// /proc files, khugepaged) drops that reference later, from its own context, so waitpid() can
// return while the opener lock is still held (crash_support.hpp: wait_until_no_opener()). The
// crash test then reopened a file that was not yet "alone": no recovery, and a read-only check()
// that foresaw none. Here a holder process makes that window as long as the test wants: a raw
// clone() of the opener (no fork handlers run, as none run for the kernel's late release) keeps a
// copy of its descriptors and mapping until the test lets it go.
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "crash_support.hpp"

namespace {

using lfarena::Arena;
using lfarena::FreelistKind;
using lfarena::OpenMode;
using lfarena::Options;
using namespace lfarena_crash;

Options linger_options(OpenMode mode) {
  Options o;
  o.capacity = 1 << 20;
  o.freelist = FreelistKind::segregated;
  o.thread_chunk = 4096;
  o.checked = true;
  o.open_mode = mode;
  return o;
}

// The opener: opens the file, takes a chunk (something for recovery to give back), makes its
// holder, says so, and waits to be killed.
[[noreturn]] void opener(const std::string &path, int release, int ready) {
  auto arena = Arena::open_file(path, linger_options(OpenMode::open_existing));
  if (!arena || !arena->allocate(64))
    ::_exit(2);
  // Raw system calls only in the holder: it is a copy of this process made behind the C
  // library's back (and the sanitizers' interceptors).
  const long holder = ::syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  if (holder == 0) {
    char c = 0;
    (void)::syscall(SYS_read, release, &c, 1); // end of file: the test let go
    ::syscall(SYS_exit_group, 0);
  }
  const char r = holder > 0 ? 'y' : 'n';
  if (::write(ready, &r, 1) != 1)
    ::_exit(3);
  for (;;)
    ::pause();
}

TEST(KilledOpenerLinger, RecoveryWaitsForTheLastReference) {
  const std::string path = temp_path("linger");
  ::unlink(path.c_str());
  { ASSERT_TRUE(Arena::open_file(path, linger_options(OpenMode::create_new))); }
  int release[2], ready[2];
  ASSERT_EQ(::pipe(release), 0);
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(release[1]);
    ::close(ready[0]);
    opener(path, release[0], ready[1]);
  }
  ::close(release[0]);
  ::close(ready[1]);
  char r = 0;
  const bool ready_read = ::read(ready[0], &r, 1) == 1;
  ::close(ready[0]);
  ::kill(pid, SIGKILL); // first, so that no failure below leaves it paused with the file open
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(ready_read) << "the opener died before it was ready: status " << status;
  ASSERT_EQ(r, 'y') << "clone() failed in the opener";
  ASSERT_TRUE(WIFSIGNALED(status)) << "opener status " << status;

  // The opener is dead and reaped, and its lock is still held: the window the crash test met.
  bool waited = false;
  ASSERT_TRUE(wait_until_no_opener(path, [&] {
    waited = true;
    ::close(release[1]); // the holder exits: the last reference goes
  })) << std::strerror(errno);
  EXPECT_TRUE(waited) << "the holder did not keep the killed opener's lock";
  if (!waited)
    ::close(release[1]);

  // Now the file is as a crash leaves it: a read-only check() foresees the recovery, and the
  // read-write reopen runs exactly that.
  lfarena::RecoveryReport pending;
  {
    Options ro = linger_options(OpenMode::open_existing);
    ro.read_only = true;
    auto viewer = Arena::open_file(path, ro);
    ASSERT_TRUE(viewer) << viewer.message();
    auto report = viewer->check();
    ASSERT_TRUE(report) << report.message();
    pending = report->pending_recovery;
  }
  auto arena = Arena::open_file(path, linger_options(OpenMode::open_existing));
  ASSERT_TRUE(arena) << arena.message();
  const auto &rec = arena->recovery();
  EXPECT_TRUE(pending.ran) << "the read-only check foresaw no recovery";
  EXPECT_TRUE(rec.ran) << "the reopen after the killed opener ran no recovery";
  EXPECT_EQ(pending.chunks_released, rec.chunks_released);
  EXPECT_EQ(pending.leaked_bytes, rec.leaked_bytes);
  EXPECT_EQ(rec.chunks_released, 1u) << "the killed opener held one chunk";
  auto check = arena->check();
  EXPECT_TRUE(check) << check.message();
  ::unlink(path.c_str());
}

} // namespace
