// lfarena/detail/mutant.hpp -- seeded bugs for proving that the model checks have teeth.
//
// Each flag is false in every real build. A Relacy mutant target defines exactly one
// LFARENA_MUTANT_<NAME>=1, which switches one known bug class on in the production code path
// (never in a copy); the check program inverts its verdict in that build and exits 0 only if
// Relacy reported the seeded bug (verify/relacy/relacy_main.hpp, CMakeLists.txt).
//
// The production code reads a flag only through LFARENA_SEEDED_BUG(name), so a mutant branch
// reads as a seeded bug at a glance and a search for the macro finds every one of them:
//   if constexpr (LFARENA_SEEDED_BUG(tag_not_incremented)) ...  // the bug, never taken for real
#pragma once

#define LFARENA_SEEDED_BUG(name) (::lfarena::detail::mutant::name)

namespace lfarena::detail::mutant {

#ifndef LFARENA_MUTANT_TAG_NOT_INCREMENTED
#define LFARENA_MUTANT_TAG_NOT_INCREMENTED 0
#endif
#ifndef LFARENA_MUTANT_RELAXED_PUBLISH
#define LFARENA_MUTANT_RELAXED_PUBLISH 0
#endif
#ifndef LFARENA_MUTANT_NO_HELPING
#define LFARENA_MUTANT_NO_HELPING 0
#endif
#ifndef LFARENA_MUTANT_DROP_REMAINDER
#define LFARENA_MUTANT_DROP_REMAINDER 0
#endif
#ifndef LFARENA_MUTANT_DOUBLE_FREE_LOAD_STORE
#define LFARENA_MUTANT_DOUBLE_FREE_LOAD_STORE 0
#endif
#ifndef LFARENA_MUTANT_ROLLBACK_STORE
#define LFARENA_MUTANT_ROLLBACK_STORE 0
#endif
#ifndef LFARENA_MUTANT_GUESS_TRUSTED
#define LFARENA_MUTANT_GUESS_TRUSTED 0
#endif
#ifndef LFARENA_MUTANT_BITMAP_ACQ_REL
#define LFARENA_MUTANT_BITMAP_ACQ_REL 0
#endif
#ifndef LFARENA_MUTANT_REFILL_UNBOUNDED
#define LFARENA_MUTANT_REFILL_UNBOUNDED 0
#endif
#ifndef LFARENA_MUTANT_DAMAGE_EAGER
#define LFARENA_MUTANT_DAMAGE_EAGER 0
#endif
#ifndef LFARENA_MUTANT_RUN_HEAD_RELOADED
#define LFARENA_MUTANT_RUN_HEAD_RELOADED 0
#endif
#ifndef LFARENA_MUTANT_RECOVERY_DROPS_SEGMENT
#define LFARENA_MUTANT_RECOVERY_DROPS_SEGMENT 0
#endif

// Links are rewritten with the same tag (the ABA guard is gone).
inline constexpr bool tag_not_incremented = LFARENA_MUTANT_TAG_NOT_INCREMENTED != 0;
// The CAS that publishes a freed segment's node is relaxed instead of release.
inline constexpr bool relaxed_publish = LFARENA_MUTANT_RELAXED_PUBLISH != 0;
// Traversals skip logically removed nodes instead of unlinking them (mark-then-hope).
inline constexpr bool no_helping = LFARENA_MUTANT_NO_HELPING != 0;
// The remainder of a split segment is neither reinserted nor counted.
inline constexpr bool drop_remainder = LFARENA_MUTANT_DROP_REMAINDER != 0;
// The checked-mode double-free guard is a load and a store instead of one RMW.
inline constexpr bool double_free_load_store = LFARENA_MUTANT_DOUBLE_FREE_LOAD_STORE != 0;
// Bump rollback is a check-then-store instead of a CAS.
inline constexpr bool rollback_store = LFARENA_MUTANT_ROLLBACK_STORE != 0;
// A bump with a guessed word stores its end without the CAS confirming the guess.
inline constexpr bool guess_trusted = LFARENA_MUTANT_GUESS_TRUSTED != 0;
// The size-class bitmap protocol uses acquire/release instead of seq_cst (size_class.hpp).
inline constexpr bool bitmap_acq_rel = LFARENA_MUTANT_BITMAP_ACQ_REL != 0;
// A chunk refill trusts the fresh chunk to hold the aligned block (no bounds check).
inline constexpr bool refill_unbounded = LFARENA_MUTANT_REFILL_UNBOUNDED != 0;
// A bad node read while others make progress is reported as damage without telling progress
// from damage (sorted: a failed confirmation; segregated: no fresh re-read of the head).
inline constexpr bool damage_eager = LFARENA_MUTANT_DAMAGE_EAGER != 0;
// A run pop (segregated_policy.hpp pop_run) CASes the head it reads after its walk, not the one
// its walk started from: the walk's links may be stale.
inline constexpr bool run_head_reloaded = LFARENA_MUTANT_RUN_HEAD_RELOADED != 0;
// Crash recovery loses the first free segment of the first non-empty list (src/recovery.cpp;
// caught by the crash-point test, verify/crash_points/, not by Relacy).
inline constexpr bool recovery_drops_segment = LFARENA_MUTANT_RECOVERY_DROPS_SEGMENT != 0;

} // namespace lfarena::detail::mutant
