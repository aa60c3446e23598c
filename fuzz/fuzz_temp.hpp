// fuzz/fuzz_temp.hpp -- a unique scratch file path for a fuzz target's file arenas: in /dev/shm
// when it exists (fast, no disk), per process and per call, since several fuzzing jobs may
// share the directory.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <system_error>

namespace fuzz_files {

inline std::string temp_path(const char *target) {
  static std::atomic<unsigned> counter{0};
  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::is_directory("/dev/shm", ec)
                                        ? std::filesystem::path("/dev/shm")
                                        : std::filesystem::temp_directory_path(ec);
  return (dir / ("lfarena-" + std::string(target) + "-fuzz-" + std::to_string(::getpid()) + "-" +
                 std::to_string(counter++) + ".arena"))
      .string();
}

} // namespace fuzz_files
