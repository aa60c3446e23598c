// lfarena/detail/header.hpp -- the persistent header at offset 0 of every region.
//
// All fields have fixed width and are stored little-endian (the only byte order this build
// supports; see the static_assert). The immutable part (bytes 0..63) is written once when the
// region is created and is covered by a 64-bit FNV-1a checksum (v3: with the node key); the
// mutable part holds the shared atomics: the bump word and the single-list head each on its own
// 64-byte line, so that bumping never false-shares with freeing; the rarely written counters
// share the line at 192.
//
//   offset size  field                 notes
//   ------ ----  --------------------  --------------------------------------------------------
//        0    8  magic                 "LFARENA\0"
//        8    4  format_version        1 to 4; new files are written as 4 (optimistic and
//                                      pessimistic) or 3 (none and segregated, whose layout v3
//                                      describes: older builds keep reading them); v1-v3 files
//                                      are read and kept as they are; others are refused
//       12    4  feature_flags         bit 0: checked mode (block-start/end bitmaps present)
//                                      bit 1: thread caches (every segregated file this build
//                                      creates: slot word 3 names a cache block,
//                                      free_cache.hpp; older builds refuse such files)
//                                      bit 2: 256-byte cache class (every segregated file
//                                      this build creates: a cache block's word 0 heads the
//                                      class of 256-byte blocks; older builds refuse such files)
//                                      bit 3: cache arrays (every segregated file this build
//                                      creates: a cache block holds arrays of entries, not
//                                      chains of nodes, free_cache.hpp; needs bits 1 and 2;
//                                      older builds refuse such files, and files without it
//                                      keep their chains)
//       16    4  freelist_kind         0 none, 1 optimistic, 2 pessimistic, 3 segregated
//       20    2  user_version          the user's own magic version
//       22    2  header_size           kHeaderSize
//       24    4  capacity              region size in bytes, header included (< 4 GiB)
//       28    4  data_offset           first byte the bump allocator hands out
//       32    4  min_segment           smallest segment kept on the freelist (>= 16)
//       36    4  max_alignment         largest alignment an allocation may ask for
//       40    4  bitmap_offset         start of the checked-mode bitmaps (0 if none)
//       44    4  user_reserved_offset  start of the bytes reserved for the user
//       48    4  user_reserved_size
//       52    4  class_table_offset    size classes (size_class.hpp): heads + bitmap; for the
//                                      segregated policy and (v2) size-indexed sorted ones, else 0
//       56    8  checksum              FNV-1a 64 of bytes 0..55 (v3: then of node_key too)
//       64    8  bump                  atomic: next free offset of the bump region
//      128    8  freelist_head         atomic: Link {first segment, tag} of the one sorted list
//                                      of a policy without class table (else 0)
//      192    8  discarded             atomic: bytes counted as discarded
//      200    8  open_count            atomic: read-write openers that have not closed yet; a
//                                      non-zero value seen by a sole opener means a crash
//      208    8  leaked                atomic: bytes recovery found in flight after a crash
//                                      (also counted in discarded)
//      216    8  node_tags             atomic: the next tag for a new freelist node's link
//      224    8  node_key              v3: the random key of the free-node words (node.hpp),
//                                      fixed at creation, never 0; v1/v2: unused (no key)
//      232    8  growing_to            the size a grow on open (Options::grow) is extending the
//                                      file to, 0 otherwise: a file exactly this size, larger
//                                      than its capacity, is a grow cut short by a crash, not
//                                      damage (file_grow.cpp); older builds never write it
//      240    4  cache_budget          bit 3 files: the byte budget of a cache class their
//                                      array layout was made for (cache_layout.hpp), pinned
//                                      by a grow (file_grow.cpp) so the cache blocks the file
//                                      holds keep their layout; 0: the capacity's (capacity /
//                                      256, at most 4 KiB), as every file until it grows;
//                                      larger than the capacity's is damage. Not read in
//                                      other files; older builds never write it
//   256..        end of header (kHeaderSize)
//   256  2048  thread-chunk slots     kChunkSlots x 32 bytes, in every region (thread_chunk.hpp):
//                                      owner, {cursor:32, end:32}, alignment waste, cache
//                                      block {offset:32, size:32} (0: none; only with bit 1
//                                      of feature_flags)
//
// After the slots come, when present: the size-class table, the checked-mode bitmaps, the
// user's reserved bytes, then (64-aligned) the data area.
//
// Thread-safety: the immutable fields are plain data, read after validation only; the atomics
// are only touched through detail/atomic.hpp helpers.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lfarena/freelist_kind.hpp"

namespace lfarena::detail {

// v2: optimistic/pessimistic files may have a class table (Options::size_index). v3: free
// nodes are keyed and checked (node.hpp). v4: sorted lists keep equal sizes newest first
// (sorted_list.hpp), where v1-v3 files order them by offset. Older files are read and written
// by their own rules.
inline constexpr std::uint32_t kFormatVersion = 4;
inline constexpr std::uint32_t kFirstKeyedVersion = 3;
inline constexpr std::uint32_t kFirstNewestFirstVersion = 4;
inline constexpr std::uint32_t kOldestFormatVersion = 1;
inline constexpr std::uint32_t kChunkSlots = 64;
inline constexpr std::uint32_t kChunkSlotBytes = 32;
inline constexpr std::uint32_t kChunkTableOffset = 256; // == kHeaderSize
inline constexpr std::uint32_t kChunkTableBytes = kChunkSlots * kChunkSlotBytes;
// End of what every region has (header + slot table): the smallest possible data offset.
inline constexpr std::uint32_t kFixedAreaEnd = kChunkTableOffset + kChunkTableBytes;
inline constexpr std::uint32_t kHeaderSize = 256;
inline constexpr std::uint32_t kGranule = 8; // every block and segment is a multiple of this
inline constexpr std::uint32_t kFeatureChecked = 1u << 0;
inline constexpr std::uint32_t kFeatureThreadCache = 1u << 1;
inline constexpr std::uint32_t kFeatureCache256 = 1u << 2;
inline constexpr std::uint32_t kFeatureCacheArray = 1u << 3;
inline constexpr std::uint32_t kKnownFeatures =
    kFeatureChecked | kFeatureThreadCache | kFeatureCache256 | kFeatureCacheArray;
inline constexpr unsigned char kMagic[8] = {'L', 'F', 'A', 'R', 'E', 'N', 'A', 0};

// Offsets of the header fields.
namespace hdr {
inline constexpr std::uint32_t magic = 0;
inline constexpr std::uint32_t format_version = 8;
inline constexpr std::uint32_t feature_flags = 12;
inline constexpr std::uint32_t freelist_kind = 16;
inline constexpr std::uint32_t user_version = 20;
inline constexpr std::uint32_t header_size = 22;
inline constexpr std::uint32_t capacity = 24;
inline constexpr std::uint32_t data_offset = 28;
inline constexpr std::uint32_t min_segment = 32;
inline constexpr std::uint32_t max_alignment = 36;
inline constexpr std::uint32_t bitmap_offset = 40;
inline constexpr std::uint32_t user_reserved_offset = 44;
inline constexpr std::uint32_t user_reserved_size = 48;
inline constexpr std::uint32_t class_table_offset = 52;
inline constexpr std::uint32_t checksum = 56;
inline constexpr std::uint32_t checksummed_bytes = 56;
// Mutable atomics.
inline constexpr std::uint32_t bump = 64;
inline constexpr std::uint32_t freelist_head = 128;
inline constexpr std::uint32_t discarded = 192;
inline constexpr std::uint32_t open_count = 200;
inline constexpr std::uint32_t leaked = 208;
inline constexpr std::uint32_t node_tags = 216;
inline constexpr std::uint32_t node_key = 224;
inline constexpr std::uint32_t growing_to = 232;
inline constexpr std::uint32_t cache_budget = 240;
} // namespace hdr

// The immutable geometry every algorithm needs, decoded once from the header.
struct Geometry {
  std::uint32_t capacity = 0;
  std::uint32_t data_offset = 0;
  std::uint32_t min_segment = 0;
  std::uint32_t max_alignment = 0;
  std::uint32_t bitmap_offset = 0;      // 0: unchecked mode
  std::uint32_t class_table_offset = 0; // 0: no size classes (none, or one sorted list)
  FreelistKind freelist_kind = FreelistKind::none;
  std::uint64_t node_key = 0; // node.hpp: 0 in format v1/v2 files (plain node words)
  // Sorted lists order equal sizes by offset (format v1-v3 files) instead of newest first.
  bool ties_by_offset = false;
  // kFeatureThreadCache: thread-chunk slots may own free caches (free_cache.hpp).
  bool thread_cache = false;
  // kFeatureCache256: word 0 of a cache block is the class of 256-byte blocks (free_cache.hpp).
  bool cache_256 = false;
  // kFeatureCacheArray: cache blocks hold arrays of entries, not chains of nodes (free_cache.hpp).
  bool cache_array = false;
  // The byte budget of a cache class (cache_layout.hpp); 0: the capacity's (capacity / 256 up
  // to 4 KiB). A grown bit-3 file keeps the one it had (hdr::cache_budget); the model checks
  // set their own, so their small regions get classes with room.
  std::uint32_t cache_budget = 0;
};

inline constexpr std::uint64_t fnv1a64(const unsigned char *p, std::size_t n) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

// Little-endian field access on raw header bytes (never through the atomics).
inline std::uint64_t get_le64(const unsigned char *p);

// The header checksum of a header of format `version`: FNV-1a 64 of bytes 0..55, and from v3 on
// mixed with the FNV-1a 64 of the node key.
inline std::uint64_t header_checksum(const unsigned char *h, std::uint32_t version) {
  std::uint64_t sum = fnv1a64(h, hdr::checksummed_bytes);
  if (version >= kFirstKeyedVersion)
    sum ^= fnv1a64(h + hdr::node_key, 8) * 0x100000001b3ull;
  return sum;
}

inline std::uint32_t get_le32(const unsigned char *p) {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
         std::uint32_t{p[3]} << 24;
}
inline std::uint16_t get_le16(const unsigned char *p) {
  return static_cast<std::uint16_t>(p[0] | p[1] << 8);
}
inline std::uint64_t get_le64(const unsigned char *p) {
  return std::uint64_t{get_le32(p)} | std::uint64_t{get_le32(p + 4)} << 32;
}
inline void put_le32(unsigned char *p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<unsigned char>(v >> (8 * i));
}
inline void put_le16(unsigned char *p, std::uint16_t v) {
  p[0] = static_cast<unsigned char>(v);
  p[1] = static_cast<unsigned char>(v >> 8);
}
inline void put_le64(unsigned char *p, std::uint64_t v) {
  put_le32(p, static_cast<std::uint32_t>(v));
  put_le32(p + 4, static_cast<std::uint32_t>(v >> 32));
}

} // namespace lfarena::detail
