// verify/relacy/model.hpp -- the model region and the invariants shared by the freelist, bump
// and checked-mode model checks.
//
// The production allocation path (detail::Core: bump.hpp, sorted_list.hpp, checked.hpp) is a
// template over a memory view; here the view is an array of rl::atomic words, so Relacy
// explores the real code, never a copy. The region is tiny: the 256-byte header (whose fixed
// offsets hold the bump word, the freelist head and the discarded counter), the checked-mode
// bitmaps in the header's unused tail, and kDataWords words of data.
//
// What a model user does with a block: it owns its granules. Ownership is recorded in one
// rl::var per granule, written when a block is received and read back before it is freed, so
// a block handed out twice, or handed over without a happens-before edge (a release weakened to
// relaxed), is a data race or an assertion in Relacy. The user also overwrites the first word of
// its block (the node's words) with plausible values like a real user would, so stale traversals
// meet garbage that looks like a node.
//
// Include after <relacy/relacy.hpp> and the lfarena headers.
#pragma once

namespace lfarena::relacy_model {

namespace d = lfarena::detail;

// The model's checked-mode bitmaps sit in the header's tail (production: after the slot table);
// the model's region never reads its node key from there (it is in Geometry).
inline constexpr std::uint32_t kBitmapOffset = 224;

// Does the policy use the size-class table (segregated; sorted with the size index)?
constexpr bool has_classes(lfarena::FreelistKind kind, bool indexed) {
  return kind == lfarena::FreelistKind::segregated ||
         (indexed && kind != lfarena::FreelistKind::none);
}
// The data area starts after the header, or after the size-class table, or after `slots`
// thread-chunk slots (chunk_check.cpp; production keeps kChunkSlots of them at the same place,
// detail/header.hpp; the model never has both a class table and slots).
constexpr std::uint32_t data_offset_for(lfarena::FreelistKind kind, bool indexed,
                                        unsigned slots = 0) {
  return has_classes(kind, indexed) ? d::kHeaderSize + d::kClassTableBytes
                                    : d::kHeaderSize + slots * d::kChunkSlotBytes;
}

template <unsigned DataWords, std::uint32_t kDataOffset> struct Region {
  static constexpr std::uint32_t kWords = kDataOffset / 8 + DataWords;
  static constexpr std::uint32_t kCapacity = kWords * 8;
  d::atomic_u64 words[kWords];

  struct View {
    Region *r;
    d::atomic_u64 &word(std::uint32_t off) const {
      RL_ASSERT(off % 8 == 0 && off / 8 < kWords); // every access stays inside the region
      return r->words[off / 8];
    }
    void prefetch(std::uint32_t) const {} // a hint only: nothing to model
  };
};

struct Held {
  std::uint32_t offset = 0;
  std::uint32_t size = 0;
};

// The common body of a model test: the region, the real Core over it, per-granule ownership.
template <unsigned DataWords, lfarena::FreelistKind Kind, bool Indexed, unsigned ChunkSlots = 0>
struct Harness {
  static constexpr bool kClasses = has_classes(Kind, Indexed);
  static_assert(!kClasses || ChunkSlots == 0, "the class table and the slots share one place");
  static constexpr std::uint32_t kDataOffset = data_offset_for(Kind, Indexed, ChunkSlots);
  using R = Region<DataWords, kDataOffset>;
  static constexpr std::uint32_t kGranules = DataWords;

  R region;
  rl::var<int> owner[kGranules];

  static d::Geometry geometry(bool checked, std::uint32_t min_segment = 16,
                              std::uint32_t max_alignment = 16) {
    d::Geometry g;
    if (kClasses)
      g.class_table_offset = d::kHeaderSize;
    g.capacity = R::kCapacity;
    g.data_offset = kDataOffset;
    g.min_segment = min_segment;
    g.max_alignment = max_alignment;
    g.bitmap_offset = checked ? kBitmapOffset : 0;
    g.node_key = 0x9e3779b97f4a7c15ull; // keyed nodes, as in every new region (node.hpp)
    g.freelist_kind = Kind;
    return g;
  }

  void init_words() {
    for (auto &w : region.words)
      d::store_relaxed(w, 0);
    d::store_relaxed(region.words[d::hdr::bump / 8], kDataOffset);
    for (auto &o : owner)
      o($) = -1;
  }

  typename R::View view() { return typename R::View{&region}; }

  // The user receives a block: claim every granule, and scribble over the node words.
  void own(const Held &b, int who) {
    RL_ASSERT(b.offset >= kDataOffset && b.offset + b.size <= R::kCapacity); // inside the data
    for (std::uint32_t g = (b.offset - kDataOffset) / 8; g < (b.offset + b.size - kDataOffset) / 8;
         ++g) {
      RL_ASSERT(owner[g]($) == -1); // handed out twice?
      owner[g]($) = who;
    }
    // What a real user writes there. Users with an even id write words that pass every node
    // check (a link to an in-range node and a size word valid for this offset, encoded with
    // the region's key), so only the protocol's confirmations (a re-read predecessor, a head
    // CAS with its tag) keep a stale traversal from trusting them; odd ids write plain
    // in-range values that fail the checks, which is what a damage report must not be
    // confused with under contention (mutant DAMAGE_EAGER).
    const d::NodeLayout node(geometry(false));
    const bool plausible = who % 2 == 0;
    d::store_relaxed(view().word(b.offset),
                     plausible ? node.encode_link(d::Link::make(kDataOffset + 16, 1))
                               : std::uint64_t{kDataOffset + 16});
    if (b.size >= 16)
      d::store_relaxed(view().word(b.offset + 8),
                       plausible ? node.encode_size(b.offset, 16) : std::uint64_t{16});
  }
  // The user is about to free the block: it must still be all ours.
  void disown(const Held &b, int who) {
    for (std::uint32_t g = (b.offset - kDataOffset) / 8; g < (b.offset + b.size - kDataOffset) / 8;
         ++g) {
      RL_ASSERT(owner[g]($) == who);
      owner[g]($) = -1;
    }
  }

  // Quiescent invariant: the freelist is sorted, acyclic and in range; free segments and the
  // live blocks are pairwise disjoint; live + free + discarded == bumped bytes.
  void check_quiescent(const d::Core<typename R::View> &core, const Held *live, unsigned n_live) {
    int cover[kGranules] = {};
    std::uint64_t free_bytes = 0, live_bytes = 0;
    const std::uint64_t top = core.top();
    RL_ASSERT(top >= kDataOffset && top <= R::kCapacity);
    bool have_prev = false;
    std::uint64_t prev_size = 0;
    std::uint32_t prev_off = 0;
    bool ordered = true, in_range = true;
    auto visit = [&](std::uint32_t off, std::uint64_t size) {
      if (off < kDataOffset || off + size > top || size < core.geometry().min_segment) {
        in_range = false;
        return false;
      }
      if (Kind != lfarena::FreelistKind::segregated && have_prev &&
          !core.sorted().in_order(prev_size, prev_off, size, off))
        ordered = false;
      have_prev = true;
      prev_size = size;
      prev_off = off;
      free_bytes += size;
      for (std::uint64_t g = (off - kDataOffset) / 8; g < (off + size - kDataOffset) / 8; ++g)
        ++cover[g];
      return true;
    };
    const d::Fault fault = Kind == lfarena::FreelistKind::segregated ? core.segregated().walk(visit)
                                                                     : core.sorted().walk(visit);
    RL_ASSERT(!fault);   // acyclic, in order, node checks pass, no marked node left behind
    RL_ASSERT(in_range); // every segment inside [data_offset, bump)
    RL_ASSERT(ordered);  // the sequential spec's order
    for (unsigned i = 0; i < n_live; ++i) {
      if (live[i].offset == 0)
        continue;
      live_bytes += live[i].size;
      for (std::uint32_t g = (live[i].offset - kDataOffset) / 8;
           g < (live[i].offset + live[i].size - kDataOffset) / 8; ++g)
        ++cover[g];
    }
    for (std::uint32_t g = 0; g < kGranules; ++g)
      RL_ASSERT(cover[g] <= 1);                                                 // disjoint
    RL_ASSERT(live_bytes + free_bytes + core.discarded() == top - kDataOffset); // accounting
    if constexpr (kClasses) { // size_class.hpp: every non-empty class has its bit set
      const d::ClassTable<typename R::View> table(view(), d::kHeaderSize);
      RL_ASSERT(table.first_unmarked_nonempty() == d::kClassCount);
    }
  }
};

} // namespace lfarena::relacy_model

namespace lfarena::relacy_model {

// A model test over the real Core, with policy Kind. Derived provides:
//   static constexpr bool kChecked;
//   void setup();               -- single-threaded, builds the initial state with alloc/release
//   void run(unsigned thread);  -- the racing part
// Blocks a thread still holds at the end go in held[thread][...]; setup blocks in kept[].
template <class Derived, unsigned Threads, unsigned DataWords, lfarena::FreelistKind Kind,
          bool Indexed = false, unsigned ChunkSlots = 0>
struct ModelTest : rl::test_suite<Derived, Threads> {
  static constexpr unsigned kSlots = 4;
  using H = Harness<DataWords, Kind, Indexed, ChunkSlots>;
  using View = typename H::R::View;
  static constexpr std::uint32_t kDataOffset = H::kDataOffset;

  H h;
  d::Core<View> core{View{&h.region}, Derived::geometry()};
  Held held[Threads][kSlots];
  Held kept[8];

  // A scenario may override it (chunk_check.cpp: max_alignment 64).
  static d::Geometry geometry() { return H::geometry(Derived::kChecked); }

  void before() {
    h.init_words();
    for (auto &row : held)
      for (auto &b : row)
        b = {};
    for (auto &b : kept)
      b = {};
    static_cast<Derived *>(this)->setup();
  }
  void thread(unsigned index) { static_cast<Derived *>(this)->run(index); }
  void after() {
    Held all[Threads * kSlots + 8];
    unsigned n = 0;
    for (auto &row : held)
      for (auto &b : row)
        all[n++] = b;
    for (auto &b : kept)
      all[n++] = b;
    h.check_quiescent(core, all, n);
    // Where every freed piece is at least min_segment and every block is a multiple of it,
    // nothing may be counted as discarded (a scenario says so with kNoDiscard).
    if constexpr (requires { Derived::kNoDiscard; })
      RL_ASSERT(!Derived::kNoDiscard || core.discarded() == 0);
  }

  // Allocates through the real path; {0,0} on failure (out_of_memory is the only legal one).
  Held alloc(std::uint32_t size, int who, std::uint32_t align = 8) {
    d::RawBlock b;
    const errc e = core.allocate(size, align, b);
    RL_ASSERT(e == errc::ok || e == errc::out_of_memory);
    if (e != errc::ok)
      return {};
    const Held x{b.offset, b.size};
    RL_ASSERT(x.size >= size && x.offset >= kDataOffset && x.offset % align == 0);
    h.own(x, who);
    return x;
  }
  void release(Held &x, int who) {
    if (x.offset == 0)
      return;
    h.disown(x, who);
    RL_ASSERT(core.deallocate(x.offset, x.size) == errc::ok);
    x = {};
  }
};

} // namespace lfarena::relacy_model
