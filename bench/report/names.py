"""bench/report/names.py -- benchmark names: `<suite>/<subject>/<param>:<value>/...`
(bench/harness.hpp), parsed the one way every report tool reads them."""

# Parameters that say how long a row ran, not what it measures.
IGNORED_PARAMS = {"iterations", "repeats", "min_time", "min_warmup_time"}


def parse_name(run_name):
    """`bump/lfarena-heap/size:64/align:8/iterations:9/real_time/threads:2` -> parts."""
    parts = run_name.split("/")
    params = {}
    for p in parts[2:]:
        if ":" in p:
            k, v = p.split(":", 1)
            if k not in IGNORED_PARAMS:
                params[k] = v
    return parts[0], parts[1] if len(parts) > 1 else "", params
