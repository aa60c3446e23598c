# ci/fuzz-options.sh -- read libFuzzer .options files (fuzz/<target>.options). Sourced, not run:
#   source ci/fuzz-options.sh
#   fuzz_option <file.options> <key>
# prints the value of <key> in the file's [libfuzzer] section, nothing when it is absent, and
# fails (status 1, a message on stderr) when the file does not parse. Python's configparser is
# the parser ClusterFuzz reads .options files with (OSS-Fuzz, ClusterFuzzLite), so the nightly
# job and ci/clusterfuzzlite-check.sh read them exactly as the engines do. Sets no shell options:
# the sourcing script keeps its own. Needs python3 (ci/deps.sh).
# shellcheck shell=bash

fuzz_option() { # file key -> value
  python3 - "$1" "$2" <<'PY'
import configparser, sys
path, key = sys.argv[1], sys.argv[2]
parser = configparser.ConfigParser()
try:
    if not parser.read(path):
        sys.exit(f"fuzz_option: cannot read {path}")
except configparser.Error as e:
    sys.exit(f"fuzz_option: {path} does not parse: {e}")
if parser.has_option("libfuzzer", key):
    print(parser.get("libfuzzer", key))
PY
}
