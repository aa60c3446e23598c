# ctest in the source directory (`cmake --preset tsan && ctest`): runs the tests of the last
# configured preset, building its tree first (cmake/LfarenaCtestEntry.cmake writes
# build/last-configured.cmake at configure time). Without a configured preset, it fails.
# (ctest reads this file with the source directory as the working directory.)
include(build/last-configured.cmake OPTIONAL RESULT_VARIABLE lfarena_configured)
if(NOT lfarena_configured)
  add_test(configure-a-preset-first sh -c
    "echo 'lfarena: no preset configured yet: run cmake --preset <name> first (cmake --list-presets)'; exit 1")
endif()
