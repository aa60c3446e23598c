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
// Fork: a pthread_atfork child handler, installed with the first arena, (1) chooses the child's
// nonce, (2) makes the forking thread forget its inherited chunks without giving them back (the
// parent keeps allocating from them), and (3) counts the child as one more read-write opener of
// every read-write file arena it inherited (it shares the parent's open file description and so
// its liveness lock; if it closes its copy of the handle the count goes back down, and if it
// dies or execs without closing, the next sole opener runs crash recovery, which is harmless).
//
// Check descriptors: see open_check_descriptor() below.
//
// Thread-safety: all functions may be called from any thread.
#pragma once

#include <cstdint>

namespace lfarena::detail {

struct ArenaState;

std::uint64_t owner_token(std::uint64_t arena_id);

// A random 64-bit value (getrandom; without it, a mix of the clock, the pid and an address).
std::uint64_t random_u64() noexcept;

// Live arena states of this process, for the fork child handler.
void register_arena(ArenaState *s);
void unregister_arena(ArenaState *s);

// A descriptor of its own for a read-only check (recovered_view.hpp): `fd`'s file reopened
// read-only (a new open file description, so its locks are its own), -1 with errno if that fails.
// The fork child handler closes every such descriptor still open in the parent (a child that kept
// one would keep the check's join lock after the parent died, helper-28); it is opened under
// the handlers' lock, so no fork falls between the open and its registration.
int open_check_descriptor(int fd, const char *path);
void close_check_descriptor(int fd);

} // namespace lfarena::detail
