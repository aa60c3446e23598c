// process.hpp (private) -- what an arena needs to know about the process it lives in: owner
// tokens that stay unique across processes, PID namespaces and forks, and the fork child's
// handling of inherited arenas (docs/DESIGN.md §4 promise 9, §5.10).
//
// Owner token: the owner word of a thread-chunk slot (chunk.hpp). It must differ between any two
// openers of one file, in any processes: pids repeat across PID namespaces (two containers on
// one volume both run as PID 1) and a fork child starts with a copy of its parent's arena
// states. So a token is a random per-process nonce (getrandom, chosen anew in every fork child)
// combined with the opener's id (ArenaState::id, unique in the process and never reused) by a
// bijection: unique within the process for certain, and across processes except with
// probability about 2^-64 per pair of openers.
//
// Fork: pthread_atfork handlers, installed with the first arena. Before the fork the parent
// counts the child as one more read-write opener of every registered read-write file arena (it
// shares the parent's open file description and so its liveness lock; if it closes its copy
// of the handle the count goes back down, and if it dies or execs without closing, the next
// sole opener runs crash recovery, which is harmless). In the child: (1) a new nonce, (2) the
// forking thread forgets its inherited chunks without giving them back (the parent keeps
// allocating from them), (3) the loose descriptors are closed (below).
//
// Descriptors and mappings of arena files (DESIGN §5.10): see open_file_descriptor() below.
//
// Thread-safety: all functions may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

namespace lfarena::detail {

struct ArenaState;

std::uint64_t owner_token(std::uint64_t arena_id);

// A random 64-bit value (getrandom; without it, a mix of the clock, the pid and an address).
std::uint64_t random_u64() noexcept;

// Live arena states of this process, for the fork handlers; a file arena's descriptor and
// mapping stop being loose (below) while it is registered.
void register_arena(ArenaState *s);
void unregister_arena(ArenaState *s);

// ---- Descriptors and mappings of arena files, and fork (DESIGN §5.10) ----
// A descriptor of an arena file may hold an OFD liveness lock (liveness_lock.hpp), and so may a
// mapping of it (a mapping keeps its open file description, and with it the description's
// locks). A fork child that inherits either keeps the lock as long as it lives; that is right
// for the arenas it inherits (they are registered, and before_fork counts the child as their
// opener), and wrong for a descriptor another thread is still opening, validating, joining or
// closing: nothing counts the child, and nothing closes its copy (helper-29: reset() refused
// until the child exited; a parent that died mid-join left every later opener waiting for the
// child). So every descriptor the library opens on an arena file comes from
// open_file_descriptor() and goes through close_file_descriptor(), and every mapping of one
// from map_file(); until a registered arena owns them they are "loose": the fork child
// handler closes every loose descriptor, and a loose mapping is not inherited at all
// (MADV_DONTFORK; ASan builds: the child clears the shadow of every loose mapping, which it
// does inherit, or a fresh mapping there read as poisoned). register_arena() adopts the arena's
// descriptor and mapping (inherited from then on), unregister_arena() makes them loose again before
// the close that follows. Each step (open and record, map and mark, register, unregister, close and
// forget) is one short critical section under the lock the fork handlers hold across fork(), which
// never waits for a file lock or for I/O beyond the open() itself: a fork waits for no open, join
// or close in flight (the reverted "fork gate" did, and threads looping opens starved fork()).

// ::open(path, flags | O_CLOEXEC | O_NONBLOCK, mode), recorded as loose (O_NONBLOCK: a FIFO
// at the path must not block the open, or every fork meanwhile; it changes nothing for a
// regular file). -1 with errno on error.
int open_file_descriptor(const char *path, int flags, unsigned mode = 0);
// Forgets and closes `fd` (loose or not, tracked or not).
void close_file_descriptor(int fd);
// ::mmap(nullptr, length, prot, flags, fd, 0), not inherited by fork children until a
// registered arena owns it (MADV_DONTFORK), recorded as loose: a fork child clears its ASan
// shadow (ASan builds; the child has the shadow but not the mapping). MAP_FAILED with errno on
// error.
void *map_file(int fd, std::size_t length, int prot, int flags);
// Forgets and unmaps a mapping from map_file() (loose or not), its ASan shadow cleared.
void unmap_file(void *at, std::size_t length);

// A descriptor of its own for a read-only check (recovered_view.hpp): `fd`'s file reopened
// read-only (a new open file description, so its locks are its own), loose until
// close_file_descriptor(); -1 with errno if that fails. (A fork child that kept one kept the
// check's join lock after the parent died, helper-28.)
int open_check_descriptor(int fd, const char *path);

// Runs `body` with no fork() in between (under the lock the fork handlers hold): for reset(),
// which checks the open count, rewrites it and draws a new node key. A fork in the middle had
// its child's count (added by the prepare handler) overwritten, so a later reset wiped the
// live child's blocks, and could leave the child the old key in its copy of the arena
// (helper-31). `body` must not open, map, close, register or unregister anything (the lock is
// not recursive), nor wait for a lock.
void without_fork(const std::function<void()> &body);

// Loose descriptors and mappings of this process (for tests).
std::size_t loose_descriptors();
std::size_t loose_mappings();

} // namespace lfarena::detail
