// format.cpp -- region layout, header writing and reopen validation (see format.hpp and the
// layout table in detail/header.hpp). Validation follows PMDK/LMDB practice: a fixed order,
// one distinct error per failure, each message naming the file and the values seen/expected.
#include "format.hpp"

#include "process.hpp"

#include <cstring>

#include "lfarena/detail/cache_layout.hpp"
#include "lfarena/detail/checked.hpp"
#include "lfarena/detail/memory.hpp"
#include "lfarena/detail/segregated_policy.hpp"
#include "lfarena/detail/tagged.hpp"

namespace lfarena::detail {

namespace {

std::string num(std::uint64_t v) { return std::to_string(v); }

std::string hex(const unsigned char *p, std::size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string s = "0x";
  for (std::size_t i = 0; i < n; ++i) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

std::string hex32(std::uint32_t v) {
  const unsigned char be[4] = {static_cast<unsigned char>(v >> 24),
                               static_cast<unsigned char>(v >> 16),
                               static_cast<unsigned char>(v >> 8), static_cast<unsigned char>(v)};
  return hex(be, 4);
}

bool valid_kind(std::uint32_t k) {
  return k <= static_cast<std::uint32_t>(FreelistKind::segregated);
}

const char *kind_name(std::uint32_t k) {
  switch (k) {
  case 0:
    return "none";
  case 1:
    return "optimistic";
  case 2:
    return "pessimistic";
  case 3:
    return "segregated";
  default:
    return "unknown";
  }
}

bool sorted_kind(std::uint32_t k) {
  return k == static_cast<std::uint32_t>(FreelistKind::optimistic) ||
         k == static_cast<std::uint32_t>(FreelistKind::pessimistic);
}

// A list head read from a file: null, or an unmarked node offset inside [data_offset, bump).
bool head_in_range(Link head, const Geometry &g, std::uint64_t bump) {
  const std::uint32_t first = head.offset();
  return !head.marked() &&
         (first == 0 || (first >= g.data_offset && first % kGranule == 0 && first + 16ull <= bump));
}

Error bad(errc code, const std::string &path, const std::string &what) {
  return Error(code, path + ": " + what);
}

} // namespace

Status check_option_values(const Options &o) {
  const std::string who = "options";
  if (!valid_kind(static_cast<std::uint32_t>(o.freelist)))
    return bad(errc::invalid_freelist_kind, who,
               "freelist kind " + num(static_cast<std::uint32_t>(o.freelist)) +
                   " is not none(0), optimistic(1), pessimistic(2) or segregated(3)");
  const std::uint32_t a = o.max_alignment;
  if (a < kGranule || a > 4096 || (a & (a - 1)) != 0)
    return bad(errc::invalid_alignment_option, who,
               "max_alignment " + num(a) + " is not a power of two in [8, 4096]");
  if (o.thread_chunk != 0 && (o.thread_chunk < 256 || o.thread_chunk % kGranule != 0))
    return bad(errc::invalid_thread_chunk, who,
               "thread_chunk " + num(o.thread_chunk) +
                   " is not 0 or a multiple of 8 of at least 256");
  if (static_cast<std::uint32_t>(o.huge_pages) > static_cast<std::uint32_t>(HugePages::hugetlb))
    return bad(errc::invalid_huge_pages, who,
               "huge_pages " + num(static_cast<std::uint32_t>(o.huge_pages)) +
                   " is not off(0), transparent(1) or hugetlb(2)");
  if (o.min_segment < 16 || o.min_segment % kGranule != 0 || o.min_segment > (1u << 30))
    return bad(errc::invalid_min_segment, who,
               "min_segment " + num(o.min_segment) + " is not a multiple of 8 in [16, 2^30]");
  return {};
}

Status check_huge_pages(const Options &o, const char *backing) {
  if (o.huge_pages != HugePages::hugetlb)
    return {};
  return bad(errc::invalid_huge_pages, "options",
             std::string("huge_pages hugetlb (MAP_HUGETLB) needs an anonymous arena, not a ") +
                 backing + " arena; use HugePages::transparent" +
                 (std::string(backing) == "file" ? ", or put the file on a hugetlbfs mount" : ""));
}

MapHints map_hints(const Options &o) {
  return {o.populate, o.huge_pages == HugePages::transparent, o.huge_pages == HugePages::hugetlb};
}

Status check_thread_chunk(const Options &o, std::uint32_t capacity) {
  if (o.thread_chunk > capacity / 4)
    return bad(errc::invalid_thread_chunk, "options",
               "thread_chunk " + num(o.thread_chunk) + " is above capacity/4 = " +
                   num(capacity / 4) + " (capacity " + num(capacity) + ")");
  return {};
}

Result<Layout> plan_layout(const Options &o) {
  const std::string who = "options";
  if (Status s = check_option_values(o); !s)
    return s.error();
  if (Status s = check_thread_chunk(o, o.capacity); !s)
    return s.error();
  Layout l;
  std::uint64_t at = kFixedAreaEnd;
  if (o.freelist == FreelistKind::segregated ||
      (sorted_kind(static_cast<std::uint32_t>(o.freelist)) && o.size_index)) {
    l.geometry.class_table_offset = static_cast<std::uint32_t>(at);
    at += kClassTableBytes;
  }
  if (o.checked) {
    l.geometry.bitmap_offset = static_cast<std::uint32_t>(at);
    at += checked_map_bytes(o.capacity);
  }
  l.user_offset = static_cast<std::uint32_t>(at);
  l.user_size = o.user_reserved;
  const std::uint64_t data = align_up(at + o.user_reserved, 64);
  if (data + 64 > o.capacity && o.user_reserved > 0 && align_up(at, 64) + 64 <= o.capacity)
    return bad(errc::invalid_reserved, who,
               "user_reserved " + num(o.user_reserved) + " leaves no data area in capacity " +
                   num(o.capacity));
  if (data + 64 > o.capacity)
    return bad(errc::invalid_capacity, who,
               "capacity " + num(o.capacity) +
                   " is too small: the header, bitmaps and reserved "
                   "area need " +
                   num(data) + " bytes plus at least 64 of data");
  l.geometry.capacity = o.capacity;
  l.geometry.data_offset = static_cast<std::uint32_t>(data);
  l.geometry.min_segment = o.min_segment;
  l.geometry.max_alignment = o.max_alignment;
  l.geometry.freelist_kind = o.freelist;
  l.geometry.node_key = random_u64() | 1; // never 0: 0 means "no key" (node.hpp)
  l.geometry.thread_cache = o.freelist == FreelistKind::segregated;
  l.geometry.cache_256 = l.geometry.thread_cache;
  l.geometry.cache_array = l.geometry.thread_cache;
  return l;
}

void write_header(std::byte *region, const Layout &l, const Options &o) {
  auto *h = reinterpret_cast<unsigned char *>(region);
  const Geometry &g = l.geometry;
  // The oldest version that describes this layout, so older builds keep reading what they can.
  const std::uint32_t version = sorted_kind(static_cast<std::uint32_t>(g.freelist_kind))
                                    ? kFormatVersion
                                    : kFirstKeyedVersion;
  put_le32(h + hdr::format_version, version);
  put_le32(h + hdr::feature_flags, (g.bitmap_offset != 0 ? kFeatureChecked : 0) |
                                       (g.thread_cache ? kFeatureThreadCache : 0) |
                                       (g.cache_256 ? kFeatureCache256 : 0) |
                                       (g.cache_array ? kFeatureCacheArray : 0));
  put_le32(h + hdr::freelist_kind, static_cast<std::uint32_t>(g.freelist_kind));
  put_le16(h + hdr::user_version, o.user_version);
  put_le16(h + hdr::header_size, static_cast<std::uint16_t>(kHeaderSize));
  put_le32(h + hdr::capacity, g.capacity);
  put_le32(h + hdr::data_offset, g.data_offset);
  put_le32(h + hdr::min_segment, g.min_segment);
  put_le32(h + hdr::max_alignment, g.max_alignment);
  put_le32(h + hdr::bitmap_offset, g.bitmap_offset);
  put_le32(h + hdr::user_reserved_offset, l.user_offset);
  put_le32(h + hdr::user_reserved_size, l.user_size);
  put_le32(h + hdr::class_table_offset, g.class_table_offset);
  std::memcpy(h + hdr::magic, kMagic, sizeof kMagic);
  put_le64(h + hdr::node_key, g.node_key);
  put_le64(h + hdr::checksum, header_checksum(h, version));
  const RegionWords mem{region};
  store_relaxed(mem.word(hdr::bump), g.data_offset);
  store_relaxed(mem.word(hdr::freelist_head), 0);
  store_relaxed(mem.word(hdr::discarded), 0);
  // Release: whoever maps the file later and acquires the bump word sees the whole header.
  store_release(mem.word(hdr::open_count), 0);
}

namespace {

// validate_header()'s steps, in order (docs/DESIGN.md §5.9); each returns the first failure.
class HeaderCheck {
public:
  HeaderCheck(const unsigned char *h, std::uint64_t file_size, const std::string &path)
      : h_(h), file_size_(file_size), path_(path) {}

  // Steps 1-5: is this an lfarena header this build can read, intact?
  Status identity() {
    if (file_size_ < kHeaderSize) // 1. file size: at least a header
      return bad(errc::file_truncated, path_,
                 "file is " + num(file_size_) + " bytes, smaller than the " + num(kHeaderSize) +
                     "-byte header");
    if (std::memcmp(h_ + hdr::magic, kMagic, sizeof kMagic) != 0) // 2. magic
      return bad(errc::bad_magic, path_,
                 "magic bytes " + hex(h_, 8) + " are not \"LFARENA\\0\" (" + hex(kMagic, 8) + ")");
    version_ = get_le32(h_ + hdr::format_version); // 3. format version
    if (version_ < kOldestFormatVersion || version_ > kFormatVersion)
      return bad(errc::unsupported_version, path_,
                 "format version " + num(version_) + ", this build reads versions " +
                     num(kOldestFormatVersion) + " to " + num(kFormatVersion) +
                     (version_ > kFormatVersion ? " (file is newer)" : ""));
    features_ = get_le32(h_ + hdr::feature_flags); // 4. feature flags
    if ((features_ & ~kKnownFeatures) != 0)
      return bad(errc::unknown_features, path_,
                 "unknown feature flags " + hex32(features_ & ~kKnownFeatures) +
                     " (known: " + hex32(kKnownFeatures) + ")");
    const std::uint64_t want = get_le64(h_ + hdr::checksum); // 5. checksum (immutable fields)
    const std::uint64_t got = header_checksum(h_, version_);
    if (want != got)
      return bad(errc::checksum_mismatch, path_,
                 "header checksum " + num(got) + " does not match the stored " + num(want));
    return {};
  }

  // Steps 6-7: is it the arena the options ask for?
  Status matches(const Options &o) {
    kind_ = get_le32(h_ + hdr::freelist_kind); // 6. freelist kind
    if (kind_ != static_cast<std::uint32_t>(o.freelist))
      return bad(errc::freelist_kind_mismatch, path_,
                 std::string("file has freelist kind ") + kind_name(kind_) + "(" + num(kind_) +
                     "), options ask for " + kind_name(static_cast<std::uint32_t>(o.freelist)));
    const std::uint16_t user_version = get_le16(h_ + hdr::user_version); // 7. user version
    if (user_version != o.user_version)
      return bad(errc::user_version_mismatch, path_,
                 "user version " + num(user_version) + ", expected " + num(o.user_version));
    return {};
  }

  // Step 8a: the stored geometry, against the file's size; fills `stored` with the file's shape.
  Status geometry(const Options &o, Options &stored) {
    Geometry &g = l_.geometry;
    g.capacity = get_le32(h_ + hdr::capacity);
    g.data_offset = get_le32(h_ + hdr::data_offset);
    g.min_segment = get_le32(h_ + hdr::min_segment);
    g.max_alignment = get_le32(h_ + hdr::max_alignment);
    g.bitmap_offset = get_le32(h_ + hdr::bitmap_offset);
    g.class_table_offset = get_le32(h_ + hdr::class_table_offset);
    g.freelist_kind = o.freelist; // equal to the stored kind (step 6)
    g.node_key = version_ >= kFirstKeyedVersion ? get_le64(h_ + hdr::node_key) : 0;
    g.ties_by_offset = version_ < kFirstNewestFirstVersion;
    g.thread_cache = (features_ & kFeatureThreadCache) != 0;
    g.cache_256 = (features_ & kFeatureCache256) != 0;
    g.cache_array = (features_ & kFeatureCacheArray) != 0;
    g.cache_budget = g.cache_array ? get_le32(h_ + hdr::cache_budget) : 0;
    l_.user_offset = get_le32(h_ + hdr::user_reserved_offset);
    l_.user_size = get_le32(h_ + hdr::user_reserved_size);
    if (file_size_ < g.capacity)
      return bad(errc::file_truncated, path_,
                 "file is " + num(file_size_) + " bytes, header says capacity " + num(g.capacity));
    // Larger than the capacity: damage, unless it is a grow cut short (the size it was growing
    // to is recorded first, file_grow.cpp): the file at most that size. (Exactly that size
    // before: a second grow killed after recording another target, before its ftruncate, left
    // a file nothing opened, repaired or grew again; helper-49.)
    if (file_size_ > g.capacity && (file_size_ > get_le64(h_ + hdr::growing_to) ||
                                    file_size_ > 0xFFFFFFFFu || (features_ & kFeatureChecked) != 0))
      return bad(errc::bad_geometry, path_,
                 "file is " + num(file_size_) + " bytes, larger than capacity " + num(g.capacity));
    stored = o;
    stored.capacity = g.capacity;
    stored.min_segment = g.min_segment;
    stored.max_alignment = g.max_alignment;
    stored.checked = (features_ & kFeatureChecked) != 0;
    stored.user_reserved = l_.user_size;
    stored.size_index = g.class_table_offset != 0;
    return {};
  }

  // Step 8b: the geometry is the one this version would lay out for the stored shape.
  Status consistent(const Options &stored) const {
    const Geometry &g = l_.geometry;
    if (version_ < 2 && sorted_kind(kind_) && g.class_table_offset != 0)
      return bad(errc::bad_geometry, path_,
                 "format version " + num(version_) + " cannot have a size-class table (offset " +
                     num(g.class_table_offset) + ") for freelist " + kind_name(kind_) +
                     ": that layout is version 2 or later");
    if (version_ >= kFirstKeyedVersion && g.node_key == 0)
      return bad(errc::bad_geometry, path_,
                 "format version " + num(version_) + " needs a non-zero free-node key");
    if (g.thread_cache && kind_ != static_cast<std::uint32_t>(FreelistKind::segregated))
      return bad(errc::bad_geometry, path_,
                 std::string("the thread-cache feature flag is set for freelist ") +
                     kind_name(kind_) + ": only segregated files have thread caches");
    if (g.cache_256 && !g.thread_cache)
      return bad(errc::bad_geometry, path_,
                 "the 256-byte cache class feature flag (" + hex32(kFeatureCache256) +
                     ") is set without the thread-cache flag (" + hex32(kFeatureThreadCache) +
                     "): there are no caches to have that class");
    if (g.cache_array && !g.cache_256)
      return bad(errc::bad_geometry, path_,
                 "the cache-array feature flag (" + hex32(kFeatureCacheArray) +
                     ") is set without the 256-byte cache class flag (" + hex32(kFeatureCache256) +
                     "): the array layout always has that class");
    // A pinned budget is an earlier, smaller capacity's (a grow only raises the capacity).
    if (g.cache_budget > cache_class_budget(g.capacity))
      return bad(errc::bad_geometry, path_,
                 "cache class budget " + num(g.cache_budget) + " is larger than capacity " +
                     num(g.capacity) + " gives (" + num(cache_class_budget(g.capacity)) +
                     "): a grow pins the budget of the capacity the file had");
    Options file_shape = stored; // the opener's thread_chunk is checked by the caller
    file_shape.thread_chunk = 0;
    Result<Layout> expect = plan_layout(file_shape);
    if (!expect || get_le16(h_ + hdr::header_size) != kHeaderSize ||
        expect->geometry.data_offset != g.data_offset ||
        expect->geometry.bitmap_offset != g.bitmap_offset ||
        expect->geometry.class_table_offset != g.class_table_offset ||
        expect->user_offset != l_.user_offset)
      return bad(errc::bad_geometry, path_,
                 "inconsistent geometry: capacity " + num(g.capacity) + ", data offset " +
                     num(g.data_offset) + ", min segment " + num(g.min_segment) +
                     ", max alignment " + num(g.max_alignment) + ", bitmap offset " +
                     num(g.bitmap_offset) + ", class table " + num(g.class_table_offset) +
                     ", user area " + num(l_.user_offset) + "+" + num(l_.user_size));
    return {};
  }

  const Layout &layout() const { return l_; }

private:
  const unsigned char *h_;
  std::uint64_t file_size_;
  const std::string &path_;
  std::uint32_t version_ = 0;
  std::uint32_t features_ = 0;
  std::uint32_t kind_ = 0;
  Layout l_;
};

} // namespace

Result<Layout> validate_header(const unsigned char *h, std::uint64_t file_size, const Options &o,
                               const std::string &path, Options &stored) {
  HeaderCheck c(h, file_size, path);
  if (Status s = c.identity(); !s)
    return s.error();
  if (Status s = c.matches(o); !s)
    return s.error();
  if (Status s = c.geometry(o, stored); !s)
    return s.error();
  if (Status s = c.consistent(stored); !s)
    return s.error();
  return c.layout();
}

namespace {
Status bump_in_range(std::uint64_t bump, const Geometry &g, const std::string &path) {
  if (bump < g.data_offset || bump > g.capacity)
    return bad(errc::bump_out_of_range, path,
               "bump offset " + num(bump) + " is outside [" + num(g.data_offset) + ", " +
                   num(g.capacity) + "]");
  return {};
}
} // namespace

Status validate_bump_word(const std::byte *region, const Geometry &g, const std::string &path) {
  const RegionWords mem{const_cast<std::byte *>(region)};
  return bump_in_range(load_acquire(mem.word(hdr::bump)), g, path);
}

Status validate_mutable_fields(const std::byte *region, const Geometry &g, const std::string &path,
                               bool alone) {
  const RegionWords mem{const_cast<std::byte *>(region)};
  // Read before the bump word: discarded only grows while other openers run, and every
  // discarded byte is below the bump offset at all times, so this pair is consistent.
  const std::uint64_t discarded = load_acquire(mem.word(hdr::discarded));
  const std::uint64_t bump = load_acquire(mem.word(hdr::bump));
  if (Status s = bump_in_range(bump, g, path); !s)
    return s;
  // A head may point past a bump value read a moment before while others allocate; only a
  // sole opener can hold heads to the bump offset.
  const std::uint64_t limit = alone ? bump : g.capacity;
  const Link head{load_acquire(mem.word(hdr::freelist_head))};
  const std::uint32_t first = head.offset();
  if (first != 0 && g.class_table_offset != 0)
    return bad(errc::freelist_head_out_of_range, path,
               "freelist head " + num(first) +
                   " is not 0 although the free segments live in the size-class table at " +
                   num(g.class_table_offset));
  if (!head_in_range(head, g, limit) || (first != 0 && g.freelist_kind == FreelistKind::none))
    return bad(errc::freelist_head_out_of_range, path,
               "freelist head " + num(first) + " is outside the allocated range [" +
                   num(g.data_offset) + ", " + num(limit) + ")");
  if (discarded > bump - g.data_offset)
    return bad(errc::bad_geometry, path,
               "discarded bytes " + num(discarded) + " exceed the allocated " +
                   num(bump - g.data_offset));
  if (g.class_table_offset == 0)
    return {};
  const ClassTable<RegionWords> table(mem, g.class_table_offset);
  for (std::uint32_t c = 0; c < kClassCount; ++c) {
    const Link h{load_acquire(table.head(c))};
    if (!head_in_range(h, g, limit))
      return bad(errc::freelist_head_out_of_range, path,
                 "size class " + num(c) + " head " + num(h.offset()) +
                     (h.marked() ? " is marked" : "") + " is outside the allocated range [" +
                     num(g.data_offset) + ", " + num(limit) + ")");
  }
  return {};
}

HeaderKey read_node_key(const std::byte *region) {
  const auto *h = reinterpret_cast<const unsigned char *>(region);
  return {get_le64(h + hdr::node_key), get_le64(h + hdr::checksum),
          header_checksum(h, get_le32(h + hdr::format_version))};
}

} // namespace lfarena::detail
