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
# No interpolation: a '%' in a value is a value, not a syntax error with a traceback.
parser = configparser.ConfigParser(interpolation=None)
try:
    if not parser.read(path):
        sys.exit(f"fuzz_option: cannot read {path}")
except configparser.Error as e:
    sys.exit(f"fuzz_option: {path} does not parse: {e}")
# The engines pass every key of every section ([libfuzzer], [asan], [ubsan]...); our nightly
# job and check pass max_len and dict only. Anything else would make the engines fuzz
# differently from us without a word: refuse it until the local runners pass it too.
known = {"libfuzzer": {"max_len", "dict"}}
for section in parser.sections():
    extra = set(parser.options(section)) - known.get(section, set())
    if section not in known or extra:
        sys.exit(f"fuzz_option: {path}: [{section}] {', '.join(sorted(extra)) or '(section)'} "
                 "is not passed by ci/fuzz-nightly.sh or ci/clusterfuzzlite-check.sh: "
                 "only [libfuzzer] max_len and dict are supported")
if parser.has_option("libfuzzer", key):
    value = parser.get("libfuzzer", key)
    # A max_len libFuzzer accepts and our seeds fit: 1 byte .. 1 MiB.
    if key == "max_len" and not (value.isdigit() and 1 <= int(value) <= 1 << 20):
        sys.exit(f"fuzz_option: {path}: max_len = {value!r} is not a number of bytes in 1..1048576"
                 " (no inline comments: configparser keeps them in the value)")
    print(value)
PY
}
