"""bench/report/jsonsafe.py -- JSON that every reader accepts. Python's json writes NaN and
Infinity, which JSON does not have: JavaScript's JSON.parse, serde (Bencher) and jq reject them,
and Google Benchmark 1.7.1 writes NaN for the cv aggregate of an all-zero counter."""
import math


def finite(v):
    """v with every NaN/Infinity replaced by None (null), recursively."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [finite(x) for x in v]
    return v
