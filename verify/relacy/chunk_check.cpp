// verify/relacy/chunk_check.cpp -- model checks of thread-local chunks (detail/chunk.hpp: slot
// claim, chunk allocation with its one fit test, refill and give-back) racing the shared path
// with alignment padding (detail/core.hpp, detail/bump.hpp), ending in the quiescent invariant of
// model.hpp once every thread has given its chunk back.
//
// The model region has two chunk slots where production has kChunkSlots, at the same offset;
// max_alignment is 64 so that padding in front of bump blocks and inside chunks is explored.
//
//   refill     thread 0 allocates from 32-byte chunks (8 and 16 bytes at alignments 8..32,
//              refilling twice, one request too big for any chunk at its alignment), thread 1
//              allocates with 64-byte alignment from the shared bump (padding goes to the
//              freelist or is discarded) and frees; both give their chunks back at the end.
//              The setup leaves the bump offset at 8 mod 32, so a chunk starts unaligned.
//   give_back  two chunk owners: thread 0's chunk tail is given back by a refill while thread 1
//              bump-allocates and frees the block above it (rollback CAS against give-back).
// Both run for the `none` policy (tails discarded or rolled back) and `pessimistic` (tails on
// the freelist).
// Mutant built from this file (must be caught): REFILL_UNBOUNDED (a refill trusts the fresh
// chunk to hold the aligned block; caught as a block handed out twice by the model users'
// ownership assertion, or outside the region).
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <relacy/relacy.hpp>

#include <lfarena/detail/chunk.hpp>
#include <lfarena/detail/core.hpp>

#include "model.hpp"
#include "relacy_main.hpp"

namespace {

using namespace lfarena::relacy_model;
using lfarena::errc;
using Kind = lfarena::FreelistKind;
namespace d = lfarena::detail;

constexpr unsigned kModelSlots = 2;
constexpr std::uint32_t kChunkSize = 32;

template <class Derived, Kind K>
struct ChunkTest : ModelTest<Derived, 2, 40, K, false, kModelSlots> {
  using Base = ModelTest<Derived, 2, 40, K, false, kModelSlots>;
  static constexpr bool kChecked = false;
  static d::Geometry geometry() { return Base::H::geometry(false, 16, 64); }

  d::Chunk chunk[2];

  void setup() {
    for (auto &c : chunk)
      c = {};
  }

  // Like Arena::allocate with thread_chunk = kChunkSize: small blocks from the thread's chunk,
  // the rest (and whatever no chunk can hold) from the shared path.
  Held chunk_alloc(unsigned t, std::uint32_t size, std::uint32_t align) {
    const auto view = this->h.view();
    if (chunk[t].slot_at == 0) {
      chunk[t].slot_at = d::claim_slot(view, t + 1, kModelSlots);
      RL_ASSERT(chunk[t].slot_at != 0); // one slot per thread
    }
    const std::uint32_t at = d::chunk_allocate(view, this->core, chunk[t], kChunkSize, size, align);
    if (at == 0)
      return this->alloc(size, static_cast<int>(t), align);
    const Held x{at, size};
    RL_ASSERT(at % align == 0);
    this->h.own(x, static_cast<int>(t));
    return x;
  }
  // Thread exit: the tail and the slot go back.
  void close(unsigned t) {
    if (chunk[t].slot_at == 0)
      return;
    const auto view = this->h.view();
    d::chunk_give_back(view, this->core, chunk[t]);
    RL_ASSERT(d::slot_reserved(view, chunk[t].slot_at) == 0);
    d::free_slot(view, chunk[t].slot_at);
    chunk[t].slot_at = 0;
  }
};

template <Kind K> struct refill : ChunkTest<refill<K>, K> {
  static constexpr const char *kName = K == Kind::none ? "refill_none" : "refill_pessimistic";
  void setup() {
    ChunkTest<refill<K>, K>::setup();
    this->kept[0] = this->alloc(8, 9); // bump offset now 8 mod 32: chunks start unaligned
  }
  void run(unsigned t) {
    if (t == 0) {
      this->held[0][0] = this->chunk_alloc(0, 16, 32); // no 32-byte chunk can hold it
      this->held[0][1] = this->chunk_alloc(0, 8, 16);  // first chunk
      this->held[0][2] = this->chunk_alloc(0, 16, 16); // may refill
      this->held[0][3] = this->chunk_alloc(0, 8, 8);
    } else {
      Held b = this->alloc(24, 1, 64); // padding in front of it
      this->release(b, 1);             // rollback, or the freelist
      this->held[1][0] = this->alloc(8, 1, 8);
    }
    this->close(t);
  }
};

template <Kind K> struct give_back : ChunkTest<give_back<K>, K> {
  static constexpr const char *kName = K == Kind::none ? "give_back_none" : "give_back_pessimistic";
  void run(unsigned t) {
    if (t == 0) {
      this->held[0][0] = this->chunk_alloc(0, 24, 8); // chunk 1: 8 bytes left
      this->held[0][1] = this->chunk_alloc(0, 16, 8); // refill: gives 8 back, chunk 2
    } else {
      this->held[1][0] = this->chunk_alloc(1, 8, 8);
      Held b = this->alloc(16, 1, 16); // shared path, maybe right above a chunk
      this->release(b, 1);
    }
    this->close(t);
  }
};

} // namespace

int main() {
  return lfarena::relacy_check::run<refill<Kind::none>, refill<Kind::pessimistic>,
                                    give_back<Kind::none>, give_back<Kind::pessimistic>>("chunk");
}
