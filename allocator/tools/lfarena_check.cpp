// lfarena-check -- inspect and validate an arena file.
//
//   lfarena-check [--json] [--repair] FILE
//
// Prints the header (format, policy, capacity, allocated, discarded, leaked, free segments and
// bytes, fragmentation) and runs the same validation as Arena::open_file + Arena::check().
// Exit status: 0 healthy, 1 damaged (the message names what and where), 2 usage or I/O error.
// A file that a read-write opener left without closing (it died) is checked as the crash
// recovery of the next read-write open will leave it (Arena::check() of a read-only opener,
// on a private copy), reported healthy if that recovery succeeds, with a "pending" line that
// says what it will do; if the recovery would fail, that is the damage reported.
// It never writes to the file unless --repair is given; --repair opens it read-write, which
// runs the crash recovery pass (unmarks nodes whose remover died, repairs checked-mode bitmaps,
// counts in-flight bytes as leaked), then checks again. If the free lists or the thread-chunk
// slot table are damaged (the open, or check() after it, fails with corrupt_freelist,
// accounting_mismatch or freelist_head_out_of_range) --repair salvages them (Arena::salvage_file:
// keeps the nodes that validate, clears the slots that do not, in checked mode clears stray bitmap
// marks above the bump offset or raises it over live blocks there, prints what it did) and opens
// again. A damaged header is reported, never rewritten.
//
// Thread-safety: a single-threaded program; a concurrent writer in another process makes the
// read-only report approximate (it says so only if check() then fails).
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include <lfarena/arena.hpp>

namespace {

std::string json_escape(const std::string &s) {
  std::string out;
  for (const char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      continue;
    }
    out += c;
  }
  return out;
}

int fail(bool json, const std::string &path, const lfarena::Error &e, int code) {
  if (json)
    std::printf("{\"file\": \"%s\", \"ok\": false, \"error\": \"%s\", \"message\": \"%s\"}\n",
                json_escape(path).c_str(), lfarena::to_string(e.code()),
                json_escape(e.message()).c_str());
  else
    std::fprintf(stderr, "lfarena-check: %s: %s\n", lfarena::to_string(e.code()),
                 e.message().c_str());
  return code;
}

// What --repair's salvage did, before the usual report (to stderr with --json, whose stdout
// stays one JSON object).
void print_salvage(bool json, const lfarena::SalvageReport &r, const std::string &why) {
  std::FILE *out = json ? stderr : stdout;
  std::fprintf(out, "salvaged: %s\n", why.c_str());
  std::fprintf(out,
               "  kept          %llu free segments (%llu bytes); dropped %llu damaged or "
               "overlapping nodes, %llu lists cut (first damage at offset %u)\n",
               static_cast<unsigned long long>(r.segments_kept),
               static_cast<unsigned long long>(r.bytes_kept),
               static_cast<unsigned long long>(r.nodes_dropped),
               static_cast<unsigned long long>(r.lists_cut), r.first_damage);
  std::fprintf(out,
               "  slots cleared %llu (damaged thread-chunk slots forgotten, with the chunk tail "
               "and free cache each named: cached nodes go with them)\n",
               static_cast<unsigned long long>(r.slots_cleared));
  // A header word salvage rewrote: "<label> <from> to <to> <why>", only if it did.
  auto changed = [out](const char *label, std::uint64_t from, std::uint64_t to, const char *why) {
    if (from != 0)
      std::fprintf(out, "  %s %llu to %llu %s\n", label, static_cast<unsigned long long>(from),
                   static_cast<unsigned long long>(to), why);
  };
  changed("bump offset   raised from", r.bump_raised_from, r.bump_raised_to,
          "over live blocks or free segments the file holds above it (the bump word was damaged)");
  changed("discarded     recounted from", r.discarded_recounted_from, r.discarded_recounted_to,
          "bytes (the counter claimed bytes the live blocks and free segments account for)");
  std::fprintf(out, "  dropped bytes %s\n",
               r.bytes_counted
                   ? "counted as discarded (checked mode: see leaked below)"
                   : "not countable in unchecked mode: they stay counted as live (a leak)");
}

int usage() {
  std::fprintf(stderr, "usage: lfarena-check [--json] [--repair] FILE\n"
                       "exit 0: healthy, 1: damaged, 2: usage or I/O error\n");
  return 2;
}

} // namespace

int main(int argc, char **argv) {
  bool json = false, repair = false;
  std::string path;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0)
      json = true;
    else if (std::strcmp(argv[i], "--repair") == 0)
      repair = true;
    else if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      usage();
      return 0;
    } else if (argv[i][0] == '-' || !path.empty())
      return usage();
    else
      path = argv[i];
  }
  if (path.empty())
    return usage();

  auto io_or_damage = [](lfarena::errc e) {
    return e == lfarena::errc::io_error || e == lfarena::errc::file_not_found ? 2 : 1;
  };
  auto opts = lfarena::Arena::file_options(path);
  if (!opts)
    return fail(json, path, opts.error(), io_or_damage(opts.code()));
  lfarena::Options o = *opts;
  o.open_mode = lfarena::OpenMode::open_existing;
  o.read_only = !repair;
  auto arena = lfarena::Arena::open_file(path, o);
  std::string damage; // why --repair salvages: the open's error, or check()'s
  if (!arena && repair && lfarena::salvage_answers(arena.code())) {
    damage = arena.message();
  } else if (arena && repair) {
    // Damage the open does not look for (docs/DESIGN.md §5.9: some single bits of the bitmaps,
    // a raised bump word) opens and then fails check(): salvaged the same way.
    if (auto c = arena->check(); !c && lfarena::salvage_answers(c.code())) {
      damage = c.message();
      *arena = lfarena::Arena{}; // closed: salvage needs the file alone
    }
  }
  if (!damage.empty()) {
    // Damaged free lists, slots or accounting: rebuild the lists from the nodes that still
    // validate, clear the slots that do not, then open again.
    auto salvaged = lfarena::Arena::salvage_file(path);
    if (!salvaged)
      return fail(json, path, salvaged.error(), io_or_damage(salvaged.code()));
    print_salvage(json, *salvaged, damage);
    arena = lfarena::Arena::open_file(path, o);
  }
  if (!arena)
    return fail(json, path, arena.error(), io_or_damage(arena.code()));
  const lfarena::Stats s = arena->stats();
  const std::uint32_t version =
      lfarena::detail::get_le32(reinterpret_cast<const unsigned char *>(arena->base()) +
                                lfarena::detail::hdr::format_version);
  const bool sorted = o.freelist == lfarena::FreelistKind::optimistic ||
                      o.freelist == lfarena::FreelistKind::pessimistic;
  const char *index = !sorted ? "" : o.size_index ? ", size-indexed" : ", one list";
  const lfarena::RecoveryReport &rec = arena->recovery();
  auto report = arena->check();
  if (!report)
    return fail(json, path, report.error(), 1);
  // A crashed file (a read-write opener died) is reported as its pending recovery will leave
  // it: every number from the check of the recovered copy, the leak that recovery adds
  // included (check() describes the file as it will be; stats() as it is now).
  const lfarena::RecoveryReport &pending = report->pending_recovery;
  const std::uint64_t allocated = report->allocated;
  const std::uint64_t room = std::uint64_t{s.capacity} - s.data_offset; // (grown since: 0)
  const std::uint64_t remaining = allocated < room ? room - allocated : 0;
  const std::uint64_t discarded = report->discarded;
  const std::uint64_t leaked = s.leaked + (pending.ran ? pending.leaked_bytes : 0);
  // Fragmentation: the share of free bytes outside the largest free segment.
  const double frag = report->free_bytes == 0 ? 0.0
                                              : 1.0 - static_cast<double>(report->largest_free) /
                                                          static_cast<double>(report->free_bytes);
  if (json) {
    std::printf(
        "{\"file\": \"%s\", \"ok\": true, \"format_version\": %u, \"freelist\": \"%s\", "
        "\"size_index\": %s, "
        "\"checked\": %s, \"user_version\": %u, \"capacity\": %u, \"data_offset\": %u, "
        "\"min_segment\": %u, \"max_alignment\": %u, \"allocated\": %llu, "
        "\"remaining\": %llu, \"discarded\": %llu, \"leaked\": %llu, "
        "\"free_segments\": %llu, \"free_bytes\": %llu, \"largest_free\": %llu, "
        "\"live_bytes\": %llu, \"chunk_reserved\": %llu, \"cache_reserved\": %llu, "
        "\"fragmentation\": %.4f, \"repaired\": %s, "
        "\"recovery_pending\": %s, \"pending_nodes_unmarked\": %llu, "
        "\"pending_blocks_dropped\": %llu, \"pending_stray_ends\": %llu, "
        "\"pending_leaked_bytes\": %llu, \"pending_chunks_released\": %llu}\n",
        json_escape(path).c_str(), version, lfarena::to_string(o.freelist),
        sorted && o.size_index ? "true" : "false", o.checked ? "true" : "false", o.user_version,
        s.capacity, s.data_offset, o.min_segment, o.max_alignment,
        static_cast<unsigned long long>(allocated), static_cast<unsigned long long>(remaining),
        static_cast<unsigned long long>(discarded), static_cast<unsigned long long>(leaked),
        static_cast<unsigned long long>(report->free_segments),
        static_cast<unsigned long long>(report->free_bytes),
        static_cast<unsigned long long>(report->largest_free),
        static_cast<unsigned long long>(report->live_bytes),
        static_cast<unsigned long long>(report->chunk_reserved),
        static_cast<unsigned long long>(report->cache_reserved), frag, rec.ran ? "true" : "false",
        pending.ran ? "true" : "false", static_cast<unsigned long long>(pending.nodes_unmarked),
        static_cast<unsigned long long>(pending.blocks_dropped),
        static_cast<unsigned long long>(pending.stray_ends),
        static_cast<unsigned long long>(pending.leaked_bytes),
        static_cast<unsigned long long>(pending.chunks_released));
    return 0;
  }
  std::printf("%s: ok\n", path.c_str());
  std::printf("  format        lfarena v%u, freelist %s%s, %s mode, user version %u\n", version,
              lfarena::to_string(o.freelist), index, o.checked ? "checked" : "unchecked",
              o.user_version);
  std::printf("  capacity      %u bytes (data from offset %u; min segment %u, max alignment %u)\n",
              s.capacity, s.data_offset, o.min_segment, o.max_alignment);
  std::printf("  allocated     %llu bytes, remaining %llu\n",
              static_cast<unsigned long long>(allocated),
              static_cast<unsigned long long>(remaining));
  std::printf("  live          %llu bytes%s\n", static_cast<unsigned long long>(report->live_bytes),
              o.checked ? "" : " (derived: allocated - free - discarded - reserved)");
  std::printf("  free          %llu bytes in %llu segments, largest %llu, fragmentation %.1f%%\n",
              static_cast<unsigned long long>(report->free_bytes),
              static_cast<unsigned long long>(report->free_segments),
              static_cast<unsigned long long>(report->largest_free), 100.0 * frag);
  std::printf("  discarded     %llu bytes (of which leaked by crashes: %llu)\n",
              static_cast<unsigned long long>(discarded), static_cast<unsigned long long>(leaked));
  // Held by thread-chunk slots: unused chunk tails (and their padding), and the free cache
  // blocks of segregated files (allocated = live + free + discarded + reserved).
  std::printf("  reserved      %llu bytes (thread-chunk tails %llu, free cache blocks %llu)\n",
              static_cast<unsigned long long>(report->chunk_reserved + report->cache_reserved),
              static_cast<unsigned long long>(report->chunk_reserved),
              static_cast<unsigned long long>(report->cache_reserved));
  auto print_recovery = [](const char *what, const lfarena::RecoveryReport &r) {
    std::printf("  %-13s %llu nodes unmarked, %llu blocks dropped, %llu stray end marks, "
                "%llu bytes leaked, %llu thread-chunk slots released\n",
                what, static_cast<unsigned long long>(r.nodes_unmarked),
                static_cast<unsigned long long>(r.blocks_dropped),
                static_cast<unsigned long long>(r.stray_ends),
                static_cast<unsigned long long>(r.leaked_bytes),
                static_cast<unsigned long long>(r.chunks_released));
  };
  if (rec.ran)
    print_recovery("repaired", rec);
  if (pending.ran) {
    std::printf("  pending       a read-write opener died without closing; the next read-write "
                "open (or --repair) recovers the file, and the numbers above are the file as it "
                "will be then:\n");
    print_recovery("", pending);
  }
  return 0;
}
