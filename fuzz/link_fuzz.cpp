// fuzz/link_fuzz.cpp -- fuzz target `link`: round trips of lfarena::detail::Link, the tagged link
// word {offset:32, tag:31, mark:1}. Checks that make() stores every field exactly (tag masked to
// 31 bits), that redirect()/with_mark() change only what they promise and always change the word,
// and that the tag wraps within 31 bits without touching the mark.
#include <lfarena/detail/tagged.hpp>

#include <FuzzedDataProvider.h> // -isystem .../clang/<v>/include/fuzzer (fuzz/CMakeLists.txt)

#include <cstddef>
#include <cstdint>
#include <cstdlib>

namespace {

using lfarena::detail::Link;

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  FuzzedDataProvider fdp(data, size);
  const std::uint32_t offset = fdp.ConsumeIntegral<std::uint32_t>();
  const std::uint32_t tag = fdp.ConsumeIntegral<std::uint32_t>();
  const bool mark = fdp.ConsumeBool();

  Link l = Link::make(offset, tag, mark);
  check(l.offset() == offset);
  check(l.tag() == (tag & Link::kTagMask));
  check(l.marked() == mark);
  check(Link{l.raw} == l);

  // Apply a fuzzer-chosen sequence of redirects and marks.
  while (fdp.remaining_bytes() > 0) {
    const Link before = l;
    const std::uint32_t expected_tag = (before.tag() + 1) & Link::kTagMask;
    if (fdp.ConsumeBool()) {
      const std::uint32_t target = fdp.ConsumeIntegral<std::uint32_t>();
      l = before.redirect(target);
      check(l.offset() == target);
      check(!l.marked());
    } else {
      l = before.with_mark();
      check(l.offset() == before.offset());
      check(l.marked());
    }
    check(l.tag() == expected_tag);
    check(l != before); // every change is visible to a CAS expecting the old word
  }
  return 0;
}
