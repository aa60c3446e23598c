// verify/relacy/tagged_stack_check.cpp -- Relacy check of the ABA tag (detail/tagged.hpp) driven
// through the atomics policy (detail/atomic.hpp), on the smallest structure that has the ABA
// shape: a Treiber stack of slot indices 1..kSlots (0 is null). The head and every slot's `next`
// are Link words in atomic_u64; pop reads `next` of a slot another thread may have popped, pushed
// back and relinked meanwhile, so only the tag makes the head CAS refuse a stale decision.
//
// Threads: thread 0 pops one slot and pushes it back; every other thread pops two and pushes
// both back (pop A, pop B, push A is exactly the interleaving that recreates the head word).
// Invariants:
//  - during the run: a thread never holds the same slot twice;
//  - after(): quiescent structure -- every slot is in the stack exactly once and the stack ends
//    in null. (A tag-less stack's ABA shows up only as this structural damage: a slot both in the
//    stack and owned, later a cycle or a lost slot.)
//
// Mutant TAG_NOT_INCREMENTED (-DLFARENA_MUTANT_TAG_NOT_INCREMENTED=1, ctest
// relacy.mutant.TAG_NOT_INCREMENTED.tagged_stack, WILL_FAIL): pop and push keep the old tag
// (Link::make(off, old.tag()) instead of old.redirect(off)); the check must catch it.
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <relacy/relacy.hpp>

#include <lfarena/detail/atomic.hpp>
#include <lfarena/detail/tagged.hpp>

#include "relacy_main.hpp"

namespace {

using lfarena::detail::atomic_u64;
using lfarena::detail::Link;
namespace d = lfarena::detail;

#if defined(LFARENA_MUTANT_TAG_NOT_INCREMENTED) && LFARENA_MUTANT_TAG_NOT_INCREMENTED
constexpr bool kMutantTagNotIncremented = true;
#else
constexpr bool kMutantTagNotIncremented = false;
#endif

// The new head word replacing `old`: same-word-again must be impossible, so the tag advances.
Link next_head(Link old, std::uint32_t offset) {
  if constexpr (kMutantTagNotIncremented) {
    return Link::make(offset, old.tag()); // MUTANT: ABA-prone
  } else {
    return old.redirect(offset);
  }
}

template <unsigned Threads>
struct tagged_stack_test : rl::test_suite<tagged_stack_test<Threads>, Threads> {
  static constexpr const char *kName = Threads == 2 ? "two_threads" : "three_threads";
  static constexpr std::uint32_t kSlots = 3;

  atomic_u64 head;
  atomic_u64 next[kSlots + 1]; // next[0] unused: offset 0 is null

  void before() {
    // 1 -> 2 -> 3 -> null
    for (std::uint32_t i = 1; i <= kSlots; ++i) {
      d::store_relaxed(next[i], Link::make(i < kSlots ? i + 1 : 0, 0).raw);
    }
    d::store_relaxed(next[0], 0);
    d::store_relaxed(head, Link::make(1, 0).raw);
  }

  // Returns the popped slot, 0 when empty.
  std::uint32_t pop() {
    Link h{d::load_acquire(head)};
    for (;;) {
      if (h.offset() == 0) {
        return 0;
      }
      // `next` of the head slot may be stale: the slot may have been popped, pushed back and
      // relinked since we read `h`. It is read atomically; the CAS below only commits if the
      // head word (offset AND tag) is unchanged, i.e. nobody changed the stack in between.
      const Link n{d::load_acquire(next[h.offset()])};
      // acq_rel: acquire pairs with the pusher's release CAS (we read `next` it wrote); on
      // failure `h.raw` is reloaded with acquire and we retry from it.
      if (d::cas_acq_rel(head, h.raw, next_head(h, n.offset()).raw)) {
        return h.offset();
      }
    }
  }

  void push(std::uint32_t slot) {
    Link h{d::load_relaxed(head)};
    for (;;) {
      // Relaxed: published by the release CAS that makes `slot` reachable.
      d::store_relaxed(next[slot], Link::make(h.offset(), 0).raw);
      if (d::cas_release(head, h.raw, next_head(h, slot).raw)) {
        return;
      }
    }
  }

  void thread(unsigned index) {
    if (index == 0) {
      const std::uint32_t a = pop();
      if (a != 0) {
        push(a);
      }
    } else {
      const std::uint32_t a = pop();
      const std::uint32_t b = pop();
      RL_ASSERT(a == 0 || a != b); // the same slot handed out twice
      if (a != 0) {
        push(a);
      }
      if (b != 0) {
        push(b);
      }
    }
  }

  void after() {
    unsigned seen[kSlots + 1] = {};
    std::uint32_t cur = Link{d::load_relaxed(head)}.offset();
    unsigned steps = 0;
    while (cur != 0 && steps <= kSlots) {
      if (cur > kSlots) {
        RL_ASSERT(!"offset out of range");
        return;
      }
      ++seen[cur];
      cur = Link{d::load_relaxed(next[cur])}.offset();
      ++steps;
    }
    RL_ASSERT(cur == 0); // terminates: no cycle
    for (std::uint32_t i = 1; i <= kSlots; ++i) {
      RL_ASSERT(seen[i] == 1); // every slot in the stack exactly once
    }
  }
};

} // namespace

int main() {
  return lfarena::relacy_check::run<tagged_stack_test<2>, tagged_stack_test<3>>("tagged_stack");
}
