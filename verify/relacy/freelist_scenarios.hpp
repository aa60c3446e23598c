// verify/relacy/freelist_scenarios.hpp -- the freelist scenarios (docs/DESIGN.md §5.2-5.4, §6),
// templated on the policy, shared by freelist_check.cpp (optimistic, pessimistic) and
// segregated_check.cpp. Every test ends with the quiescent invariant of model.hpp (for the sorted
// policies also the order), and the model users' per-granule ownership vars turn a double hand-out
// or a missing happens-before edge into a Relacy failure.
//
//   2 free_free     two frees insert concurrently into a non-empty freelist
//   3 take_free     allocation from the freelist races an insert next to the segment it takes
//   4 take_take     two allocations race for the same segment; the split remainder survives
//   5 aba           a segment is taken, handed out, freed and reinserted while another thread
//                   holds a stale link to it
//   6 helping       three threads: two removals and an insert; a remover stalled between mark
//                   and unlink must be helped, never spun on (sorted policies; for segregated,
//                   two pops racing a push on the same class)
//   7 bitmap        (size classes) a taker finds a class empty and clears its bit while a free
//                   makes the class non-empty again: the bit must end up set (size_class.hpp)
// Sorted policies run each scenario on both layouts (I: one list per size class, or one list).
// Include after <relacy/relacy.hpp> and lfarena/detail/core.hpp.
#pragma once

#include "model.hpp"

namespace lfarena::relacy_model {
using lfarena::errc;
using Kind = lfarena::FreelistKind;

// "scenario.policy" as a constant string for each policy and layout (I: size-indexed).
template <Kind K, bool I> struct Names;
#define LFARENA_POLICY_NAMES(kind, indexed, suffix)                                                \
  template <> struct Names<Kind::kind, indexed> {                                                  \
    static constexpr const char *free_free = "free_free." suffix;                                  \
    static constexpr const char *take_free = "take_free." suffix;                                  \
    static constexpr const char *take_take = "take_take." suffix;                                  \
    static constexpr const char *aba = "aba." suffix;                                              \
    static constexpr const char *helping = "helping." suffix;                                      \
    static constexpr const char *bitmap = "bitmap." suffix;                                        \
    static constexpr const char *padding = "padding." suffix;                                      \
  };
LFARENA_POLICY_NAMES(optimistic, false, "optimistic")
LFARENA_POLICY_NAMES(pessimistic, false, "pessimistic")
LFARENA_POLICY_NAMES(optimistic, true, "optimistic-indexed")
LFARENA_POLICY_NAMES(pessimistic, true, "pessimistic-indexed")
LFARENA_POLICY_NAMES(segregated, false, "segregated")
#undef LFARENA_POLICY_NAMES
} // namespace lfarena::relacy_model

namespace lfarena::relacy_model {

// 2. Setup (96 data bytes): a=32 b=16 c=24 d=24, then free a -> list {32}. Threads free b and c.
template <Kind K, bool I = false> struct free_free : ModelTest<free_free<K, I>, 2, 12, K, I> {
  static constexpr bool kChecked = false;
  static constexpr bool kNoDiscard = true;
  static constexpr const char *kName = Names<K, I>::free_free;
  Held b, c;
  void setup() {
    Held a = this->alloc(32, 9);
    b = this->alloc(16, 0);
    c = this->alloc(24, 1);
    this->kept[0] = this->alloc(24, 9);
    this->release(a, 9);
  }
  void run(unsigned t) {
    if (t == 0)
      this->release(b, 0);
    else
      this->release(c, 1);
  }
};

// 3. Setup: a=32 b=24 c=16 d=24; free a and c -> list {32, 16}. Thread 0 allocates 16 from the
// freelist (optimistic splits the 32, pessimistic takes the 16); thread 1 frees b (24), which
// lands between them.
template <Kind K, bool I = false> struct take_free : ModelTest<take_free<K, I>, 2, 12, K, I> {
  static constexpr bool kChecked = false;
  static constexpr bool kNoDiscard = true;
  static constexpr const char *kName = Names<K, I>::take_free;
  Held b;
  void setup() {
    Held a = this->alloc(32, 9);
    b = this->alloc(24, 1);
    Held c = this->alloc(16, 9);
    this->kept[0] = this->alloc(24, 9);
    this->release(a, 9);
    this->release(c, 9);
  }
  void run(unsigned t) {
    if (t == 0) {
      this->held[0][0] = this->alloc(16, 0);
      RL_ASSERT(this->held[0][0].offset != 0); // a fitting segment was free all along
    } else {
      this->release(b, 1);
    }
  }
};

// 4. Setup: a=48 b=48; free a -> list {48}. Both threads allocate 16: one splits the 48 and
// reinserts the 32 remainder, the other gets a piece of it or (if it looks while the remainder
// is in flight) out_of_memory. Nothing may be lost (DROP_REMAINDER breaks the accounting).
template <Kind K, bool I = false> struct take_take : ModelTest<take_take<K, I>, 2, 12, K, I> {
  static constexpr bool kChecked = false;
  static constexpr bool kNoDiscard = true;
  static constexpr const char *kName = Names<K, I>::take_take;
  void setup() {
    Held a = this->alloc(48, 9);
    this->kept[0] = this->alloc(48, 9);
    this->release(a, 9);
  }
  void run(unsigned t) { this->held[t][0] = this->alloc(16, static_cast<int>(t)); }
  void after() {
    ModelTest<take_take<K, I>, 2, 12, K, I>::after();
    RL_ASSERT(this->held[0][0].offset != 0 || this->held[1][0].offset != 0); // someone won
  }
};

// 5. Setup: a=16 b=32 c=16 d=32; free a and b -> list {32, 16} (optimistic) / {16, 32}.
// Thread 0 allocates 16 once. Thread 1 allocates 16, frees it, allocates 16 again: the segment
// thread 0 may be looking at is removed, handed out, overwritten, freed and reinserted.
template <Kind K, bool I = false> struct aba : ModelTest<aba<K, I>, 2, 12, K, I> {
  static constexpr bool kChecked = false;
  static constexpr bool kNoDiscard = true;
  static constexpr const char *kName = Names<K, I>::aba;
  void setup() {
    Held a = this->alloc(16, 9);
    Held b = this->alloc(32, 9);
    this->kept[0] = this->alloc(16, 9);
    this->kept[1] = this->alloc(32, 9);
    this->release(a, 9);
    this->release(b, 9);
  }
  void run(unsigned t) {
    if (t == 0) {
      this->held[0][0] = this->alloc(16, 0);
    } else {
      Held x = this->alloc(16, 1);
      this->release(x, 1);
      this->held[1][0] = this->alloc(16, 1);
    }
  }
};

// 6. Setup: a=16 b=24 c=16 d=24 e=16; free a, c, e -> list of three 16s ({24}s live). Threads
// 0 and 1 each allocate 16 (removals racing at the head); thread 2 frees b (an insert).
template <Kind K, bool I = false> struct helping : ModelTest<helping<K, I>, 3, 13, K, I> {
  static constexpr bool kChecked = false;
  static constexpr bool kNoDiscard = true;
  static constexpr const char *kName = Names<K, I>::helping;
  Held b;
  void setup() {
    Held a = this->alloc(16, 9);
    b = this->alloc(24, 2);
    Held c = this->alloc(16, 9);
    this->kept[0] = this->alloc(24, 9);
    Held e = this->alloc(16, 9);
    this->kept[1] = this->alloc(8, 9); // keeps e from rolling back into the bump region
    this->release(a, 9);
    this->release(c, 9);
    this->release(e, 9);
  }
  void run(unsigned t) {
    if (t < 2) {
      this->held[t][0] = this->alloc(16, static_cast<int>(t));
      RL_ASSERT(this->held[t][0].offset != 0); // three segments for two takers
    } else {
      this->release(b, 2);
    }
  }
};

// 7. Setup: x=24 y=24 z=48 k=16 (the bump region is full); free x (class 3, its bit set) and,
// except for optimistic, z (class 6). Thread 0 allocates 24 (takes x: class 3 empty, its bit
// still set), then finds class 3 empty and clears its bit, unless y is there: optimistic by
// asking for 32 (the walk down from the largest class meets class 3; nothing fits), the others
// by asking for 16 (class 3 is met on the way up to z, which serves it). Thread 1 frees y into
// class 3. Whatever the order, at the end class 3 is empty or its bit is set. The second
// allocation must not end in the fallback's fresh re-read of class 3 (an RMW that would order
// the clear before the push and hide the race). BITMAP_ACQ_REL: store buffering leaves y in
// class 3 with its bit clear (the pusher reads the bit before the clear, the clearer reads the
// head before the push).
template <Kind K, bool I = false> struct bitmap : ModelTest<bitmap<K, I>, 2, 14, K, I> {
  static constexpr bool kChecked = false;
  static constexpr bool kNoDiscard = true;
  static constexpr const char *kName = Names<K, I>::bitmap;
  static constexpr bool kOptimistic = K == Kind::optimistic;
  Held y;
  void setup() {
    Held x = this->alloc(24, 9);
    y = this->alloc(24, 1);
    Held z = this->alloc(48, 9);
    this->kept[0] = this->alloc(16, 9);
    this->release(x, 9);
    if (kOptimistic)
      this->kept[1] = z;
    else
      this->release(z, 9);
  }
  void run(unsigned t) {
    if (t == 0) {
      this->held[0][0] = this->alloc(24, 0);
      RL_ASSERT(this->held[0][0].offset != 0); // x was free all along
      this->held[0][1] = this->alloc(kOptimistic ? 32 : 16, 0);
      RL_ASSERT(kOptimistic ? this->held[0][1].offset == 0 : this->held[0][1].offset != 0);
    } else {
      this->release(y, 1);
    }
  }
};

// 8. Alignment padding: max_alignment 32. Setup: a lead block that puts `a` at 8 mod 32, a=56,
// b=24, k=8; free a -> list {56}. Thread 0 allocates 16 at alignment 32 from a: the 24 bytes
// of padding in front and the 16-byte remainder behind both become fresh nodes (the split's
// padding path) while thread 1 frees b (pessimistic may take b instead, if it is back first).
// Nothing is discarded.
template <Kind K, bool I = false> struct padding : ModelTest<padding<K, I>, 2, 16, K, I> {
  static constexpr bool kChecked = false;
  static constexpr bool kNoDiscard = true;
  static constexpr const char *kName = Names<K, I>::padding;
  using Base = ModelTest<padding<K, I>, 2, 16, K, I>;
  static d::Geometry geometry() { return Base::H::geometry(false, 16, 32); }
  static constexpr std::uint32_t kLead =
      (8 + 32 - Base::kDataOffset % 32) % 32 == 0 ? 32 : (8 + 32 - Base::kDataOffset % 32) % 32;
  Held b;
  void setup() {
    this->kept[0] = this->alloc(kLead, 9);
    Held a = this->alloc(56, 9);
    RL_ASSERT(a.offset % 32 == 8);
    b = this->alloc(24, 1);
    this->kept[1] = this->alloc(8, 9);
    // The rest of the bump region too, so thread 0's allocation comes from the freelist.
    const std::uint64_t rest = Base::H::R::kCapacity - this->core.top();
    if (rest != 0)
      this->kept[2] = this->alloc(static_cast<std::uint32_t>(rest), 9);
    this->release(a, 9);
  }
  void run(unsigned t) {
    if (t == 0) {
      this->held[0][0] = this->alloc(16, 0, 32);
      // From a (16 bytes, padding and remainder kept) or, best fit, from b if it is back first
      // (32-aligned, 24 bytes: the 8-byte remainder goes with the block).
      RL_ASSERT(this->held[0][0].offset != 0 && this->held[0][0].size >= 16);
    } else {
      this->release(b, 1);
    }
  }
};

} // namespace lfarena::relacy_model
