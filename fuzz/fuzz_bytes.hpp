// fuzz/fuzz_bytes.hpp -- a sequential byte reader for fuzz inputs whose layout is documented
// byte by byte (damage_fuzz.cpp, the operation trailer of reopen_fuzz.cpp), so that seeds can be
// written by hand. Unlike FuzzedDataProvider it reads front to back only; past the end every
// read returns 0 and done() is true.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fuzz_bytes {

class Reader {
public:
  Reader(const std::uint8_t *data, std::size_t size) : p_(data), n_(size) {}

  bool done() const { return i_ >= n_; }
  std::size_t remaining() const { return i_ < n_ ? n_ - i_ : 0; }

  std::uint8_t u8() { return i_ < n_ ? p_[i_++] : 0; }
  std::uint16_t u16() { // little-endian
    const std::uint16_t lo = u8();
    return static_cast<std::uint16_t>(lo | u8() << 8);
  }
  std::uint32_t u32() {
    const std::uint32_t lo = u16();
    return lo | std::uint32_t{u16()} << 16;
  }
  std::uint64_t u64() {
    const std::uint64_t lo = u32();
    return lo | std::uint64_t{u32()} << 32;
  }

private:
  const std::uint8_t *p_;
  std::size_t n_;
  std::size_t i_ = 0;
};

} // namespace fuzz_bytes
